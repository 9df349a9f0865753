"""Paper check: the paper's κ / ρ / SR beside the measured mean ± std over seeds, differences highlighted."""

import numpy as np
import pandas as pd
import polars as pl
import streamlit as st

from app import charts, data, paper, ui

ui.open_page("Paper check")
st.caption(
    "Every configuration the paper reports (the paper's Tables 1–3 and Table 6, MSE; docs/methods.md) that has runs here: the paper's "
    "κ / ρ / SR beside our mean ± std over seeds. ⚠️ = the paper's number lies more than the tolerance away "
    "(× std, at least 5 points). Our κ and ρ follow docs/methods.md's definitions (τ = 0.95, penultimate layer); ρ "
    "is compared only when measured on the paper's OOD set (SVHN for CIFAR, CIFAR-100 for ImageNet). Like with "
    "like: κ and ρ here come from the paper's own probe protocol (Table 5: Adam, 50 epochs, batch 4096), never "
    "from converged probes."
)
with st.expander("The paper's numbers"):
    st.dataframe(paper.reported(), hide_index=True, width="stretch")
ui.require_runs("the paper check")

tol = st.slider("tolerance [× std]", 0.5, 5.0, 2.0, 0.5, key="paper-tol")
# only the paper's configurations (a few seed groups), not every group of the warehouse: the page's cost does
# not grow with the runs it does not compare
configs = paper.configurations()
measured = data.kappa_rho({}, protocol="paper", any_of=configs)
if measured.is_empty() and not data.kappa_rho({}, protocol="converged", any_of=configs).is_empty():
    st.info("These runs have κ/ρ from converged probes only. The paper's numbers come from its Table 5 protocol: "
            "measure that too with `python -m analysis reanalyse SWEEP_ID --set analysis.probe_protocol=both` "
            "(the kept checkpoints, no retraining).")
    st.stop()
cmp = paper.compare(measured, tolerance=tol)
if cmp.is_empty():
    st.info("None of the paper's configurations (ResNet-18/20/34/50, VGG-19 on CIFAR-10/100 or ImageNet-1k at "
            "its temperatures) has κ/ρ summaries here yet. Launch one from the sidebar, e.g. preset "
            "`cifar_resnet`, arch `resnet18`, temperatures `1,10,100,1000`, seeds `0,1,2`.")
    st.stop()

flagged = cmp.filter(pl.col("flag"))
c1, c2 = st.columns(2)
c1.metric("reported values with runs", cmp.height)
c2.metric("outside tolerance", flagged.height)
table = (
    cmp.with_columns(
        pl.format("{} ± {}", pl.col("measured").round(1), pl.col("std").round(1)).alias("measured ± std"),
        pl.when(pl.col("flag")).then(pl.lit("⚠️")).otherwise(pl.lit("✅")).alias("ok"),
    )
    .select("ok", "model", "slot", "quantity", "paper", "measured ± std", "diff", "n")
    .sort("model", "slot", "quantity")
)
SHADE_MAX = 1000  # rows: pandas' Styler costs ~0.2 ms a row to send (0.9 s for the 4,500 rows of 100,000 runs)
if table.height > SHADE_MAX:
    # a lab's year of sweeps compares many seed groups per reported cell: the flags lead instead of the shading
    table = table.sort(pl.col("ok") != "⚠️", "model", "slot", "quantity")
    st.caption(f"{table.height:,} comparisons: those outside tolerance (⚠️) first; rows are not shaded red above "
               f"{SHADE_MAX:,} rows, where shading takes about a second to send.")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"diff": st.column_config.NumberColumn(format="%+.1f"),
                                "paper": st.column_config.NumberColumn(format="%g")})
else:
    shown = table.to_pandas()
    off = (shown["ok"] == "⚠️").to_numpy()[:, None]  # flagged rows, one column: broadcast to the row's cells

    def shade(frame: pd.DataFrame) -> pd.DataFrame:
        """One CSS string per cell in one call (axis=None); a Python call per row cost ~0.15 ms a row."""
        css = np.where(np.broadcast_to(off, frame.shape), "background-color: #ffe0e0", "")
        return pd.DataFrame(css, index=frame.index, columns=frame.columns)

    st.dataframe(shown.style.apply(shade, axis=None).format({"diff": "{:+.1f}", "paper": "{:g}"}),
                 hide_index=True, width="stretch")
ui.show_chart(charts.paper_vs_measured(cmp), cmp, "paper-chart", name="paper_check")
