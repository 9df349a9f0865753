"""The SQL console's front end (the app's console and `python -m warehouse sql --safe`): limits and the clock.

Each query is answered by a worker process of its own (`python -m warehouse.sandbox`, which holds the
sandbox's layers: one SELECT, a locked-down read-only instance, row and byte caps, a memory limit). This
side starts it, gives it the query, and kills it when the time limit is up, so `timeout_s` covers the
whole answer: the worker's start, parsing, planning, running and fetching. What comes back is a Polars
frame or one line saying why not; nothing here raises for a bad query.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import polars as pl

from warehouse import read, sandbox
from warehouse.paths import Home, home
from warehouse.read import WarehouseMissing

ROW_CAP = 10_000  # rows returned at most
BYTE_CAP = 256 * 2**20  # bytes of result at most (Arrow buffers): a few wide rows can be gigabytes
MEMORY_BYTES = 2 * 2**30  # what the worker may map beyond its start-up size; DuckDB's max_memory is 3/4 of it
TIMEOUT_S = 10.0


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
           where: Home | None = None) -> Answer:
    """Run one sandboxed read-only SELECT in a worker process; a refusal or error comes back as one line."""
    t0 = time.perf_counter()
    bad = check_limits(row_cap, timeout_s, byte_cap)
    if bad:
        return Answer(None, bad)
    where = where or home()
    try:  # a missing, outdated or too new file is said here, in this process's words
        read.connect(where).close()
    except Exception as exc:
        return Answer(None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    request = json.dumps(dict(sql=sql, database=str(where.database), row_cap=row_cap, byte_cap=byte_cap,
                              memory_bytes=MEMORY_BYTES))
    # glibc gives every thread its own 64 MB malloc arena; two keep the address-space limit for the data
    env = dict(os.environ, MALLOC_ARENA_MAX="2")
    worker = subprocess.Popen([sys.executable, "-m", "warehouse.sandbox"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
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
