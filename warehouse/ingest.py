"""Load new shards into the warehouse: idempotent, one transaction per batch, one ingester at a time.

Every stored row keeps the shard it came from (`_shard`, its path under shards/). A shard seen
before with the same size, mtime and inode is skipped; one whose file changed (a requeued job
re-wrote it) has its old rows deleted and the new ones inserted in the same transaction, so a
re-written shard never duplicates rows. A shard that cannot be read (truncated, wrong schema) is
moved to quarantine/ with a .reason file and the rest of the batch goes in.

A shard that was ingested and then found corrupt (its file changed and no longer reads) loses the rows
its earlier version loaded, before it moves to quarantine/: the warehouse holds what the readable shards
hold, so `ingest` and `rebuild` end with the same rows (a rebuild has nowhere else to take them from).
Both say so: the report names the shards, and the command prints a warning line (exit status 0, so a
job's closing ingest does not fail the job). Corruption that keeps a file's size, mtime and inode (bit
rot beneath the file system) is not seen by ingest, which does not re-read old shards; a rebuild finds it.

Ingest writes only its private working file (ingest/working.duckdb) and then publishes it as
warehouse.duckdb (see snapshot.py): readers never wait for it and never see half a batch.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import derived, migrate, snapshot
from warehouse.ddl import SORT_KEYS, create_schema, duck_type, schema_version
from warehouse.paths import Home, home
from warehouse.schema import TABLES

__all__ = ["ingest", "rebuild", "migrate_home", "forget", "IngestBusy", "IngestReport", "duck_type", "create_schema"]

# Temporary files a killed writer left behind are removed once they are this old.
STALE_TMP_S = 3600.0
# Tables whose rows feed layer_stats: a batch touching them refreshes its runs' groups.
_STATS_INPUTS = ("run_configs", "layer_metrics")


@dataclass
class IngestReport:
    new_shards: int = 0
    replaced_shards: int = 0
    rows: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # quarantined shards whose earlier rows were removed
    migrated: list[str] = field(default_factory=list)
    rebuilt: bool = False  # the file could not be migrated in place and was started afresh
    published_s: float | None = None
    seconds: dict[str, float] = field(default_factory=lambda: {"check": 0.0, "load": 0.0, "derived": 0.0})

    def __str__(self) -> str:
        text = f"ingested {self.new_shards} new and {self.replaced_shards} re-written shard(s), {self.rows} row(s)"
        if self.migrated:
            text = f"migrated the warehouse ({', '.join(self.migrated)}); " + text
        if self.quarantined:
            text += f"; quarantined {len(self.quarantined)}: " + "; ".join(f"{p} ({r})" for p, r in self.quarantined)
        if self.dropped:
            text += f"; removed the rows of {len(self.dropped)} shard(s) ingested before they turned unreadable"
        return text

    def warning(self) -> str | None:
        """One line for stderr when shards were quarantined (their rows are not in the warehouse), else None."""
        if not self.quarantined:
            return None
        removed = f", and the rows {len(self.dropped)} of them had loaded before were removed" if self.dropped else ""
        return (f"warning: {len(self.quarantined)} unreadable shard(s) moved to quarantine/ (reasons in its .reason "
                f"files){removed}; repair one, move it back under shards/ and run ingest")


class IngestBusy(RuntimeError):
    pass


@contextmanager
def ingest_lock(where: Home, wait_s: float = 60.0) -> Iterator[None]:
    """One ingester at a time: an flock on `ingest.lock`, which the kernel releases if we die."""
    where.root.mkdir(parents=True, exist_ok=True)
    with open(where.lock, "w") as fh:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IngestBusy(
                        f"another ingest holds {where.lock} (waited {wait_s:.0f} s); "
                        "it publishes when done: run `python -m warehouse ingest` again after it"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---- shards on disk -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Shard:
    table: str
    path: Path
    rel: str
    size: int
    mtime_ns: int
    inode: int
    seen: bool  # an older version of it was ingested before
    n_rows: int = 0  # from the footer, filled in by the check
    exact: bool = False  # its Parquet schema is exactly the table's (as write_shard writes it)


def _scan(where: Home) -> Iterator[tuple[str, os.DirEntry, os.stat_result]]:
    """(table, entry, stat) for every finished shard; removes a killed writer's old temporary files."""
    now = time.time()
    for table in TABLES:
        folder = where.shards / table
        if not folder.is_dir():
            continue
        with os.scandir(folder) as owners:
            for owner in owners:
                if not owner.is_dir():
                    continue
                with os.scandir(owner.path) as files:
                    for entry in files:
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue  # replaced or moved while we looked
                        if entry.name.startswith("."):  # a writer's temporary file
                            if entry.name.endswith(".tmp") and now - st.st_mtime > STALE_TMP_S:
                                Path(entry.path).unlink(missing_ok=True)
                            continue
                        if entry.name.endswith(".parquet"):
                            yield table, entry, st


def pending_shards(where: Home, con: duckdb.DuckDBPyConnection) -> list[Shard]:
    known = {p: (s, m, i) for p, s, m, i in con.execute("SELECT path, size, mtime_ns, inode FROM _shards").fetchall()}
    todo = []
    for table, entry, st in _scan(where):
        rel = f"{table}/{Path(entry.path).parent.name}/{entry.name}"
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if known.get(rel) != key:
            todo.append(Shard(table, Path(entry.path), rel, *key, seen=rel in known))
    todo.sort(key=lambda s: (list(TABLES).index(s.table), s.rel))  # configs before their measurements
    return todo


# ---- checking and quarantining ------------------------------------------------------------------

def _compatible(got: pa.DataType, want: pa.DataType) -> bool:
    """`got` loads into a column of type `want`: equal, all-null, a number that widens (never a float into an
    int), or a list of such (shards of older code wrote some integer columns as int32, now int64)."""
    if got == want or pa.types.is_null(got):
        return True
    if pa.types.is_list(got) and pa.types.is_list(want):
        return _compatible(got.value_type, want.value_type)
    numeric = (pa.types.is_integer, pa.types.is_floating)
    return any(f(got) for f in numeric) and any(f(want) for f in numeric) and not (
        pa.types.is_floating(got) and pa.types.is_integer(want)
    )


def check_shard(path: Path, table: str, *, full: bool = False) -> str | None:
    """None if the shard can be ingested into `table`, else the one-line reason it cannot."""
    return inspect_shard(path, table, full=full)[0]


def inspect_shard(path: Path, table: str, *, full: bool = False) -> tuple[str | None, int, bool]:
    """(reason it cannot be ingested or None, row count from the footer, schema exactly the table's)."""
    try:
        meta = pq.ParquetFile(path)  # reads the footer: catches truncation
        schema, n_rows = meta.schema_arrow, meta.metadata.num_rows
        if full:
            meta.read()  # reads every page: catches a corrupt body under a good footer
    except FileNotFoundError:
        raise
    except Exception as exc:
        return f"unreadable Parquet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", 0, False
    if schema.equals(TABLES[table].arrow_schema):  # what write_shard writes: the common, fast case
        return None, n_rows, True
    return _schema_problem(schema, table), n_rows, False


def _schema_problem(schema: pa.Schema, table: str) -> str | None:
    for col in TABLES[table].columns:
        if col.name not in schema.names:
            if col.since > 1:
                continue  # written by code older than the column: NULL
            return f"wrong schema for table {table}: no column {col.name!r}"
        got = schema.field(col.name).type
        if not _compatible(got, col.type):
            return f"wrong schema for table {table}: column {col.name!r} is {got}, expected {col.type}"
    extra = sorted(set(schema.names) - set(TABLES[table].column_names))
    if extra:
        return f"columns {extra} are not in schema of table {table}; update the code, then move the file back"
    return None


def _drop_rows(con: duckdb.DuckDBPyConnection, where: Home, shards: list[Shard], report: IngestReport) -> None:
    """Remove the rows earlier versions of these (now unreadable) shards loaded, in one transaction, before
    they move to quarantine: killed in between, the next ingest finds the shard again and quarantines it."""
    if not shards:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for table in {s.table for s in shards}:
            con.execute(f'DELETE FROM "{table}" WHERE _shard IN (SELECT unnest(?::VARCHAR[]))',
                        [[s.rel for s in shards if s.table == table]])
        con.execute("DELETE FROM _shards WHERE path IN (SELECT unnest(?::VARCHAR[]))", [[s.rel for s in shards]])
        touched = sorted({s.path.parent.name for s in shards if s.table in _STATS_INPUTS})
        if touched:  # their layer_stats groups are computed again without these rows
            con.execute("INSERT INTO _dirty_runs SELECT unnest(?::VARCHAR[])", [touched])
        snapshot.mark_dirty(where)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.dropped += [s.rel for s in shards]


def _quarantine_all(con: duckdb.DuckDBPyConnection, where: Home, bad: list[tuple[Shard, str]],
                    report: IngestReport) -> None:
    _drop_rows(con, where, [shard for shard, _ in bad if shard.seen], report)
    for shard, reason in bad:
        report.quarantined.append((_quarantine(where, shard, reason), reason))


def _quarantine(where: Home, shard: Shard, reason: str) -> str:
    target = where.quarantine / shard.rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(shard.path), target)
    target.with_name(target.name + ".reason").write_text(reason + "\n")
    return shard.rel


# ---- loading -------------------------------------------------------------------------------------

def _insert(con: duckdb.DuckDBPyConnection, where: Home, table: str, shards: list[Shard]) -> int:
    # Only re-written shards have rows to replace: a DELETE scans the whole table, so skip it otherwise.
    rels = [s.rel for s in shards if s.seen]
    if rels:
        con.execute(f'DELETE FROM "{table}" WHERE _shard IN (SELECT unnest(?::VARCHAR[]))', [rels])
    cols = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
    order = f"ORDER BY {', '.join(SORT_KEYS[table])}" if table in SORT_KEYS else ""
    start = len(str(where.shards) + os.sep) + 1  # `_shard` is the path under shards/
    # union_by_name costs a pass over every footer; only shards not written by write_shard need it
    union = ", union_by_name = true" if not all(s.exact for s in shards) else ""
    # columns named, not by position: a migration that added a column put it after `_shard`
    n = con.execute(
        f'INSERT INTO "{table}" ({cols}, "_shard") SELECT {cols}, filename[{start}:] '
        f"FROM read_parquet(?::VARCHAR[], filename = true{union}) {order}",
        [[str(s.path) for s in shards]],
    ).fetchall()[0][0]
    book = pa.table({"path": [s.rel for s in shards], "table_name": [s.table for s in shards],
                     "size": [s.size for s in shards], "mtime_ns": [s.mtime_ns for s in shards],
                     "n_rows": [s.n_rows for s in shards], "inode": [s.inode for s in shards]})
    con.register("_book", book)
    con.execute("INSERT OR REPLACE INTO _shards SELECT path, table_name, size, mtime_ns, n_rows, now(), inode FROM _book")
    con.unregister("_book")
    return n


def _load_batch(where: Home, con, batch: list[Shard], report: IngestReport) -> bool:
    """Insert one batch in one transaction; False if a shard failed to read (the caller re-checks)."""
    by_table: dict[str, list[Shard]] = {}
    for shard in batch:
        by_table.setdefault(shard.table, []).append(shard)
    con.execute("BEGIN TRANSACTION")
    try:
        rows, t0 = 0, time.perf_counter()
        for table, shards in by_table.items():
            rows += _insert(con, where, table, shards)
        report.seconds["load"] += time.perf_counter() - t0
        # layer_stats is refreshed once per ingest (refresh_derived); the runs to redo are kept in
        # the same transaction as their rows, so a killed ingester leaves no stale group behind
        touched = sorted({s.path.parent.name for s in batch if s.table in _STATS_INPUTS})
        if touched:
            con.execute("INSERT INTO _dirty_runs SELECT unnest(?::VARCHAR[])", [touched])
        con.execute("INSERT OR REPLACE INTO _meta VALUES ('last_ingest', now()::VARCHAR)")
        snapshot.mark_dirty(where)
        con.execute("COMMIT")
    except duckdb.Error:  # a shard failed while being read (DuckDB raises several kinds): re-check each
        con.execute("ROLLBACK")
        return False
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.rows += rows
    report.replaced_shards += sum(s.seen for s in batch)
    report.new_shards += sum(not s.seen for s in batch)
    return True


def _inspect_or_gone(shard: Shard) -> tuple[str | None, int, bool] | None:
    try:
        return inspect_shard(shard.path, shard.table)
    except FileNotFoundError:
        return None


def refresh_derived(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    """Recompute layer_stats for every run loaded since the last refresh, in one transaction."""
    t0 = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        ids = [r[0] for r in con.execute("SELECT DISTINCT run_id FROM _dirty_runs").fetchall()]
        if ids:
            derived.refresh(con, ids)
            con.execute("DELETE FROM _dirty_runs")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.seconds["derived"] += time.perf_counter() - t0


def _ingest_batch(where: Home, con, batch: list[Shard], report: IngestReport) -> None:
    good, bad, t0 = [], [], time.perf_counter()
    checked = [_inspect_or_gone(shard) for shard in batch]
    report.seconds["check"] += time.perf_counter() - t0
    for shard, result in zip(batch, checked):
        if result is None:
            continue  # replaced or removed since the scan: the next ingest sees its new version
        reason, n_rows, exact = result
        if reason:
            bad.append((shard, reason))
        else:
            good.append(dataclasses.replace(shard, n_rows=n_rows, exact=exact))
    _quarantine_all(con, where, bad, report)
    if not good or _load_batch(where, con, good, report):
        return
    # A shard with a good footer failed while being read: find it by reading each in full.
    retry, bad = [], []
    for shard in good:
        try:
            reason = check_shard(shard.path, shard.table, full=True)
        except FileNotFoundError:
            continue
        if reason:
            bad.append((shard, reason))
        else:
            retry.append(shard)
    _quarantine_all(con, where, bad, report)
    if retry and not _load_batch(where, con, retry, report):
        raise RuntimeError("a batch failed to load although every shard reads in full; run ingest again")


# ---- the working file ----------------------------------------------------------------------------

def _open_working(where: Home, report: IngestReport, fresh: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating or migrating) the working file; we hold the ingest lock."""
    where.working.parent.mkdir(parents=True, exist_ok=True)
    if not fresh and not where.working.exists() and where.database.exists():
        # first ingest after upgrading from the one-file layout, or the working file was lost:
        # start from the published snapshot so nothing already ingested is dropped
        shutil.copyfile(where.database, where.working)
    con = duckdb.connect(str(where.working))
    version = schema_version(con)
    migrate.check_known(version, where.working)
    try:
        report.migrated = migrate.migrate(con)
    except migrate.NeedsRebuild as exc:
        con.close()
        kept = migrate.backup(where, version)
        where.working.unlink()
        con = duckdb.connect(str(where.working))
        create_schema(con)
        report.migrated = [f"v{version} -> rebuilt from shards ({exc}; old file kept as {kept})"]
        report.rebuilt = True
    if report.migrated:
        snapshot.mark_dirty(where)
    return con


def _run(where: Home, report: IngestReport, batch_size: int, fresh: bool = False) -> None:
    snapshot.clean_stale(where)
    con = _open_working(where, report, fresh)
    try:
        todo = pending_shards(where, con)
        for start in range(0, len(todo), batch_size):
            _ingest_batch(where, con, todo[start : start + batch_size], report)
        refresh_derived(con, report)
        con.execute("CHECKPOINT")  # everything in the main file, no WAL: the copy is complete
    finally:
        con.close()
    if snapshot.is_dirty(where):
        report.published_s = snapshot.publish(where)


def ingest(where: Home | None = None, *, batch_size: int = 2000, lock_wait_s: float = 60.0) -> IngestReport:
    """Load every new or re-written shard and publish; safe to run while jobs are still writing."""
    where = where or home()
    report = IngestReport()
    with ingest_lock(where, lock_wait_s):
        _run(where, report, batch_size)
    return report


def migrate_home(where: Home | None = None, *, lock_wait_s: float = 60.0) -> IngestReport:
    """Migrate the working file (and publish it) without loading new shards."""
    where = where or home()
    report = IngestReport()
    with ingest_lock(where, lock_wait_s):
        snapshot.clean_stale(where)
        con = _open_working(where, report)
        try:
            if report.rebuilt:  # a fresh file needs every shard loaded again
                todo = pending_shards(where, con)
                for start in range(0, len(todo), 2000):
                    _ingest_batch(where, con, todo[start : start + 2000], report)
            refresh_derived(con, report)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if snapshot.is_dirty(where):
            report.published_s = snapshot.publish(where)
    return report


def rebuild(where: Home | None = None, *, lock_wait_s: float = 60.0) -> IngestReport:
    """Build the warehouse again from the shards alone; readers keep the old snapshot until it is swapped."""
    where = where or home()
    report = IngestReport()
    with ingest_lock(where, lock_wait_s):
        where.working.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (where.working, where.working.with_name(where.working.name + ".wal")):
            leftover.unlink(missing_ok=True)
        snapshot.mark_dirty(where)
        _run(where, report, 2000, fresh=True)
    return report


def forget(where: Home, owners: dict[str, list[str]], *, lock_wait_s: float = 60.0) -> dict[str, int]:
    """Remove every row that shards of these owners loaded (`owners`: table -> owner folder names, i.e. run ids,
    or sweep ids for `jobs`), and publish; returns the rows removed per table.

    Ingest never drops rows because a shard file vanished (a home whose old shards were cleaned up to save space
    keeps its rows), so deleting runs (`thermoscope delete`) removes their files and then calls this: the
    warehouse then holds what a rebuild from the remaining shards would. layer_stats is recomputed whole (a
    deleted run's group can no longer be found from its own, deleted, config row)."""
    removed: dict[str, int] = {}
    with ingest_lock(where, lock_wait_s):
        if not where.working.exists() and not where.database.exists():
            return removed  # nothing ingested yet: no rows to remove
        report = IngestReport()
        snapshot.clean_stale(where)
        con = _open_working(where, report)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                for table, names in owners.items():
                    if table not in TABLES or not names:
                        continue
                    removed[table] = con.execute(
                        f"DELETE FROM \"{table}\" WHERE split_part(_shard, '/', 2) IN (SELECT unnest(?::VARCHAR[]))",
                        [names]).fetchall()[0][0]
                    con.execute("DELETE FROM _shards WHERE table_name = ? AND split_part(path, '/', 2) IN "
                                "(SELECT unnest(?::VARCHAR[]))", [table, names])
                derived.refresh(con)
                snapshot.mark_dirty(where)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if snapshot.is_dirty(where):
            snapshot.publish(where)
    return removed
