"""Sweeps on a real Slurm (tests/slurm/conftest.py starts one): arrays, status, cancel, failure, requeue.

Every test submits real sbatch arrays of the tiny demo MLP and reads back what the jobs wrote
and what Slurm's accounting says; nothing is mocked.
"""

from __future__ import annotations

import subprocess

import pytest

from lab.records.events import latest_events, latest_statuses, run_events
from lab.records.manifest import load_manifest
from lab.records.reconcile import reconcile
from lab.sweeps.launch import launch
from lab.sweeps.spec import Sweep
from slurm import SlurmOptions
from tests.slurm.slurmhelp import (
    SLURM,
    SLURM_FLAGS,
    TINY_ANALYSIS,
    cli,
    foreign_checkpoint,
    release_requeued,
    sets,
    squeue_ids,
    until,
)

pytestmark = pytest.mark.slurm


@pytest.fixture
def slurm_home(slurm_cluster, tmp_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HEARTBEAT_S", "2")  # sbatch passes the environment to the job
    monkeypatch.setenv("THERMOSCOPE_THREADS", "1")
    return tmp_home


def submit(where, **fields):
    """One tiny run (or a grid, when a field holds a list) as a Slurm array, through the launch API."""
    grid = {k: (v if isinstance(v, list) else [v]) for k, v in fields.items()}
    sweep = Sweep(base={"preset": "demo", "width": 32, "depth": 3}, grid=grid, analysis=TINY_ANALYSIS)
    return launch(sweep, executor="slurm", slurm=SlurmOptions(**SLURM), where=where)


def status_of(where, run_id):
    return latest_statuses([run_id], where).get(run_id)


def test_2x2_sweep_runs_as_one_array_and_lands_in_the_warehouse(slurm_home):
    done = cli("-m", "training.launch", *sets(temperature="1,100", seed="0,1"), *SLURM_FLAGS, "--wait",
               home=slurm_home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep_id = done.stdout.split("sweep ", 1)[1].split(":", 1)[0]
    manifest = load_manifest(slurm_home, sweep_id)
    assert len({j.split("_")[0] for j in manifest.jobs}) == 1, f"one array, got jobs {list(manifest.jobs)}"
    assert sorted(j.split("_")[1] for j in manifest.jobs) == ["0", "1", "2", "3"]
    from warehouse.read import query

    runs = query("SELECT run_id, temperature, seed, status, job_id FROM runs ORDER BY temperature, seed",
                 where=slurm_home)
    assert runs["status"].to_list() == ["finished"] * 4
    assert sorted(zip(runs["temperature"].to_list(), runs["seed"].to_list())) == [(1, 0), (1, 1), (100, 0), (100, 1)]
    assert set(runs["job_id"].to_list()) == set(manifest.jobs)
    epochs = query("SELECT run_id, count(*) AS n FROM epochs GROUP BY run_id", where=slurm_home)
    assert epochs["n"].to_list() == [3] * 4  # epoch 0 (init) + 2 epochs, once each
    jobs = query("SELECT DISTINCT job_id, state FROM jobs_latest WHERE state = 'COMPLETED'", where=slurm_home)
    assert set(jobs["job_id"].to_list()) == set(manifest.jobs)


def test_job_killed_by_scancel_is_marked_cancelled_with_slurms_reason(slurm_home):
    result = submit(slurm_home, epochs=100_000)  # trains until it is killed
    (job_id,) = result.job_ids
    run_id = result.runs[0].run_id
    until("the run to start", lambda: status_of(slurm_home, run_id) == "running")
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    manifest = load_manifest(slurm_home, result.sweep_id)
    status = until("Slurm to report the job cancelled", lambda: (s := reconcile(manifest, slurm_home)).done and s)
    event = status.runs[run_id]
    assert event["status"] == "cancelled"
    assert "CANCELLED" in event["message"] and job_id in event["message"]
    # the CLI says the same from a fresh process, and a second reconcile writes nothing more
    shown = cli("-m", "training.launch", "status", result.sweep_id, home=slurm_home)
    assert shown.returncode == 0 and "1 cancelled" in shown.stdout, shown.stdout + shown.stderr
    n = len(run_events(run_id, slurm_home))
    reconcile(manifest, slurm_home)
    assert len(run_events(run_id, slurm_home)) == n


def test_cancel_command_stops_the_array_and_marks_every_run_cancelled(slurm_home):
    result = submit(slurm_home, epochs=100_000, seed=[0, 1])
    until("a run to start", lambda: "running" in latest_statuses([c.run_id for c in result.runs], slurm_home).values())
    done = cli("-m", "training.launch", "cancel", result.sweep_id, home=slurm_home)
    assert done.returncode == 0, done.stderr
    assert latest_statuses([c.run_id for c in result.runs], slurm_home) == {c.run_id: "cancelled" for c in result.runs}
    until("the array to leave the queue", lambda: not (set(result.job_ids) & squeue_ids()), timeout=60)


def test_job_that_raises_is_failed_with_its_traceback_and_others_still_finish(slurm_home, tmp_path):
    bad = foreign_checkpoint(tmp_path / "not-a-checkpoint.pt")
    sweep = Sweep(base={"preset": "demo", "width": 32, "depth": 3, "epochs": 1},
                  points=({"pretrained": bad, "seed": 7}, {"seed": 8}), analysis=TINY_ANALYSIS)
    result = launch(sweep, executor="slurm", slurm=SlurmOptions(**SLURM), where=slurm_home)
    broken, fine = result.runs
    manifest = load_manifest(slurm_home, result.sweep_id)
    status = until("both runs to end", lambda: (s := reconcile(manifest, slurm_home)).done and s, timeout=300)
    failed = status.runs[broken.run_id]
    assert failed["status"] == "failed"
    assert "Traceback (most recent call last)" in failed["message"] and "load" in failed["message"]
    # the other array task is not hidden by the failure: it reached its own end and reported it
    assert status.runs[fine.run_id]["status"] in ("finished", "failed")
    assert "not-a-checkpoint" not in (status.runs[fine.run_id]["message"] or "")
    job_id = manifest.job_of(broken.run_id)
    # sacct may not list an array task for a moment (slurm_states leaves unknown ids out): wait for it too
    until("Slurm to record the failed task",
          lambda: getattr(reconcile(manifest, slurm_home).jobs.get(job_id), "state", None) == "FAILED", timeout=60)
    from warehouse.ingest import ingest
    from warehouse.read import query

    ingest(slurm_home)
    row = query("SELECT status, error FROM runs WHERE run_id = ?", [broken.run_id], slurm_home).to_dicts()[0]
    assert row["status"] == "failed" and "Traceback" in row["error"]
    tb = query("SELECT traceback FROM jobs_latest WHERE run_id = ? AND state = 'FAILED'", [broken.run_id],
               slurm_home)
    assert "Traceback" in tb["traceback"][0]


def test_preempted_job_is_requeued_and_resumes_from_its_checkpoint(slurm_home):
    from lab.jobs.run_job import last_logged_epoch

    # long enough that the preemption lands mid-run (it is sent right after epoch 3), short enough that training
    # every epoch to the end (asserted below) is not most of the test
    epochs = 150
    result = submit(slurm_home, epochs=epochs)
    (job_id,) = result.job_ids
    run_id = result.runs[0].run_id
    first = until("a few epochs", lambda: (e := last_logged_epoch(slurm_home, run_id)) is not None and e >= 3 and e,
                  timeout=180, every=0.3)
    # what Slurm does on preemption, as submitit's own tests do it: SIGTERM (ignored), then the USR2 signal
    subprocess.run(["scancel", "--signal", "TERM", job_id], check=True, timeout=30)
    subprocess.run(["scancel", "--signal", "USR2", job_id], check=True, timeout=30)
    release_requeued(job_id)  # instead of Slurm's 2-minute hold of a requeued job

    def resumed():
        return next((e for e in run_events(run_id, slurm_home)
                     if e["status"] == "running" and e["requeues"] == 1), None)

    again = until("the requeued job to start again", resumed, timeout=300)
    assert again["epoch"] >= first, f"resumed at epoch {again['epoch']}, but epoch {first} was done before"
    assert f"resumed from its checkpoint at epoch {again['epoch']}" in again["message"]
    requeue = [e for e in run_events(run_id, slurm_home) if e["status"] == "queued" and e["requeues"] == 1]
    assert requeue and "requeued" in requeue[0]["message"]
    manifest = load_manifest(slurm_home, result.sweep_id)
    status = until("the run to end", lambda: (s := reconcile(manifest, slurm_home)).done and s, timeout=600)
    # the epoch log holds every epoch exactly once: the resumed run did not start over from epoch 0
    import pyarrow.parquet as pq

    log = pq.read_table(slurm_home.shards / "epochs" / run_id / "epochs.parquet").column("epoch").to_pylist()
    assert log == list(range(epochs + 1))
    assert status.runs[run_id]["requeues"] == 1


def test_requeues_beyond_max_requeues_mark_the_run_failed(slurm_home):
    sweep = Sweep(base={"preset": "demo", "width": 32, "depth": 3, "epochs": 100_000}, grid={"seed": (3,)})
    result = launch(sweep, executor="slurm", slurm=SlurmOptions(**SLURM, max_requeues=0), where=slurm_home)
    (job_id,) = result.job_ids
    run_id = result.runs[0].run_id
    until("the run to start", lambda: status_of(slurm_home, run_id) == "running")
    subprocess.run(["scancel", "--signal", "USR2", job_id], check=True, timeout=30)
    manifest = load_manifest(slurm_home, result.sweep_id)
    status = until("the run to end", lambda: (s := reconcile(manifest, slurm_home)).done and s, timeout=120)
    event = status.runs[run_id]
    assert event["status"] == "failed" and "max_requeues=0" in event["message"]
    until("the job to leave the queue", lambda: job_id not in squeue_ids(), timeout=60)


def test_partition_slurm_rejects_is_one_line_naming_it_and_nothing_is_written(slurm_home):
    before = squeue_ids(slurm_home.root)
    done = cli("-m", "training.launch", *sets(temperature="1,10"), *SLURM_FLAGS, "--partition", "no-such-part",
               home=slurm_home)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "partition" in lines[0] and "no-such-part" in lines[0]
    assert not (slurm_home.root / "shards").exists()
    assert not any((slurm_home.root / "jobs").glob("*")) if (slurm_home.root / "jobs").exists() else True
    assert squeue_ids(slurm_home.root) == before == set()


def test_gpus_on_a_cluster_without_them_is_one_line_naming_gpus_per_node(slurm_home):
    done = cli("-m", "training.launch", *sets(), *SLURM_FLAGS, "--gpus", "1", home=slurm_home)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "gpus_per_node" in done.stderr, done.stderr
    assert not (slurm_home.root / "shards").exists()


def test_unknown_extra_sbatch_flag_is_named(slurm_home):
    done = cli("-m", "training.launch", *sets(), *SLURM_FLAGS, "--sbatch", "no-such-flag=1", home=slurm_home)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "no-such-flag" in done.stderr, done.stderr
    assert not (slurm_home.root / "shards").exists()


def test_heartbeat_rows_show_a_running_job(slurm_home):
    result = submit(slurm_home, epochs=100_000, seed=11)
    run_id = result.runs[0].run_id
    until("the run to start", lambda: status_of(slurm_home, run_id) == "running")
    import polars as pl

    path = slurm_home.shards / "jobs" / result.sweep_id / f"heartbeat-{result.job_ids[0]}-{run_id}.parquet"
    first = until("a heartbeat", lambda: path.exists() and pl.read_parquet(path)["ts"][0])
    later = until("a later heartbeat", lambda: path.exists() and (t := pl.read_parquet(path)["ts"][0]) > first and t,
                  timeout=60)
    assert later > first
    shown = cli("-m", "training.launch", "status", result.sweep_id, home=slurm_home)
    # (not Slurm's word: slurmdbd may still say PENDING for a second after the job started)
    assert "(heartbeat " in shown.stdout and "s ago)" in shown.stdout, shown.stdout
    cli("-m", "training.launch", "cancel", result.sweep_id, home=slurm_home)
    assert latest_events([run_id], slurm_home)[run_id]["status"] == "cancelled"


def test_job_whose_process_is_killed_is_marked_failed_from_slurms_state(slurm_home):
    result = submit(slurm_home, epochs=100_000, seed=12)
    (job_id,) = result.job_ids
    run_id = result.runs[0].run_id
    until("the run to start", lambda: status_of(slurm_home, run_id) == "running")
    import psutil

    # what an OOM kill looks like to Slurm: the task's process dies at once, with no chance to report
    pids = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True, timeout=30).stdout
    procs = [psutil.Process(int(line.split()[0])) for line in pids.splitlines()[1:] if line.split()[0].isdigit()]
    victims = [p for p in procs if "submitit.core._submit" in " ".join(p.cmdline())]
    assert victims, pids
    for p in victims:
        p.kill()
    manifest = load_manifest(slurm_home, result.sweep_id)
    status = until("Slurm to report the job ended", lambda: (s := reconcile(manifest, slurm_home)).done and s)
    event = status.runs[run_id]
    assert event["status"] == "failed" and "FAILED" in event["message"] and "before the run reported" in event["message"]


def test_wait_on_slurm_ends_and_reports_failures_honestly(slurm_home, tmp_path):
    bad = foreign_checkpoint(tmp_path / "other-model.pt")
    done = cli("-m", "training.launch", *sets(epochs=1, seed="0,1", pretrained=bad), *SLURM_FLAGS, "--wait",
               home=slurm_home, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 run(s): 2 failed" in done.stdout, done.stdout
    assert "sweep" in done.stderr  # the progress bar


def test_an_older_job_with_the_same_id_is_not_taken_for_the_sweeps_job(slurm_home):
    import dataclasses
    import time

    result = submit(slurm_home, epochs=1, seed=21)
    manifest = load_manifest(slurm_home, result.sweep_id)
    assert manifest.submitted_at <= time.time()
    until("sacct to know the job", lambda: reconcile(manifest, slurm_home).jobs)
    # a sweep made an hour later whose job got the same id (a cluster whose job ids restarted):
    # sacct's record of the old job must not decide its runs' fate
    later = dataclasses.replace(manifest, submitted_at=time.time() + 3600)
    assert reconcile(later, slurm_home).jobs == {}


def test_pack_puts_compatible_runs_in_one_array_task(slurm_home):
    done = cli("-m", "training.launch", *sets(temperature="1,100", seed="0,1"), *SLURM_FLAGS, "--pack", "2",
               "--wait", home=slurm_home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep_id = done.stdout.split("sweep ", 1)[1].split(":", 1)[0]
    manifest = load_manifest(slurm_home, sweep_id)
    assert sorted(len(runs) for runs in manifest.jobs.values()) == [2, 2]  # 4 runs in a 2-task array
    assert latest_statuses(manifest.run_ids, slurm_home) == {r: "finished" for r in manifest.run_ids}
