"""The SQL console's front end (the app's console and `python -m warehouse sql --safe`): limits and the clock.

Each query is answered by a worker process of its own (`python -m warehouse.sandbox`, which holds the
sandbox's layers: one SELECT, a locked-down read-only instance, row and byte caps, a memory limit). This
side starts it, gives it the query, and kills it when the time limit is up, so `timeout_s` covers the
whole answer: the worker's start, parsing, planning, running and fetching. What comes back is a Polars
frame or one line saying why not; nothing here raises for a bad query.

Around each worker this side also holds:
- a query slot (warehouse/slots.py): at most `THERMOSCOPE_SQL_SLOTS` (default 4) sandboxed queries run at
  once per home, counted across app sessions and `--safe` commands; past that the answer is one line;
- a private temporary folder (mkdtemp under the system temporary folder: 0700, `thermoscope-sql-*`),
  the worker's working directory and DuckDB's only allowed and spill folder, capped at `TEMP_BYTES`;
  it is removed when the worker ends, finished or killed (and, if this process died first, by whoever
  takes the slot next). Never the app's working folder, whose `.tmp` DuckDB would otherwise use.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from thermoscope import env
from warehouse import read, sandbox, slots
from warehouse.paths import Home, home
from warehouse.read import WarehouseMissing

ROW_CAP = 10_000  # rows returned at most
BYTE_CAP = 256 * 2**20  # bytes of result at most (Arrow buffers): a few wide rows can be gigabytes
MEMORY_BYTES = 2 * 2**30  # what the worker may map beyond its start-up size; DuckDB's max_memory is 3/4 of it
TIMEOUT_S = 10.0
TEMP_BYTES = 2**30  # what one query may spill to its private temporary folder (DuckDB's max_temp_directory_size)
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # the worker runs elsewhere: it imports from here


@dataclass
class Answer:
    frame: pl.DataFrame | None
    refusal: str | None
    truncated: bool = False
    seconds: float = 0.0


def open_sandbox(where: Home):
    """The sandbox's locked-down read-only connection in this process (for inspecting the lockdown itself)."""
    if not where.database.exists():
        raise WarehouseMissing(f"no warehouse at {where.database}; run `python -m warehouse ingest`")
    return sandbox.open_sandbox(str(where.database))


def check_limits(row_cap: object, timeout_s: object, byte_cap: object) -> str | None:
    """Why the limits themselves are wrong (one line), or None."""
    for name, value in (("row cap", row_cap), ("byte cap", byte_cap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"the {name} must be a whole number >= 1, got {value!r}"
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not (
            math.isfinite(timeout_s) and timeout_s > 0):
        return f"the time limit must be a number of seconds > 0, got {timeout_s!r}"
    return None


def answer(sql: str, *, row_cap: int = ROW_CAP, timeout_s: float = TIMEOUT_S, byte_cap: int = BYTE_CAP,
           where: Home | None = None, memory_bytes: int = MEMORY_BYTES, temp_bytes: int = TEMP_BYTES,
           slots_n: int | None = None, scratch: Path | None = None) -> Answer:
    """Run one sandboxed read-only SELECT in a worker process; a refusal or error comes back as one line.

    `slots_n` queries at most run at once per home (default: THERMOSCOPE_SQL_SLOTS); the worker's private
    folder is made under `scratch` (default: the system temporary folder, $TMPDIR)."""
    t0 = time.perf_counter()
    bad = check_limits(row_cap, timeout_s, byte_cap)
    if bad:
        return Answer(None, bad)
    where = where or home()
    try:  # a missing, outdated or too new file is said here, in this process's words
        read.connect(where).close()
        n = slots_n or env.SQL_SLOTS.get()
        folder = slots.slot_folder(where.root / "sql-slots")
    except Exception as exc:
        return Answer(None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    with slots.hold(folder, n) as slot:
        if slot is None:
            return Answer(None, f"{n} sandboxed queries are running already (the cap, THERMOSCOPE_SQL_SLOTS={n}); "
                          "run it again when one has ended", seconds=time.perf_counter() - t0)
        private = Path(tempfile.mkdtemp(prefix=slots.PRIVATE_PREFIX, dir=scratch))  # 0700, ours alone
        try:
            slot.record(private)
            return _run_worker(sql, where, private, slot.fd, t0, row_cap=row_cap, timeout_s=timeout_s,
                               byte_cap=byte_cap, memory_bytes=memory_bytes, temp_bytes=temp_bytes)
        finally:  # the worker has ended (finished or killed with its session): nothing of it stays
            shutil.rmtree(private, ignore_errors=True)


def _run_worker(sql: str, where: Home, private: Path, slot_fd: int, t0: float, *, row_cap: int, timeout_s: float,
                byte_cap: int, memory_bytes: int, temp_bytes: int) -> Answer:
    request = json.dumps(dict(sql=sql, database=str(where.database), row_cap=row_cap, byte_cap=byte_cap,
                              memory_bytes=memory_bytes, temp_dir=str(private), temp_bytes=temp_bytes,
                              timeout_s=timeout_s))
    # glibc gives every thread its own 64 MB malloc arena; two keep the address-space limit for the data.
    # The worker runs in its private folder (never the app's working folder): it finds the package by path.
    path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    variables = dict(os.environ, MALLOC_ARENA_MAX="2", PYTHONPATH=path, TMPDIR=str(private))
    worker = subprocess.Popen([sys.executable, "-m", "warehouse.sandbox"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=variables, cwd=private,
                              start_new_session=True, pass_fds=(slot_fd,))  # the slot lives as long as it
    try:
        out, err = worker.communicate(request.encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)  # its own session: the worker and anything it started
        worker.communicate()
        return Answer(None, f"stopped after {timeout_s:g} s; narrow the query (WHERE, LIMIT) or aggregate",
                      seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if worker.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        if worker.returncode == sandbox.REFUSED and lines:
            return Answer(None, lines[-1], seconds=seconds)
        return Answer(None, f"the query's worker ended with status {worker.returncode} (killed for memory?); narrow "
                      "the query (WHERE, LIMIT) or aggregate", seconds=seconds)
    import pyarrow as pa

    table = pa.ipc.open_stream(out).read_all()
    truncated = (table.schema.metadata or {}).get(b"truncated") == b"1"
    return Answer(pl.from_arrow(table.replace_schema_metadata(None)), None, truncated, seconds)


def run_safe(sql: str, *, row_cap: int = ROW_CAP, timeout_s: float = TIMEOUT_S, where: Home | None = None
             ) -> pl.DataFrame | str:
    """The app's console: a Polars frame (at most `row_cap` rows), or a one-line refusal string."""
    result = answer(sql, row_cap=row_cap, timeout_s=timeout_s, where=where)
    return result.refusal if result.refusal is not None else result.frame
