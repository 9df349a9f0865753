"""Jobs that never start, on a real Slurm: a pending array task cancelled by hand, and a request the node
cannot fit. Both used to wait silently for ever ('queued' in `status`, a bare reason word)."""

from __future__ import annotations

import re
import subprocess

import pytest

from lab.records.events import latest_events, latest_statuses
from lab.records.manifest import load_manifest
from lab.records.reconcile import reconcile
from tests.slurm.slurmhelp import SLURM_FLAGS, TINY, cli, node_idle, sets, squeue_ids, squeue_reasons, until
from training.config import make_config

pytestmark = pytest.mark.slurm


@pytest.fixture
def slurm_home(slurm_cluster, tmp_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HEARTBEAT_S", "2")
    monkeypatch.setenv("THERMOSCOPE_THREADS", "1")
    return tmp_home


def _sweep_id(stdout: str) -> str:
    return re.search(r"sweep (\S+): submitted", stdout).group(1)


def test_a_pending_array_task_cancelled_by_hand_ends_cancelled_and_a_relaunch_runs_it(slurm_home):
    grid = sets(epochs=1, seed="0,1,2")
    done = cli("-m", "training.launch", *grid, *SLURM_FLAGS, "--array-parallelism", "1", home=slurm_home)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_id = _sweep_id(done.stdout)
    manifest = load_manifest(slurm_home, sweep_id)
    lost_job = sorted(manifest.jobs)[-1]  # '<array>_2': pending behind the others (one task at a time)
    (lost_run,) = manifest.jobs[lost_job]
    subprocess.run(["scancel", lost_job], check=True, timeout=30)
    status = until("the array to end", lambda: (s := reconcile(manifest, slurm_home)).done and s, timeout=400)
    assert status.status_of(lost_run) == "cancelled"
    assert "relaunch" in status.runs[lost_run]["message"] and lost_job in status.runs[lost_run]["message"]
    assert sorted(str(status.status_of(r)) for r in manifest.run_ids) == ["cancelled", "finished", "finished"]
    shown = cli("-m", "training.launch", "status", sweep_id, home=slurm_home)
    assert "2 finished, 1 cancelled" in shown.stdout, shown.stdout + shown.stderr
    # the relaunch submits exactly the lost run again, and skips the two that finished
    again = cli("-m", "training.launch", *grid, *SLURM_FLAGS, home=slurm_home)
    assert again.returncode == 0 and "submitted 1 run(s)" in again.stdout, again.stdout + again.stderr
    assert again.stdout.count("already finished") == 2
    relaunched = _sweep_id(again.stdout)
    # following the old sweep again must not call the relaunched run cancelled: its new sweep speaks for it now
    cli("-m", "training.launch", "status", sweep_id, home=slurm_home)
    assert latest_events([lost_run], slurm_home)[lost_run]["sweep_id"] == relaunched
    new = load_manifest(slurm_home, relaunched)
    until("the relaunched run to finish", lambda: reconcile(new, slurm_home).done, timeout=300)
    assert latest_statuses([lost_run], slurm_home)[lost_run] == "finished"


def test_an_oversized_request_is_warned_at_submit_and_status_and_jobs_page_explain_the_wait(slurm_home):
    from tests.app.apphelp import no_exceptions, run_page

    # an earlier test's job still leaving the node would give this one another pending reason (Resources,
    # Priority) first: start from an empty queue and an idle node (seen in a full run: a job submitted 0.6 s
    # after the previous one ended, its node still completing, never showed PartitionConfig within 2 minutes)
    until("earlier jobs to leave the queue and the node", lambda: not squeue_ids() and node_idle(), timeout=120)
    # the test node has 2 CPUs and about 21 GB: 8 CPUs (the default request) can never start there
    flags = ["--executor", "slurm", "--partition", "gpu", "--gpus", "0", "--cpus", "8", "--mem-gb", "1",
             "--time-min", "10"]
    done = cli("-m", "training.launch", *sets(epochs=1, seed=31), *flags, home=slurm_home)
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, done.stderr
    assert "asked 8 CPUs" in warnings[0] and "partition 'gpu' offers at most 2 CPUs" in warnings[0]
    assert "--cpus 2" in warnings[0]
    sweep_id = _sweep_id(done.stdout)
    try:
        last = {}

        def explained():
            last["status"] = cli("-m", "training.launch", "status", sweep_id, home=slurm_home)
            return last["status"] if "PartitionConfig:" in last["status"].stdout else None

        try:
            shown = until("status to explain the wait", explained, timeout=120, every=3)
        except AssertionError as timed_out:  # say what Slurm and status said instead
            raise AssertionError(f"{timed_out}; squeue: {squeue_reasons()!r}; status said: "
                                 f"{last['status'].stdout[-1500:]!r}") from None
        line = next(ln for ln in shown.stdout.splitlines() if "PartitionConfig:" in ln)
        assert "never start" in line and "--cpus" in line and "--partition" in line
        at = run_page("pages/11_Jobs.py")
        no_exceptions(at)
        assert any("PartitionConfig" in w.value and "--cpus" in w.value for w in at.warning), \
            [w.value for w in at.warning]
    finally:
        cli("-m", "training.launch", "cancel", sweep_id, home=slurm_home)
    run_id = make_config(**{**TINY, "epochs": 1, "seed": 31}).run_id
    assert latest_statuses([run_id], slurm_home)[run_id] == "cancelled"
    until("the job to leave the queue", lambda: not (set(load_manifest(slurm_home, sweep_id).jobs) & squeue_ids()),
          timeout=60)
