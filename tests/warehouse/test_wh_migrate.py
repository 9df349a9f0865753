"""Opening a warehouse made by older (or newer) code: readers say what to run, ingest/migrate upgrade it."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.warehouse.wh_helpers import cli, write_run
from warehouse.ingest import ingest, migrate_home
from warehouse.migrate import WarehouseTooNew
from warehouse.read import WarehouseOutdated, connect, query
from warehouse.schema import SCHEMA_VERSION


def _make_v0(where) -> None:
    """A v0 file as the first prototype wrote it: no _meta, no shard bookkeeping, fewer columns."""
    where.root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(where.database))
    con.execute("CREATE TABLE run_configs (run_id VARCHAR, arch VARCHAR, dataset VARCHAR, temperature DOUBLE, seed BIGINT)")
    con.execute("CREATE TABLE layer_metrics (run_id VARCHAR, epoch INTEGER, layer_index INTEGER, metric VARCHAR, "
                "value DOUBLE)")
    con.execute("INSERT INTO run_configs VALUES ('a', 'mlp', 'digits', 1.0, 0), ('old', 'mlp', 'digits', 5.0, 0)")
    con.execute("INSERT INTO layer_metrics VALUES ('a', 3, 0, 'rank', 0.0), ('old', 3, 0, 'rank', 7.0)")
    con.close()


def test_a_v0_file_tells_readers_what_to_run_and_migrate_rebuilds_it_keeping_a_backup(tmp_home):
    write_run(tmp_home, "a")
    _make_v0(tmp_home)
    with pytest.raises(WarehouseOutdated, match=r"schema v0 .* run `python -m warehouse migrate`"):
        connect(tmp_home)
    done = cli("sql", "SELECT 1", where=tmp_home)
    assert done.returncode == 2 and "python -m warehouse migrate" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    done = cli("migrate", where=tmp_home)
    assert done.returncode == 0, done.stderr
    assert "v0 -> rebuilt from shards" in done.stdout
    assert query("SELECT count(*) AS n FROM layer_metrics", where=tmp_home)["n"][0] == 3  # from the shards
    assert query("SELECT count(*) AS n FROM layer_stats", where=tmp_home)["n"][0] == 3
    backup = tmp_home.root / "warehouse-v0-backup.duckdb"
    kept = duckdb.connect(str(backup), read_only=True)
    assert kept.execute("SELECT value FROM layer_metrics WHERE run_id = 'old'").fetchall() == [(7.0,)]
    kept.close()
    assert "already at" in cli("migrate", where=tmp_home).stdout


def _steps(since: int) -> list[str]:
    return [f"v{v} -> v{v + 1}" for v in range(since, SCHEMA_VERSION)]


V8_LAYER_COLUMNS = ("probe_protocol", "probe_iterations", "probe_train_loss", "probe_train_acc", "probe_grad_norm",
                    "probe_converged", "probe_note")


def _drop_v8_columns(con) -> None:
    """The probe record columns v8 added (layer_metrics, run_metrics, layer_stats)."""
    for column in V8_LAYER_COLUMNS:
        con.execute(f"ALTER TABLE layer_metrics DROP COLUMN {column}")
    con.execute("DROP VIEW runs")  # it reads run_metrics.probe_protocol
    con.execute("ALTER TABLE run_metrics DROP COLUMN probe_protocol")
    con.execute("ALTER TABLE layer_stats DROP COLUMN probe_protocol")


def _downgrade_to_v2(where, con=None) -> None:
    """Turn a current file into the v2 layout: run_configs without checkpoint_epochs and analysis_json, no
    run_datasets (v4)."""
    own = con is None
    con = con or duckdb.connect(str(where.working))
    con.execute("DROP TABLE run_datasets")
    con.execute("DROP TABLE analyses")  # v6
    con.execute("DROP TABLE run_environments")  # v7
    _drop_v8_columns(con)
    for column in ("checkpoint_epochs", "analysis_json", "source", "name", "tags", "note"):  # v3 and v5 columns
        con.execute(f"ALTER TABLE run_configs DROP COLUMN {column}")
    con.execute("UPDATE _meta SET value = '2' WHERE key = 'schema_version'")
    if own:
        con.close()
        shutil.copyfile(where.working, where.database)
        where.working.unlink()


def _downgrade_to_v1(where) -> None:
    """Turn a current file into the seed's v1 layout: no inode, no layer_stats, one file read and written."""
    con = duckdb.connect(str(where.working))
    _downgrade_to_v2(where, con)
    con.execute("DROP TABLE layer_stats")
    con.execute("ALTER TABLE _shards DROP COLUMN inode")
    con.execute("UPDATE _meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    shutil.copyfile(where.working, where.database)
    where.working.unlink()


def test_a_v1_file_is_migrated_in_place_by_ingest_without_losing_or_doubling_rows(tmp_home):
    for seed in range(2):
        write_run(tmp_home, f"r{seed}", seed=seed)
    ingest(tmp_home)
    before = query("SELECT run_id, layer_index, value FROM layer_metrics ORDER BY ALL", where=tmp_home)
    _downgrade_to_v1(tmp_home)
    with pytest.raises(WarehouseOutdated, match="schema v1"):
        connect(tmp_home)
    write_run(tmp_home, "r2", seed=2)
    report = ingest(tmp_home)
    assert report.migrated == _steps(1)
    after = query("SELECT run_id, layer_index, value FROM layer_metrics ORDER BY ALL", where=tmp_home)
    assert after.height == before.height + 3 and after.unique().height == after.height
    stats = query("SELECT n_runs FROM layer_stats", where=tmp_home)
    assert stats["n_runs"].to_list() == [3, 3, 3]


def test_a_v2_file_gains_the_v3_columns_old_rows_null_new_rows_filled(tmp_home):
    import json

    from analysis.settings import AnalysisSettings
    from lab.records.configs import config_row
    from training.config import make_config
    from warehouse import write_shard

    def launch_row(seed: int) -> str:
        cfg = make_config(preset="demo", seed=seed, checkpoint_epochs=(2,))
        write_shard("run_configs", [config_row(cfg, "s", "", AnalysisSettings(max_samples=99))], owner=cfg.run_id,
                    name="config", where=tmp_home)
        return cfg.run_id

    old = launch_row(0)
    ingest(tmp_home)
    _downgrade_to_v2(tmp_home)
    with pytest.raises(WarehouseOutdated, match="schema v2"):
        connect(tmp_home)
    new = launch_row(1)
    assert ingest(tmp_home).migrated == _steps(2)
    rows = {r["run_id"]: r for r in query("SELECT run_id, checkpoint_epochs, analysis_json FROM runs",
                                           where=tmp_home).to_dicts()}
    assert rows[old]["analysis_json"] is None and rows[old]["checkpoint_epochs"] is None  # migrated: NULL
    assert json.loads(rows[new]["analysis_json"])["max_samples"] == 99 and rows[new]["checkpoint_epochs"] == [2]


def test_a_v5_file_gains_the_analyses_table_and_keeps_its_rows(tmp_home):
    from datetime import UTC, datetime

    from warehouse import write_shard

    write_run(tmp_home, "a")
    ingest(tmp_home)
    con = duckdb.connect(str(tmp_home.working))
    con.execute("DROP TABLE analyses")
    con.execute("UPDATE _meta SET value = '5' WHERE key = 'schema_version'")
    con.close()
    shutil.copyfile(tmp_home.working, tmp_home.database)
    with pytest.raises(WarehouseOutdated, match="schema v5"):
        connect(tmp_home)
    write_shard("analyses", [dict(run_id="a", epoch=3, settings_hash="0" * 16, status="finished",
                                  analysed_at=datetime.now(UTC))], owner="a", name="analysis-e0003", where=tmp_home)
    assert ingest(tmp_home).migrated == _steps(5)
    assert query("SELECT count(*) AS n FROM layer_metrics", where=tmp_home)["n"][0] == 3
    assert query("SELECT run_id, epoch, status FROM analyses", where=tmp_home).rows() == [("a", 3, "finished")]


def test_a_v7_file_gains_the_probe_record_and_reads_its_probes_as_the_paper_protocol(tmp_home):
    from warehouse import write_shard
    from warehouse.queries import Queries, read_query

    write_run(tmp_home, "a")
    write_shard("layer_metrics", [dict(run_id="a", epoch=3, layer_index=i, layer_name=f"hidden{i}", kind="hidden",
                                       dataset="shapes", split="test", metric="probe_acc", value=0.5 + i / 10)
                                  for i in range(3)], owner="a", name="probes-v7", where=tmp_home)
    ingest(tmp_home)
    con = duckdb.connect(str(tmp_home.working))
    _drop_v8_columns(con)
    con.execute("UPDATE _meta SET value = '7' WHERE key = 'schema_version'")
    con.close()
    shutil.copyfile(tmp_home.working, tmp_home.database)
    with pytest.raises(WarehouseOutdated, match="schema v7"):
        connect(tmp_home)
    assert ingest(tmp_home).migrated == _steps(7)
    stats = query("SELECT metric, probe_protocol, count(*) AS n FROM layer_stats GROUP BY ALL ORDER BY ALL",
                  where=tmp_home).rows()
    assert stats == [("probe_acc", "paper", 3), ("rank", None, 3)]  # rebuilt, the old probes read as 'paper'
    assert query("SELECT count(*) AS n FROM layer_metrics WHERE probe_protocol IS NULL", where=tmp_home)["n"][0] == 6
    q = Queries(read_query)
    assert q.kappa_rho({}, protocol="paper", where=tmp_home)["kappa"].to_list() == [50.0]
    assert q.kappa_rho({}, protocol="converged", where=tmp_home).is_empty()
    curve = q.layer_curves({}, "probe_acc", protocol="paper", where=tmp_home)
    assert curve["mean"].to_list() == pytest.approx([0.5, 0.6, 0.7])
    assert q.layer_curves({}, "probe_acc", protocol="converged", where=tmp_home).is_empty()
    assert query("SELECT probes_converged FROM runs", where=tmp_home).rows() == [(None,)]


def test_a_newer_file_says_update_the_code(tmp_home):
    write_run(tmp_home, "a")
    ingest(tmp_home)
    for path in (tmp_home.working, tmp_home.database):
        con = duckdb.connect(str(path))
        con.execute("UPDATE _meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
        con.close()
    with pytest.raises(WarehouseTooNew, match="update the code"):
        connect(tmp_home)
    with pytest.raises(WarehouseTooNew, match="update the code"):
        migrate_home(tmp_home)
