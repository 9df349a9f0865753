"""One run: its config, status history, environment, training curves, per-layer values and summaries."""

import json

import polars as pl
import streamlit as st

from app import charts, data, ui
from warehouse import environment
from warehouse.paths import home

ui.open_page("Run detail", needs_runs="the run detail page")

run_id = st.query_params.get("run", "")
if not run_id:
    recent = data.recent_run_ids(200)
    run_id = st.selectbox("run", recent, key="detail-run", help="or open one from the Runs page")
info = data.run_detail(run_id)
if info["run"].is_empty():
    st.error(f"No run {run_id!r} in the warehouse; pick one on the Runs page (it may not be ingested yet).")
    st.stop()
run = info["run"].row(0, named=True)
st.subheader(f"{ui.badge(run['status'])} · {run['arch']} on {run['dataset']} · T={run['temperature']:g} · "
             f"seed {run['seed']}")
st.caption(f"run `{run_id}` of sweep `{run['sweep_id']}` · last epoch {run['last_epoch']} · "
           f"updated {run['updated_at']}")
# name, tags and note are the researcher's own words for the run (run_configs.name/tags/note, when stored)
name, tags, note = (run.get(k) for k in ("name", "tags", "note"))
if isinstance(tags, list | tuple):
    tags = ", ".join(str(t) for t in tags)
# shown as the text they are: a markdown link or `:red[…]` in a label renders as written, never as a link
label = " · ".join(part for part in (f"**{ui.plain(name)}**" if name else "",
                                     f"tags: {ui.plain(tags)}" if tags else "") if part)
if label:
    st.markdown(label)
if note:
    st.text(f"note: {note}")  # st.text: no markdown or HTML at all, line breaks kept
if run.get("error"):
    st.error("This run ended with an error:")
    st.code(run["error"], language=None)

left, right = st.columns([1, 2])
with left:
    st.markdown("**Config**")
    st.json(json.loads(run["config_json"] or "{}"), expanded=False)
with right:
    st.markdown("**Status history**")
    ui.static_table(info["events"])
# ---- environment: what the job itself recorded it ran on (run_environments); never guessed for older runs
st.markdown("**Environment**")
records = data.run_environments([run_id]).to_dicts()
if not records:
    st.caption(f"Environment: {environment.NOT_RECORDED}. The run was made before Thermoscope recorded its "
               "environment (warehouse schema v7), or its job ended before it started the run.")
else:
    lead = environment.primary(records)[run_id]
    shown = [lead, *[r for r in records if r["task_id"] != lead["task_id"]]]  # the run's own job first
    heads = [f"{r['role']} ({r['task_id'][len(run_id):].lstrip('-') or 'the run'})" for r in shown]
    ui.static_table(pl.DataFrame({"recorded": [t for _, t in environment.FIELDS],
                                  **{h: [environment.show(c, r) for c, _ in environment.FIELDS]
                                     for h, r in zip(heads, shown)}}))
    if lead.get("code_untracked"):
        st.caption("untracked files (not in the diff): " + ", ".join(lead["code_untracked"]))
    if lead.get("diff_file"):
        path = home().root / lead["diff_file"]
        with st.expander(f"uncommitted diff ({lead['diff_file']})"
                         + (" — cut: the first 1 MiB of it" if lead.get("diff_cut") else "")):
            try:
                st.code(path.read_text(errors="replace"), language="diff")
            except OSError:
                st.caption(f"The diff file is not there any more ({path}); its hash is in the table above.")
# the training log full width: four panels with their own axes need the room
ep = info["epochs"]
if ep.is_empty():
    ui.no_rows("epoch log")
else:
    series = [c for c in charts.SERIES_COLORS if c in ep.columns]
    long = (ep.select("epoch", *[pl.col(c).cast(pl.Float64) for c in series])
            .unpivot(index="epoch", on=series, variable_name="quantity", value_name="value")
            .drop_nulls().filter(pl.col("value").is_finite()))
    st.markdown("**Training log**, one panel per quantity (loss and norm on log axes)")
    ui.show_chart(charts.run_panels(long, width=400), long, "detail-epochs", name=f"epochs_{run_id}",
                  width="content")


@st.fragment
def per_layer(layers: pl.DataFrame, run_id: str) -> None:
    """The metric picker and its chart: a fragment, so picking a metric redraws this chart only."""
    last = layers["epoch"].max()
    st.markdown(f"**Per-layer values at epoch {last}**")
    names = sorted(layers["metric"].unique().to_list())
    metric = st.selectbox("metric", names, index=names.index("rank") if "rank" in names else 0, key="detail-metric")
    sel = data.add_position(
        layers.filter((pl.col("epoch") == last) & (pl.col("metric") == metric))
        .group_by("layer_index", "layer_name", "kind", "dataset").agg(pl.col("value").mean())
    ).sort("position")
    ui.show_chart(charts.run_layers_chart(sel, metric=metric), sel, "detail-layers", name=f"{metric}_{run_id}")


layers = info["layers"]
if not layers.is_empty():
    per_layer(layers, run_id)
if not info["metrics"].is_empty():
    st.markdown("**Summaries**")
    st.dataframe(info["metrics"], hide_index=True, width="stretch")
