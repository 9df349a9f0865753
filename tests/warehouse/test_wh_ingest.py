"""Ingest: idempotent, re-written shards replace their rows, bad shards go to quarantine, one ingester at a
time, rebuild from shards alone, readers keep working while an ingest publishes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.warehouse.wh_helpers import write_run
from warehouse import write_shard
from warehouse.ingest import IngestBusy, ingest, rebuild
from warehouse.read import attach_snapshot, connect, query, snapshot_cursor


def _counts(where) -> dict[str, int]:
    tables = ["run_configs", "run_events", "epochs", "layer_metrics", "run_metrics", "alignment", "layer_stats"]
    return {t: query(f"SELECT count(*) AS n FROM {t}", where=where)["n"][0] for t in tables}


def test_ingest_twice_adds_nothing(tmp_home):
    write_run(tmp_home, "a")
    first = ingest(tmp_home)
    assert first.new_shards == 8 and first.rows > 0
    before = _counts(tmp_home)
    again = ingest(tmp_home)
    assert (again.new_shards, again.replaced_shards, again.rows) == (0, 0, 0)
    assert _counts(tmp_home) == before


def test_a_rewritten_shard_replaces_its_rows(tmp_home):
    rows = [dict(run_id="a", epoch=1, layer_index=0, metric="rank", value=1.0)]
    write_shard("layer_metrics", rows, owner="a", name="analysis-e0001", where=tmp_home)
    ingest(tmp_home)
    # the requeued job writes the same shard again, with more rows and a new value
    rows = [dict(run_id="a", epoch=1, layer_index=i, metric="rank", value=2.0) for i in range(2)]
    write_shard("layer_metrics", rows, owner="a", name="analysis-e0001", where=tmp_home)
    report = ingest(tmp_home)
    assert report.replaced_shards == 1
    got = query("SELECT layer_index, value FROM layer_metrics ORDER BY layer_index", where=tmp_home)
    assert got.rows() == [(0, 2.0), (1, 2.0)]


def test_truncated_and_wrong_schema_shards_are_quarantined_and_the_rest_ingested(tmp_home):
    for r in ("a", "b"):
        write_run(tmp_home, r)
    bad = write_shard("epochs", [dict(run_id="c", epoch=e) for e in range(50)], owner="c", name="epochs", where=tmp_home)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # a truncated copy
    import pyarrow as pa
    import pyarrow.parquet as pq

    wrong = tmp_home.shards / "layer_metrics" / "d" / "analysis-e0001.parquet"
    wrong.parent.mkdir(parents=True)
    pq.write_table(pa.table({"run_id": ["d"], "value": ["not a number"]}), wrong)
    report = ingest(tmp_home)
    reasons = dict(report.quarantined)
    assert set(reasons) == {"epochs/c/epochs.parquet", "layer_metrics/d/analysis-e0001.parquet"}
    assert "Parquet" in reasons["epochs/c/epochs.parquet"]
    assert "wrong schema" in reasons["layer_metrics/d/analysis-e0001.parquet"]
    assert not bad.exists() and not wrong.exists()
    reason_file = tmp_home.quarantine / "epochs" / "c" / "epochs.parquet.reason"
    assert "Parquet" in reason_file.read_text()
    assert query("SELECT count(DISTINCT run_id) AS n FROM run_configs", where=tmp_home)["n"][0] == 2
    assert query("SELECT count(*) AS n FROM layer_metrics WHERE run_id = 'd'", where=tmp_home)["n"][0] == 0


def test_a_corrupt_body_under_a_good_footer_is_found_and_quarantined(tmp_home):
    write_run(tmp_home, "a")
    path = write_shard("layer_metrics", [dict(run_id="z", epoch=1, layer_index=i, metric="rank", value=float(i))
                                         for i in range(5000)], owner="z", name="analysis-e0001", where=tmp_home)
    data = bytearray(path.read_bytes())
    for k in range(100, len(data) // 2):  # scribble over the column pages, keep the footer intact
        data[k] = 0xAB
    path.write_bytes(bytes(data))
    report = ingest(tmp_home)
    assert [p for p, _ in report.quarantined] == ["layer_metrics/z/analysis-e0001.parquet"]
    assert query("SELECT count(*) AS n FROM layer_metrics WHERE run_id = 'a'", where=tmp_home)["n"][0] == 3


def test_a_second_ingester_waits_then_says_what_to_do(tmp_home):
    tmp_home.root.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; fh = open(sys.argv[1], 'w'); "
         "fcntl.flock(fh, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(tmp_home.lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pytest.raises(IngestBusy, match="another ingest holds"):
            ingest(tmp_home, lock_wait_s=0.5)
        assert time.monotonic() - t0 >= 0.5
    finally:
        holder.kill()
        holder.wait()
    write_run(tmp_home, "a")
    assert ingest(tmp_home, lock_wait_s=5).new_shards == 8  # the kernel dropped the dead holder's lock


def test_rebuild_from_shards_alone_gives_the_same_rows(tmp_home):
    for r in ("a", "b", "c"):
        write_run(tmp_home, r, seed=ord(r))
    ingest(tmp_home)
    before = _counts(tmp_home)
    snapshot_rank = query("SELECT * FROM layer_stats ORDER BY ALL", where=tmp_home)
    tmp_home.working.unlink()
    tmp_home.database.unlink()
    report = rebuild(tmp_home)
    assert report.new_shards == 24
    assert _counts(tmp_home) == before
    assert query("SELECT * FROM layer_stats ORDER BY ALL", where=tmp_home).equals(snapshot_rank)


def test_a_reader_holding_the_snapshot_does_not_block_ingest_and_then_sees_the_new_rows(tmp_home):
    write_run(tmp_home, "a")
    ingest(tmp_home)
    con = connect(tmp_home)  # an open dashboard connection
    try:
        write_run(tmp_home, "b")
        assert ingest(tmp_home, lock_wait_s=0).new_shards == 8
        # the open connection still reads its own consistent snapshot
        assert con.execute("SELECT count(*) FROM run_configs").fetchall() == [(1,)]
    finally:
        con.close()
    assert query("SELECT count(*) AS n FROM run_configs", where=tmp_home)["n"][0] == 2


def test_a_held_attachment_keeps_its_snapshot_and_pins_nobody_else_to_it(tmp_home, tmp_path, monkeypatch):
    """The dashboard's way (attach_snapshot, one per snapshot version, a cursor per query): the held one keeps
    answering from its own snapshot, and a connect(path) in the same process while it is held sees the ingest
    (a held connect(path) would hand it the old file: DuckDB keeps one instance per path per process)."""
    write_run(tmp_home, "a")
    ingest(tmp_home)
    monkeypatch.chdir(tmp_path)
    held = attach_snapshot(tmp_home)
    try:
        write_run(tmp_home, "b")
        ingest(tmp_home, lock_wait_s=0)
        cur = snapshot_cursor(held)
        assert cur.execute("SELECT count(*) FROM run_configs").fetchall() == [(1,)]
        cur.close()
        assert query("SELECT count(*) AS n FROM run_configs", where=tmp_home)["n"][0] == 2
        fresh = attach_snapshot(tmp_home)
        assert snapshot_cursor(fresh).execute("SELECT count(*) FROM run_configs").fetchall() == [(2,)]
        fresh.close()
    finally:
        held.close()
    assert not (tmp_path / ".tmp").exists()  # nothing may spill into the working folder


def test_temporary_files_of_writers_are_ignored_and_old_ones_removed(tmp_home):
    write_run(tmp_home, "a")
    folder = tmp_home.shards / "epochs" / "a"
    fresh = folder / ".epochs.parquet.1234.tmp"
    old = folder / ".epochs.parquet.5678.tmp"
    fresh.write_bytes(b"PAR1 half written")
    old.write_bytes(b"PAR1 left by a killed writer")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    report = ingest(tmp_home)
    assert not report.quarantined and report.new_shards == 8
    assert fresh.exists() and not old.exists()


def test_ingest_cli_prints_one_line_and_exits_2_when_busy(tmp_home):
    from tests.warehouse.wh_helpers import cli

    write_run(tmp_home, "a")
    done = cli("ingest", where=tmp_home)
    assert done.returncode == 0 and done.stdout.startswith("ingested 8 new")
    import fcntl

    with open(tmp_home.lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        busy = cli("ingest", "--wait", "0", where=tmp_home)
    assert busy.returncode == 2 and len(busy.stderr.strip().splitlines()) == 1
    assert "another ingest holds" in busy.stderr


assert ROOT.is_dir()


def test_a_shard_written_by_other_code_with_compatible_types_is_loaded(tmp_home):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from warehouse.schema import TABLES

    write_run(tmp_home, "a")
    cols = {c.name: pa.nulls(2, c.type) for c in TABLES["layer_metrics"].columns}
    cols.update(run_id=pa.array(["x", "x"]), epoch=pa.array([1, 1], pa.int64()),  # int64, not int32
                layer_index=pa.array([0, 1], pa.int16()), metric=pa.array(["rank", "rank"]),
                value=pa.array([3, 4], pa.int64()))  # integers into a DOUBLE column
    path = tmp_home.shards / "layer_metrics" / "x" / "by-hand.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(dict(reversed(list(cols.items())))), path)  # columns in another order too
    report = ingest(tmp_home)
    assert not report.quarantined
    got = query("SELECT layer_index, value FROM layer_metrics WHERE run_id = 'x' ORDER BY 1", where=tmp_home)
    assert got.rows() == [(0, 3.0), (1, 4.0)]
