"""Jobs: running and recent sweeps with live progress (only that part refreshes), failure tracebacks, cancel."""

import polars as pl
import streamlit as st

from app import data, jobs, sidebar, ui
from warehouse.paths import home

ui.open_page("Jobs", launch_expanded=True)
where = home()

left, right = st.columns([3, 1])
live = left.toggle("live (refresh every 2 s)", value=True, key="jobs-live")
if right.button("Ingest now", key="jobs-ingest", help="load every new shard into the warehouse now (each job "
                "also does when it ends); the other pages re-read it at once"):
    loaded, line = jobs.ingest_now(where)
    (st.success if loaded else st.warning)(line)


@st.fragment(run_every=2.0 if live else None)
def live_sweeps() -> None:
    """Sweeps launched into this home, read from their shard files: the part of the page that refreshes."""
    jobs.reap(sidebar.launched_jobs())  # finished local jobs of this server: no zombies
    found = jobs.manifests(where)
    if not found:
        st.info(f"No sweep launched into {where.root} yet. Use the sidebar form, or "
                "`python -m training.launch sweeps/demo.toml --executor local`.")
        return
    for manifest in found:
        state = jobs.sweep_state(manifest, where)
        counts = state.counts
        bad = sum(counts.get(s, 0) for s in ("failed", "diverged", "cancelled"))
        head = f"{'🏃 running' if state.active else '🏁 ended'} · sweep `{state.sweep_id}` · {state.executor} · " \
               f"{len(state.run_ids)} run(s) · {ui.badges(counts)}"
        with st.expander(head, expanded=state.active or bad > 0):  # what needs a look is open
            st.progress(state.progress, text=state.summary())
            if not state.active:
                st.markdown(f"[its runs](/Runs?sweep={state.sweep_id}) · [its charts](/?sweep={state.sweep_id})")
            for note in jobs.waiting_notes(state.sweep_id, where) if state.active and state.executor == "slurm" else []:
                st.warning(note)
            table = jobs.run_table(state, where)
            st.dataframe(table.drop("message").with_columns(pl.col("status").map_elements(ui.badge,
                                                                                         return_dtype=pl.String)),
                         hide_index=True, width="stretch", key=f"jobs-table-{state.sweep_id}",
                         column_config={"T": st.column_config.NumberColumn("T", format="%g"),
                                        "train_loss": st.column_config.NumberColumn("last train loss",
                                                                                    format="%.4f"),
                                        "test_acc": st.column_config.NumberColumn("last test acc", format="%.3f"),
                                        "eta": st.column_config.TextColumn("ETA")})
            failed = table.filter(pl.col("status") == "failed")
            for row in failed.iter_rows(named=True):
                text = row["message"] or jobs.job_log_tail(where, state.sweep_id, row["job"])
                st.error(f"run {row['run_id']} failed (T={row['T']:g}, seed {row['seed']})"
                         if row["T"] is not None else f"run {row['run_id']} failed")
                st.code(text or "(no message recorded)", language="text")
            # the jobs still at work or with a failed run (at most 4: an array can have hundreds)
            watch = table.filter(pl.col("status") != "finished")["job"].unique(maintain_order=True).to_list()[:4]
            for job in watch:
                log = jobs.job_log(where, state.sweep_id, job)
                if log:
                    st.caption(f"last lines of job {job}'s log")
                    st.code(log, language="text")
            if state.active and st.button("Cancel this sweep", key=f"cancel-{state.sweep_id}"):
                st.warning(jobs.cancel(state.sweep_id, where))


live_sweeps()

st.subheader("Sweeps in the warehouse")
state, _ = data.warehouse_state(where)
if state != "ok":
    st.info("Nothing ingested yet: each job loads its results when it ends, or press **Ingest now** above.")
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
        st.code(jobs.shown(row["traceback"], where) or "(no message recorded)", language="text")
