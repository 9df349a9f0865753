"""Load new shards into the DuckDB file: idempotent, one transaction per batch, one ingester at a time.

Every stored row keeps the shard it came from (`_shard`, the path under shards/). A shard seen
before with the same size and mtime is skipped; a shard whose file changed (a requeued job
re-wrote it) has its old rows deleted and the new ones inserted in the same transaction, so a
re-written shard never duplicates rows and a reader never sees half a batch.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from warehouse.paths import Home, home
from warehouse.schema import SCHEMA_VERSION, TABLES, VIEWS

_DUCK_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    "list<item: string>": "VARCHAR[]",
    "list<item: int32>": "INTEGER[]",
}


def duck_type(arrow_type) -> str:
    return _DUCK_TYPES[str(arrow_type)]


@dataclass
class IngestReport:
    new_shards: int = 0
    replaced_shards: int = 0
    rows: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"ingested {self.new_shards} new and {self.replaced_shards} re-written shard(s), {self.rows} row(s)"
        if self.quarantined:
            text += f"; quarantined {len(self.quarantined)}: " + "; ".join(f"{p} ({r})" for p, r in self.quarantined)
        return text


class IngestBusy(RuntimeError):
    pass


@contextmanager
def ingest_lock(where: Home, wait_s: float = 60.0) -> Iterator[None]:
    """One ingester at a time: an flock on `ingest.lock` (released by the kernel if we die)."""
    where.root.mkdir(parents=True, exist_ok=True)
    with open(where.root / "ingest.lock", "w") as fh:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IngestBusy(
                        f"another ingest holds {where.root / 'ingest.lock'} for over {wait_s:.0f} s; "
                        "wait for it to finish and run `python -m warehouse ingest` again"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(
        "CREATE TABLE IF NOT EXISTS _shards (path VARCHAR PRIMARY KEY, table_name VARCHAR, "
        "size BIGINT, mtime_ns BIGINT, n_rows BIGINT, ingested_at TIMESTAMPTZ)"
    )
    for table in TABLES.values():
        cols = ", ".join(f'"{c.name}" {duck_type(c.type)}' for c in table.columns)
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols}, _shard VARCHAR)')
    for name, sql in VIEWS.items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
    con.execute(
        "INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
    )


def _quarantine(where: Home, path: Path, reason: str) -> str:
    rel = path.relative_to(where.shards)
    target = where.quarantine / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), target)
    target.with_name(target.name + ".reason").write_text(reason + "\n")
    return str(rel)


def _check_shard(path: Path, table: str) -> str | None:
    """None if the shard can be ingested into `table`, else the reason it cannot."""
    try:
        schema = pq.read_schema(path)
        pq.ParquetFile(path).metadata  # noqa: B018 - reads the footer: catches truncation
    except Exception as exc:  # a truncated or non-Parquet file
        return f"unreadable Parquet: {exc}".splitlines()[0]
    expected = TABLES[table].arrow_schema
    missing = [f.name for f in expected if f.name not in schema.names]
    if missing:
        return f"wrong schema for table {table}: missing columns {missing}"
    return None


def pending_shards(where: Home, con: duckdb.DuckDBPyConnection) -> list[tuple[str, Path, os.stat_result, bool]]:
    known = {p: (s, m) for p, s, m in con.execute("SELECT path, size, mtime_ns FROM _shards").fetchall()}
    todo = []
    for table in TABLES:
        folder = where.shards / table
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*/*.parquet")):
            if path.name.startswith("."):
                continue  # a temporary file being written
            st = path.stat()
            rel = str(path.relative_to(where.shards))
            if known.get(rel) != (st.st_size, st.st_mtime_ns):
                todo.append((table, path, st, rel in known))
    return todo


def ingest(where: Home | None = None, *, batch_size: int = 2000, lock_wait_s: float = 60.0) -> IngestReport:
    """Load every new or re-written shard; safe to run while jobs are still writing."""
    where = where or home()
    report = IngestReport()
    with ingest_lock(where, lock_wait_s):
        con = duckdb.connect(str(where.database))
        try:
            create_schema(con)
            todo = pending_shards(where, con)
            for start in range(0, len(todo), batch_size):
                _ingest_batch(where, con, todo[start : start + batch_size], report)
        finally:
            con.close()
    return report


def _ingest_batch(where: Home, con, batch, report: IngestReport) -> None:
    good: dict[str, list[tuple[Path, os.stat_result, bool]]] = {}
    for table, path, st, seen in batch:
        reason = _check_shard(path, table)
        if reason:
            report.quarantined.append((_quarantine(where, path, reason), reason))
        else:
            good.setdefault(table, []).append((path, st, seen))
    if not good:
        return
    prefix = str(where.shards) + os.sep
    con.execute("BEGIN TRANSACTION")
    try:
        for table, items in good.items():
            rels = [str(p.relative_to(where.shards)) for p, _, _ in items]
            con.execute(f'DELETE FROM "{table}" WHERE _shard IN (SELECT unnest(?::VARCHAR[]))', [rels])
            cols = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
            n = con.execute(
                f'INSERT INTO "{table}" SELECT {cols}, replace(filename, ?, \'\') '
                f"FROM read_parquet(?, filename = true, union_by_name = true)",
                [prefix, [str(p) for p, _, _ in items]],
            ).fetchone()[0]
            report.rows += n
            con.executemany(
                "INSERT OR REPLACE INTO _shards VALUES (?, ?, ?, ?, NULL, now())",
                [[rel, table, st.st_size, st.st_mtime_ns] for rel, (_, st, _) in zip(rels, items)],
            )
            report.replaced_shards += sum(seen for _, _, seen in items)
            report.new_shards += sum(not seen for _, _, seen in items)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def rebuild(where: Home | None = None) -> IngestReport:
    """Build the DuckDB file again from the shards alone (the old file is replaced atomically)."""
    where = where or home()
    with ingest_lock(where):
        tmp = where.database.with_suffix(".rebuild.duckdb")
        tmp.unlink(missing_ok=True)
        staged = Home(where.root)
        con = duckdb.connect(str(tmp))
        report = IngestReport()
        try:
            create_schema(con)
            todo = pending_shards(staged, con)
            for start in range(0, len(todo), 2000):
                _ingest_batch(staged, con, todo[start : start + 2000], report)
        finally:
            con.close()
        os.replace(tmp, where.database)
    return report
