"""Each job ingests its own shards when its last run ends: results reach the warehouse with no command typed,
and an ingest that cannot run (lock held, switched off) never fails the job."""

from __future__ import annotations

import fcntl

import pytest

from lab.sweeps.launch import launch
from lab.sweeps.spec import Sweep
from tests.localjobs import wait_local
from tests.slurm.slurmhelp import TINY_ANALYSIS
from warehouse.read import query

TINY = {"preset": "demo", "width": 16, "depth": 2, "epochs": 1}


def _run_local(tmp_home, **grid):
    result = launch(Sweep(base=TINY, grid=grid, analysis=TINY_ANALYSIS), executor="local", where=tmp_home)
    wait_local(result.jobs, 300, "a 1-epoch demo run took over 5 minutes")
    return result


def _job_stderr(result) -> str:
    return "\n".join(job.stderr() or "" for job in result.jobs)


@pytest.mark.slow
def test_a_finished_local_sweep_is_in_the_warehouse_without_an_ingest(tmp_home):
    result = _run_local(tmp_home, temperature=(1.0, 10.0))
    runs = query("SELECT run_id, status, temperature FROM runs ORDER BY temperature", where=tmp_home)
    assert runs["run_id"].to_list() == [c.run_id for c in sorted(result.runs, key=lambda c: c.temperature)]
    assert runs["status"].to_list() == ["finished", "finished"]
    epochs = query("SELECT count(*) AS n FROM epochs", where=tmp_home)["n"][0]
    assert epochs >= 2  # at least epoch 1 of each run (epoch 0 too where it is logged)
    err = _job_stderr(result)
    assert "job ingest: ingested" in err, err
    print([line for line in err.splitlines() if line.startswith("job ingest:")])  # the measured ingest time


@pytest.mark.slow
def test_a_job_whose_ingest_cannot_take_the_lock_still_ends_finished(tmp_home):
    tmp_home.root.mkdir(parents=True, exist_ok=True)
    with open(tmp_home.lock, "w") as held:  # another ingester, for the whole life of the job
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = _run_local(tmp_home, temperature=(1.0,))
        statuses = [job.result() for job in result.jobs]  # raises if the job failed
    assert statuses == [{result.runs[0].run_id: "finished"}]
    err = _job_stderr(result)
    line = next(x for x in err.splitlines() if x.startswith("job ingest:"))
    assert "not ingested (IngestBusy" in line and "python -m warehouse ingest" in line, line
    assert not tmp_home.database.exists()
    from warehouse.ingest import ingest

    ingest(tmp_home)  # the shards were left on disk for the next ingest
    assert query("SELECT status FROM runs", where=tmp_home)["status"].to_list() == ["finished"]


@pytest.mark.slow
def test_the_switch_turns_job_ingest_off_and_a_broken_warehouse_is_one_line(tmp_home, monkeypatch, capsys):
    from lab.jobs.run_job import ingest_own_shards
    from lab.records.events import write_run_event

    write_run_event(tmp_home, "a" * 16, "s", "finished")
    monkeypatch.setenv("THERMOSCOPE_JOB_INGEST", "0")
    ingest_own_shards(tmp_home)
    assert not tmp_home.database.exists() and capsys.readouterr().err == ""
    monkeypatch.setenv("THERMOSCOPE_JOB_INGEST", "1")
    tmp_home.working.parent.mkdir(parents=True, exist_ok=True)
    tmp_home.working.write_bytes(b"not a duckdb file")
    ingest_own_shards(tmp_home)  # must not raise
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("job ingest: "), err
    monkeypatch.setenv("THERMOSCOPE_JOB_INGEST", "maybe")
    ingest_own_shards(tmp_home)
    assert "THERMOSCOPE_JOB_INGEST='maybe'" in capsys.readouterr().err
