"""The same run launched twice at once trains once: launchers claim each run before submitting it.

Real launcher processes into one home, racing for real; a claim held by a real process that then dies
without releasing it (what a crash leaves behind) must not block the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from lab.records.events import latest_statuses, run_events
from tests.conftest import ROOT
from tests.slurm.slurmhelp import cli, sets, until
from training.config import make_config

FIELDS = dict(epochs=2, seed=5, width=16, depth=2)


def _launcher(home, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, THERMOSCOPE_HOME=str(home.root), THERMOSCOPE_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "training.launch", *sets(**FIELDS), "--executor", "local", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_three_launches_at_once_submit_the_run_once_and_the_others_name_its_sweep(tmp_home):
    run_id = make_config(preset="demo", **FIELDS).run_id
    launchers = [_launcher(tmp_home) for _ in range(3)]
    outputs = [p.communicate(timeout=600) for p in launchers]
    assert all(p.returncode == 0 for p in launchers), outputs
    submitted = [re.search(r"sweep (\S+): submitted 1 run", out).group(1) for out, _ in outputs
                 if "submitted 1 run" in out]
    assert len(submitted) == 1, outputs
    skips = [out for out, _ in outputs if "submitted 1 run" not in out]
    assert len(skips) == 2 and all(f"skip  {run_id}" in out and f"sweep {submitted[0]}" in out for out in skips), outputs
    until("the run to finish", lambda: latest_statuses([run_id], tmp_home).get(run_id) == "finished", timeout=300)
    events = run_events(run_id, tmp_home)
    assert [e["status"] for e in events].count("queued") == 1 and {e["sweep_id"] for e in events} == {submitted[0]}
    import pyarrow.parquet as pq

    epochs = pq.read_table(tmp_home.shards / "epochs" / run_id / "epochs.parquet").column("epoch").to_pylist()
    assert sorted(epochs) == [0, 1, 2]  # trained once: one row per epoch, the init included
    assert not any((tmp_home.root / "claims").glob("[!.]*")), "a claim outlived its submission"


HOLD = """
import sys
from lab.sweeps.claims import claim_runs
from warehouse import home
held, others = claim_runs(home(), [sys.argv[1]], "20990101-000000-holder")
print("held" if held == [sys.argv[1]] else f"not held: {others}", flush=True)
sys.stdin.read()  # hold it until the test closes our stdin; then end without releasing it, as a crash would
"""


@pytest.mark.slow
def test_a_claim_held_by_a_live_launcher_skips_the_run_and_a_dead_holders_claim_does_not_block(tmp_home):
    run_id = make_config(preset="demo", **FIELDS).run_id
    env = dict(os.environ, THERMOSCOPE_HOME=str(tmp_home.root))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, run_id], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = cli("-m", "training.launch", *sets(**FIELDS), "--executor", "local", home=tmp_home)
        assert blocked.returncode == 0, blocked.stderr
        assert f"skip  {run_id}  being submitted right now by sweep 20990101-000000-holder" in blocked.stdout
        assert f"PID {holder.pid}" in blocked.stdout and "nothing to run" in blocked.stdout
        assert not (tmp_home.shards / "run_events").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert (tmp_home.root / "claims" / run_id).exists()  # left behind by a holder that never released it
    done = cli("-m", "training.launch", *sets(**FIELDS), "--executor", "local", "--wait", home=tmp_home)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "submitted 1 run" in done.stdout and latest_statuses([run_id], tmp_home)[run_id] == "finished"


def test_a_claim_whose_submission_went_through_is_stale_even_while_its_holder_lives(tmp_home):
    """The holder wrote the manifest and the run's 'queued' event, then hung before removing its claim: the events
    speak for the run now, so the claim blocks nothing (and the next launcher skips the run as queued)."""
    from lab.records.events import write_run_event
    from lab.records.manifest import Manifest
    from lab.sweeps.claims import _read, claim_runs, is_stale

    run_id, sweep_id = "a" * 16, "20990101-000000-submitted"
    held, _ = claim_runs(tmp_home, [run_id], sweep_id)
    claim = _read(tmp_home.root / "claims" / run_id)
    assert held == [run_id] and not is_stale(claim, tmp_home)  # this process holds it and lives
    Manifest(sweep_id, "local", str(tmp_home.jobs / sweep_id), {"1": [run_id]}).save(tmp_home)
    assert not is_stale(claim, tmp_home)  # a manifest alone: its events may still be being written
    write_run_event(tmp_home, run_id, sweep_id, "queued", job_id="1")
    assert is_stale(claim, tmp_home)
    again, others = claim_runs(tmp_home, [run_id], "20990101-000001-next")
    assert again == [run_id] and not others  # taken over
