"""The Runs page's table in DuckDB: filter, count, group and page the runs' final results with bound parameters.

`Queries.run_results` gives one row per run (config, status, final results). The Runs page used to carry that
whole frame through every rerun and filter, sort and group it in Polars, so a click cost more the more runs
the warehouse held (100,000 runs: 8.8x a bare Streamlit rerun, bench/README.md). Here every question the page
asks — how many match, which values a field has, the groups' mean ± std and n, one page of runs, the scatter's
points — is one SQL statement over that frame (registered in an in-memory DuckDB as `results`), answered
with only the rows the page shows.

Every value a browser can send (filter values, text, bounds, sweep id, page number) is a bound parameter: the
SQL text is built only from column names checked against the known columns (`column`), never from a value,
so a filter value like `'; DROP TABLE runs; --` is a string to compare with, nothing else. Pure: no
Streamlit here (app/data.py caches these per warehouse version).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa

from warehouse.queries import CONFIG_FIELDS, RESULT_COLUMNS, RUN_STATUSES

# the fields the page filters and groups by; the results it filters, sorts and plots
FIELDS: tuple[str, ...] = (*CONFIG_FIELDS, "status", "sweep_id", "source")
RESULTS: tuple[str, ...] = RESULT_COLUMNS
TEXT_COLUMNS = ("name", "tags", "note")
NEWEST = "newest first"


def column(name: str, allowed: tuple[str, ...] = (*FIELDS, *RESULTS)) -> str:
    """`name` as a quoted SQL identifier, if it is one of the table's known columns (a ValueError otherwise):
    identifiers cannot be bound parameters, so they come only from this list."""
    if name not in allowed:
        raise ValueError(f"unknown column {name!r}: one of {', '.join(allowed)}")
    return f'"{name}"'


@dataclass(frozen=True)
class RunFilter:
    """What the Runs page's controls ask for. `config`: (field, values to keep) pairs, None in the values keeping
    runs without a value; `ranges`: (result, lower or None, upper or None) — a run without that result is left
    out while a range on it is set; `text`: a substring of name, tags or note (case-insensitive, literal)."""

    sweep: str | None = None
    config: tuple[tuple[str, tuple], ...] = ()
    text: str = ""
    learned_only: bool = False
    converged_only: bool = False
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()

    def where(self) -> tuple[str, list]:
        """The WHERE clause ('TRUE' when nothing is asked) and its parameters."""
        parts, params = ["TRUE"], []
        if self.sweep is not None:
            parts.append('"sweep_id" = ?')
            params.append(str(self.sweep))
        for name, values in self.config:
            col = column(name, FIELDS)
            present = [v for v in values if v is not None]
            ors = []
            if present:
                ors.append(f"{col} IN (SELECT unnest(?))")
                params.append(present)
            if len(present) < len(values):
                ors.append(f"{col} IS NULL")
            if ors:
                parts.append("(" + " OR ".join(ors) + ")")
        if self.text:
            parts.append("(" + " OR ".join(f'contains(lower(coalesce("{c}", \'\')), ?)' for c in TEXT_COLUMNS) + ")")
            params += [self.text.lower()] * len(TEXT_COLUMNS)
        if self.learned_only:
            parts.append("coalesce(learned, false)")
        if self.converged_only:
            parts.append("coalesce(probes_converged, true)")
        for name, lo, hi in self.ranges:
            col = column(name, RESULTS)
            parts.append(f"{col} IS NOT NULL")
            if lo is not None:
                parts.append(f"{col} >= ?")
                params.append(float(lo))
            if hi is not None:
                parts.append(f"{col} <= ?")
                params.append(float(hi))
        return " AND ".join(parts), params


def order_by(order: str = NEWEST) -> str:
    """Newest first (the table's own order), or the highest of a result first, ties newest first."""
    newest = "created_at DESC NULLS LAST, run_id"
    if order == NEWEST:
        return newest
    return f"{column(order, RESULTS)} DESC NULLS LAST, {newest}"


# ---- the statements (sql, params): built here, run by `query` --------------------------------------------


def count_sql(f: RunFilter) -> tuple[str, list]:
    cond, params = f.where()
    return f"SELECT count(*) AS n FROM results WHERE {cond}", params


def values_sql(f: RunFilter, name: str) -> tuple[str, list]:
    """The distinct values of one field among the runs `f` keeps (a filter's choices)."""
    cond, params = f.where()
    return f"SELECT DISTINCT {column(name, FIELDS)} AS value FROM results WHERE {cond}", params


def varying_sql(f: RunFilter, fields: tuple[str, ...]) -> tuple[str, list]:
    """Per field, how many different values the kept runs have (an empty value counts as one)."""
    cond, params = f.where()
    cols = ", ".join(f"count(DISTINCT {column(c, FIELDS)}) + CAST(bool_or({column(c, FIELDS)} IS NULL) AS INTEGER) "
                     f"AS {column(c, FIELDS)}" for c in fields)
    return f"SELECT {cols} FROM results WHERE {cond}", params


def present_sql(f: RunFilter) -> tuple[str, list]:
    """Per result, how many kept runs have it (the page shows only results some run has)."""
    cond, params = f.where()
    cols = ", ".join(f"count({column(r, RESULTS)}) AS {column(r, RESULTS)}" for r in RESULTS)
    return f"SELECT {cols} FROM results WHERE {cond}", params


def page_sql(f: RunFilter, order: str = NEWEST, limit: int = 1000, offset: int = 0) -> tuple[str, list]:
    """One page of the kept runs, every column, in `order`."""
    cond, params = f.where()
    return (f"SELECT * FROM results WHERE {cond} ORDER BY {order_by(order)} LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)])


def unconverged_sql(f: RunFilter, limit: int = 8) -> tuple[str, list]:
    """The newest runs whose probes did not all converge (runs.probes_converged = false), and how many."""
    cond, params = f.where()
    return (f"""SELECT run_id, temperature, seed, count(*) OVER () AS total FROM results
                WHERE {cond} AND probes_converged = false ORDER BY {order_by()} LIMIT ?""", [*params, int(limit)])


def groups_sql(f: RunFilter, by: list[str], results: tuple[str, ...], limit: int | None = None,
               offset: int = 0) -> tuple[str, list]:
    """Per group of `by`: `N` runs, the status counts, the seeds ('0, 1, 2'; '' for runs without one) and for
    each result `<r>_mean`, `<r>_std` (sample std, NULL where fewer than 2 runs have it: one run has no spread)
    and `<r>_n` (the runs that have it); `groups`, the number of groups in all. Ordered by `by`, empty last;
    `limit` groups from the `offset`-th (a page of the table), every group without a limit."""
    cond, params = f.where()
    keys = [column(c, FIELDS) for c in by]
    aggs = ["count(*) AS \"N\""]
    aggs += [f'count(*) FILTER (WHERE status = ?) AS "{s}"' for s in RUN_STATUSES]
    aggs.append("coalesce(array_to_string(list_sort(list_distinct(list(seed))), ', '), '') AS seeds")
    for r in results:
        col = column(r, RESULTS)
        value = f"CAST({col} AS DOUBLE)"
        aggs += [f'avg({value}) AS "{r}_mean"',
                 f'CASE WHEN count({col}) >= 2 THEN stddev_samp({value}) END AS "{r}_std"',
                 f'count({col}) AS "{r}_n"']
    order = ", ".join(f"{k} ASC NULLS LAST" for k in keys)
    tail, extra = ("LIMIT ? OFFSET ?", [int(limit), int(offset)]) if limit is not None else ("", [])
    return (f"""SELECT {", ".join(keys)}, {", ".join(aggs)}, count(*) OVER () AS groups
                FROM results WHERE {cond} GROUP BY {", ".join(keys)} ORDER BY {order} {tail}""",
            [*RUN_STATUSES, *params, *extra])


def scatter_sql(f: RunFilter, x: str, y: str, *, log_x: bool, log_y: bool, order: str = NEWEST,
                limit: int = 3000) -> tuple[str, list]:
    """The points of the results-against-config scatter (runs that have y; positive values on a log axis), the
    first `limit` in `order`, and how many there are in all (`total`)."""
    cond, params = f.where()
    xc, yc = column(x, FIELDS), column(y, RESULTS)
    cond += f" AND {yc} IS NOT NULL" + (f" AND {xc} > 0" if log_x else "") + (f" AND {yc} > 0" if log_y else "")
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys(["run_id", "name", "temperature", "seed", x, y]))
    return (f"SELECT {cols}, count(*) OVER () AS total FROM results WHERE {cond} ORDER BY {order_by(order)} LIMIT ?",
            [*params, int(limit)])


def all_sql(f: RunFilter, order: str = NEWEST) -> tuple[str, list]:
    """Every kept run in `order` (the CSV download, made when clicked)."""
    cond, params = f.where()
    return f"SELECT * FROM results WHERE {cond} ORDER BY {order_by(order)}", params


class RunTable:
    """`results` (Queries.run_results' frame) in a private in-memory DuckDB, kept open: a fresh connection costs
    ~20 ms, a statement over 100,000 in-memory rows a few. One statement at a time (a lock: Streamlit runs each
    browser session in its own thread, and a DuckDB connection is not for concurrent use)."""

    def __init__(self, results: pa.Table | pl.DataFrame) -> None:
        self.table = results.to_arrow() if isinstance(results, pl.DataFrame) else results
        self._con = duckdb.connect()
        self._con.register("results", self.table)
        self._lock = threading.Lock()

    def query(self, sql: str, params: list | tuple = ()) -> pl.DataFrame:
        with self._lock:
            return (self._con.sql(sql, params=list(params)) if params else self._con.sql(sql)).pl()


def query(results: pa.Table | pl.DataFrame, sql: str, params: list | tuple = ()) -> pl.DataFrame:
    """Run one statement over `results` once (tests, notebooks; the dashboard keeps a RunTable)."""
    return RunTable(results).query(sql, params)
