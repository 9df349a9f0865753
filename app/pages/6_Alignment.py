"""Alignment: 15×15 |cos| between weight and representation singular vectors; epoch × layer overview (Figure 10)."""

import polars as pl
import streamlit as st

from app import charts, data, ui

filters = ui.open_page("Alignment of weights and representations", needs_runs="the alignment page", pick="align").filters
st.caption(
    "For each layer and checkpoint: |cosine| between the top-15 right singular vectors of the layer's weight "
    "matrix and the top-15 singular vectors of the representation entering it (Figures 10, 24, 25). Baseline "
    "models show almost none; high-T models align early, first in the top vectors."
)
runs = data.alignment_runs(filters)
if runs.is_empty():
    ui.no_rows("alignment rows")
    st.stop()

temps = sorted(runs["temperature"].unique().to_list())
st.subheader("Overview: mean diagonal |cos| per epoch and layer")
c1, c2, c3 = st.columns(3)
low = c1.selectbox("baseline T", temps, index=0, key="align-low", format_func=charts.t_label)
high = c2.selectbox("high T", temps, index=len(temps) - 1, key="align-high", format_func=charts.t_label)
top = c3.slider("top vectors", 1, 15, 5, key="align-top", help="average |cos(u_i, v_i)| over i < this")
overview = data.alignment_overview(filters, [low, high], top=top)
cols = st.columns(2)
for side, col, t in zip(("low", "high"), cols, (low, high)):
    part = overview.filter(pl.col("temperature") == t)
    with col:
        st.markdown(f"**{charts.t_label(t)}** (mean over {part['n'].max() or 0} seed(s))")
        ui.show_chart(charts.heatmap(part, x="epoch", y="layer_name", value="value", y_title="layer", size=260),
                      part, f"align-overview-{side}", name=f"alignment_overview_T{t:g}")

st.subheader("One matrix per run, side by side")
labels = {r["run_id"]: f"{charts.t_label(r['temperature'])}, seed {r['seed']} ({r['run_id'][:8]})"
          for r in runs.iter_rows(named=True)}
ids = list(labels)
c1, c2 = st.columns(2)
left = c1.selectbox("run (left)", ids, index=0, format_func=labels.get, key="align-run")
right = c2.selectbox("run (right)", ids, index=len(ids) - 1, format_func=labels.get, key="align-run-right",
                     help="defaults to a run at the highest temperature")
rows = runs.filter(pl.col("run_id").is_in([left, right]))
layers = sorted(set.intersection(*(set(r) for r in rows["layers"].to_list())))
epochs = sorted(set.intersection(*(set(r) for r in rows["epochs"].to_list())))
if not layers or not epochs:
    st.warning("These two runs share no analysed layer and epoch; pick others.")
    st.stop()
c1, c2 = st.columns(2)
names = dict(item.split(":", 1) for row in rows["layer_names"].to_list() for item in row)
layer = c1.selectbox("layer", layers, key="align-layer", format_func=lambda i: f"{names.get(str(i), i)} (#{i})")
epoch = c2.select_slider("epoch", epochs, value=epochs[-1], key="align-epoch")
cols = st.columns(2)
for side, col, run_id in zip(("left", "right"), cols, (left, right)):
    matrix = data.alignment_matrix(run_id, layer, epoch)
    with col:
        if matrix.is_empty():
            ui.no_rows("alignment rows for this layer and epoch")
            continue
        name = matrix["layer_name"][0]
        ui.show_chart(charts.heatmap(matrix, x="j", y="i", value="cosine", x_title="representation vector j",
                                     y_title="weight vector i", title=f"{labels[run_id]}: {name}, epoch {epoch}",
                                     size=300),
                      matrix, f"align-matrix-{side}", name=f"alignment_{run_id}_{name}_e{epoch}")
