"""Every SQL query the dashboard runs, Streamlit-free: read-only, Polars frames out.

`Queries(run)` holds the queries; `run(sql, params, where)` executes one (the dashboard passes a cached
runner, app/data.py; tests and notebooks the plain `read_query`). Charts get aggregated rows only
(mean, std and n over seeds, per temperature and layer): the grouping happens here in DuckDB, so a
warehouse of 10,000 runs sends a few hundred rows to the browser.

A seed group is every run with the same config except the seed (`schema.CONFIG_GROUP_SQL`). Pages fix
the config fields that vary (architecture, dataset, loss, ...) with `config_where`, and the queries
group the rest by temperature, so mean ± std is always over seeds of one config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from thermoscope.status import ENDED_BADLY, ORDER, RunStatus
from warehouse.config_columns import CONFIG_COLUMNS
from warehouse.paths import Home, home
from warehouse.read import connect
from warehouse.schema import CONFIG_GROUP_SQL, status_list_sql

GROUP_SQL = CONFIG_GROUP_SQL  # short name inside this module's queries
_ENDED_BADLY = status_list_sql(ENDED_BADLY)
RUN_STATUSES = tuple(str(s) for s in ORDER)

# Config columns users filter and group by (the contract's names); the seed is what groups average over.
CONFIG_FIELDS: tuple[str, ...] = tuple(name for name, *_ in CONFIG_COLUMNS)
# shown and filtered as 'a+b' strings, as `--set` writes them
LIST_FIELDS: tuple[str, ...] = tuple(name for name, kind, *_ in CONFIG_COLUMNS if str(kind).startswith("list"))
GROUP_DEFAULT = tuple(f for f in CONFIG_FIELDS if f not in ("seed", "data_root"))

Runner = Callable[[str, tuple, Home], pl.DataFrame]


def read_query(sql: str, params: tuple, where: Home) -> pl.DataFrame:
    """The uncached runner: one read-only connection per query."""
    con = connect(where)
    try:
        return (con.sql(sql, params=list(params)) if params else con.sql(sql)).pl()
    finally:
        con.close()


def _freeze(params) -> tuple:
    return tuple(tuple(p) if isinstance(p, list) else p for p in params)


def field_sql(name: str, alias: str = "") -> str:
    """SQL for a config field as users see it (lists joined with '+', like `--set ood=svhn+cifar100`)."""
    col = f'{alias}."{name}"' if alias else f'"{name}"'
    return f"array_to_string({col}, '+')" if name in LIST_FIELDS else col


# ---- is there anything to show? -------------------------------------------------------------------


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


# ---- per-layer curves -------------------------------------------------------------------------------


def _by_arch_dataset(filters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Split filters into ({arch, dataset}, the rest) when both are single values, else None.

    Per-selection summaries are fetched once per (arch, dataset) for every seed group and narrowed here in
    Polars, so changing loss, width, ... on a page runs no new query for them."""
    head = {k: filters.get(k) for k in ("arch", "dataset")}
    if any(v is None or isinstance(v, list | tuple | set) for v in head.values()):
        return None
    if "sweep_id" in filters:  # not a config field: the per-group summaries cannot narrow by it
        return None
    return head, {k: v for k, v in filters.items() if k not in head}


def _narrow(frame: pl.DataFrame, rest: dict[str, Any]) -> pl.DataFrame:
    for name, value in rest.items():
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        frame = frame.filter(pl.col(name).is_in(values) | (pl.col(name).is_null() & pl.lit(None in values)))
    return frame


def _group_fields_sql() -> str:
    return ", ".join(f'any_value({field_sql(f, "c")}) AS "{f}"' for f in CONFIG_FIELDS
                     if f not in ("seed", "arch", "dataset"))


# ^ the warehouse's `runs.config_group`: the config without seed and data_root. Computed here too, so
# the app also reads warehouses made before that column existed.


def _check_split(split_by: str | None) -> None:
    if split_by is not None and split_by not in CONFIG_FIELDS:
        raise ValueError(f"cannot split by {split_by!r}: not a config field (one of {', '.join(CONFIG_FIELDS)})")


def _carried(split_by: str | None, alias: str = "c") -> str:
    """', <field> AS "<field>"' for a split field carried through a query's selection ('' without one)."""
    _check_split(split_by)
    if split_by == "seed":
        raise ValueError("cannot split by seed: the charts average over seeds; pick another field")
    return f', {field_sql(split_by, alias)} AS "{split_by}"' if split_by else ""


def _any_carried(split_by: str | None, alias: str) -> str:
    return f', any_value({alias}."{split_by}") AS "{split_by}"' if split_by else ""


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


# How a quantity's ± 1 std band is drawn (docs/dashboard.md, "Curves and statistics"):
#   positive: counts, norms, losses, distances. The band is symmetric in log space, mean ×/÷ (1 + std/mean):
#             the top edge is mean + std as usual, the bottom edge mean / (1 + std/mean), which stays above 0
#             however wide the spread (values 1 and 100: 21.2 … 120.5 instead of −19.5 … 120.5) and is drawn as
#             a symmetric band on a log axis. For std ≪ mean it is mean ± std to first order.
#   fraction: accuracies, AUROC, FPR: mean ± std clipped to [0, 1].
#   linear:   anything else (κ, ρ in %): mean ± std.
# No band at all where n < 2: one seed has no spread (std, lo and hi are NULL, never "± 0").
POSITIVE_QUANTITIES = frozenset({
    "rank", "solution_rank", "logits_norm", "logits_fro_norm", "train_loss", "rank_pre_softmax",
    "rank_post_softmax", "orthodev_sample", "orthodev_classmean", "nc1", "nc2", "nc3"})
FRACTION_QUANTITIES = frozenset({"test_acc", "train_acc", "probe_acc", "nc4"})
FRACTION_PREFIXES = ("auroc_", "fpr95_")


def band_kind(quantity: str | None) -> str:
    """'positive', 'fraction' or 'linear': how `with_band` draws the spread of `quantity` (a metric or column)."""
    if quantity in POSITIVE_QUANTITIES:
        return "positive"
    if quantity in FRACTION_QUANTITIES or str(quantity).startswith(FRACTION_PREFIXES):
        return "fraction"
    return "linear"


def with_band(frame: pl.DataFrame, kind: str | None = None) -> pl.DataFrame:
    """Add lo/hi (the ± 1 std band) to a frame of mean, std, n; std, lo and hi are NULL where n < 2.

    `kind` ('positive', 'fraction', 'linear') applies to every row; None reads each row's quantity from its
    `metric` or `quantity` column (see band_kind), and 'linear' when the frame has neither.
    """
    if "n" in frame.columns:
        frame = frame.with_columns(pl.when(pl.col("n") >= 2).then(pl.col("std")).otherwise(None).alias("std"))
    col = next((c for c in ("metric", "quantity") if c in frame.columns), None)
    if kind is not None or col is None:
        kinds = pl.lit(kind or "linear")
    else:
        names = frame[col].unique().to_list()
        kinds = pl.col(col).replace_strict({m: band_kind(m) for m in names}, default="linear",
                                           return_dtype=pl.String)
    mean, std = pl.col("mean"), pl.col("std")
    factor = 1 + std / mean
    lo = (pl.when(kinds == "positive").then(pl.when(mean > 0).then(mean / factor).otherwise(mean - std))
          .when(kinds == "fraction").then((mean - std).clip(0.0, 1.0))
          .otherwise(mean - std))
    hi = pl.when(kinds == "fraction").then((mean + std).clip(0.0, 1.0)).otherwise(mean + std)
    return frame.with_columns(lo.cast(pl.Float64).alias("lo"), hi.cast(pl.Float64).alias("hi"))


# Classes per known dataset (folder: sets are unknown): what "chance" means when flagging runs that did not learn.
NUM_CLASSES = {"digits": 10, "shapes": 10, "cifar10": 10, "svhn": 10, "cifar100": 100, "imagenet100": 100,
               "imagenet1k": 1000}


# ---- runs -------------------------------------------------------------------------------------------

# the per-epoch log's numeric columns the curves can draw (the epochs table)
EPOCH_QUANTITIES = ("train_loss", "train_acc", "test_acc", "logits_norm", "logits_fro_norm", "rank_pre_softmax",
                    "rank_post_softmax", "lr", "wall_s")

RUN_COLUMNS = ("run_id", "sweep_id", *CONFIG_FIELDS, "status", "last_epoch", "error", "created_at", "updated_at")


# Final results per run (Queries.run_results), in the order tables show them, and the training-log curves
# the Compare page overlays (Queries.run_epoch_curves).
RESULT_COLUMNS = ("test_acc", "train_loss", "logits_norm", "solution_rank", "kappa", "rho", "best_auroc")
RESULT_CURVES = ("train_loss", "train_acc", "test_acc", "logits_norm")


# ---- per-run summaries over temperature ------------------------------------------------------------------


# Probe protocols (analysis/probes.py): rows made before schema v8 have a NULL protocol and were all 'paper'.
PROBE_PROTOCOLS = ("converged", "paper")
PROTOCOL_SQL = "coalesce({a}probe_protocol, 'paper')"


def protocol_sql(alias: str = "m") -> str:
    """SQL for a probe row's (or κ/ρ row's) protocol, NULL read as 'paper' (the only protocol before v8)."""
    return PROTOCOL_SQL.format(a=f"{alias}." if alias else "")


def _check_protocol(protocol: str) -> str:
    if protocol not in PROBE_PROTOCOLS:
        raise ValueError(f"unknown probe protocol {protocol!r}; choose one of {', '.join(PROBE_PROTOCOLS)}")
    return protocol


KAPPA_GROUP = ("arch", "dataset", "loss", "preset", "init", "layernorm", "width", "depth", "epochs", "lr")


# ---- epochs and initialisation ---------------------------------------------------------------------------


# ---- alignment -------------------------------------------------------------------------------------------


# ---- theory ----------------------------------------------------------------------------------------------


# ---- jobs ------------------------------------------------------------------------------------------------




class Queries:
    """The dashboard's queries over the warehouse of `home()` (or the `where` each call is given)."""

    def __init__(self, run: Runner = read_query) -> None:
        self.run = run

    def q(self, sql: str, params: list | tuple = (), where: Home | None = None) -> pl.DataFrame:
        """Run one read-only query through the runner."""
        return self.run(sql, _freeze(params), where or home())

    def config_values(self, filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
        """Distinct config combinations (without seed) of the runs matching `filters`, with run counts."""
        cond, params = config_where(filters)
        cols = ", ".join(f'{field_sql(f, "c")} AS "{f}"' for f in CONFIG_FIELDS if f != "seed")
        return self.q(
            f"SELECT {cols}, count(*) AS n_runs FROM run_configs c WHERE {cond} GROUP BY ALL ORDER BY ALL",
            params,
            where,
        )


    def arch_datasets(self, where: Home | None = None) -> pl.DataFrame:
        """Architecture × dataset pairs with their run counts (the first choice every page offers)."""
        return self.q(
            "SELECT arch, dataset, count(*) AS n_runs FROM run_configs GROUP BY ALL ORDER BY n_runs DESC, arch, dataset",
            where=where,
        )


    def layer_options(self, filters: dict[str, Any], metric: str, where: Home | None = None) -> pl.DataFrame:
        """Which kinds, splits, datasets and epochs hold `metric` for the selected runs.

        One cached query serves every metric of a selection (pages ask for several), answered from the small
        `layer_stats` when the warehouse has it.
        """
        frame = self._layer_options(filters, where)
        return frame.filter(pl.col("metric") == metric).drop("metric")


    def _layer_options(self, filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
        split = _by_arch_dataset(filters)
        if split is not None and self.has_table("layer_stats", where):
            head, rest = split
            frame = self.q(
                f"""WITH g AS (SELECT {GROUP_SQL} AS config_group, {_group_fields_sql()} FROM run_configs c
                               WHERE c.arch = ? AND c.dataset = ? GROUP BY config_group)
                    SELECT DISTINCT g.*, m.metric, m.kind, m.split, m.eval_dataset AS dataset, m.epoch
                    FROM layer_stats m JOIN g USING (config_group)""",
                [head["arch"], head["dataset"]], where)
            frame = _narrow(frame, rest).select("metric", "kind", "split", "dataset", "epoch").unique().sort(pl.all())
            if not frame.is_empty():
                return frame
        cond, params = config_where(filters)
        if self.has_table("layer_stats", where):
            frame = self.q(
                f"""SELECT DISTINCT m.metric, m.kind, m.split, m.eval_dataset AS dataset, m.epoch FROM layer_stats m
                    WHERE m.config_group IN (SELECT {GROUP_SQL} FROM run_configs c WHERE {cond}) ORDER BY ALL""",
                params, where)
            if not frame.is_empty():
                return frame
        return self.q(
            f"""SELECT DISTINCT m.metric, m.kind, m.split, m.dataset, m.epoch
                FROM layer_metrics m JOIN run_configs c USING (run_id)
                WHERE {cond} ORDER BY ALL""",
            params,
            where,
        )


    def has_table(self, name: str, where: Home | None = None) -> bool:
        return name in set(self.q("SELECT table_name FROM duckdb_tables()", where=where)["table_name"].to_list())


    def layer_curves(
        self,
        filters: dict[str, Any],
        metric: str,
        *,
        kinds: list[str] | None = None,
        split: str | None = None,
        datasets: list[str] | None = None,
        epoch: int | str | None = None,
        use_stats: bool | None = None,
        split_by: str | None = None,
        protocol: str | None = None,
        skip_unconverged: bool = False,
        where: Home | None = None,
    ) -> pl.DataFrame:
        """mean/std/n over seeds of `metric` per (config group, dataset, layer), one row per point.

        Probe rows (`probe_acc`) come from one probe `protocol` ('converged' or 'paper'; None = any, which
        mixes them where a run has both); `skip_unconverged` leaves out the (run, epoch)s whose probes of that
        protocol did not all converge (run_metrics 'probes_converged' = 0), reading the raw rows.

        `epoch=None` takes each seed group's last analysed epoch (so mean ± std compares seeds at the same
        epoch); an int takes exactly that epoch; "all" every analysed epoch (the layer × epoch heatmaps).
        Reads the warehouse's pre-aggregated `layer_stats` when it exists (`use_stats=None`), else aggregates
        `layer_metrics` itself; both give the same rows. `split_by` (a config field) adds that field's
        value as a column, so charts can tell groups apart by it.
        Columns: config_group, temperature, [split_by], dataset, layer_index, layer_name, kind, epoch, mean,
        std (NULL for n = 1), n, position, lo, hi.
        """
        where = where or home()
        cond, params = config_where(filters)
        carried = _carried(split_by)
        groups = (f"SELECT DISTINCT {GROUP_SQL} AS config_group, c.temperature{carried} FROM run_configs c "
                  f"WHERE {cond}")
        extra, extra_params = [], []
        if kinds:
            extra.append("m.kind IN (SELECT unnest(?::VARCHAR[]))")
            extra_params.append(list(kinds))
        if split:
            extra.append("m.split = ?")
            extra_params.append(split)
        if epoch is not None and epoch != "all":
            extra.append("m.epoch = ?")
            extra_params.append(int(epoch))
        if protocol is not None and metric == "probe_acc":
            _check_protocol(protocol)
        else:
            protocol, skip_unconverged = None, False
        if use_stats is None:
            # layer_stats averages a whole config group, whatever sweep its runs came from: a sweep filter
            # must average that sweep's own runs, so it reads the raw rows; so must a choice of runs
            use_stats = ("sweep_id" not in filters and not skip_unconverged
                         and self.has_table("layer_stats", where))
        last = "" if epoch is not None else "QUALIFY epoch = max(epoch) OVER (PARTITION BY config_group)"
        split_col = f', g."{split_by}"' if split_by else ""
        if use_stats:
            if datasets:
                extra.append("m.eval_dataset IN (SELECT unnest(?::VARCHAR[]))")
                extra_params.append(list(datasets))
            if protocol:
                extra.append("m.probe_protocol = ?")
                extra_params.append(protocol)
            extra_sql = "".join(f" AND {e}" for e in extra)
            sql = f"""
                SELECT m.config_group, g.temperature{split_col}, m.eval_dataset AS dataset, m.layer_index,
                       m.layer_name, m.kind, m.epoch, m.mean, m.std, m.n_runs AS n
                FROM layer_stats m JOIN ({groups}) g USING (config_group)
                WHERE m.metric = ?{extra_sql}
                {last}
            """
            args = [*params, metric, *extra_params]
        else:
            if datasets:
                extra.append("m.dataset IN (SELECT unnest(?::VARCHAR[]))")
                extra_params.append(list(datasets))
            if protocol:
                extra.append(f"{protocol_sql('m')} = ?")
                extra_params.append(protocol)
            if skip_unconverged:
                extra.append("NOT EXISTS (SELECT 1 FROM run_metrics x WHERE x.run_id = m.run_id AND x.epoch = m.epoch "
                             "AND x.metric = 'probes_converged' AND x.probe_protocol = ? AND x.value = 0)")
                extra_params.append(protocol)
            extra_sql = "".join(f" AND {e}" for e in extra)
            sql = f"""
                WITH sel AS (SELECT c.run_id, {GROUP_SQL} AS config_group, c.temperature{carried} FROM run_configs c
                             WHERE {cond}),
                agg AS (
                    SELECT s.config_group, any_value(s.temperature) AS temperature{_any_carried(split_by, "s")},
                           m.dataset, m.layer_index, any_value(m.layer_name) AS layer_name, m.kind, m.epoch,
                           avg(m.value) AS mean, stddev_samp(m.value) AS std, count(*) AS n
                    FROM layer_metrics m JOIN sel s USING (run_id)
                    WHERE m.metric = ?{extra_sql}
                    GROUP BY s.config_group, m.dataset, m.layer_index, m.kind, m.split, m.epoch
                )
                SELECT * FROM agg {last}
            """
            args = [*params, metric, *extra_params]
        frame = self.q(f"SELECT * FROM ({sql}) ORDER BY temperature, config_group, dataset, layer_index, kind", args, where)
        if frame.is_empty() and use_stats:
            # layer_stats is refreshed by ingest per run folder; rows written outside that path (or an ingest
            # killed before its refresh) would leave it short: the raw rows are the truth, so ask them too
            return self.layer_curves(filters, metric, kinds=kinds, split=split, datasets=datasets, epoch=epoch,
                                     use_stats=False, split_by=split_by, protocol=protocol,
                                     skip_unconverged=skip_unconverged, where=where)
        return with_band(add_position(frame), band_kind(metric))


    def final_accuracy(self, filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
        """Per temperature: last test accuracy mean/std/n over seeds (std NULL where fewer than two runs have an
        epoch: one seed has no spread), and the latest status counts.

        The paper's comparisons only mean something for runs that learned (docs/methods.md), so pages show it.
        Computed per seed group for the whole (arch, dataset) at once and narrowed to `filters` in Polars.
        """
        split = _by_arch_dataset(filters)
        head, rest = split if split is not None else ({}, filters)
        cond, params = config_where(head if split is not None else filters)
        frame = self.q(
            f"""WITH sel AS (SELECT c.*, {GROUP_SQL} AS config_group FROM run_configs c WHERE {cond}),
                last AS (SELECT e.run_id, e.test_acc, e.logits_norm FROM epochs e JOIN sel USING (run_id)
                         QUALIFY e.epoch = max(e.epoch) OVER (PARTITION BY e.run_id)),
                status AS (SELECT v.run_id, arg_max(v.status, v.ts) AS status FROM run_events v JOIN sel USING (run_id)
                           GROUP BY v.run_id)
                SELECT c.config_group, any_value(c.temperature) AS temperature, {_group_fields_sql()},
                       count(*) AS runs, count(l.run_id) AS with_epochs,
                       avg(l.test_acc) AS test_acc_mean, stddev_samp(l.test_acc) AS test_acc_std,  -- NULL for one run
                       avg(l.logits_norm) AS logits_norm_mean,
                       count(*) FILTER (WHERE r.status = '{RunStatus.FINISHED}') AS finished,
                       count(*) FILTER (WHERE r.status IN ({_ENDED_BADLY})) AS not_ok
                FROM sel c LEFT JOIN last l USING (run_id) LEFT JOIN status r USING (run_id)
                GROUP BY c.config_group ORDER BY temperature""",
            params,
            where,
        )
        frame = _narrow(frame, {k: v for k, v in rest.items() if k in frame.columns})
        return frame.select("temperature", "runs", "with_epochs", "test_acc_mean", "test_acc_std", "logits_norm_mean",
                            "finished", "not_ok").sort("temperature")


    def runs(self, where: Home | None = None) -> pl.DataFrame:
        """Every run with its config (lists as 'a+b' text) and latest status; the Runs page filters it in Polars."""
        cols = ", ".join(
            f'{field_sql(c, "r")} AS "{c}"' if c in LIST_FIELDS else f'r."{c}"' for c in RUN_COLUMNS
        )
        return self.q(f"SELECT {cols} FROM runs r ORDER BY r.created_at DESC, r.run_id", where=where)


    def recent_run_ids(self, limit: int = 200, where: Home | None = None) -> list[str]:
        """The newest `limit` run ids, in runs()' order; the LIMIT runs in DuckDB, so a picker costs the same at
        100,000 runs as at 100 (runs() would carry every row through the cache on every rerun)."""
        return self.q("SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT ?", [int(limit)],
                      where=where)["run_id"].to_list()


    def run_detail(self, run_id: str, where: Home | None = None) -> dict[str, pl.DataFrame]:
        """Everything about one run: config row, status events, epoch log, per-layer values, summaries."""
        return {
            "run": self.q("SELECT * FROM runs WHERE run_id = ?", [run_id], where),
            "events": self.q("SELECT ts, status, host, job_id, requeues, epoch, message FROM run_events WHERE run_id = ? "
                        "ORDER BY ts", [run_id], where),
            "epochs": self.q("SELECT * EXCLUDE (_shard) FROM epochs WHERE run_id = ? ORDER BY epoch", [run_id], where),
            "layers": self.q("""SELECT epoch, layer_index, layer_name, kind, dataset, split, metric, value
                           FROM layer_metrics WHERE run_id = ? ORDER BY metric, dataset, epoch, layer_index, kind""",
                        [run_id], where),
            "metrics": self.q("SELECT epoch, dataset, metric, value, detail FROM run_metrics WHERE run_id = ? "
                         "ORDER BY metric, dataset, epoch", [run_id], where),
        }


    def run_environments(self, run_ids: list[str], where: Home | None = None) -> pl.DataFrame:
        """Every environment record of these runs (`run_environments`: the trained/tracked job's and each analysis
        task's), oldest first; no row for a run made before the record existed. warehouse/environment.py reads them."""
        return self.q("SELECT * EXCLUDE (_shard) FROM run_environments WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
                      "ORDER BY run_id, started_at, task_id", [[str(r) for r in run_ids]], where)


    def metric_names(self, where: Home | None = None) -> list[str]:
        return self.q("SELECT DISTINCT metric FROM run_metrics ORDER BY metric", where=where)["metric"].to_list()


    def summary_by_temperature(self, filters: dict[str, Any], metrics: list[str], *, epoch: int | None = None,
                               split_by: str | None = None, protocol: str | None = None,
                               where: Home | None = None) -> pl.DataFrame:
        """mean/std/n over seeds of run_metrics per (config group, measured dataset, metric), at each run's
        latest summary epoch (or exactly `epoch`). `split_by` carries that config field as a column.
        Columns: config_group, temperature, [split_by], dataset, metric, epoch, mean, std (NULL for n = 1), n,
        lo, hi. `protocol`: κ and ρ (and probes_converged) from that probe protocol only; other metrics as they are."""
        cond, params = config_where(filters)
        if protocol is not None:
            _check_protocol(protocol)
            cond_p = (f" AND (m.metric NOT IN ('kappa', 'rho', 'probes_converged') OR {protocol_sql('m')} = "
                      f"'{protocol}')")
        else:
            cond_p = ""
        at = ("AND m.epoch = ?" if epoch is not None
              else "QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id, m.metric)")
        frame = self.q(
            f"""WITH sel AS (SELECT c.run_id, {GROUP_SQL} AS config_group, c.temperature{_carried(split_by)}
                             FROM run_configs c WHERE {cond}),
                latest AS (SELECT m.* FROM run_metrics m JOIN sel USING (run_id)
                           WHERE m.metric IN (SELECT unnest(?::VARCHAR[])){cond_p} {at})
                SELECT s.config_group, any_value(s.temperature) AS temperature{_any_carried(split_by, "s")},
                       l.dataset, l.metric, max(l.epoch) AS epoch,
                       avg(l.value) AS mean, stddev_samp(l.value) AS std, count(*) AS n
                FROM latest l JOIN sel s USING (run_id)
                GROUP BY s.config_group, l.dataset, l.metric
                ORDER BY temperature, metric, dataset""",
            [*params, list(metrics), *([int(epoch)] if epoch is not None else [])],
            where,
        )
        return with_band(frame)


    def kappa_rho(self, filters: dict[str, Any], *, split_by: str | None = None, protocol: str | None = None,
                  any_of: tuple[dict[str, Any], ...] = (), where: Home | None = None) -> pl.DataFrame:
        """κ, ρ and solution rank per (seed group, OOD set of ρ): mean, std (NULL for n = 1), n, plus the config
        fields that tell groups apart (and `split_by`, a config field, when given). ρ is measured per OOD
        dataset, so a group with two OOD sets has two rows (`rho_ood`). `not_learned`: runs of the group whose
        stored verdict (lab/records/verdict.py) says they did not learn. κ and ρ come from one probe `protocol`
        ('converged' or 'paper', column `probe_protocol`); `not_converged`: runs of the group whose probes of that
        protocol did not all reach the tolerance at the epoch κ/ρ come from (run_metrics 'probes_converged').
        protocol None: 'converged' where the selection has it, else 'paper' (warehouses from before v8).
        `any_of`: further keep only the runs matching one of these filters (each as `filters`), e.g. the paper's
        configurations (app/paper.py), so a comparison with a few configurations does not aggregate every group.
        """
        if protocol is None:
            protocol = (self.probe_protocols(filters, where) or ["converged"])[0]
        _check_protocol(protocol)
        cond, params = config_where(filters)
        if any_of:
            ors = [config_where(f) for f in any_of]
            cond += " AND (" + " OR ".join(f"({c})" for c, _ in ors) + ")"
            params += [p for _, ps in ors for p in ps]
        _check_split(split_by)
        fields = (*KAPPA_GROUP, *([split_by] if split_by and split_by not in KAPPA_GROUP else []))
        keys = ", ".join(f'any_value({field_sql(k, "c")}) AS "{k}"' for k in fields)
        return self.q(
            f"""WITH sel AS (SELECT c.*, {GROUP_SQL} AS config_group FROM run_configs c WHERE {cond}),
                latest AS (SELECT m.run_id, m.epoch, m.dataset, m.metric, m.value FROM run_metrics m JOIN sel USING (run_id)
                           WHERE (m.metric = 'solution_rank'
                                  OR (m.metric IN ('kappa', 'rho', 'probes_converged') AND {protocol_sql('m')} = ?))
                           QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id, m.metric, m.dataset)),
                k AS (SELECT run_id, avg(value) AS kappa FROM latest WHERE metric = 'kappa' GROUP BY run_id),
                pc AS (SELECT run_id, min(value) AS probes_converged FROM latest WHERE metric = 'probes_converged'
                       GROUP BY run_id),
                s AS (SELECT run_id, avg(value) AS sr FROM latest WHERE metric = 'solution_rank' GROUP BY run_id),
                r AS (SELECT run_id, dataset AS rho_ood, value AS rho FROM latest WHERE metric = 'rho'),
                v AS (SELECT m.run_id, min(m.value) AS learned FROM run_metrics m JOIN sel USING (run_id)
                      WHERE m.metric = 'learned' GROUP BY m.run_id),
                per_run AS (SELECT c.* EXCLUDE (ood), k.kappa, s.sr, r.rho_ood, r.rho, v.learned, pc.probes_converged
                            FROM sel c JOIN k USING (run_id)
                            LEFT JOIN s USING (run_id) LEFT JOIN r USING (run_id) LEFT JOIN v USING (run_id)
                            LEFT JOIN pc USING (run_id))
                SELECT c.config_group, c.rho_ood, any_value(c.temperature) AS temperature, {keys},
                       avg(c.kappa) AS kappa, stddev_samp(c.kappa) AS kappa_std,
                       avg(c.rho) AS rho, stddev_samp(c.rho) AS rho_std,
                       avg(c.sr) AS sr, stddev_samp(c.sr) AS sr_std,
                       count(*) AS n, count(*) FILTER (WHERE c.learned = 0) AS not_learned,
                       count(*) FILTER (WHERE c.probes_converged = 0) AS not_converged,
                       '{protocol}' AS probe_protocol
                FROM per_run c
                GROUP BY c.config_group, c.rho_ood
                ORDER BY arch, dataset, loss, temperature, rho_ood""",
            [*params, protocol],
            where,
        )

    def probe_protocols(self, filters: dict[str, Any], where: Home | None = None) -> list[str]:
        """The probe protocols the selected runs have κ/ρ or probe rows from, 'converged' first."""
        cond, params = config_where(filters)
        found = self.q(
            f"""SELECT DISTINCT {protocol_sql('m')} AS protocol FROM run_metrics m JOIN run_configs c USING (run_id)
                WHERE {cond} AND m.metric IN ('kappa', 'rho', 'probes_converged')""", params, where)
        have = set(found["protocol"].to_list())
        return [p for p in PROBE_PROTOCOLS if p in have]

    def converged_by_temperature(self, filters: dict[str, Any], protocol: str = "converged",
                                 where: Home | None = None) -> pl.DataFrame:
        """Per temperature of the selection: runs with probes of `protocol`, and how many of them had every probe
        converge at their latest analysed epoch / not (run_metrics 'probes_converged'), with the names of the
        layers that did not (`layers`). Pages count and name them like runs that did not learn."""
        _check_protocol(protocol)
        cond, params = config_where(filters)
        return self.q(
            f"""WITH sel AS (SELECT c.run_id, c.temperature FROM run_configs c WHERE {cond}),
                pc AS (SELECT m.run_id, m.dataset, m.value, m.detail FROM run_metrics m JOIN sel USING (run_id)
                       WHERE m.metric = 'probes_converged' AND {protocol_sql('m')} = ?
                       QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id)),
                per_run AS (SELECT run_id, min(value) = 1 AS ok,
                                   string_agg(DISTINCT CASE WHEN value = 0 THEN dataset || ': ' || array_to_string(
                                       json_keys(detail, '$.not_converged'), ', ') END, '; ') AS layers
                            FROM pc GROUP BY run_id)
                SELECT s.temperature, count(p.run_id) AS runs, count(*) FILTER (WHERE p.ok) AS converged,
                       count(*) FILTER (WHERE NOT p.ok) AS not_converged,
                       string_agg(DISTINCT p.layers, '; ') AS layers
                FROM sel s LEFT JOIN per_run p USING (run_id)
                GROUP BY s.temperature ORDER BY s.temperature""",
            [*params, protocol],
            where,
        )


    def epoch_curves(self, filters: dict[str, Any], columns: tuple[str, ...] = ("logits_norm", "rank_pre_softmax",
                     "rank_post_softmax", "test_acc"), *, split_by: str | None = None, where: Home | None = None
                     ) -> pl.DataFrame:
        """Per (config group, epoch, quantity): mean/std/n over seeds of the per-epoch log, long format.

        NaN values (train_loss and train_acc at epoch 0, before any training) are left out, not averaged.
        `split_by` carries that config field as a column. Columns: config_group, temperature, [split_by],
        epoch, quantity, mean, std (NULL for n = 1), n, lo, hi."""
        cond, params = config_where(filters)
        unknown = [c for c in columns if c not in EPOCH_QUANTITIES]
        if unknown:
            raise ValueError(f"not an epochs column: {', '.join(unknown)} (one of {', '.join(EPOCH_QUANTITIES)})")
        unpivot = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in columns)
        split_col = f', s."{split_by}"' if split_by else ""
        frame = self.q(
            f"""WITH sel AS (SELECT c.run_id, {GROUP_SQL} AS config_group, c.temperature{_carried(split_by)}
                             FROM run_configs c WHERE {cond}),
                wide AS (SELECT s.config_group, s.temperature{split_col}, e.run_id, e.epoch, {unpivot}
                         FROM epochs e JOIN sel s USING (run_id)),
                long AS (UNPIVOT wide ON {", ".join(f'"{c}"' for c in columns)} INTO NAME quantity VALUE value)
                SELECT config_group, any_value(temperature) AS temperature{_any_carried(split_by, "long")},
                       epoch, quantity, avg(value) AS mean, stddev_samp(value) AS std, count(*) AS n
                FROM long WHERE NOT isnan(value) GROUP BY config_group, epoch, quantity
                ORDER BY temperature, config_group, quantity, epoch""",
            params,
            where,
        )
        return with_band(frame)


    def init_norms(self, where: Home | None = None) -> pl.DataFrame:
        return self.q("SELECT arch, dataset, init, init_std, seed, logits_norm FROM init_norms ORDER BY arch, init, seed",
                 where=where)


    def alignment_runs(self, filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
        """Runs of the selection that have alignment rows, with their temperature and seed."""
        cond, params = config_where(filters)
        return self.q(
            f"""SELECT c.run_id, c.temperature, c.seed, {GROUP_SQL} AS config_group,
                       list(DISTINCT a.epoch ORDER BY a.epoch) AS epochs,
                       list(DISTINCT a.layer_index ORDER BY a.layer_index) AS layers,
                       list(DISTINCT a.layer_index || ':' || a.layer_name) AS layer_names
                FROM run_configs c JOIN (SELECT DISTINCT run_id, epoch, layer_index, layer_name FROM alignment) a
                  USING (run_id)
                WHERE {cond} GROUP BY ALL ORDER BY c.temperature, c.seed""",
            params,
            where,
        )


    def alignment_matrix(self, run_id: str, layer_index: int, epoch: int, where: Home | None = None) -> pl.DataFrame:
        return self.q("""SELECT i, j, cosine, any_value(layer_name) OVER () AS layer_name FROM alignment
                    WHERE run_id = ? AND layer_index = ? AND epoch = ? ORDER BY i, j""",
                 [run_id, int(layer_index), int(epoch)], where)


    def alignment_overview(self, filters: dict[str, Any], temperatures: list[float], top: int = 5,
                           where: Home | None = None) -> pl.DataFrame:
        """Figure 10's summary: mean diagonal |cos| of the top-`top` vector pairs, per (T, epoch, layer),
        averaged over the seeds of each group. Columns: temperature, epoch, layer_index, layer_name, value, n."""
        cond, params = config_where(filters)
        return self.q(
            f"""WITH sel AS (SELECT c.run_id, c.temperature FROM run_configs c
                             WHERE {cond} AND c.temperature IN (SELECT unnest(?::DOUBLE[]))),
                per_run AS (SELECT a.run_id, a.epoch, a.layer_index, any_value(a.layer_name) AS layer_name,
                                   avg(a.cosine) AS diag
                            FROM alignment a JOIN sel USING (run_id)
                            WHERE a.i = a.j AND a.i < ?
                            GROUP BY a.run_id, a.epoch, a.layer_index)
                SELECT s.temperature, p.epoch, p.layer_index, any_value(p.layer_name) AS layer_name,
                       avg(p.diag) AS value, count(*) AS n
                FROM per_run p JOIN sel s USING (run_id)
                GROUP BY s.temperature, p.epoch, p.layer_index
                ORDER BY s.temperature, p.epoch, p.layer_index""",
            [*params, [float(t) for t in temperatures], int(top)],
            where,
        )


    def theory_rows(self, where: Home | None = None) -> pl.DataFrame:
        return self.q("SELECT experiment, param_name, param, metric, value FROM theory ORDER BY experiment, metric, param",
                 where=where)


    def sweeps(self, limit: int = 30, where: Home | None = None) -> pl.DataFrame:
        """The most recent sweeps in the warehouse with per-status run counts."""
        counts = ", ".join(f"count(*) FILTER (WHERE status = '{s}') AS {s}" for s in RUN_STATUSES)
        return self.q(
            f"""SELECT sweep_id, count(*) AS runs, {counts}, min(created_at) AS created_at,
                       max(updated_at) AS updated_at, string_agg(DISTINCT arch, ', ') AS archs
                FROM runs GROUP BY sweep_id ORDER BY created_at DESC, sweep_id DESC LIMIT ?""",
            [int(limit)],
            where,
        )


    def failures(self, sweep_id: str, where: Home | None = None) -> pl.DataFrame:
        return self.q(
            f"""SELECT r.run_id, r.status, r.arch, r.dataset, r.temperature, r.seed, r.error,
                      coalesce(nullif(j.traceback, ''), r.error) AS traceback
               FROM runs r LEFT JOIN (SELECT run_id, traceback FROM jobs
                                      QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY ts DESC) = 1) j
                 USING (run_id)
               WHERE r.sweep_id = ? AND r.status IN ({_ENDED_BADLY}) ORDER BY r.run_id""",
            [sweep_id],
            where,
        )


    # ---- final results per run, comparisons (the Runs and Compare pages) ----------------------------------

    def run_results(self, filters: dict[str, Any] | None = None, run_ids: list[str] | None = None,
                    where: Home | None = None) -> pl.DataFrame:
        """One row per run: config (lists as 'a+b'), status, learned, name/tags/note/source and its final results.

        Final = the run's last logged epoch for the training log (test_acc, train_acc, train_loss, logits_norm,
        `final_epoch`) and each summary's latest measured epoch for κ, ρ (mean over the OOD sets it was measured
        on; from the converged probe protocol where the run has it, else the paper's: `probe_protocol` says which;
        `probes_converged` as in `runs`), solution rank, and `best_auroc` (the largest AUROC over OOD sets and scores, `best_auroc_by` says
        which). NULL where the run has no such number (an analysed outside network has no training log; NaN, as
        logged at epoch 0, is NULL too): nothing is filled in. One query for any number of runs.
        """
        cond, params = config_where(filters or {}, alias="r")
        if run_ids is not None:
            cond += " AND r.run_id IN (SELECT unnest(?::VARCHAR[]))"
            params.append([str(r) for r in run_ids])
        cols = ", ".join(f'{field_sql(c, "r")} AS "{c}"' for c in ("run_id", "sweep_id", *CONFIG_FIELDS))

        def clean(col: str) -> str:
            return f"CASE WHEN isnan(e.{col}) OR isinf(e.{col}) THEN NULL ELSE e.{col} END AS {col}"

        return self.q(
            f"""WITH sel AS (SELECT {cols}, r.source, coalesce(r.name, '') AS name,
                                    coalesce(array_to_string(r.tags, ', '), '') AS tags, coalesce(r.note, '') AS note,
                                    r.status, r.last_epoch, r.learned, r.probes_converged, r.num_classes,
                                    r.config_group, r.error,
                                    r.created_at, r.updated_at
                             FROM runs r WHERE {cond}),
                last_epoch AS (SELECT e.run_id, e.epoch AS final_epoch, {clean("test_acc")}, {clean("train_acc")},
                                      {clean("train_loss")}, {clean("logits_norm")}
                               FROM epochs e WHERE e.run_id IN (SELECT run_id FROM sel)
                               QUALIFY row_number() OVER (PARTITION BY e.run_id ORDER BY e.epoch DESC) = 1),
                latest AS (SELECT m.run_id, m.dataset, m.metric, m.value, {protocol_sql('m')} AS protocol
                           FROM run_metrics m
                           WHERE m.run_id IN (SELECT run_id FROM sel)
                             AND (m.metric IN ('kappa', 'rho', 'solution_rank') OR starts_with(m.metric, 'auroc_'))
                             AND NOT isnan(m.value)
                           QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id, m.metric, m.dataset,
                                                                 {protocol_sql('m')})
                             -- κ and ρ from one protocol per run: 'converged' where the run has it, else 'paper'
                             AND (m.metric NOT IN ('kappa', 'rho') OR {protocol_sql('m')} = min({protocol_sql('m')})
                                  FILTER (WHERE m.metric IN ('kappa', 'rho')) OVER (PARTITION BY m.run_id))),
                summary AS (SELECT run_id,
                                   any_value(protocol) FILTER (WHERE metric IN ('kappa', 'rho')) AS probe_protocol,
                                   avg(value) FILTER (WHERE metric = 'solution_rank') AS solution_rank,
                                   avg(value) FILTER (WHERE metric = 'kappa') AS kappa,
                                   avg(value) FILTER (WHERE metric = 'rho') AS rho,
                                   max(value) FILTER (WHERE starts_with(metric, 'auroc_')) AS best_auroc,
                                   arg_max(substr(metric, 7) || ' on ' || dataset, value)
                                       FILTER (WHERE starts_with(metric, 'auroc_')) AS best_auroc_by
                            FROM latest GROUP BY run_id)
                SELECT s.*, l.final_epoch, l.test_acc, l.train_acc, l.train_loss, l.logits_norm,
                       m.solution_rank, m.kappa, m.rho, m.probe_protocol, m.best_auroc, m.best_auroc_by
                FROM sel s LEFT JOIN last_epoch l USING (run_id) LEFT JOIN summary m USING (run_id)
                ORDER BY s.created_at DESC, s.run_id""",
            params,
            where,
        )

    def run_epoch_curves(self, run_ids: list[str], where: Home | None = None) -> pl.DataFrame:
        """The training log of each run, long: run_id, epoch, quantity, value (NaN/inf dropped, as at epoch 0)."""
        return self.q(
            f"""WITH wide AS (SELECT run_id, epoch, {", ".join(f"CAST({c} AS DOUBLE) AS {c}" for c in RESULT_CURVES)}
                              FROM epochs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))),
                long AS (UNPIVOT wide ON {", ".join(RESULT_CURVES)} INTO NAME quantity VALUE value)
                SELECT run_id, epoch, quantity, value FROM long WHERE NOT isnan(value) AND NOT isinf(value)
                ORDER BY run_id, quantity, epoch""",
            [[str(r) for r in run_ids]],
            where,
        )

    def run_layer_ranks(self, run_ids: list[str], where: Home | None = None) -> pl.DataFrame:
        """Per-layer rank of each run at its last analysed epoch, on its own dataset's test split.

        Columns: run_id, epoch, layer_index, layer_name, kind, value, position (the layer order of add_position)."""
        frame = self.q(
            """SELECT m.run_id, m.epoch, m.layer_index, m.layer_name, m.kind, m.value
               FROM layer_metrics m JOIN run_configs c USING (run_id)
               WHERE m.metric = 'rank' AND m.run_id IN (SELECT unnest(?::VARCHAR[])) AND m.dataset = c.dataset
                 AND m.split = 'test'
               QUALIFY m.epoch = max(m.epoch) OVER (PARTITION BY m.run_id)
               ORDER BY m.run_id, m.layer_index, m.kind""",
            [[str(r) for r in run_ids]],
            where,
        )
        return add_position(frame)

    @staticmethod
    def group_results(results: pl.DataFrame, by: list[str], columns: tuple[str, ...] | None = None) -> pl.DataFrame:
        """Per group of `by`: `N` runs and, for each result column, `<c>_mean`, `<c>_std`, `<c>_n`.

        n counts the runs that have the number (an outside run without a training loss is not a zero); the std
        is the sample std and NULL where n < 2, so one seed never reads as '± 0'."""
        columns = columns or tuple(c for c in RESULT_COLUMNS if c in results.columns)
        aggs = [pl.len().alias("N")]
        for c in columns:
            value = pl.col(c).cast(pl.Float64)
            n = value.is_not_null().sum()
            aggs += [value.mean().alias(f"{c}_mean"),
                     pl.when(n >= 2).then(value.std(ddof=1)).otherwise(None).alias(f"{c}_std"),
                     n.cast(pl.Int64).alias(f"{c}_n")]
        return results.group_by(by).agg(aggs).sort(by, nulls_last=True)

    def most_complete_group(self, filters: dict[str, Any] | None = None, where: Home | None = None) -> dict[str, Any]:
        """The config (every field but temperature, seed and data_root) of the most complete family of runs.

        Most complete = the most finished runs that learned, then the most temperatures among them, then the
        most seeds, then the most runs; ties go to the first in field order. A run learned when the warehouse
        says so (`runs.learned`), else when its last test accuracy is above 1.5 x chance. {} when no run
        matches `filters`. Why: a 2-epoch, one-seed test sweep that sorts first must not become the default view.
        """
        cond, params = config_where(filters or {}, alias="r")
        fields = [f for f in CONFIG_FIELDS if f not in ("temperature", "seed", "data_root")]
        cols = ", ".join(f'{field_sql(f, "r")} AS "{f}"' for f in fields)
        classes = ", ".join(f"('{name}', {n})" for name, n in NUM_CLASSES.items())
        frame = self.q(
            f"""WITH last AS (SELECT run_id, test_acc FROM epochs
                              QUALIFY epoch = max(epoch) OVER (PARTITION BY run_id)),
                known(dataset, n_classes) AS (VALUES {classes}),
                per_run AS (
                    SELECT {cols}, r.temperature, r.seed, r.status,
                           r.status = '{RunStatus.FINISHED}'
                             AND coalesce(r.learned, l.test_acc > 1.5 / coalesce(r.num_classes, k.n_classes),
                                          l.test_acc IS NOT NULL) AS good
                    FROM runs r LEFT JOIN last l USING (run_id) LEFT JOIN known k ON k.dataset = r.dataset
                    WHERE {cond})
                SELECT {", ".join(f'"{f}"' for f in fields)},
                       count(*) FILTER (WHERE good) AS learned_runs,
                       count(DISTINCT temperature) FILTER (WHERE good) AS temperatures,
                       count(DISTINCT seed) FILTER (WHERE good) AS seeds,
                       count(*) AS runs
                FROM per_run GROUP BY ALL
                ORDER BY learned_runs DESC, temperatures DESC, seeds DESC, runs DESC, {", ".join(f'"{f}"' for f in fields)}
                LIMIT 1""",
            params,
            where,
        )
        if frame.is_empty():
            return {}
        row = frame.row(0, named=True)
        return {f: row[f] for f in fields}

    def learned_by_temperature(self, filters: dict[str, Any], where: Home | None = None) -> pl.DataFrame:
        """Per temperature of the selection: runs, and how many learned / did not / have no verdict yet.

        The verdict is `runs.learned` (lab/records/verdict.py's rule, docs/methods.md §1), stored once per ended run.
        Pages use it to leave out temperatures where no run learned and to mark those where some did not."""
        cond, params = config_where(filters, alias="r")
        return self.q(
            f"""SELECT r.temperature, count(*) AS runs,
                       count(*) FILTER (WHERE r.learned) AS learned,
                       count(*) FILTER (WHERE NOT r.learned) AS not_learned,
                       count(*) FILTER (WHERE r.learned IS NULL) AS pending
                FROM runs r WHERE {cond} GROUP BY r.temperature ORDER BY r.temperature""",
            params,
            where,
        )
