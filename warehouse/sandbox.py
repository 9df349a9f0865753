"""The SQL console's worker process: one sandboxed query, answered as an Arrow stream on stdout.

`python -m warehouse.sandbox` reads a JSON request on stdin ({"database", "sql", "row_cap", "byte_cap",
"memory_bytes"}; the console has checked the file's schema version) and writes either the result as an Arrow IPC stream on stdout (exit 0; the schema's
metadata says whether the row cap cut it) or one line saying why not on stderr (exit `REFUSED`).
warehouse/console.py starts it, holds the clock and kills it at the time limit.

Why a process of its own: DuckDB checks for an interrupt only while a query executes, and planning a
query can take minutes (a 20,000-way UNION ALL took 275 s here, deaf to `interrupt()`); a result's Arrow
buffers live outside DuckDB's `max_memory`. A process can be killed at any moment and given an address
space limit, so the time limit covers the whole answer (start, parse, plan, run, fetch) and the memory
limit covers everything the query makes.

Layers of the sandbox, each enough on its own for what it covers:
- the statement must be one SELECT (or EXPLAIN of one): COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA,
  DDL and DML are refused before anything runs;
- the snapshot is attached read-only to a private in-memory DuckDB instance whose extension
  auto-loading is off from the start; then, before any user statement runs,
  `enable_external_access = false` (no file or network access from SQL: read_csv('/etc/passwd'),
  ATTACH and glob fail) and `lock_configuration = true` (no statement can turn them back on).
  Why attach instead of connect(config=...): DuckDB shares one instance per file inside a process
  and refuses a second connection with a different configuration, so a process's ordinary read-only
  connections and the sandbox could not coexist;
- a row cap (row_cap + 1 rows are fetched to tell the user it was capped) and a byte cap (the result is
  fetched in small batches and refused once it passes `byte_cap`), a memory limit (RLIMIT_AS on this
  process, DuckDB's `max_memory` inside it) and, from the parent, a time limit.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import duckdb

REFUSED = 3  # exit status: stderr holds one line saying why
BATCH_ROWS = 256  # rows per fetched batch: the byte cap is checked this often

# Set when the private instance is created (before the snapshot is attached).
_INSTANCE = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "threads": 2,  # a console query needs no more, and fewer threads reserve less of the address space
}
# Set after the attach, before any user statement; lock_configuration last.
_LOCKDOWN = ("SET enable_external_access = false", "SET lock_configuration = true")
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class Refusal(Exception):
    """One line for the user: why the query was not answered."""


def refuse_statement(sql: str) -> str | None:
    """Why `sql` may not run in the sandbox (one line), or None for one SELECT / EXPLAIN."""
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


def open_sandbox(database: str, max_memory: str = "2GB", retry_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A locked-down connection whose only database is the snapshot at `database`, read-only."""
    path = database.replace("'", "''")
    deadline = time.monotonic() + retry_s
    con = duckdb.connect(":memory:", config=dict(_INSTANCE, max_memory=max_memory))
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


def limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at what it maps now plus `extra_bytes` (allocations past it fail)."""
    import psutil

    limit = psutil.Process().memory_info().vms + extra_bytes
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # a platform without RLIMIT_AS (macOS): the byte cap and max_memory remain
        pass


def fetch(con: duckdb.DuckDBPyConnection, sql: str, row_cap: int, byte_cap: int):
    """At most row_cap + 1 rows as an Arrow table; Refusal once the batches pass `byte_cap` bytes."""
    import pyarrow as pa

    reader = con.sql(sql).limit(row_cap + 1).to_arrow_reader(BATCH_ROWS)
    batches, size, rows = [], 0, 0
    for batch in reader:
        size += batch.nbytes
        rows += batch.num_rows
        if size > byte_cap:
            raise Refusal(f"the result passed {byte_cap / 2**20:g} MB after {rows:,} row(s); select fewer or "
                          "narrower columns (LIMIT, left(text, 100)) or aggregate")
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=reader.schema)


def serve(request: dict) -> bytes:
    """The answer to one request as Arrow IPC bytes; Refusal with one line otherwise."""
    import pyarrow as pa

    refusal = refuse_statement(request["sql"])
    if refusal:
        raise Refusal(refusal)
    memory = int(request["memory_bytes"])
    con = open_sandbox(request["database"], max_memory=f"{max(memory * 3 // 4, 2**27) // 2**20}MB")
    try:
        limit_memory(memory)
        table = fetch(con, request["sql"], int(request["row_cap"]), int(request["byte_cap"]))
    finally:
        con.close()
    truncated = table.num_rows > int(request["row_cap"])
    table = table.slice(0, int(request["row_cap"])).replace_schema_metadata({"truncated": str(int(truncated))})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _one_line(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError) or "Out of Memory" in msg or "failed to allocate" in msg:
        return "the query needs more memory than the console allows; narrow it (WHERE, LIMIT) or aggregate"
    return f"refused: {msg}" if "disabled" in msg or "Permission" in msg else msg


def main() -> int:
    try:
        answer = serve(json.loads(sys.stdin.read()))
    except Refusal as exc:
        print(str(exc), file=sys.stderr)
        return REFUSED
    except Exception as exc:  # unknown columns, permission errors, out of memory, ...: one line
        print(_one_line(exc), file=sys.stderr)
        return REFUSED
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
