"""Rank vs temperature: numerical rank per layer (one line per T, mean ± std over seeds); solution rank vs T."""

import streamlit as st

from app import charts, data, sidebar, ui

ui.page("Rank vs temperature")
sidebar.launch_form()
ui.require_runs("the rank page")
filters = ui.pick_runs("rank")

opts = data.layer_options(filters, "rank")
if opts.is_empty():
    ui.no_rows("numerical-rank rows")
else:
    kinds_present = [k for k in data.KIND_ORDER if k in set(opts["kind"].to_list())]
    c1, c2, c3 = st.columns([3, 1, 1])
    kinds = c1.multiselect("representations", kinds_present, default=[k for k in kinds_present if k != "preact"],
                           key="rank-kinds", help="add 'preact' to compare with ranks before the non-linearity")
    splits = sorted(set(opts["split"].to_list()))
    split = c2.selectbox("split", splits, index=splits.index("test") if "test" in splits else 0, key="rank-split")
    epochs = sorted(set(opts["epoch"].to_list()))
    epoch = c3.selectbox("epoch", ["last", *epochs], key="rank-epoch",
                         help="'last' = each seed group's last analysed epoch")
    curves = data.layer_curves(filters, "rank", kinds=kinds, split=split, datasets=[filters["dataset"]],
                               epoch=None if epoch == "last" else int(epoch))
    st.subheader("Numerical rank per layer")
    st.caption("Rank of the activation matrix (samples × features), PyTorch's default tolerance "
               "(σ_max · max(m, n) · eps). Lower at high T: the representation collapses.")
    if curves.is_empty():
        ui.no_rows("rank rows for these representations")
    else:
        ui.show_layer_curves(curves, "rank-layers", y_title="numerical rank",
                             name=f"rank_{filters['arch']}_{filters['dataset']}")

st.subheader("Solution rank vs temperature")
st.caption("Rank of the logits on the whole evaluation set. Neural collapse predicts C − 1; high T gives less.")
sr = data.summary_by_temperature(filters, ["solution_rank"])
if sr.is_empty():
    ui.no_rows("solution-rank rows")
else:
    ui.show_chart(charts.temperature_chart(sr, y_title="solution rank"), sr, "rank-sr",
                  name=f"solution_rank_{filters['arch']}_{filters['dataset']}")
