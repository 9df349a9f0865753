"""Read-only access for the app, the CLI and users' notebooks: always through `connect`.

Readers open the published snapshot `warehouse.duckdb` read-only. The ingester never opens that
file (it swaps a new copy in with an atomic rename, see snapshot.py), so a reader is never locked
out by an ingest and always sees whole ingests. A short retry covers the one case left: somebody
holding the snapshot read-write by hand (e.g. the DuckDB CLI opened without -readonly).
"""

from __future__ import annotations

import time

import duckdb
import polars as pl

from warehouse.ddl import schema_version
from warehouse.migrate import check_known, outdated_message
from warehouse.paths import Home, home
from warehouse.schema import SCHEMA_VERSION


class WarehouseMissing(FileNotFoundError):
    pass


class WarehouseOutdated(RuntimeError):
    pass


def open_snapshot(where: Home, config: dict | None = None, retry_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    _require_file(where)
    return _retrying(where, retry_s, lambda: duckdb.connect(str(where.database), read_only=True, config=config or {}))


def _require_file(where: Home) -> None:
    if not where.database.exists():
        raise WarehouseMissing(
            f"no warehouse at {where.database}; run a sweep (make demo-run) and `python -m warehouse ingest`"
        )


def _retrying(where: Home, retry_s: float, open_once):
    """open_once() again while it fails with an IOException, for at most `retry_s`: somebody holding the
    snapshot read-write by hand (e.g. the DuckDB CLI without -readonly); then the one-line error."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return open_once()
        except duckdb.IOException as exc:
            if time.monotonic() > deadline:
                raise WarehouseMissing(
                    f"cannot open {where.database} read-only ({str(exc).splitlines()[0]}); "
                    "close the program holding it read-write (never write to the snapshot)"
                ) from None
            time.sleep(0.05)


def attach_snapshot(where: Home, retry_s: float = 10.0, memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    """The current snapshot, checked, attached read-only (as `warehouse`, made the default) to a private
    in-memory DuckDB: for a long-lived reader such as the dashboard, which keeps one per snapshot version and
    runs each query on its own `cursor()` (a cursor costs ~0.2 ms; connect() ~20 ms on a 70 MB file, most of
    a cold query). Private, not connect(path): DuckDB keeps one instance per file path inside a process, so a
    held connect(path) would hand every later connect(path) in the process the snapshot it opened, even after
    an ingest renamed a new one into place; an attachment belongs to this object alone. Spills go beside the
    snapshot (`<file>.tmp`, where connect(path) puts them), never into the working folder's `.tmp`.
    `memory_limit` bounds what the held instance keeps (its cache of the file's blocks grows with the pages
    visited: +150-190 MB for a 100,000-run warehouse, on a login node shared with everyone); a query that
    needs more spills."""
    _require_file(where)
    con = duckdb.connect(":memory:", config={"temp_directory": str(where.database) + ".tmp",
                                             "memory_limit": memory_limit})
    path = str(where.database).replace("'", "''")
    try:
        _retrying(where, retry_s, lambda: con.execute(f"ATTACH '{path}' AS warehouse (READ_ONLY)"))
        con.execute("USE warehouse")
        check_version(con, where)
    except Exception:
        con.close()
        raise
    return con


def snapshot_cursor(attached: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own (DuckDB connections are not shared between threads) onto an
    `attach_snapshot` instance, with the snapshot as its default database like the instance's."""
    cur = attached.cursor()
    cur.execute("USE warehouse")
    return cur


def check_version(con: duckdb.DuckDBPyConnection, where: Home) -> None:
    version = schema_version(con)
    check_known(version, where.database)
    if version != SCHEMA_VERSION:
        raise WarehouseOutdated(outdated_message(where.database, version or 0))


def connect(where: Home | None = None, *, retry_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot (checked to be this code's schema version)."""
    where = where or home()
    con = open_snapshot(where, retry_s=retry_s)
    try:
        check_version(con, where)
    except Exception:
        con.close()
        raise
    return con


def query(sql: str, params: list | None = None, where: Home | None = None) -> pl.DataFrame:
    """Run one read-only query and return a Polars frame."""
    con = connect(where)
    try:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
    finally:
        con.close()
