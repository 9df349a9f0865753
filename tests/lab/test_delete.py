"""`thermoscope delete`, for real: a local sweep trained and ingested, one run deleted, then the whole sweep.

`--dry-run` lists exactly what `delete` removes (compared with the home's file tree before and after); after
delete, ingest and rebuild the deleted run's rows are gone from every table and every other row is unchanged.
"""

from __future__ import annotations

import os

import polars as pl
import pytest

from lab.commands.main import main
from lab.records.events import write_run_event
from lab.records.manifest import list_sweeps, load_manifest
from tests.slurm.slurmhelp import cli, sets
from thermoscope.status import RunStatus
from warehouse.ingest import ingest, rebuild
from warehouse.read import query
from warehouse.schema import TABLES

# the warehouse's own files change on every ingest; everything else in the home is runs' data
WAREHOUSE_FILES = ("warehouse.duckdb", "ingest", "ingest.lock", "sql-slots", ".snapshot")


def files(where) -> set[str]:
    out = set()
    for path in where.root.rglob("*"):
        rel = path.relative_to(where.root).as_posix()
        if not path.is_dir() and not rel.startswith(WAREHOUSE_FILES) and not path.name.startswith("."):
            out.add(rel)
    return out


def rows(where, keep) -> dict[str, pl.DataFrame]:
    """Every shard table's rows whose owner `keep(owner)` accepts, sorted, plus layer_stats."""
    out = {}
    for table in TABLES:
        frame = query(f'SELECT * FROM "{table}"', where=where)
        if "_shard" in frame.columns:
            frame = frame.filter(pl.col("_shard").map_elements(lambda s: keep(s.split("/")[1]),
                                                               return_dtype=pl.Boolean))
        out[table] = frame.sort(frame.columns[:8], nulls_last=True) if frame.height else frame
    stats = query("SELECT * FROM layer_stats", where=where)  # derived: one group per config, over seeds
    keys = [c for c, d in stats.schema.items() if not d.is_float() and not isinstance(d, pl.List)]
    out["layer_stats"] = stats.sort(keys, nulls_last=True) if stats.height else stats
    return out


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Equal rows; floats to 1e-12 relative (an aggregate recomputed may sum in another order)."""
    from polars.testing import assert_frame_equal

    assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)


def listed(capsys, target, where) -> list[str]:
    assert main(["delete", target, "--dry-run", "--home", str(where.root)]) == 0
    return [line.strip().rstrip("/") for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]


@pytest.mark.slow
def test_delete_lists_exactly_what_it_removes_and_leaves_every_other_row(tmp_home, capsys, monkeypatch):
    done = cli("-m", "training.launch", *sets(epochs=1, temperature="1,10", seed=0), "--executor", "local",
               "--wait", home=tmp_home)
    assert done.returncode == 0, done.stdout + done.stderr
    (sweep,) = list_sweeps(tmp_home)
    keep_id, gone_id = load_manifest(tmp_home, sweep).run_ids
    cfg = query("SELECT run_id, temperature FROM run_configs", where=tmp_home)
    if dict(zip(cfg["run_id"], cfg["temperature"]))[gone_id] != 10.0:
        keep_id, gone_id = gone_id, keep_id
    aside = tmp_home.checkpoints / f"{gone_id}.superseded-20250101-000000"
    aside.mkdir()
    (aside / "last.pt").write_bytes(b"old")
    before_files, before_rows = files(tmp_home), rows(tmp_home, lambda owner: owner != gone_id)
    stats = before_rows["layer_stats"]
    assert set(stats["temperature"].to_list()) == {1.0, 10.0}, stats  # the T=10 group goes with its one run
    before_rows["layer_stats"] = stats.filter(pl.col("temperature") == 1.0)
    assert query("SELECT count(*) AS n FROM epochs WHERE run_id = ?", [gone_id], tmp_home)["n"][0] > 0

    # refused while the run is live (a queued event of a sweep this home has no manifest for stays live)
    write_run_event(tmp_home, gone_id, "elsewhere", RunStatus.QUEUED)
    assert main(["delete", gone_id, "--home", str(tmp_home.root)]) == 2
    assert "cancel it first" in capsys.readouterr().err
    write_run_event(tmp_home, gone_id, "elsewhere", RunStatus.CANCELLED)
    before_files = files(tmp_home)

    said = listed(capsys, gone_id, tmp_home)
    assert files(tmp_home) == before_files  # a dry run removes nothing
    assert f"checkpoints/{gone_id}" in said and aside.relative_to(tmp_home.root).as_posix() in said
    assert f"shards/epochs/{gone_id}" in said and f"shards/run_configs/{gone_id}" in said
    assert not any(sweep in p for p in said)  # the sweep keeps a run: its job folder stays
    assert main(["delete", gone_id, "--home", str(tmp_home.root)]) == 0
    capsys.readouterr()
    removed = before_files - files(tmp_home)
    assert files(tmp_home) <= before_files
    covered = {f for f in before_files if any(f == p or f.startswith(p + "/") for p in said)}
    assert removed == covered, (removed ^ covered)

    for step in ("delete", "ingest", "rebuild"):
        if step == "ingest":
            ingest(tmp_home)
        if step == "rebuild":
            rebuild(tmp_home)
        after = rows(tmp_home, lambda owner: True)
        for table in (*TABLES, "layer_stats"):
            same(after[table], before_rows[table])
        assert query("SELECT count(*) AS n FROM runs WHERE run_id = ?", [gone_id], tmp_home)["n"][0] == 0

    # the whole sweep: its last run, and now its job folder and its jobs shards
    said = listed(capsys, sweep, tmp_home)
    assert f"jobs/{sweep}" in said and f"shards/jobs/{sweep}" in said and f"checkpoints/{keep_id}" in said
    before_files = files(tmp_home)
    assert main(["delete", sweep, "--home", str(tmp_home.root)]) == 0
    covered = {f for f in before_files if any(f == p or f.startswith(p + "/") for p in said)}
    assert before_files - files(tmp_home) == covered
    rebuild(tmp_home)
    assert all(frame.height == 0 for t, frame in rows(tmp_home, lambda owner: True).items() if t != "theory")
    assert not os.path.exists(tmp_home.jobs / sweep)


def test_delete_of_an_unknown_or_odd_id_is_one_line(tmp_home, capsys):
    for target in ("nope", "../etc", ".hidden"):
        assert main(["delete", target, "--home", str(tmp_home.root)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("delete: ") and len(err.strip().splitlines()) == 1, err


def test_force_keeps_only_the_newest_superseded_checkpoints(tmp_home, monkeypatch):
    from lab.sweeps.retention import prune_superseded, superseded

    for stamp in ("20250101-000000", "20250102-000000", "20250103-000000"):
        (tmp_home.checkpoints / f"r1.superseded-{stamp}").mkdir(parents=True)
    (tmp_home.checkpoints / "r1").mkdir()
    monkeypatch.setenv("THERMOSCOPE_KEEP_SUPERSEDED", "2")
    gone = prune_superseded(tmp_home, ["r1"])
    assert [p.name for p in gone] == ["r1.superseded-20250101-000000"]
    assert [p.name for p in superseded(tmp_home, "r1")] == ["r1.superseded-20250102-000000",
                                                           "r1.superseded-20250103-000000"]
    assert (tmp_home.checkpoints / "r1").is_dir()
    assert len(prune_superseded(tmp_home, ["r1"], keep=0)) == 2 and (tmp_home.checkpoints / "r1").is_dir()
