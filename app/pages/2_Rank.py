"""Rank vs temperature: numerical rank per layer (one line per T, mean ± std over seeds), the same ranks per
layer over epochs (a heatmap per T), and the solution rank vs T at the chosen epoch."""

import streamlit as st

from app import charts, data, state, ui

filters, split_by = ui.open_page("Rank vs temperature", needs_runs="the rank page", pick="rank")

opts = data.layer_options(filters, "rank")
epoch = "last"
if opts.is_empty():
    ui.no_rows("numerical-rank rows")
else:
    kinds_present = [k for k in data.KIND_ORDER if k in set(opts["kind"].to_list())]
    c1, c2, c3 = st.columns([3, 1, 1])
    # shared selections (app/state.py): the same representations, split and epoch on every page and in the URL
    kinds = ui.select_many(c1, "representations", kinds_present, [k for k in kinds_present if k != "preact"],
                           key="rank-kinds", name=state.KINDS,
                           help="add 'preact' to compare with ranks before the non-linearity")
    splits = sorted(set(opts["split"].to_list()))
    split = ui.select(c2, "data split", splits, "test" if "test" in splits else splits[0], key="rank-split",
                      name=state.DATA_SPLIT)
    epochs = sorted(set(opts["epoch"].to_list()))
    epoch = ui.select(c3, "epoch", ["last", *epochs], "last", key="rank-epoch", name=state.EPOCH,
                      help="'last' = each seed group's last analysed epoch; also sets the solution rank's epoch")
    curves = data.layer_curves(filters, "rank", kinds=kinds, split=split, datasets=[filters["dataset"]],
                               epoch=None if epoch == "last" else int(epoch), split_by=split_by)
    st.subheader("Numerical rank per layer")
    st.caption("Rank of the activation matrix (samples × features), PyTorch's default tolerance "
               "(σ_max · max(m, n) · eps). Lower at high T: the representation collapses. Bands: ± 1 std over "
               "seeds, drawn ×/÷ in log space so they stay above 0, only where n ≥ 2.")
    if curves.is_empty():
        ui.no_rows("rank rows for these representations")
    else:
        ui.show_layer_curves(curves, "rank-layers", y_title="numerical rank", split=split_by, integer=True,
                             name=f"rank_{filters['arch']}_{filters['dataset']}")

    st.subheader("Numerical rank per layer over epochs")
    st.caption("One heatmap per temperature: layers (rows) × analysed epochs (columns), colour = the mean rank "
               "over seeds, one colour scale for all temperatures.")
    grid = data.layer_curves(filters, "rank", kinds=kinds, split=split, datasets=[filters["dataset"]],
                             epoch="all", split_by=split_by)
    if grid.is_empty():
        ui.no_rows("rank rows over epochs")
    else:
        ui.show_chart(charts.layer_epoch_heatmap(grid, split=split_by), grid, "rank-heatmap",
                      name=f"rank_epochs_{filters['arch']}_{filters['dataset']}", width="content")

st.subheader("Solution rank vs temperature")
st.caption("Rank of the logits on the whole evaluation set. Neural collapse predicts C − 1; high T gives less. "
           + ("At each run's last summary epoch." if epoch == "last" else f"At epoch {epoch}."))
sr = data.summary_by_temperature(filters, ["solution_rank"], epoch=None if epoch == "last" else int(epoch),
                                 split_by=split_by)
if sr.is_empty():
    if epoch != "last":
        measured = data.summary_by_temperature(filters, ["solution_rank"])
        when = ", ".join(str(e) for e in sorted(set(measured["epoch"].to_list()))) or "none"
        st.info(f"No solution rank was measured at epoch {epoch} (measured at epoch(s) {when}); "
                "pick one of those, or 'last'.")
    else:
        ui.no_rows("solution-rank rows")
else:
    ui.show_chart(charts.temperature_chart(sr, y_title="solution rank", integer=True, split=split_by), sr,
                  "rank-sr", name=f"solution_rank_{filters['arch']}_{filters['dataset']}")
