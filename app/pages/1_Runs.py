"""Runs: every run with its final results; filter by config and by result, group (mean ± std and n per group),
plot a config field against a result, and pick runs to compare side by side (pages/13_Compare.py)."""

import polars as pl
import streamlit as st

from app import charts, data, state, ui
from warehouse.csv_out import csv_bytes

ui.open_page("Runs", needs_runs="the Runs page")

RESULTS = data.RESULT_COLUMNS
TITLES = charts.RESULT_TITLES
FORMATS = {"test_acc": "%.3f", "train_acc": "%.3f", "train_loss": "%.4g", "logits_norm": "%.4g",
           "solution_rank": "%.3g", "kappa": "%.1f", "rho": "%.1f", "best_auroc": "%.3f"}
COMPARE_MAX = 8
SCATTER_MAX = 3000

# ---- a sweep from the URL (Jobs and the launch message link here with ?sweep=...) ------------------------
# the shared selection (app/state.py) holds it, so it also scopes the chart pages opened from here
sweep = state.get(state.SWEEP)
runs = data.run_results({"sweep_id": sweep} if sweep else {})
if sweep:
    left, right = st.columns([5, 1])
    if runs.is_empty():
        left.warning(f"No run of sweep `{sweep}` is in the warehouse yet: it may not be ingested. "
                     "Ingest, or show all runs.")
    else:
        left.info(f"Showing only sweep `{sweep}`: {runs.height:,} run(s).")
    if right.button("show all runs", key="runs-clear-sweep", help="forget the sweep in the URL"):
        state.clear(state.SWEEP)
        st.rerun()
    if runs.is_empty():
        st.stop()

unconverged = runs.filter(pl.col("probes_converged").is_not_null() & ~pl.col("probes_converged").fill_null(True))
if not unconverged.is_empty():  # counted and named like runs that did not learn (docs/methods.md §3)
    names = ", ".join(f"{r['run_id'][:8]} (T={r['temperature']:g}, seed {r['seed']})" if r["temperature"] is not None
                      else r["run_id"][:8] for r in unconverged.head(8).iter_rows(named=True))
    more = f" and {unconverged.height - 8} more" if unconverged.height > 8 else ""
    st.warning(f"**{unconverged.height} of {runs.height} runs have probes that did not converge** ({names}{more}): "
               "their κ, ρ and probe curves measure an optimiser that stopped short; 'converged probes only' in "
               "Filter leaves them out, the probe rows' notes say why.")
fields = [*data.CONFIG_FIELDS, "status", "sweep_id", "source"]
present = [r for r in RESULTS if runs[r].is_not_null().any()]

# ---- filters: config fields, then results ---------------------------------------------------------------
with st.expander("Filter", expanded=False):
    chosen = st.multiselect("filter by config", fields, key="runs-filter-fields",
                            help="pick fields, then the values to keep for each")
    cols = st.columns(3)
    for i, name in enumerate(chosen):
        values = sorted(runs[name].unique().to_list(), key=ui._sort_key)
        keep = cols[i % 3].multiselect(name, values, key=f"runs-filter-{name}")
        if keep:
            runs = runs.filter(pl.col(name).is_in(keep) | (pl.col(name).is_null() & pl.lit(None in keep)))
    text = st.text_input("name, tag or note contains", key="runs-filter-text", placeholder="e.g. baseline")
    if text:
        needle = text.lower()
        runs = runs.filter(pl.any_horizontal(pl.col(c).str.to_lowercase().str.contains(needle, literal=True)
                                             for c in ("name", "tags", "note")))
    learned_only = st.toggle("learned only", key="runs-learned-only",
                             help="runs whose final test accuracy and loss say they learned (runs.learned); "
                             "temperatures compare only between those")
    if learned_only:
        runs = runs.filter(pl.col("learned").fill_null(False))
    converged_only = st.toggle("converged probes only", key="runs-converged-only",
                               help="leave out runs whose converged-protocol probes did not all reach their "
                               "tolerance (runs.probes_converged = false); κ and ρ compare only between the others")
    if converged_only:
        runs = runs.filter(pl.col("probes_converged").fill_null(True))
    by_result = st.multiselect("filter by result", present, key="runs-filter-results",
                               format_func=lambda r: TITLES.get(r, r),
                               help="a range per result (empty = no bound); runs without that number are left out")
    for name in by_result:
        lo_col, hi_col = st.columns(2)
        lo = lo_col.number_input(f"{TITLES.get(name, name)} ≥", value=None, format="%.4g", key=f"runs-min-{name}")
        hi = hi_col.number_input(f"{TITLES.get(name, name)} ≤", value=None, format="%.4g", key=f"runs-max-{name}")
        runs = runs.filter(pl.col(name).is_not_null())
        if lo is not None:
            runs = runs.filter(pl.col(name) >= lo)
        if hi is not None:
            runs = runs.filter(pl.col(name) <= hi)

varying = [f for f in data.GROUP_DEFAULT if runs[f].n_unique() > 1]
st.caption(f"{runs.height:,} run(s) match. Fields that differ between them: {', '.join(varying) or 'none'}.")
if runs.is_empty():
    st.warning("No run matches these filters: widen a range or clear a filter.")
    st.stop()


def compare_link(run_ids: list[str]) -> str:
    """URL of the Compare page for these runs (Streamlit names a page's URL after its file, without the number)."""
    return "/Compare?runs=" + ",".join(run_ids)


def stat_text(std: float | None, n: int) -> str:
    """'± 0.0123 (n=3)'; one number has no spread, and none has none: '— (n=1)', '— (n=0)'."""
    return f"± {std:.3g} (n={n})" if std is not None and n >= 2 else f"— (n={n})"


# ---- groups: mean ± std and n of every result -------------------------------------------------------------
group_by = st.multiselect(
    "group by", fields, default=list(data.GROUP_DEFAULT), key="runs-group-by",
    help="runs with equal values in these fields form one group; the default is every config field but the "
    "seed (and data_root), i.e. seed groups",
)
if group_by:
    stats = data.group_results(runs, group_by, tuple(present))
    status_cols = [(pl.col("status") == s).sum().alias(s) for s in data.RUN_STATUSES]
    extra = runs.group_by(group_by).agg(
        pl.col("seed").drop_nulls().unique().sort().cast(pl.String).str.join(", ").alias("seeds"), *status_cols)
    groups = stats.join(extra, on=group_by, how="left", nulls_equal=True).sort(group_by, nulls_last=True)
    groups = groups.with_columns(
        pl.struct(list(data.RUN_STATUSES)).map_elements(ui.badges, return_dtype=pl.String).alias("status"),
        pl.when(pl.col("seeds") == "").then(pl.lit("— (no seed)")).otherwise(pl.col("seeds")).alias("seeds"),
    )
    result_cols, config = [], {"N": st.column_config.NumberColumn("N runs", help="runs in the group")}
    for r in present:
        spread = f"{r} ±"
        groups = groups.with_columns(
            pl.struct(f"{r}_std", f"{r}_n").map_elements(lambda s, r=r: stat_text(s[f"{r}_std"], s[f"{r}_n"]),
                                                         return_dtype=pl.String).alias(spread))
        result_cols += [f"{r}_mean", spread]
        config[f"{r}_mean"] = st.column_config.NumberColumn(TITLES.get(r, r), format=FORMATS.get(r, "%.4g"),
                                                            help=f"mean over the group's runs that have a {r}")
        config[spread] = st.column_config.TextColumn(
            "± std (n)", help=f"sample std of {r} over the group and n, the runs that have one; "
            "no std for a single run")
    shown = [c for c in group_by if c in varying or len(group_by) <= 6] or group_by[:3]
    st.subheader(f"{groups.height:,} group(s)")
    st.dataframe(groups.select(*shown, "N", "status", "seeds", *result_cols), hide_index=True, width="stretch",
                 column_config=config, key="runs-groups")
    if len(shown) < len(group_by):
        st.caption(f"Columns equal in every group are hidden: {', '.join(c for c in group_by if c not in shown)}.")
    st.download_button("groups as CSV", csv_bytes(groups.drop("seeds")), "groups.csv", "text/csv",
                       key="runs-groups-csv")

# ---- runs, sortable, selectable for comparison -----------------------------------------------------------
LIMIT = 1000
st.subheader("Runs")
order_options = ["newest first", *present]
order = st.selectbox("which runs first", order_options, key="runs-order",
                     format_func=lambda o: o if o == "newest first" else f"highest {TITLES.get(o, o)}",
                     help=f"decides which {LIMIT:,} runs the table holds; click a header to sort those")
if order != "newest first":
    runs = runs.sort(order, descending=True, nulls_last=True)
table = runs.head(LIMIT).with_columns(
    pl.col("run_id").map_elements(ui.run_link, return_dtype=pl.String).alias("detail"),
    pl.col("status").map_elements(ui.badge, return_dtype=pl.String).alias("status"),
)
labels = [c for c in ("name", "tags", "note") if (table[c] != "").any()]
if table["source"].is_not_null().any() and (table["source"].fill_null("trained") != "trained").any():
    labels.append("source")
config_shown = [c for c in (varying or ["arch", "dataset", "temperature"]) if c != "seed"]
columns = ["detail", "status", *labels, *config_shown, "seed", *present, "learned", "probes_converged",
           "probe_protocol", "last_epoch", "sweep_id", "updated_at", "error"]
result_config = {r: st.column_config.NumberColumn(TITLES.get(r, r), format=FORMATS.get(r, "%.4g"),
                                                  help=f"final {TITLES.get(r, r)}") for r in present}
event = st.dataframe(
    table.select(columns), hide_index=True, width="stretch", key="runs-table",
    on_select="rerun", selection_mode="multi-row",
    column_config={
        "detail": st.column_config.LinkColumn("run", display_text=r"run=(.*)$", help="open the run's detail page"),
        "learned": st.column_config.CheckboxColumn("learned", help="NULL until the run finished or diverged"),
        "probes_converged": st.column_config.CheckboxColumn(
            "probes converged", help="every converged-protocol probe reached its tolerance; NULL = none measured"),
        "probe_protocol": st.column_config.TextColumn(
            "κ/ρ probes", help="the probe protocol κ and ρ come from: 'converged' where the run has it, else 'paper'"),
        **result_config,
    },
)
if runs.height > LIMIT:
    st.caption(f"Showing {LIMIT:,} of {runs.height:,} ({order}); filter to narrow, or download all.")
rows = list(event.selection.rows) if event is not None else []
picked = [table["run_id"][i] for i in rows if i < table.height]
if len(picked) < 2:
    st.caption(f"Tick 2 to {COMPARE_MAX} runs in the table's left column to compare them side by side.")
elif len(picked) > COMPARE_MAX:
    st.warning(f"{len(picked)} runs ticked: compare takes at most {COMPARE_MAX}; untick some.")
else:
    # a plain link (not st.page_link): the URL is what a user can also copy and share
    st.markdown(f"**[🔀 compare these {len(picked)} runs]({compare_link(picked)})**")
st.download_button("runs as CSV", lambda: csv_bytes(runs), "runs.csv", "text/csv", key="runs-csv")

# ---- a config field against a result, one point per run ---------------------------------------------------
if present:
    st.subheader("Results against config")
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    x_options = [f for f in ["temperature", *varying] if f != "seed"] + ["seed"]
    x_options = list(dict.fromkeys(x_options))
    x = c1.selectbox("x: config field", x_options, key="runs-scatter-x")
    y = c2.selectbox("y: result", present, key="runs-scatter-y", format_func=lambda r: TITLES.get(r, r))
    numeric_x = runs.schema[x].is_numeric()
    log_x = c3.toggle("log x", value=x in charts.LOG_FRIENDLY and numeric_x, key="runs-scatter-logx",
                      disabled=not numeric_x)
    log_y = c4.toggle("log y", value=y in charts.LOG_FRIENDLY, key="runs-scatter-logy")
    points = runs.filter(pl.col(y).is_not_null())
    if log_x and numeric_x:
        points = points.filter(pl.col(x) > 0)
    if log_y:
        points = points.filter(pl.col(y) > 0)
    total = points.height
    # a browser draws a few thousand points quickly; beyond that the chart says how many it shows
    points = points.head(SCATTER_MAX).select(list(dict.fromkeys(["run_id", "name", "temperature", "seed", x, y])))
    chart = charts.results_scatter(points, x=x, y=y, log_x=log_x and numeric_x, log_y=log_y)
    ui.show_chart(chart, points, key="runs-scatter", name=f"runs_{y}_vs_{x}")
    shown_text = (f"{total:,} run(s)" if total <= SCATTER_MAX else
                  f"the first {SCATTER_MAX:,} of {total:,} runs ({order}; filter to narrow)")
    st.caption(f"{shown_text} with a {TITLES.get(y, y)}; one point per run, colour = temperature"
               + ("; runs at 0 or below are off the log axis." if log_x or log_y else "."))
