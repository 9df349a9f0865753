"""The local executor and the planner, for real: subprocess jobs, event shards, reconcile, cancel.

Runs here are the demo MLP at its smallest, or runs that fail at once (a `pretrained` checkpoint of
another model), so each test takes seconds on a shared CPU.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from lab.records.events import latest_events, latest_statuses, run_events, write_run_event
from lab.records.manifest import Manifest, load_manifest
from lab.records.reconcile import cancel, reconcile
from lab.sweeps.launch import launch
from lab.sweeps.plan import plan
from lab.sweeps.spec import Sweep
from tests.slurm.slurmhelp import TINY_ANALYSIS, cli, foreign_checkpoint, sets, until

TINY = {"preset": "demo", "width": 32, "depth": 3}


def tiny_sweep(**grid) -> Sweep:
    return Sweep(base=TINY, grid=grid, analysis=TINY_ANALYSIS)


def bad_checkpoint(tmp_path):
    return foreign_checkpoint(tmp_path / "other-model.pt")


@pytest.mark.slow
def test_a_failed_run_is_reported_failed_never_finished_and_wait_exits_nonzero(tmp_path, tmp_home):
    done = cli("-m", "training.launch", *sets(epochs=1, pretrained=bad_checkpoint(tmp_path), seed="0,1"),
               "--executor", "local", "--wait", home=tmp_home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 run(s): 2 failed" in done.stdout, done.stdout
    from warehouse.read import query

    runs = query("SELECT status, error FROM runs", where=tmp_home)
    assert runs["status"].to_list() == ["failed", "failed"]
    assert all("Traceback" in e for e in runs["error"].to_list())
    # the dry run shows what the warehouse knows, and would run the failed runs again
    again = cli("-m", "training.launch", *sets(epochs=1, pretrained=bad_checkpoint(tmp_path), seed="0,1"),
                "--executor", "local", "--dry-run", home=tmp_home)
    assert again.stdout.count("(last status: failed)") == 2, again.stdout


def test_finished_runs_are_skipped_unless_forced_and_live_runs_never_start_twice(tmp_home):
    sweep = tiny_sweep(temperature=(1.0, 10.0, 100.0))
    a, b, c = sweep.configs()
    write_run_event(tmp_home, a.run_id, "old-sweep", "finished")
    write_run_event(tmp_home, b.run_id, "live-sweep", "running")
    p = plan(sweep, where=tmp_home)
    assert [x.run_id for x in p.todo] == [c.run_id]
    assert {x.run_id for x in p.skipped} == {a.run_id, b.run_id}
    p = plan(sweep, force=True, where=tmp_home)
    assert [x.run_id for x in p.todo] == [a.run_id, c.run_id]  # --force reruns finished runs, never a live one
    shown = cli("-m", "training.launch", *sets(temperature="1,10,100", epochs=120), "--executor", "local",
                "--dry-run", home=tmp_home)
    assert "already finished" in shown.stdout and "already running in sweep live-sweep" in shown.stdout, shown.stdout


@pytest.mark.slow
def test_planning_sees_a_dead_job_yet_writes_nothing(tmp_home):
    """A run 'running' in a sweep whose local job is gone is planned again; only `status` records why."""
    sweep = tiny_sweep(temperature=(1.0,), epochs=(2,))  # the run `sets(temperature="1")` describes
    (cfg,) = sweep.configs()
    dead = psutil.Popen(["true"])
    dead.wait()  # a PID that is no submitit controller any more
    folder = tmp_home.jobs / "dead-sweep"
    Manifest("dead-sweep", "local", str(folder), {str(dead.pid): [cfg.run_id]}).save(tmp_home)
    write_run_event(tmp_home, cfg.run_id, "dead-sweep", "running")
    files = sorted(tmp_home.root.rglob("*"))
    p = plan(sweep, where=tmp_home)
    assert [x.run_id for x in p.todo] == [cfg.run_id] and p.known[cfg.run_id] == "failed"
    dry = cli("-m", "training.launch", *sets(temperature="1"), "--executor", "local", "--dry-run", home=tmp_home)
    assert "would run" in dry.stdout and "(last status: failed)" in dry.stdout, dry.stdout + dry.stderr
    assert sorted(tmp_home.root.rglob("*")) == files  # neither the planner nor the dry run wrote a thing
    assert latest_statuses([cfg.run_id], tmp_home)[cfg.run_id] == "running"
    shown = cli("-m", "training.launch", "status", "dead-sweep", home=tmp_home)  # status records the verdict
    assert "failed" in shown.stdout and latest_statuses([cfg.run_id], tmp_home)[cfg.run_id] == "failed"


def _task_of(controller_pid: str) -> psutil.Process:
    kids = psutil.Process(int(controller_pid)).children(recursive=True)
    return next(k for k in kids if "submitit.core._submit" in " ".join(k.cmdline()))


@pytest.mark.slow
def test_a_local_job_killed_without_reporting_is_marked_failed(tmp_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_THREADS", "1")
    result = launch(tiny_sweep(seed=(5,), epochs=(100_000,)), executor="local", where=tmp_home)
    run_id = result.runs[0].run_id
    until("the run to start", lambda: latest_statuses([run_id], tmp_home).get(run_id) == "running")
    (job_id,) = result.job_ids
    task = _task_of(job_id)
    os.kill(task.pid, signal.SIGKILL)  # what the OOM killer does: no chance to report anything
    manifest = load_manifest(tmp_home, result.sweep_id)

    def ended():
        result.jobs[0].done()  # reap the controller, as `--wait` does
        return (s := reconcile(manifest, tmp_home)).done and s

    status = until("the kill to be noticed", ended, timeout=60)
    event = status.runs[run_id]
    assert event["status"] == "failed" and f"local job {job_id} ended" in event["message"], event


@pytest.mark.slow
def test_cancel_stops_local_jobs_and_marks_runs_cancelled(tmp_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_THREADS", "1")
    result = launch(tiny_sweep(seed=(6,), epochs=(100_000,)), executor="local", where=tmp_home)
    run_id = result.runs[0].run_id
    until("the run to start", lambda: latest_statuses([run_id], tmp_home).get(run_id) == "running")
    task = _task_of(result.job_ids[0])
    status = cancel(load_manifest(tmp_home, result.sweep_id), tmp_home)
    assert status.runs[run_id]["status"] == "cancelled"
    until("the job process to stop", lambda: not task.is_running() or task.status() == psutil.STATUS_ZOMBIE,
          timeout=30)
    assert latest_events([run_id], tmp_home)[run_id]["status"] == "cancelled"


@pytest.mark.slow
def test_pack_trains_compatible_runs_in_one_job_and_each_reports_its_own_end(tmp_home):
    done = cli("-m", "training.launch", *sets(temperature="1,100", seed="0"), "--executor", "local", "--pack", "2",
               "--wait", home=tmp_home)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    sweep_id = done.stdout.split("sweep ", 1)[1].split(":", 1)[0]
    manifest = load_manifest(tmp_home, sweep_id)
    assert len(manifest.jobs) == 1 and len(manifest.run_ids) == 2  # one job, both runs in it
    from warehouse.read import query

    runs = query("SELECT status FROM runs", where=tmp_home)
    assert runs["status"].to_list() == ["finished", "finished"]
    events = [e for rid in manifest.run_ids for e in run_events(rid, tmp_home)]
    assert any("packed with 1 other run" in (e["message"] or "") for e in events if e["status"] == "running")


def test_pack_of_an_impossible_size_is_one_line(tmp_home):
    done = cli("-m", "training.launch", *sets(temperature="1,100"), "--executor", "local", "--pack", "-1",
               home=tmp_home)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--pack" in done.stderr
