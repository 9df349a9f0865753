"""A shard that turns unreadable after it was ingested: ingest and rebuild end with the same rows, and both say so.

Two homes with the same shards: one ingests, has a shard corrupted, ingests again and then rebuilds; the
other ingests, has the same shard corrupted and rebuilds at once. Every table ends the same in all three
states, without the corrupted shard's rows and with every other row; the command that met the corruption
printed one warning line and exited 0. Real CLI processes on real Parquet and DuckDB files.
"""

from __future__ import annotations

import shutil

import pytest

from tests.warehouse.wh_helpers import cli, write_run
from warehouse import home
from warehouse.read import connect

SHARD = ("layer_metrics", "b", "analysis-e0003.parquet")


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def scribble(path):
    """Overwrite the column pages in place (same size, same inode), keeping the footer readable."""
    data = bytearray(path.read_bytes())
    for k in range(4, len(data) // 2):
        data[k] = 0xAB
    with open(path, "r+b") as fh:
        fh.write(bytes(data))


def tables(where) -> dict[str, list[tuple]]:
    """Every user-visible table's rows, sorted (the bookkeeping tables `_…` aside)."""
    con = connect(where)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND NOT starts_with(table_name, '_') ORDER BY 1").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
    finally:
        con.close()


def ingested_homes(tmp_path):
    """Two homes holding the same shard files (a copy), each ingested."""
    first, second = home(tmp_path / "one"), home(tmp_path / "two")
    for seed, run in enumerate(("a", "b")):
        write_run(first, run, seed=seed)
    shutil.copytree(first.shards, second.shards)
    for where in (first, second):
        done = cli("ingest", where=where)
        assert done.returncode == 0 and not done.stderr, done.stderr
    return first, second


def warned(done) -> bool:
    lines = done.stderr.strip().splitlines()
    return done.returncode == 0 and len(lines) == 1 and lines[0].startswith("warehouse: warning: 1 unreadable shard")


@pytest.mark.parametrize("corrupt", [truncate, scribble])
@pytest.mark.slow
def test_ingest_and_rebuild_agree_on_a_shard_corrupted_after_ingest(tmp_path, corrupt):
    first, second = ingested_homes(tmp_path)
    before = tables(first)
    assert tables(second) == before
    assert sum(r[0] == "b" for r in before["layer_metrics"]) == 3
    for where in (first, second):
        corrupt(where.shards.joinpath(*SHARD))

    done = cli("ingest", where=first)
    assert warned(done) and "removed the rows of 1 shard" in done.stdout, done.stdout + done.stderr
    after_ingest = tables(first)
    done = cli("rebuild", where=first)
    assert done.returncode == 0, done.stderr  # the shard is in quarantine already: nothing new to say
    after_rebuild = tables(first)
    done = cli("rebuild", where=second)
    assert warned(done), done.stderr  # the rebuild met the corruption itself
    rebuilt_only = tables(second)

    assert after_ingest == after_rebuild == rebuilt_only
    # exactly the corrupted shard's rows went: b's layer ranks, and the layer_stats groups made of them
    assert [r for r in after_ingest["layer_metrics"] if r[0] == "b"] == []
    assert after_ingest["layer_metrics"] == [r for r in before["layer_metrics"] if r[0] != "b"]
    for name in after_ingest:
        if name not in ("layer_metrics", "layer_stats"):
            assert after_ingest[name] == before[name], name
    for where in (first, second):
        assert where.quarantine.joinpath(*SHARD).exists() and not where.shards.joinpath(*SHARD).exists()
