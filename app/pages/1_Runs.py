"""Runs: filter by any config field, group by any set of fields (default: all but the seed), status per group."""

import polars as pl
import streamlit as st

from app import data, sidebar, ui

ui.page("Runs")
sidebar.launch_form()
ui.require_runs("the Runs page")

runs = data.runs()
fields = [*data.CONFIG_FIELDS, "status", "sweep_id"]

# ---- filters ------------------------------------------------------------------------------------------
with st.expander("Filter", expanded=False):
    chosen = st.multiselect("filter by", fields, key="runs-filter-fields",
                            help="pick fields, then the values to keep for each")
    cols = st.columns(3)
    for i, name in enumerate(chosen):
        values = sorted(runs[name].unique().to_list(), key=ui._sort_key)
        keep = cols[i % 3].multiselect(name, values, key=f"runs-filter-{name}")
        if keep:
            runs = runs.filter(pl.col(name).is_in(keep))

# ---- groups -------------------------------------------------------------------------------------------
varying = [f for f in data.GROUP_DEFAULT if runs[f].n_unique() > 1]
group_by = st.multiselect(
    "group by", fields, default=list(data.GROUP_DEFAULT), key="runs-group-by",
    help="runs with equal values in these fields form one group; the default is every config field but the "
    "seed (and data_root), i.e. seed groups",
)
st.caption(f"{runs.height:,} run(s) match. Fields that differ between them: {', '.join(varying) or 'none'}.")
if runs.is_empty():
    st.warning("No run matches these filters.")
    st.stop()

if group_by:
    status_cols = [(pl.col("status") == s).sum().alias(s) for s in data.RUN_STATUSES]
    groups = (
        runs.group_by(group_by)
        .agg(pl.len().alias("N"), pl.col("seed").sort().alias("seeds"), *status_cols)
        .sort(group_by)
    )
    groups = groups.with_columns(
        pl.struct(list(data.RUN_STATUSES)).map_elements(ui.badges, return_dtype=pl.String).alias("status")
    )
    shown = [c for c in group_by if c in varying or len(group_by) <= 6] or group_by[:3]
    st.subheader(f"{groups.height:,} group(s)")
    st.dataframe(groups.select(*shown, "N", "status", "seeds"), hide_index=True, width="stretch",
                 column_config={"N": st.column_config.NumberColumn("N runs")})
    if len(shown) < len(group_by):
        st.caption(f"Columns equal in every group are hidden: {', '.join(c for c in group_by if c not in shown)}.")
    st.download_button("groups as CSV", groups.drop("seeds").write_csv().encode(), "groups.csv", "text/csv",
                       key="runs-groups-csv")

# ---- runs ---------------------------------------------------------------------------------------------
LIMIT = 1000
st.subheader("Runs")
table = runs.head(LIMIT).with_columns(
    pl.col("run_id").map_elements(ui.run_link, return_dtype=pl.String).alias("detail"),
    pl.col("status").map_elements(ui.badge, return_dtype=pl.String).alias("status"),
)
st.dataframe(
    table.select("detail", "status", *[c for c in (varying or ["arch", "dataset", "temperature"]) if c != "seed"],
                 "seed", "last_epoch", "sweep_id", "updated_at", "error"),
    hide_index=True, width="stretch",
    column_config={"detail": st.column_config.LinkColumn("run", display_text=r"run=(.*)$",
                                                         help="open the run's detail page")},
)
if runs.height > LIMIT:
    st.caption(f"Showing the {LIMIT:,} newest of {runs.height:,}; filter to narrow, or download all.")
st.download_button("runs as CSV", lambda: runs.write_csv().encode(), "runs.csv", "text/csv", key="runs-csv")
