"""Geometry and OOD: OrthoDev per layer, neural collapse NC1–NC4, OOD detection AUROC / FPR95 per temperature."""

import polars as pl
import streamlit as st

from app import charts, data, ui

filters, split_by = ui.open_page("Geometry and OOD detection", needs_runs="the geometry page", pick="geo")
ID = filters["dataset"]

st.subheader("OrthoDev per layer")
st.caption("Deviation of a layer's representation from orthogonality (Figure 22; our definitions, both stored): "
           "sample = ‖HHᵀ/‖H‖²_F − I/n‖_F on a fixed sample; class-mean = ‖M̂M̂ᵀ − I‖_F / C on normalised, "
           "centred class means. 0 = orthogonal; high-T networks go low.")
cols = st.columns(2)
for col, metric in zip(cols, ("orthodev_sample", "orthodev_classmean")):
    curves = data.layer_curves(filters, metric, kinds=["hidden", "logits"], datasets=[ID], split_by=split_by)
    with col:
        st.markdown(f"**{metric.replace('orthodev_', '')}**")
        if curves.is_empty():
            ui.no_rows(f"{metric} rows")
        else:
            ui.show_layer_curves(curves, f"geo-{metric}", y_title="OrthoDev", height=250, split=split_by,
                                 name=f"{metric}_{filters['arch']}_{ID}")

st.subheader("Neural collapse")
st.caption("NC1 within- vs between-class variability, NC2 distance from a simplex ETF, NC3 classifier–mean "
           "distance, NC4 disagreement with the nearest-class-mean rule (Appendix I). Lower = more collapsed.")
all_names = data.metric_names()
names = [m for m in all_names if m.startswith("nc")]
det_names = [m for m in all_names if m.startswith(("auroc_", "fpr95_"))]
# one query for the NC and the detection summaries of this selection
summaries = data.summary_by_temperature(filters, names + det_names, split_by=split_by) if names + det_names else pl.DataFrame(
    schema={"metric": pl.String})
nc_runs = summaries.filter(pl.col("metric").is_in(names))
c1, c2 = st.columns(2)
with c1:
    st.markdown("**at the penultimate layer, per temperature**")
    if nc_runs.is_empty():
        ui.no_rows("NC summaries (run_metrics nc1–nc4)")
    else:
        ui.show_chart(charts.temperature_chart(nc_runs, y_title="value", color="metric", split=split_by), nc_runs, "geo-nc",
                      name=f"nc_{filters['arch']}_{ID}")


@st.fragment
def nc_per_layer(filters: dict, split_by: str | None) -> None:
    """The NC picker and its chart: a fragment, so picking NC2 redraws this chart only, not the page's six."""
    metric = st.selectbox("per layer", ["nc1", "nc2", "nc3", "nc4"], key="geo-nc-layer")
    nc_layers = data.layer_curves(filters, metric, kinds=["hidden"], datasets=[ID], split_by=split_by)
    if nc_layers.is_empty():
        ui.no_rows(f"{metric} rows per layer")
    else:
        ui.show_layer_curves(nc_layers, "geo-nc-layers", y_title=metric, height=250, split=split_by,
                             name=f"{metric}_layers_{filters['arch']}_{ID}")


with c2:
    nc_per_layer(filters, split_by)

st.subheader("OOD detection")
st.caption("High T / low logits norm: worse OOD generalisation (ρ) but better OOD detection. Scores: MSP, "
           "energy and two feature-space scores (NECO, Mahalanobis). AUROC higher = better; FPR at 95% TPR lower = better. "
           "Axes span the values (not 0–1) so differences show; bands are clipped to [0, 1].")
det = summaries.filter(pl.col("metric").is_in(det_names))
if det.is_empty():
    ui.no_rows("OOD detection scores")
else:
    det = det.with_columns(
        pl.col("metric").str.split("_").list.first().alias("measure"),
        pl.col("metric").str.split("_").list.slice(1).list.join("_").alias("score"),
    )
    for ood in sorted(det["dataset"].unique().to_list()):
        st.markdown(f"**{ID} → {ood}**")
        cols = st.columns(2)
        for col, measure, title in zip(cols, ("auroc", "fpr95"), ("AUROC", "FPR at 95% TPR")):
            part = det.filter((pl.col("dataset") == ood) & (pl.col("measure") == measure))
            with col:
                if part.is_empty():
                    ui.no_rows(f"{title} rows")
                    continue
                ui.show_chart(charts.temperature_chart(part, y_title=title, color="score", split=split_by), part,
                              f"geo-{measure}-{ood}", name=f"{measure}_{filters['arch']}_{ID}_{ood}")
