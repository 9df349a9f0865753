"""Reliability with real processes and files: many writers, a looping ingester and a reader at once;
writers and ingesters killed with SIGKILL at the worst moment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.warehouse.wh_helpers import config_row, write_run
from warehouse import write_shard
from warehouse.ingest import ingest
from warehouse.read import connect, query

PROCS = Path(__file__).with_name("wh_procs.py")
# 16 writers x 275 shards (every 10th run written twice) = 4,400 shards racing a looping ingester (batches of 500,
# so it takes several rounds) and a reader; 1,000 runs a writer found nothing more and cost four times the CPU
WRITERS, RUNS, ROWS = 16, 250, 2


def _spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(PROCS), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_16_writers_a_looping_ingester_and_a_reader_lose_and_double_nothing(tmp_home, tmp_path):
    stop = tmp_path / "stop"
    writers = [_spawn("writer", str(tmp_home.root), str(w), str(RUNS)) for w in range(WRITERS)]
    ingester = _spawn("ingester", str(tmp_home.root), str(stop))
    reader = _spawn("reader", str(tmp_home.root), str(stop))
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    stop.touch()
    i_out, i_err = ingester.communicate(timeout=300)
    r_out, r_err = reader.communicate(timeout=300)
    assert ingester.returncode == 0, i_err
    assert reader.returncode == 0, r_err
    final = ingest(tmp_home)
    assert not final.quarantined
    got = query("SELECT count(*) AS n, count(DISTINCT (run_id, layer_index)) AS distinct_rows, "
                "sum(value) AS requeued FROM layer_metrics", where=tmp_home).row(0, named=True)
    assert got["n"] == WRITERS * RUNS * ROWS == got["distinct_rows"]
    assert got["requeued"] == WRITERS * (RUNS // 10) * ROWS  # the re-written shards' rows, once
    stats = json.loads(r_out)
    assert stats["problems"] == [] and stats["queries"] > 0
    assert json.loads(i_out)["rounds"] >= 1


@pytest.mark.slow
def test_a_writer_killed_mid_shard_leaves_no_rows_and_no_stuck_lock(tmp_home):
    write_run(tmp_home, "a")
    ingest(tmp_home)
    big = _spawn("big_writer", str(tmp_home.root))
    assert big.stdout.readline().strip() == "writing"
    folder = tmp_home.shards / "layer_metrics" / "big"
    deadline = time.monotonic() + 60
    while not list(folder.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert list(folder.glob(".*.tmp")), "the writer never started its temporary file"
    big.send_signal(signal.SIGKILL)
    big.wait()
    assert not (folder / "analysis-e0001.parquet").exists()
    report = ingest(tmp_home, lock_wait_s=0)  # nobody holds the lock
    assert not report.quarantined and report.rows == 0
    assert query("SELECT count(*) AS n FROM layer_metrics WHERE run_id = 'big'", where=tmp_home)["n"][0] == 0


@pytest.mark.slow
def test_an_ingester_killed_mid_ingest_leaves_no_stuck_lock_and_a_consistent_file(tmp_home, tmp_path):
    write_run(tmp_home, "first")
    ingest(tmp_home)
    for r in range(100):
        write_shard("run_configs", [config_row(f"k{r}", seed=r % 3)], owner=f"k{r}", name="config", where=tmp_home)
    for r in range(1500):
        write_shard("layer_metrics", [dict(run_id=f"k{r}", epoch=1, layer_index=i, metric="rank", value=1.0)
                                      for i in range(ROWS)], owner=f"k{r}", name="analysis-e0001", where=tmp_home)
    env = dict(os.environ)
    victim = subprocess.Popen([sys.executable, "-m", "warehouse", "--home", str(tmp_home.root), "ingest",
                               "--batch", "100"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = tmp_home.working.parent / "unpublished"
    deadline = time.monotonic() + 60
    while not marker.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the ingester finished before it could be killed"
    # readers still get the last published snapshot, whole
    with connect(tmp_home, retry_s=0) as con:
        assert con.execute("SELECT count(*) FROM layer_metrics").fetchall() == [(3,)]
    report = ingest(tmp_home, lock_wait_s=0)  # no stuck lock; finishes what the dead one left
    assert not report.quarantined
    got = query("SELECT count(*) AS n, count(DISTINCT (run_id, layer_index)) AS d FROM layer_metrics",
                where=tmp_home).row(0, named=True)
    assert got["n"] == got["d"] == 3 + 1500 * ROWS
    assert not list(tmp_home.root.glob(".warehouse.*.tmp"))
    assert_layer_stats_current(tmp_home, tmp_path)


def assert_layer_stats_current(where, tmp_path) -> None:
    """layer_stats equals a from-scratch recomputation: no group was left stale."""
    import shutil

    import duckdb

    from warehouse import derived

    copy = tmp_path / "check.duckdb"
    shutil.copyfile(where.database, copy)
    con = duckdb.connect(str(copy))
    kept = con.sql("SELECT * FROM layer_stats ORDER BY ALL").fetchall()
    con.execute("BEGIN")
    derived.refresh(con)
    con.execute("COMMIT")
    fresh = con.sql("SELECT * FROM layer_stats ORDER BY ALL").fetchall()
    con.close()
    assert kept == fresh and len(fresh) > 3
