"""Publish the ingester's working file as `warehouse.duckdb`, atomically.

DuckDB allows no read-only reader while another process holds a file read-write (docs/testing.md), so
readers never open the file the ingester writes. After each ingest the working file (closed,
checkpointed: no WAL) is copied to a temporary name beside the snapshot and renamed over it.
A reader that opened the old snapshot keeps reading it (its inode lives until it closes); the next
connect gets the new one. Readers thus see whole ingests only and are never locked out.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

from warehouse.paths import Home

_DIRTY = "unpublished"


def mark_dirty(where: Home) -> None:
    """Record that the working file holds commits the snapshot lacks (survives a killed ingester)."""
    (where.working.parent / _DIRTY).touch()


def is_dirty(where: Home) -> bool:
    return (where.working.parent / _DIRTY).exists() or not where.database.exists()


def publish(where: Home) -> float:
    """Copy the (closed) working file over the snapshot atomically; returns the seconds it took."""
    t0 = time.perf_counter()
    tmp = where.root / f".warehouse.{uuid.uuid4().hex}.duckdb.tmp"
    try:
        shutil.copyfile(where.working, tmp)
        with open(tmp, "rb") as fh:  # the bytes reach the disk before the name does
            os.fsync(fh.fileno())
        os.replace(tmp, where.database)
    finally:
        tmp.unlink(missing_ok=True)
    (where.working.parent / _DIRTY).unlink(missing_ok=True)
    return time.perf_counter() - t0


def clean_stale(where: Home) -> None:
    """Remove temporary snapshot copies a killed ingester left (we hold the ingest lock)."""
    for tmp in where.root.glob(".warehouse.*.duckdb.tmp"):
        tmp.unlink(missing_ok=True)
