"""Jobs: running and recent sweeps with live progress (only that part refreshes), failure tracebacks, cancel."""

import polars as pl
import streamlit as st

from app import data, jobs, sidebar, ui
from warehouse.paths import home

ui.page("Jobs")
sidebar.launch_form(expanded=True)
where = home()

live = st.toggle("live (refresh every 2 s)", value=True, key="jobs-live")


@st.fragment(run_every=2.0 if live else None)
def live_sweeps() -> None:
    """Sweeps launched into this home, read from their shard files: the part of the page that refreshes."""
    found = jobs.manifests(where)
    if not found:
        st.info(f"No sweep launched into {where.root} yet. Use the sidebar form, or "
                "`python -m training.launch sweeps/demo.toml --executor local`.")
        return
    for manifest in found:
        state = jobs.sweep_state(manifest, where)
        counts = state.counts
        head = f"{'🏃' if state.active else '🏁'} sweep `{state.sweep_id}` · {state.executor} · " \
               f"{len(state.run_ids)} run(s) · {ui.badges(counts)}"
        with st.expander(head, expanded=state.active):
            st.progress(state.progress, text=f"{state.done}/{len(state.run_ids)} runs ended · "
                                             f"{state.progress:.0%} of planned epochs")
            for note in jobs.waiting_notes(state.sweep_id, where) if state.active and state.executor == "slurm" else []:
                st.warning(note)
            table = jobs.run_table(state, where)
            st.dataframe(table.with_columns(pl.col("status").map_elements(ui.badge, return_dtype=pl.String)),
                         hide_index=True, width="stretch", key=f"jobs-table-{state.sweep_id}")
            failed = table.filter(pl.col("status") == "failed")
            for row in failed.iter_rows(named=True):
                text = row["message"] or jobs.job_log_tail(where, state.sweep_id, row["job"])
                st.error(f"run {row['run_id']} failed")
                st.code(text or "(no message recorded)", language="text")
            if state.active and st.button("Cancel this sweep", key=f"cancel-{state.sweep_id}"):
                st.warning(jobs.cancel(state.sweep_id, where))


live_sweeps()

st.subheader("Sweeps in the warehouse")
state, _ = data.warehouse_state(where)
if state != "ok":
    st.info("Nothing ingested yet: finished results appear here after `python -m warehouse ingest`.")
    st.stop()
sweeps = data.sweeps()
st.dataframe(
    sweeps.with_columns(pl.struct(list(data.RUN_STATUSES)).map_elements(ui.badges, return_dtype=pl.String)
                        .alias("status")).select("sweep_id", "archs", "runs", "status", "created_at", "updated_at"),
    hide_index=True, width="stretch",
)
bad = sweeps.filter((pl.col("failed") + pl.col("diverged") + pl.col("cancelled")) > 0)["sweep_id"].to_list()
if bad:
    pick = st.selectbox("failures of sweep", bad, key="jobs-failed-sweep")
    for row in data.failures(pick).iter_rows(named=True):
        st.markdown(f"{ui.badge(row['status'])} `{row['run_id']}` · {row['arch']} · T={row['temperature']:g} · "
                    f"seed {row['seed']}")
        st.code(row["traceback"] or "(no message recorded)", language="text")
