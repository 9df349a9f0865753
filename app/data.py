"""The dashboard's data: the warehouse's queries (warehouse/queries.py) through a Streamlit cache.

Results are cached per (database file, its modification time, query): an ingest publishes a new
snapshot (a new mtime), so new rows show up on the next rerun without a manual refresh. The SQL itself
lives in warehouse/queries.py, testable without Streamlit; this module only caches and connects.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import streamlit as st

from warehouse import run_table
from warehouse.paths import Home, home
from warehouse.queries import (  # noqa: F401  (re-exported for the pages)
    CONFIG_FIELDS,
    GROUP_DEFAULT,
    KAPPA_GROUP,
    KIND_ORDER,
    LIST_FIELDS,
    PROBE_PROTOCOLS,
    RESULT_COLUMNS,
    RESULT_CURVES,
    RUN_STATUSES,
    Queries,
    add_position,
    config_where,
    field_sql,
    with_band,
)
from warehouse.read import WarehouseMissing, attach_snapshot, snapshot_cursor


def db_version(where: Home) -> tuple[int, int]:
    """Changes whenever an ingest commits (the file or its WAL is written)."""
    db = where.database
    wal = db.with_name(db.name + ".wal")
    return (
        db.stat().st_mtime_ns if db.exists() else 0,
        wal.stat().st_mtime_ns if wal.exists() else 0,
    )


@st.cache_resource(max_entries=1, show_spinner=False)
def _snapshot(db_path: str, version: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """The snapshot of this version, attached once per server process (read.attach_snapshot: its schema
    checked then) and shared by every session; each query runs on its own cursor. Opening the file per query
    cost ~20 ms of a cold query's ~35 (a cold click runs four to eight). An ingest makes a new version, so the
    next query attaches the new file and the old attachment is let go (one entry): the replaced file's disk
    space comes back once the queries still running on it end."""
    return attach_snapshot(Home(Path(db_path).parent))


def _run(db_path: str, version: tuple[int, int], sql: str, params: tuple) -> pl.DataFrame:
    try:
        return _query(_snapshot(db_path, version), sql, params)
    except duckdb.IOException:
        # the held file went away under it (a stale NFS handle after an ingest on another node): attach anew, once
        _snapshot.clear()
        return _query(_snapshot(db_path, version), sql, params)


def _query(attached: duckdb.DuckDBPyConnection, sql: str, params: tuple) -> pl.DataFrame:
    con = snapshot_cursor(attached)
    try:
        rel = con.sql(sql, params=list(params)) if params else con.sql(sql)
        return rel.pl()
    finally:
        con.close()


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _cached(db_path: str, version: tuple[int, int], sql: str, params: tuple) -> pl.DataFrame:
    return _run(db_path, version, sql, params)


def cached_run(sql: str, params: tuple, where: Home) -> pl.DataFrame:
    """The Queries runner: one read-only query, cached until the next ingest."""
    return _cached(str(where.database), db_version(where), sql, params)



# ---- the Runs page's table (warehouse/run_table.py) -------------------------------------------------------


@st.cache_resource(max_entries=2, show_spinner=False)
def _results(db_path: str, version: tuple[int, int]) -> run_table.RunTable:
    """Every run's final results, once per warehouse version and server process, shared by every session and
    never copied (st.cache_data would unpickle 100,000 rows on every rerun): the Runs page's questions are
    SQL over this table, each answering with the rows the page shows."""
    where = Home(Path(db_path).parent)
    frame = Queries(lambda sql, params, _w: _run(db_path, version, sql, params)).run_results(where=where)
    return run_table.RunTable(frame)


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _run_table(db_path: str, version: tuple[int, int], sql: str, params: tuple) -> pl.DataFrame:
    return _results(db_path, version).query(sql, params)


def run_table_query(statement: tuple[str, list], where: Home | None = None) -> pl.DataFrame:
    """One of run_table's statements over the cached results, its answer cached until the next ingest."""
    where = where or home()
    sql, params = statement
    frozen = tuple(tuple(p) if isinstance(p, list) else p for p in params)
    return _run_table(str(where.database), db_version(where), sql, frozen)


def run_table_schema(where: Home | None = None) -> pa.Schema:
    where = where or home()
    return _results(str(where.database), db_version(where)).table.schema


Q = Queries(cached_run)
q = Q.q
has_table = Q.has_table
config_values = Q.config_values
arch_datasets = Q.arch_datasets
layer_options = Q.layer_options
layer_curves = Q.layer_curves
final_accuracy = Q.final_accuracy
runs = Q.runs
run_detail = Q.run_detail
run_environments = Q.run_environments
recent_run_ids = Q.recent_run_ids
metric_names = Q.metric_names
summary_by_temperature = Q.summary_by_temperature
kappa_rho = Q.kappa_rho
epoch_curves = Q.epoch_curves
init_norms = Q.init_norms
alignment_runs = Q.alignment_runs
alignment_matrix = Q.alignment_matrix
alignment_overview = Q.alignment_overview
theory_rows = Q.theory_rows
sweeps = Q.sweeps
failures = Q.failures
run_results = Q.run_results
learned_by_temperature = Q.learned_by_temperature
converged_by_temperature = Q.converged_by_temperature
probe_protocols = Q.probe_protocols
run_epoch_curves = Q.run_epoch_curves
run_layer_ranks = Q.run_layer_ranks
group_results = Q.group_results


PROBLEMS: dict[str, str] = {}  # database path -> why it could not be read (shown by ui.require_runs)


def warehouse_state(where: Home | None = None) -> tuple[str, int]:
    """('missing' | 'empty' | 'unreadable' | 'ok', number of runs); the reason of 'unreadable' is in PROBLEMS."""
    where = where or home()
    if not where.database.exists():
        return "missing", 0
    try:
        n = q("SELECT count(*) AS n FROM run_configs", where=where)["n"][0]
    except WarehouseMissing:
        return "missing", 0
    except Exception as exc:  # an older schema (needs `python -m warehouse migrate`), a foreign file, ...
        PROBLEMS[str(where.database)] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return "unreadable", 0
    return ("ok" if n else "empty"), int(n)
