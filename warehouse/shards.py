"""The shard writer jobs use: one Parquet file per (table, owner, name), written atomically.

A shard is written under a temporary name in the same folder and renamed into place
(`os.replace` is atomic on POSIX), so a reader sees a whole shard or none. Writing the same
(table, owner, name) again replaces the file: a requeued job that re-writes its shards produces
no duplicates, because ingest replaces the rows of a shard whose file changed.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.paths import Home, home
from warehouse.schema import TABLES

_SAFE = re.compile(r"^[A-Za-z0-9._=-]+$")

Rows = Sequence[Mapping[str, Any]] | pa.Table


def to_arrow(table: str, rows: Rows) -> pa.Table:
    """Rows (list of dicts or an Arrow table) → an Arrow table with exactly the schema's columns.

    Columns the schema has but the rows lack become nulls; a column the schema lacks is an error,
    so a typo never silently drops a measurement.
    """
    if table not in TABLES:
        raise ValueError(f"unknown warehouse table {table!r}; known tables: {', '.join(TABLES)}")
    spec = TABLES[table]
    if isinstance(rows, pa.Table):
        given = set(rows.column_names)
        n = rows.num_rows
    else:
        given = set().union(*(r.keys() for r in rows)) if rows else set()
        n = len(rows)
    unknown = given - set(spec.column_names)
    if unknown:
        raise ValueError(
            f"table {table!r} has no column(s) {sorted(unknown)}; add them to warehouse/schema.py "
            f"(and bump SCHEMA_VERSION) or fix the name"
        )
    if isinstance(rows, pa.Table):  # columnar all the way: no Python objects per value
        arrays = [rows.column(c.name).cast(c.type) if c.name in given else pa.nulls(n, c.type) for c in spec.columns]
    else:
        arrays = [pa.array([r.get(c.name) for r in rows], type=c.type) if c.name in given else pa.nulls(n, c.type)
                  for c in spec.columns]
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema)


def shard_path(table: str, owner: str, name: str, where: Home | None = None) -> Path:
    for label, value in (("owner", owner), ("name", name)):
        if not _SAFE.match(value):
            raise ValueError(f"shard {label} {value!r} may only hold letters, digits and . _ = -")
    return (where or home()).shards / table / owner / f"{name}.parquet"


def write_shard(table: str, rows: Rows, *, owner: str, name: str, where: Home | None = None) -> Path:
    """Write `rows` as shard `shards/<table>/<owner>/<name>.parquet`, atomically; returns the path.

    `owner` is the run id for per-run tables (the experiment name for `theory`), `name` says which
    part of the run the rows are (e.g. 'epochs', 'analysis-e10'); re-writing one replaces it.
    """
    arrow = to_arrow(table, rows)
    path = shard_path(table, owner, name, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(arrow, tmp)
        with open(tmp, "rb") as fh:  # the bytes reach the disk before the name does
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
