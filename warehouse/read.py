"""Read-only access for the app, the CLI and users' notebooks.

DuckDB lets a read-only reader in only while no process holds the file for writing, so a reader
retries for a short while when an ingest (which is kept short) holds it.
"""

from __future__ import annotations

import time

import duckdb
import polars as pl

from warehouse.paths import Home, home


class WarehouseMissing(FileNotFoundError):
    pass


def connect(where: Home | None = None, *, retry_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    where = where or home()
    if not where.database.exists():
        raise WarehouseMissing(
            f"no warehouse at {where.database}; run a sweep (make demo-run) and `python -m warehouse ingest`"
        )
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return duckdb.connect(str(where.database), read_only=True)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def query(sql: str, params: list | None = None, where: Home | None = None) -> pl.DataFrame:
    """Run one read-only query and return a Polars frame."""
    con = connect(where)
    try:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
    finally:
        con.close()
