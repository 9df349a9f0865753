"""Every SQL the dashboard runs, in one place. Read-only; returns Polars frames.

Charts get aggregated rows only (mean, std and n over seeds, per temperature and layer): the
grouping happens here in DuckDB, so a warehouse of 10,000 runs sends a few hundred rows to the
browser. Results are cached per (database file, its modification time, query): an ingest changes
the mtime, so new rows show up on the next rerun without a manual refresh.

A seed group is every run with the same config except the seed. Pages fix the config fields that
vary (architecture, dataset, loss, ...) with `config_where`, and the queries group the rest by
temperature, so mean ± std is always over seeds of one config.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from warehouse.paths import Home, home
from warehouse.read import WarehouseMissing, connect
from warehouse.schema import RUN_STATUSES, TABLES

# Config columns users filter and group by (the contract's names); the seed is what groups average over.
CONFIG_FIELDS: tuple[str, ...] = tuple(
    c
    for c in TABLES["run_configs"].column_names
    if c not in ("run_id", "sweep_id", "config_json", "code_version", "created_at")
)
LIST_FIELDS = ("ood", "milestones")  # shown and filtered as 'a+b' strings, as `--set` writes them
GROUP_DEFAULT = tuple(f for f in CONFIG_FIELDS if f not in ("seed", "data_root"))


def field_sql(name: str, alias: str = "") -> str:
    """SQL for a config field as users see it (lists joined with '+', like `--set ood=svhn+cifar100`)."""
    col = f'{alias}."{name}"' if alias else f'"{name}"'
    return f"array_to_string({col}, '+')" if name in LIST_FIELDS else col


def db_version(where: Home) -> tuple[int, int]:
    """Changes whenever an ingest commits (the file or its WAL is written)."""
    db = where.database
    wal = db.with_name(db.name + ".wal")
    return (
        db.stat().st_mtime_ns if db.exists() else 0,
        wal.stat().st_mtime_ns if wal.exists() else 0,
    )


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _cached(db_path: str, version: tuple[int, int], sql: str, params: tuple) -> pl.DataFrame:
    con = connect(Home(_parent(db_path)))
    try:
        rel = con.sql(sql, params=list(params)) if params else con.sql(sql)
        return rel.pl()
    finally:
        con.close()


def _parent(db_path: str):
    from pathlib import Path

    return Path(db_path).parent


def q(sql: str, params: list | tuple = (), where: Home | None = None) -> pl.DataFrame:
    """Run one read-only query (cached until the next ingest)."""
    where = where or home()
    return _cached(str(where.database), db_version(where), sql, _freeze(params))


def _freeze(params) -> tuple:
    return tuple(tuple(p) if isinstance(p, list) else p for p in params)


# ---- is there anything to show? -------------------------------------------------------------------


def warehouse_state(where: Home | None = None) -> tuple[str, int]:
    """('missing' | 'empty' | 'ok', number of runs)."""
    where = where or home()
    if not where.database.exists():
        return "missing", 0
    try:
        n = q("SELECT count(*) AS n FROM run_configs", where=where)["n"][0]
    except WarehouseMissing:
        return "missing", 0
    except Exception:  # a file from before the schema existed: treat like an empty warehouse
        return "empty", 0
    return ("ok" if n else "empty"), int(n)


# ---- config filters ---------------------------------------------------------------------------------


def config_where(filters: dict[str, Any], alias: str = "c") -> tuple[str, list]:
    """A WHERE clause (always valid, 'TRUE' when empty) and its parameters for {field: value or [values]}."""
    parts, params = ["TRUE"], []
    for name, value in filters.items():
        if name not in CONFIG_FIELDS and name != "sweep_id":
            raise ValueError(f"unknown config field {name!r}")
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if not values:
            continue
        col = field_sql(name, alias)
        present = [v for v in values if v is not None]
        # typed comparison (a float list for a DOUBLE column), so 1e-05 never meets a text spelling
        ors = [f"{col} IN (SELECT unnest(?))"] if present else []
        params += [present] if present else []
        if len(present) < len(values):
            ors.append(f"{col} IS NULL")
        parts.append("(" + " OR ".join(ors) + ")")
    return " AND ".join(parts), params


def config_values(filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
    """Distinct config combinations (without seed) of the runs matching `filters`, with run counts."""
    cond, params = config_where(filters)
    cols = ", ".join(f'{field_sql(f, "c")} AS "{f}"' for f in CONFIG_FIELDS if f != "seed")
    return q(
        f"SELECT {cols}, count(*) AS n_runs FROM run_configs c WHERE {cond} GROUP BY ALL ORDER BY ALL",
        params,
        where,
    )


def arch_datasets(where: Home | None = None) -> pl.DataFrame:
    """Architecture × dataset pairs with their run counts (the first choice every page offers)."""
    return q(
        "SELECT arch, dataset, count(*) AS n_runs FROM run_configs GROUP BY ALL ORDER BY n_runs DESC, arch, dataset",
        where=where,
    )


# ---- per-layer curves -------------------------------------------------------------------------------


def layer_options(filters: dict[str, Any], metric: str, where: Home | None = None) -> pl.DataFrame:
    """Which kinds, splits, datasets and epochs hold `metric` for the selected runs."""
    cond, params = config_where(filters)
    return q(
        f"""SELECT DISTINCT m.kind, m.split, m.dataset, m.epoch
            FROM layer_metrics m JOIN run_configs c USING (run_id)
            WHERE m.metric = ? AND {cond} ORDER BY ALL""",
        [metric, *params],
        where,
    )


def layer_curves(
    filters: dict[str, Any],
    metric: str,
    *,
    kinds: list[str] | None = None,
    split: str | None = None,
    datasets: list[str] | None = None,
    epoch: int | None = None,
    where: Home | None = None,
) -> pl.DataFrame:
    """mean/std/n over seeds of `metric` per (temperature, dataset, layer), one row per point.

    `epoch=None` takes each run's last analysed epoch (runs of one group may have stopped at
    different epochs, e.g. a diverged one); an int takes exactly that epoch.
    Columns: temperature, dataset, layer_index, layer_name, kind, position, mean, std, lo, hi, n.
    """
    cond, params = config_where(filters)
    extra, extra_params = [], []
    if kinds:
        extra.append("m.kind IN (SELECT unnest(?::VARCHAR[]))")
        extra_params.append(list(kinds))
    if split:
        extra.append("m.split = ?")
        extra_params.append(split)
    if datasets:
        extra.append("m.dataset IN (SELECT unnest(?::VARCHAR[]))")
        extra_params.append(list(datasets))
    if epoch is not None:
        extra.append("m.epoch = ?")
        extra_params.append(int(epoch))
    extra_sql = "".join(f" AND {e}" for e in extra)
    last = "" if epoch is not None else "QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id)"
    sql = f"""
        WITH per_run AS (
            SELECT m.run_id, c.temperature, m.dataset, m.layer_index, m.layer_name, m.kind, m.epoch, m.value
            FROM layer_metrics m JOIN run_configs c USING (run_id)
            WHERE m.metric = ? AND {cond}{extra_sql}
            {last}
        )
        SELECT temperature, dataset, layer_index, layer_name, kind,
               avg(value) AS mean, coalesce(stddev_samp(value), 0) AS std, count(DISTINCT run_id) AS n
        FROM per_run GROUP BY ALL
        ORDER BY temperature, dataset, layer_index, kind
    """
    frame = q(sql, [metric, *params, *extra_params], where)
    return with_band(add_position(frame))


KIND_ORDER = {"preact": 0, "hidden": 1, "logits": 2, "softmax": 3}


def add_position(frame: pl.DataFrame) -> pl.DataFrame:
    """A left-to-right layer order for the x axis: layer index, then pre-activation < hidden < logits < softmax.

    Logits and softmax may share a layer index; the layer name is what the axis shows.
    """
    if frame.is_empty():
        return frame.with_columns(pl.lit(0).alias("position"))
    order = (
        frame.select("layer_index", "kind", "layer_name")
        .unique()
        .with_columns(pl.col("kind").replace_strict(KIND_ORDER, default=9).alias("_k"))
        .sort("layer_index", "_k", "layer_name")
        .with_row_index("position")
        .select("layer_index", "kind", "layer_name", pl.col("position").cast(pl.Int64))
    )
    return frame.join(order, on=["layer_index", "kind", "layer_name"], how="left")


def with_band(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns((pl.col("mean") - pl.col("std")).alias("lo"), (pl.col("mean") + pl.col("std")).alias("hi"))


def final_accuracy(filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
    """Per temperature: last test accuracy mean/std/n over seeds, and the latest status counts.

    The paper's comparisons only mean something for runs that learned (PAPER.md), so pages show it.
    """
    cond, params = config_where(filters)
    return q(
        f"""WITH last AS (
                SELECT run_id, test_acc, logits_norm FROM epochs
                QUALIFY epoch = max(epoch) OVER (PARTITION BY run_id)
            )
            SELECT c.temperature, count(*) AS runs,
                   count(l.run_id) AS with_epochs,
                   avg(l.test_acc) AS test_acc_mean, coalesce(stddev_samp(l.test_acc), 0) AS test_acc_std,
                   avg(l.logits_norm) AS logits_norm_mean,
                   count(*) FILTER (WHERE r.status = 'finished') AS finished,
                   count(*) FILTER (WHERE r.status IN ('failed', 'diverged', 'cancelled')) AS not_ok
            FROM run_configs c LEFT JOIN last l USING (run_id) LEFT JOIN runs r USING (run_id)
            WHERE {cond} GROUP BY c.temperature ORDER BY c.temperature""",
        params,
        where,
    )


__all__ = [
    "CONFIG_FIELDS", "GROUP_DEFAULT", "LIST_FIELDS", "RUN_STATUSES", "add_position", "arch_datasets",
    "config_values", "config_where", "field_sql", "final_accuracy", "layer_curves", "layer_options", "q",
    "warehouse_state", "with_band",
]
