"""Bring an older warehouse file up to `SCHEMA_VERSION`, or say exactly what to run.

Only the ingester migrates (it owns the working file); readers that find an older snapshot are
told to run `python -m warehouse migrate`. The shards are the source of truth, so a version whose
rows cannot be converted in place (v0 kept no record of which shard a row came from) is rebuilt
from the shards, and the old file is kept beside it as a backup: nothing already written is lost.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import duckdb

from warehouse import derived
from warehouse.ddl import column_defs, create_schema, duck_type, schema_version
from warehouse.paths import Home
from warehouse.schema import SCHEMA_VERSION, TABLES


class WarehouseTooNew(RuntimeError):
    pass


class NeedsRebuild(RuntimeError):
    """The file cannot be migrated in place; the caller rebuilds it from the shards."""


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Additive changes (a new column) migrate in place: old rows get NULL."""
    for table in TABLES.values():
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name]
        ).fetchall()}
        if not have:
            continue
        for col in table.columns:
            if col.name not in have:
                con.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {duck_type(col.type)}')


def _v0(con: duckdb.DuckDBPyConnection) -> None:
    raise NeedsRebuild("schema v0 rows carry no shard of origin")


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    # v2 keys shards on the inode too and adds layer_stats (filled from the rows already there).
    con.execute("ALTER TABLE _shards ADD COLUMN IF NOT EXISTS inode BIGINT")
    _add_missing_columns(con)
    create_schema(con)
    derived.refresh(con)


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    # v3 adds columns only (run_configs.checkpoint_epochs and analysis_json): old rows get NULL.
    _add_missing_columns(con)


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    # v4 adds the run_datasets table and two `runs` columns: create_schema (run after every step) makes both.
    pass


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    # v5 adds run_configs.source, name, tags and note: old rows get NULL.
    _add_missing_columns(con)


def _v5(con: duckdb.DuckDBPyConnection) -> None:
    # v6 adds the `analyses` table: create_schema (run after every step) makes it, empty; old rows keep theirs.
    pass


def _v6(con: duckdb.DuckDBPyConnection) -> None:
    # v7 adds the `run_environments` table: create_schema makes it, empty; runs made before have no record
    # ('not recorded' on the pages, never a guess).
    pass


def _v7(con: duckdb.DuckDBPyConnection) -> None:
    # v8 adds the probe convergence record (layer_metrics.probe_*, run_metrics.probe_protocol): old rows get NULL,
    # which the queries read as the paper protocol (the only one before v8). layer_stats gains probe_protocol
    # and groups by it, so it is rebuilt from the rows already there.
    _add_missing_columns(con)
    con.execute("DROP TABLE IF EXISTS layer_stats")
    create_schema(con)
    derived.refresh(con)


# STEPS[v] takes a file from version v to v + 1.
STEPS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {0: _v0, 1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5,
                                                                 6: _v6, 7: _v7}


def check_known(version: int | None, path) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise WarehouseTooNew(
            f"{path} has schema v{version}, newer than this code's v{SCHEMA_VERSION}; update the code (git pull)"
        )


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Migrate the open file to SCHEMA_VERSION in one transaction; returns what was done."""
    version = schema_version(con)
    if version is None:
        create_schema(con)
        return []
    if version == SCHEMA_VERSION:
        create_schema(con)  # views and derived tables are re-created cheaply; keeps them current
        return []
    done = []
    con.execute("BEGIN TRANSACTION")
    try:
        for v in range(version, SCHEMA_VERSION):
            STEPS[v](con)
            done.append(f"v{v} -> v{v + 1}")
        create_schema(con)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return done


def backup(where: Home, version: int) -> str:
    """Keep an un-migratable file beside the home before it is rebuilt from shards."""
    target = where.root / f"warehouse-v{version}-backup.duckdb"
    shutil.copyfile(where.working, target)
    return str(target)


def outdated_message(path, version: int) -> str:
    return (
        f"{path} has schema v{version} and this code reads v{SCHEMA_VERSION}; "
        "run `python -m warehouse migrate` (ingest migrates too)"
    )


__all__ = ["migrate", "backup", "check_known", "NeedsRebuild", "WarehouseTooNew", "outdated_message",
           "column_defs", "schema_version"]
