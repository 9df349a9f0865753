"""`python -m training.launch ... --pack N` for real: a local sweep whose runs train packed, then ingest.

lab/sweeps/launch.py turns --pack N into pack_groups(todo, N) chunks submitted as packed RunJob array tasks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TINY = ["--set", "preset=demo", "--set", "epochs=2", "--set", "width=32", "--set", "depth=3",
        "--set", "analysis.probe_epochs=2", "--set", "analysis.max_samples=200", "--set", "temperature=1,100",
        "--set", "seed=0,1", "--set", "lr=0.05"]


@pytest.mark.slow
def test_a_sweep_launched_with_pack_trains_its_runs_packed_and_they_land_in_the_warehouse(tmp_path):
    from lab.records.events import run_events
    from warehouse import home
    from warehouse.read import query

    where = home(tmp_path / "home")
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root), THERMOSCOPE_THREADS="1",
               THERMOSCOPE_PACK_ENGINE="grouped")  # stacked even on this CPU (its default there is solo)
    done = subprocess.run([sys.executable, "-m", "training.launch", *TINY, "--executor", "local", "--wait",
                           "--pack", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in 1 local job(s)" in done.stdout  # four compatible runs: one pack, one job
    runs = query("SELECT run_id, status FROM runs ORDER BY run_id", where=where)
    assert runs["status"].to_list() == ["finished"] * 4
    for rid in runs["run_id"].to_list():
        assert "packed with 3 other run(s)" in run_events(rid, where)[1]["message"]  # [0] is 'queued'
    epochs = query("SELECT run_id, count(*) AS n FROM epochs GROUP BY run_id", where=where)
    assert epochs["n"].to_list() == [3] * 4
