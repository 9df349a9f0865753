"""Runs: every run with its final results; filter by config and by result, group (mean ± std and n per group),
plot a config field against a result, and pick runs to compare side by side (pages/13_Compare.py)."""

from dataclasses import replace

import polars as pl
import pyarrow as pa
import streamlit as st

from app import charts, data, state, ui
from warehouse import run_table
from warehouse.csv_out import csv_bytes
from warehouse.run_table import RunFilter

ui.open_page("Runs", needs_runs="the Runs page")

RESULTS = data.RESULT_COLUMNS
TITLES = charts.RESULT_TITLES
FORMATS = {"test_acc": "%.3f", "train_acc": "%.3f", "train_loss": "%.4g", "logits_norm": "%.4g",
           "solution_rank": "%.3g", "kappa": "%.1f", "rho": "%.1f", "best_auroc": "%.3f"}
COMPARE_MAX = 8
SCATTER_MAX = 3000
# rows a page of each table holds; the page box beside it reaches the others, the CSV holds them all. 200, not
# 1,000: the browser builds and sizes a table's rows before the page's chart shows (bench/README.md, 2026-12-07)
LIMIT = 200
GROUP_LIMIT = 200

# ---- a sweep from the URL (Jobs and the launch message link here with ?sweep=...) ------------------------
# the shared selection (app/state.py) holds it, so it also scopes the chart pages opened from here.
# Every question below is one SQL statement over the runs' final results (warehouse/run_table.py), answered
# with the rows the page shows: a click costs the same for 1,000 runs as for 100,000.
sweep = state.get(state.SWEEP)
scope = RunFilter(sweep=str(sweep) if sweep else None)


def ask(statement: tuple[str, list]) -> pl.DataFrame:
    return data.run_table_query(statement)


in_scope = int(ask(run_table.count_sql(scope))["n"][0])
if sweep:
    left, right = st.columns([5, 1])
    if not in_scope:
        left.warning(f"No run of sweep `{sweep}` is in the warehouse yet: it may not be ingested. "
                     "Ingest, or show all runs.")
    else:
        left.info(f"Showing only sweep `{sweep}`: {in_scope:,} run(s).")
    if right.button("show all runs", key="runs-clear-sweep", help="forget the sweep in the URL"):
        state.clear(state.SWEEP)
        st.rerun()
    if not in_scope:
        st.stop()

unconverged = ask(run_table.unconverged_sql(scope))
if not unconverged.is_empty():  # counted and named like runs that did not learn (docs/methods.md §3)
    total = int(unconverged["total"][0])
    names = ", ".join(f"{r['run_id'][:8]} (T={r['temperature']:g}, seed {r['seed']})" if r["temperature"] is not None
                      else r["run_id"][:8] for r in unconverged.iter_rows(named=True))
    more = f" and {total - 8} more" if total > 8 else ""
    st.warning(f"**{total} of {in_scope} runs have probes that did not converge** ({names}{more}): "
               "their κ, ρ and probe curves measure an optimiser that stopped short; 'converged probes only' in "
               "Filter leaves them out, the probe rows' notes say why.")
fields = list(run_table.FIELDS)
have = ask(run_table.present_sql(scope)).row(0, named=True)
present = [r for r in RESULTS if have[r]]
schema = data.run_table_schema()

# ---- filters: config fields, then results ---------------------------------------------------------------
# each field's choices are the values left by the fields picked before it (the order they were picked in)
config: list[tuple[str, tuple]] = []
ranges: list[tuple[str, float | None, float | None]] = []
with st.expander("Filter", expanded=False):
    chosen = st.multiselect("filter by config", fields, key="runs-filter-fields",
                            help="pick fields, then the values to keep for each")
    cols = st.columns(3)
    for i, name in enumerate(chosen):
        left = replace(scope, config=tuple(config))
        values = sorted(ask(run_table.values_sql(left, name))["value"].to_list(), key=ui._sort_key)
        keep = cols[i % 3].multiselect(name, values, key=f"runs-filter-{name}")
        if keep:
            config.append((name, tuple(keep)))
    text = st.text_input("name, tag or note contains", key="runs-filter-text", placeholder="e.g. baseline")
    learned_only = st.toggle("learned only", key="runs-learned-only",
                             help="runs whose final test accuracy and loss say they learned (runs.learned); "
                             "temperatures compare only between those")
    converged_only = st.toggle("converged probes only", key="runs-converged-only",
                               help="leave out runs whose converged-protocol probes did not all reach their "
                               "tolerance (runs.probes_converged = false); κ and ρ compare only between the others")
    by_result = st.multiselect("filter by result", present, key="runs-filter-results",
                               format_func=lambda r: TITLES.get(r, r),
                               help="a range per result (empty = no bound); runs without that number are left out")
    for name in by_result:
        lo_col, hi_col = st.columns(2)
        lo = lo_col.number_input(f"{TITLES.get(name, name)} ≥", value=None, format="%.4g", key=f"runs-min-{name}")
        hi = hi_col.number_input(f"{TITLES.get(name, name)} ≤", value=None, format="%.4g", key=f"runs-max-{name}")
        ranges.append((name, lo, hi))
kept = replace(scope, config=tuple(config), text=text or "", learned_only=learned_only,
               converged_only=converged_only, ranges=tuple(ranges))

n_kept = int(ask(run_table.count_sql(kept))["n"][0])
counts = ask(run_table.varying_sql(kept, data.GROUP_DEFAULT)).row(0, named=True)
varying = [f for f in data.GROUP_DEFAULT if counts[f] > 1]
st.caption(f"{n_kept:,} run(s) match. Fields that differ between them: {', '.join(varying) or 'none'}.")
if not n_kept:
    st.warning("No run matches these filters: widen a range or clear a filter.")
    st.stop()


def page_box(where, n: int, per_page: int, *, label: str, key: str, help: str) -> int:
    """The page (from 1) of `n` rows to show, `per_page` a page: a number box in `where` when there is more than
    one page, else 1; a page past the last (rows went away since it was chosen) reads as the last."""
    pages = max(1, -(-n // per_page))
    page = where.number_input(f"{label} (of {pages:,})", min_value=1, max_value=pages, value=1, step=1, key=key,
                              help=help) if pages > 1 else 1
    return min(int(page or 1), pages)


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
    # the groups' count first (one cheap statement), so the page box knows its range before the page is read
    counted = ask(run_table.groups_sql(kept, group_by, (), limit=1))
    n_groups = int(counted["groups"][0]) if counted.height else 0
    heading, box = st.columns([3, 1])
    heading.subheader(f"{n_groups:,} group(s)")
    group_page = page_box(box, n_groups, GROUP_LIMIT, label="group page", key="runs-group-page",
                          help=f"{GROUP_LIMIT:,} groups a page, in the order of the group-by fields")
    groups = ask(run_table.groups_sql(kept, group_by, tuple(present), limit=GROUP_LIMIT,
                                      offset=(group_page - 1) * GROUP_LIMIT))
    rows, config_cols = [], {"N": st.column_config.NumberColumn("N runs", help="runs in the group")}
    for g in groups.iter_rows(named=True):  # at most GROUP_LIMIT rows: plain Python is quick enough here
        row = {c: g[c] for c in group_by} | {"N": g["N"], "status": ui.badges(g), "seeds": g["seeds"] or "— (no seed)"}
        for r in present:
            row[f"{r}_mean"] = g[f"{r}_mean"]
            row[f"{r} ±"] = stat_text(g[f"{r}_std"], g[f"{r}_n"])
        rows.append(row)
    result_cols = []
    for r in present:
        result_cols += [f"{r}_mean", f"{r} ±"]
        config_cols[f"{r}_mean"] = st.column_config.NumberColumn(
            TITLES.get(r, r), format=FORMATS.get(r, "%.4g"), help=f"mean over the group's runs that have a {r}")
        config_cols[f"{r} ±"] = st.column_config.TextColumn(
            "± std (n)", help=f"sample std of {r} over the group and n, the runs that have one; "
            "no std for a single run")
    shown = [c for c in group_by if c in varying or len(group_by) <= 6] or group_by[:3]
    table_groups = pl.DataFrame(rows, schema_overrides={c: groups.schema[c] for c in group_by},
                                infer_schema_length=None)
    st.dataframe(table_groups.select(*shown, "N", "status", "seeds", *result_cols), hide_index=True,
                 width="stretch", column_config=config_cols, key="runs-groups")
    if n_groups > GROUP_LIMIT:
        first = (group_page - 1) * GROUP_LIMIT
        st.caption(f"Showing groups {first + 1:,}–{first + groups.height:,} of {n_groups:,} (in the order of the "
                   "group-by fields); the group page box above shows the others; filter to narrow, or download all.")
    if len(shown) < len(group_by):
        st.caption(f"Columns equal in every group are hidden: {', '.join(c for c in group_by if c not in shown)}.")

    def all_groups() -> bytes:
        every = ask(run_table.groups_sql(kept, group_by, tuple(present))).drop("groups")
        return csv_bytes(every.drop("seeds"))

    st.download_button("groups as CSV", all_groups, "groups.csv", "text/csv", key="runs-groups-csv")

# ---- runs, sortable, selectable for comparison -----------------------------------------------------------
st.subheader("Runs")
order_options = [run_table.NEWEST, *present]
c1, c2 = st.columns([3, 1])
order = c1.selectbox("which runs first", order_options, key="runs-order",
                     format_func=lambda o: o if o == run_table.NEWEST else f"highest {TITLES.get(o, o)}",
                     help=f"decides which runs the table holds ({LIMIT:,} a page); click a header to sort those")
page = page_box(c2, n_kept, LIMIT, label="page", key="runs-page",
                help=f"{LIMIT:,} runs a page, in the order chosen on the left")
table = ask(run_table.page_sql(kept, order, limit=LIMIT, offset=(page - 1) * LIMIT)).with_columns(
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
if n_kept > LIMIT:
    first = (page - 1) * LIMIT
    st.caption(f"Showing runs {first + 1:,}–{first + table.height:,} of {n_kept:,} ({order}); the page box "
               "above shows the others; filter to narrow, or download all.")
rows = list(event.selection.rows) if event is not None else []
picked = [table["run_id"][i] for i in rows if i < table.height]
if len(picked) < 2:
    st.caption(f"Tick 2 to {COMPARE_MAX} runs in the table's left column to compare them side by side.")
elif len(picked) > COMPARE_MAX:
    st.warning(f"{len(picked)} runs ticked: compare takes at most {COMPARE_MAX}; untick some.")
else:
    # a plain link (not st.page_link): the URL is what a user can also copy and share
    st.markdown(f"**[🔀 compare these {len(picked)} runs]({compare_link(picked)})**")
st.download_button("runs as CSV", lambda: csv_bytes(ask(run_table.all_sql(kept, order))), "runs.csv", "text/csv",
                   key="runs-csv")

# ---- a config field against a result, one point per run ---------------------------------------------------
if present:
    st.subheader("Results against config")
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    x_options = [f for f in ["temperature", *varying] if f != "seed"] + ["seed"]
    x_options = list(dict.fromkeys(x_options))
    x = c1.selectbox("x: config field", x_options, key="runs-scatter-x")
    y = c2.selectbox("y: result", present, key="runs-scatter-y", format_func=lambda r: TITLES.get(r, r))
    numeric_x = pa.types.is_integer(schema.field(x).type) or pa.types.is_floating(schema.field(x).type)
    log_x = c3.toggle("log x", value=x in charts.LOG_FRIENDLY and numeric_x, key="runs-scatter-logx",
                      disabled=not numeric_x)
    log_y = c4.toggle("log y", value=y in charts.LOG_FRIENDLY, key="runs-scatter-logy")
    points = ask(run_table.scatter_sql(kept, x, y, log_x=log_x and numeric_x, log_y=log_y, order=order,
                                       limit=SCATTER_MAX))
    total = int(points["total"][0]) if points.height else 0
    # a browser draws a few thousand points quickly; beyond that the chart says how many it shows
    points = points.drop("total")
    style = dict(x=x, y=y, log_x=log_x and numeric_x, log_y=log_y)
    spec, drawn = charts.results_scatter_spec(points, **style)
    ui.show_spec(spec, drawn, "runs-scatter", csv=points, name=f"runs_{y}_vs_{x}",
                 build=lambda: charts.results_scatter(points, **style))
    shown_text = (f"{total:,} run(s)" if total <= SCATTER_MAX else
                  f"the first {SCATTER_MAX:,} of {total:,} runs ({order}; filter to narrow)")
    st.caption(f"{shown_text} with a {TITLES.get(y, y)}; one point per run, colour = temperature"
               + ("; runs at 0 or below are off the log axis." if log_x or log_y else "."))
