"""Render SCHEMA.md from schema.py, so the documentation can never drift from the tables.

`python -m warehouse schema-doc` rewrites warehouse/SCHEMA.md; a test fails when it is stale.
"""

from __future__ import annotations

import re
from pathlib import Path

from warehouse.ddl import SORT_KEYS, duck_type
from warehouse.examples import EXAMPLES
from warehouse.schema import DERIVED, INTERNAL_DOCS, SCHEMA_VERSION, TABLES, VIEW_DOCS, VIEWS, Table

SCHEMA_MD = Path(__file__).with_name("SCHEMA.md")
_UNIT = re.compile(r"\s*\[([^\]]+)\]")


def _split_unit(doc: str) -> tuple[str, str]:
    """'mean accuracy [fraction]' -> ('mean accuracy', 'fraction'); '—' when the doc names no unit."""
    m = _UNIT.search(doc)
    if not m:
        return doc, "—"
    return (doc[: m.start()] + doc[m.end():]).strip(), m.group(1)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table_md(table: Table, heading: str) -> list[str]:
    lines = [f"### `{table.name}`{heading}", "", table.doc, ""]
    if table.name in SORT_KEYS:
        lines += [f"Rows of each ingested batch are stored sorted by ({', '.join(SORT_KEYS[table.name])}).", ""]
    lines += ["| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
    for col in table.columns:
        meaning, unit = _split_unit(col.doc)
        lines.append(f"| `{col.name}` | {duck_type(col.type)} | {_cell(unit)} | {_cell(meaning)} |")
    return lines + [""]


def render() -> str:
    out = [
        "# Thermoscope warehouse schema",
        "",
        "<!-- Generated from warehouse/schema.py by `python -m warehouse schema-doc`; do not edit by hand. -->",
        "",
        f"Schema version: **{SCHEMA_VERSION}** (stored in `_meta.schema_version`).",
        "",
        "## How the data gets here and how to read it",
        "",
        "- Jobs write Parquet shards `$THERMOSCOPE_HOME/shards/<table>/<run_id>/<name>.parquet` with "
        "`warehouse.write_shard` (temporary name + atomic rename; re-writing a shard replaces it).",
        "- `python -m warehouse ingest` loads new and re-written shards into its private working file "
        "(`ingest/working.duckdb`), one transaction per batch, then publishes a copy as `warehouse.duckdb` "
        "with an atomic rename. Unreadable shards move to `quarantine/` with a `.reason` file.",
        "- Readers open `warehouse.duckdb` **read-only**: `warehouse.read.connect()`, "
        "`python -m warehouse sql \"…\"`, or `duckdb -readonly thermoscope-home/warehouse.duckdb`. "
        "Never write to it: the next ingest replaces it.",
        "- `python -m warehouse rebuild` makes the file again from the shards alone; "
        "`python -m warehouse migrate` upgrades a file made by older code.",
        "- Every table is tidy (long): one row per measured number, carrying the run id, the epoch, the "
        "layer where it is per layer, and the dataset/split it was measured on. Stored rows of job tables "
        "also carry `_shard` (the shard they came from).",
        "",
        "",
        "## Concurrency, failures and speed (why it is built this way)",
        "",
        "- DuckDB allows one read-write process per file and no read-only reader beside it, so jobs never "
        "touch a DuckDB file and readers never open the file the ingester writes. The snapshot swap costs "
        "one file copy per ingest (about 0.15 s for a 170 MiB warehouse of 21 M rows); a reader holding the "
        "old snapshot keeps reading it until it reconnects.",
        "- One ingester at a time: an `flock` on `ingest.lock` (the kernel drops it when the process dies). "
        "A second ingest waits `--wait` seconds, then exits with code 2 and a one-line message. On a "
        "cluster, run ingest from one place (a login-node loop or cron): flock across NFS clients depends "
        "on the mount. Readers on other nodes should not hold a handle across ingests: connect per query (as "
        "`warehouse.read.query` does) or, as the app does, hold one attachment per snapshot version "
        "(`warehouse.read.attach_snapshot`) and attach anew when the file changes or a read fails: NFS may "
        "answer a long-held handle to a replaced snapshot with a stale-handle error.",
        "- A killed writer leaves only a hidden `.<name>.<uuid>.tmp` file, never a half shard; ingest ignores "
        "those and deletes them after an hour. A killed ingester loses only its open transaction; the next "
        "ingest finishes the work and publishes.",
        "- Speed: rows of each batch are stored sorted (see each table), so DuckDB's per-row-group min/max "
        "skip most of the file for a filter on (metric, run_id) or run_id; `layer_stats` holds the "
        "per-layer mean ± std over seeds so the dashboard's rank-vs-temperature view reads a small "
        "table. Figures: bench/bench_warehouse.py.",
        "- Migrations: `_meta.schema_version` says which layout a file has. Ingest and "
        "`python -m warehouse migrate` upgrade older files (in place where possible, otherwise rebuilt "
        "from the shards with the old file kept as `warehouse-vN-backup.duckdb`); readers of an older "
        "file are told to run `python -m warehouse migrate`; a file newer than the code says to update it.",
        "- The SQL console (`warehouse.console.run_safe`, `python -m warehouse sql --safe`): one SELECT "
        "per call, answered by a worker process of its own (`warehouse/sandbox.py`): the snapshot attached "
        "read-only to a private DuckDB with `enable_external_access` off and `lock_configuration` on, a row "
        "cap, a byte cap on the result, a memory limit on the process and a time limit on the whole answer "
        "(the worker is killed when it is up, parsing and planning included). Plain `python -m warehouse "
        "sql` is read-only too: statements other than SELECT / EXPLAIN (COPY, ATTACH, SET, ...) are refused.",
        "",
        "## Tables written by jobs",
        "",
    ]
    for table in TABLES.values():
        out += _table_md(table, "")
    out += ["## Views", ""]
    for name in VIEWS:
        doc, extra = VIEW_DOCS.get(name, ("", {}))
        out += [f"### `{name}` (view)", "", doc, ""]
        if extra:
            if name == "runs":
                out += ["Columns: every column of `run_configs` (config_json last), plus:", ""]
            out += ["| column | unit | meaning |", "| --- | --- | --- |"]
            for col, cdoc in extra.items():
                meaning, unit = _split_unit(cdoc)
                out.append(f"| `{col}` | {_cell(unit)} | {_cell(meaning)} |")
            out.append("")
    out += ["## Derived tables (kept by ingest)", ""]
    for table in DERIVED.values():
        out += _table_md(table, " (derived)")
    out += ["## Bookkeeping tables", ""]
    for name, doc in INTERNAL_DOCS.items():
        out += [f"- `{name}`: {doc}"]
    out += ["", "## Example queries", ""]
    for title, what, sql in EXAMPLES:
        out += [f"### {title}", "", what, "", "```sql", sql.strip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def write(path: Path = SCHEMA_MD) -> Path:
    path.write_text(render())
    return path
