"""DuckDB tables and views made from `warehouse.schema` (the one place they are defined)."""

from __future__ import annotations

import duckdb

from warehouse.schema import DERIVED, SCHEMA_VERSION, TABLES, VIEWS, Table

_DUCK_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    "list<item: string>": "VARCHAR[]",
    "list<item: int32>": "INTEGER[]",
    "list<item: int64>": "BIGINT[]",
}

# Physical order of rows inside each ingested batch: DuckDB keeps min/max per row group, so rows
# sorted by these keys let a filter on (metric, run_id) or run_id skip most of the file.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "layer_metrics": ("metric", "run_id", "epoch", "layer_index"),
    "alignment": ("run_id", "epoch", "layer_index", "i", "j"),
    "epochs": ("run_id", "epoch"),
    "run_metrics": ("run_id", "metric", "epoch"),
}


def duck_type(arrow_type) -> str:
    return _DUCK_TYPES[str(arrow_type)]


def column_defs(table: Table) -> str:
    return ", ".join(f'"{c.name}" {duck_type(c.type)}' for c in table.columns)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create whatever is missing of the current schema and stamp the version (idempotent)."""
    con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(
        "CREATE TABLE IF NOT EXISTS _shards (path VARCHAR PRIMARY KEY, table_name VARCHAR, size BIGINT, "
        "mtime_ns BIGINT, n_rows BIGINT, ingested_at TIMESTAMPTZ, inode BIGINT)"
    )
    con.execute("CREATE TABLE IF NOT EXISTS _dirty_runs (run_id VARCHAR)")
    for table in TABLES.values():
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({column_defs(table)}, _shard VARCHAR)')
    for table in DERIVED.values():
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({column_defs(table)})')
    for name, sql in VIEWS.items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
    con.execute("INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The file's schema version: None for an empty file, 0 for one made before versioning."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not tables:
        return None
    if "_meta" not in tables:
        return 0
    rows = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchall()
    row = rows[0] if rows else None  # fetchall: DuckDB 2.0 keeps a half-fetched result open
    return int(row[0]) if row else 0
