"""Status rows: one `run_events` shard per status change, `jobs` shards per job state, and reading them back.

Everything that changes a run's state writes through here (the launcher, the job on its node, the
heartbeat thread, the reconciler that reads the executor's accounting, `cancel`), so the rows always
look alike. Each event is its own shard: events are never overwritten, and a reader needs no ingest.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from thermoscope.status import RunStatus, stage
from warehouse import Home, write_shard


def now() -> datetime:
    return datetime.now(UTC)


def write_run_event(where: Home, run_id: str, sweep_id: str, status: RunStatus | str, *, epoch: int | None = None,
                    message: str = "", job_id: str = "", requeues: int = 0, ts: datetime | None = None) -> None:
    """Append one status change of a run."""
    status = RunStatus(status)  # ValueError for a word that is not a status
    row = dict(run_id=run_id, sweep_id=sweep_id, ts=ts or now(), status=str(status), host=socket.gethostname(),
               job_id=job_id, requeues=requeues, epoch=epoch, message=message)
    write_shard("run_events", [row], owner=run_id, name=f"event-{time.time_ns()}-{status}", where=where)


def write_job_rows(where: Home, sweep_id: str, name: str, rows: Iterable[dict[str, Any]]) -> None:
    """One `jobs` shard (owner: the sweep). Re-writing the same `name` replaces it (used by heartbeats)."""
    rows = [dict({"ts": now(), "host": socket.gethostname(), "traceback": "", "requeues": 0}, **r,
                 sweep_id=sweep_id) for r in rows]
    if rows:
        write_shard("jobs", rows, owner=sweep_id, name=name, where=where)


def _event_files(where: Home, run_ids: Iterable[str]) -> list[str]:
    return [str(p) for rid in dict.fromkeys(run_ids) for p in (where.shards / "run_events" / rid).glob("event-*.parquet")]


def latest_events(run_ids: Iterable[str], where: Home) -> dict[str, dict[str, Any]]:
    """The newest event of each run, read from the shards directly (no ingest needed).

    Two events with one timestamp: the later stage wins (the same rule as the warehouse's `runs` view)."""
    import polars as pl

    files = _event_files(where, run_ids)
    if not files:
        return {}
    frame = pl.read_parquet(files)
    frame = frame.with_columns(pl.col("status").map_elements(stage, return_dtype=pl.Int8).alias("_stage"))
    latest = frame.sort(["ts", "_stage"]).group_by("run_id", maintain_order=True).last()
    return {row["run_id"]: row for row in latest.drop("_stage").to_dicts()}


def latest_statuses(run_ids: Iterable[str], where: Home) -> dict[str, RunStatus]:
    return {rid: RunStatus(ev["status"]) for rid, ev in latest_events(run_ids, where).items()}


def run_events(run_id: str, where: Home) -> list[dict[str, Any]]:
    """Every event of one run, oldest first (for tests, `status` and debugging)."""
    import polars as pl

    files = sorted(_event_files(where, [run_id]))
    if not files:
        return []
    return pl.read_parquet(files).sort("ts").to_dicts()


def last_heartbeats(where: Home, sweep_id: str) -> dict[str, datetime]:
    """When each job of the sweep was last seen alive (its newest heartbeat row)."""
    import polars as pl

    files = [str(p) for p in (where.shards / "jobs" / sweep_id).glob("heartbeat-*.parquet")]
    if not files:
        return {}
    frame = pl.read_parquet(files, columns=["job_id", "ts"]).group_by("job_id").agg(pl.col("ts").max())
    return dict(zip(frame["job_id"].to_list(), frame["ts"].to_list()))
