"""Status rows: one `run_events` shard per status change, `jobs` shards per job state, and reading back.

Everything that changes a run's state writes through here (the launcher, the job on its node, the
heartbeat thread, the reconciler that reads Slurm's accounting, `cancel`), so the rows always look
alike. Each event is its own shard: events are never overwritten, and a reader needs no ingest.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from warehouse import Home, write_shard

RUN_STATUSES = ("queued", "running", "finished", "diverged", "failed", "cancelled")
TERMINAL = ("finished", "diverged", "failed", "cancelled")
# when two events share a timestamp, the later stage wins (same rule as the warehouse's `runs` view)
_RANK = {"queued": 0, "running": 1}


def now() -> datetime:
    return datetime.now(UTC)


def write_run_event(where: Home, run_id: str, sweep_id: str, status: str, *, epoch: int | None = None,
                    message: str = "", job_id: str = "", requeues: int = 0, ts: datetime | None = None) -> None:
    """Append one status change of a run."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    row = dict(run_id=run_id, sweep_id=sweep_id, ts=ts or now(), status=status, host=socket.gethostname(),
               job_id=job_id, requeues=requeues, epoch=epoch, message=message)
    write_shard("run_events", [row], owner=run_id, name=f"event-{time.time_ns()}-{status}", where=where)


def write_job_rows(where: Home, sweep_id: str, name: str, rows: Iterable[dict[str, Any]]) -> None:
    """One `jobs` shard (owner: the sweep). Re-writing the same `name` replaces it (used by heartbeats)."""
    rows = [dict({"ts": now(), "host": socket.gethostname(), "traceback": "", "requeues": 0}, **r,
                 sweep_id=sweep_id) for r in rows]
    if rows:
        write_shard("jobs", rows, owner=sweep_id, name=name, where=where)


def latest_events(run_ids: Iterable[str], where: Home) -> dict[str, dict[str, Any]]:
    """The newest event of each run, read from the shards directly (no ingest needed)."""
    import polars as pl

    files = [str(p) for rid in set(run_ids) for p in (where.shards / "run_events" / rid).glob("event-*.parquet")]
    if not files:
        return {}
    frame = pl.read_parquet(files).with_columns(
        pl.col("status").replace_strict(_RANK, default=2, return_dtype=pl.Int8).alias("_rank"))
    latest = frame.sort(["ts", "_rank"]).group_by("run_id", maintain_order=True).last()
    return {row["run_id"]: row for row in latest.drop("_rank").to_dicts()}


def latest_statuses(run_ids: Iterable[str], where: Home) -> dict[str, str]:
    return {rid: ev["status"] for rid, ev in latest_events(run_ids, where).items()}


def run_events(run_id: str, where: Home) -> list[dict[str, Any]]:
    """Every event of one run, oldest first (for tests, `status --verbose` and debugging)."""
    import polars as pl

    files = sorted(str(p) for p in (where.shards / "run_events" / run_id).glob("event-*.parquet"))
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
