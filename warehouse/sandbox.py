"""The SQL console's worker process: one sandboxed query, answered as an Arrow stream on stdout.

`python -m warehouse.sandbox` reads a JSON request on stdin ({"database", "sql", "row_cap", "byte_cap",
"memory_bytes", "temp_dir", "temp_bytes", "timeout_s"}; the console has checked the file's schema version)
and writes either the result as an Arrow IPC stream on stdout (exit 0; the schema's metadata says whether
the row cap cut it) or one line saying why not on stderr (exit `REFUSED`). warehouse/console.py starts
it in its private temporary folder, holds a query slot and the clock, kills it at the time limit and
removes the folder.

Why a process of its own: DuckDB checks for an interrupt only while a query executes, and planning a
query can take minutes (a 20,000-way UNION ALL took 275 s here, deaf to `interrupt()`); a result's Arrow
buffers live outside DuckDB's `max_memory`. A process can be killed at any moment and given an address
space limit, so the time limit covers the whole answer (start, parse, plan, run, fetch) and the memory
limit covers everything the query makes.

Layers of the sandbox, each enough on its own for what it covers:
- the statement must be one SELECT (or EXPLAIN of one): COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA,
  DDL and DML are refused before anything runs. EXPLAIN is looked inside, because EXPLAIN ANALYZE runs
  the statement it explains (`EXPLAIN ANALYZE COPY … TO …` writes the file): the inner statement must
  pass the same check;
- the snapshot is attached read-only to a private in-memory DuckDB instance whose extension
  auto-loading is off from the start; then, before any user statement runs,
  `enable_external_access = false` (no file or network access from SQL: read_csv('/etc/passwd'),
  ATTACH and glob fail) and `lock_configuration = true` (no statement can turn them back on).
  Why attach instead of connect(config=...): DuckDB shares one instance per file inside a process
  and refuses a second connection with a different configuration, so a process's ordinary read-only
  connections and the sandbox could not coexist;
- the only directory the instance may touch is its own temporary folder (`temp_directory`, made by the
  console with mkdtemp: 0700, removed when the worker ends), with `max_temp_directory_size` capping what
  a query spills there. DuckDB adds the temporary folder to `allowed_directories` when external access
  is turned off; left at its default it would be `<working directory>/.tmp`, a folder (or a link to
  one) that whoever can write the app's working folder controls. Without a folder (`temp_dir` "")
  nothing is allowed and nothing spills. The worker's working directory is that folder too, a file
  size limit (RLIMIT_FSIZE) stops any one file past the spill cap, and a CPU-time limit ends a worker
  whose console died before its clock ran out;
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
_COMMENT = duckdb.token_type.comment


class Refusal(Exception):
    """One line for the user: why the query was not answered."""


def _parse(sql: str) -> list:
    return duckdb.connect(":memory:", config={"enable_external_access": False}).extract_statements(sql)


def refuse_statement(sql: str) -> str | None:
    """Why `sql` may not run in the sandbox (one line), or None for one SELECT / EXPLAIN of one."""
    try:
        statements = _parse(sql)
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
    if kind == duckdb.StatementType.EXPLAIN:
        return _refuse_explained(sql)
    return None


def _refuse_explained(sql: str) -> str | None:
    """EXPLAIN [ANALYZE] plans (and ANALYZE runs) the statement inside it, so that one must pass too.

    DuckDB gives no parsed inner statement, so it is cut out of the text at the tokenizer's positions
    (byte offsets) after EXPLAIN, ANALYZE and an option list `(FORMAT json, ANALYZE)`. A leading `(`
    may also open a parenthesised SELECT (`EXPLAIN (SELECT 1)`): every reading that parses must pass,
    and at least one must parse.
    """
    raw, found = sql.encode(), duckdb.tokenize(sql)
    ends = [p for p, _ in found[1:]] + [len(raw)]
    tokens = [(p, raw[p:end].decode(errors="replace").strip()) for (p, t), end in zip(found, ends) if t != _COMMENT]
    i = 1  # tokens[0] is EXPLAIN
    if i < len(tokens) and tokens[i][1].upper() in ("ANALYZE", "ANALYSE"):
        i += 1
    readings = [raw[tokens[i][0]:]] if i < len(tokens) else []
    if i < len(tokens) and tokens[i][1] == "(":  # options, or a parenthesised query: try both
        depth = 0
        for j in range(i, len(tokens)):
            depth += {"(": 1, ")": -1}.get(tokens[j][1], 0)
            if depth == 0:
                if j + 1 < len(tokens):
                    readings.append(raw[tokens[j + 1][0]:])
                break
    inner = []
    for text in readings:
        try:
            if len(_parse(text.decode())) == 1:
                inner.append(text.decode())
        except duckdb.Error:
            continue
    if not inner:
        return "EXPLAIN runs here only as EXPLAIN [ANALYZE] SELECT …; write the SELECT after it"
    for text in inner:
        refusal = refuse_statement(text)
        if refusal:
            return f"EXPLAIN plans or runs the statement inside it, which must be a SELECT: {refusal}"
    return None


def open_sandbox(database: str, max_memory: str = "2GB", retry_s: float = 10.0, temp_dir: str = "",
                 temp_bytes: int = 0) -> duckdb.DuckDBPyConnection:
    """A locked-down connection whose only database is the snapshot at `database`, read-only.

    `temp_dir` is the one folder it may spill to (and the only one in `allowed_directories`), at most
    `temp_bytes` there; "" (the default) allows no folder and no spilling, never `<cwd>/.tmp`.
    """
    path = database.replace("'", "''")
    deadline = time.monotonic() + retry_s
    config = dict(_INSTANCE, max_memory=max_memory, temp_directory=temp_dir)
    if temp_dir:
        config["max_temp_directory_size"] = f"{max(temp_bytes, 2**20) // 2**20}MiB"
    con = duckdb.connect(":memory:", config=config)
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


def limit_files(max_file_bytes: int, cpu_s: float) -> None:
    """No file this process writes grows past `max_file_bytes` (the write fails instead of killing it), and
    the process ends after `cpu_s` seconds of CPU time: a backstop for a worker whose console died."""
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from the write instead of a kill
    for limit, value in ((resource.RLIMIT_FSIZE, max_file_bytes), (resource.RLIMIT_CPU, int(cpu_s) + 1)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError, AttributeError):  # a platform without it: the other layers remain
            pass


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
    temp_dir, temp_bytes = str(request.get("temp_dir", "")), int(request.get("temp_bytes", 0))
    # CPU seconds: every thread busy for the whole time limit, twice over, plus start-up
    limit_files(temp_bytes + 2**24, 2 * _INSTANCE["threads"] * float(request.get("timeout_s", 60)) + 30)
    con = open_sandbox(request["database"], max_memory=f"{max(memory * 3 // 4, 2**27) // 2**20}MB",
                       temp_dir=temp_dir, temp_bytes=temp_bytes)
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
    if "max_temp_directory_size" in str(exc) or "File too large" in msg:
        return ("the query spilled more to disk than the console allows (its temporary folder is capped); "
                "narrow it (WHERE, LIMIT) or aggregate")
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
