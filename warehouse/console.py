"""The SQL console's back end (the app's console and `python -m warehouse sql --safe`).

Layers of the sandbox, each enough on its own for what it covers:
- the statement must be one SELECT (or EXPLAIN of one): COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA,
  DDL and DML are refused before anything runs;
- the snapshot is attached read-only to a private in-memory DuckDB instance whose extension
  auto-loading is off from the start; then, before any user statement runs,
  `enable_external_access = false` (no file or network access from SQL: read_csv('/etc/passwd'),
  ATTACH and glob fail) and `lock_configuration = true` (no statement can turn them back on).
  Why attach instead of connect(config=...): DuckDB shares one instance per file inside a process
  and refuses a second connection with a different configuration, so the app's ordinary read-only
  connections and the console's sandbox could not coexist;
- a row cap (row_cap + 1 rows are fetched to tell the user it was capped) and a time limit: a
  timer interrupts the connection when it runs over.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb
import polars as pl

from warehouse.paths import Home, home
from warehouse.read import WarehouseMissing, check_version

# Set when the private instance is created (before the snapshot is attached).
_INSTANCE = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "max_memory": "2GB",
}
# Set after the attach, before any user statement; lock_configuration last.
_LOCKDOWN = ("SET enable_external_access = false", "SET lock_configuration = true")
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


@dataclass
class Answer:
    frame: pl.DataFrame | None
    refusal: str | None
    truncated: bool = False
    seconds: float = 0.0


def _refuse_statement(sql: str) -> str | None:
    try:
        statements = duckdb.connect(":memory:", config={"enable_external_access": False}).extract_statements(sql)
    except duckdb.Error as exc:
        return f"not valid SQL: {str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"one statement at a time, got {len(statements)}"
    kind = statements[0].type
    if kind == duckdb.StatementType.MULTI:  # e.g. PIVOT without IN: it runs a hidden query first
        return "only single SELECT queries run here; give PIVOT its values (PIVOT … ON j IN (0, 1, 2) …)"
    if kind not in _ALLOWED:
        name = "INSTALL/LOAD" if kind.name == "LOAD" else kind.name
        return f"only SELECT queries run here; {name} statements are refused"
    return None


def open_sandbox(where: Home, retry_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A locked-down connection whose only database is the snapshot, read-only."""
    if not where.database.exists():
        raise WarehouseMissing(f"no warehouse at {where.database}; run `python -m warehouse ingest`")
    path = str(where.database).replace("'", "''")
    deadline = time.monotonic() + retry_s
    con = duckdb.connect(":memory:", config=_INSTANCE)
    try:
        while True:
            try:
                con.execute(f"ATTACH '{path}' AS warehouse (READ_ONLY)")
                break
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        con.execute("USE warehouse")
        for statement in _LOCKDOWN:
            con.execute(statement)
    except Exception:
        con.close()
        raise
    return con


def answer(sql: str, *, row_cap: int = 10_000, timeout_s: float = 10.0, where: Home | None = None) -> Answer:
    """Run one sandboxed read-only SELECT; a refusal or error comes back as one line, never raised."""
    t0 = time.perf_counter()
    refusal = _refuse_statement(sql)
    if refusal:
        return Answer(None, refusal)
    where = where or home()
    try:
        con = open_sandbox(where)
    except Exception as exc:
        return Answer(None, str(exc).splitlines()[0])
    timer = threading.Timer(timeout_s, con.interrupt)
    try:
        check_version(con, where)
        timer.start()
        frame = con.sql(sql).limit(row_cap + 1).pl()
    except duckdb.InterruptException:
        return Answer(None, f"stopped after {timeout_s:g} s; narrow the query (WHERE, LIMIT) or aggregate",
                      seconds=time.perf_counter() - t0)
    except Exception as exc:  # permission errors, unknown columns, ...: one line for the console
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Answer(None, f"refused: {msg}" if "disabled" in msg or "Permission" in msg else msg,
                      seconds=time.perf_counter() - t0)
    finally:
        timer.cancel()
        con.close()
    truncated = frame.height > row_cap
    return Answer(frame.head(row_cap), None, truncated, time.perf_counter() - t0)


def run_safe(sql: str, *, row_cap: int = 10_000, timeout_s: float = 10.0, where: Home | None = None
             ) -> pl.DataFrame | str:
    """The app's console: a Polars frame (at most `row_cap` rows), or a one-line refusal string."""
    result = answer(sql, row_cap=row_cap, timeout_s=timeout_s, where=where)
    return result.refusal if result.refusal is not None else result.frame
