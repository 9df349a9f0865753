"""Training curves across runs: loss, accuracies, logits norm and pre/post-softmax rank over epochs, one line
per seed group (mean over seeds, coloured by temperature) with a ± 1 std band where n ≥ 2."""

import streamlit as st

from app import charts, data, ui

filters, split_by = ui.open_page("Training curves", needs_runs="the curves page", pick="curves")

QUANTITIES = ("train_loss", "train_acc", "test_acc", "logits_norm", "rank_pre_softmax", "rank_post_softmax")


@st.fragment
def curves_section(filters: dict, split_by: str | None) -> None:
    """The controls and the chart: a fragment, so a smoothing, window, log or quantity change redraws the chart
    only, not the page around it (the run picker above reruns everything, as its filters change the data)."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    chosen = c1.multiselect("quantities", QUANTITIES, default=list(QUANTITIES), key="curves-quantities",
                            format_func=lambda q: charts.QUANTITY_TITLES.get(q, q))
    log_y = c2.toggle("log y", value=True, key="curves-log",
                      help="losses, norms and ranks on log axes (ticks at powers of ten or 1-2-5); accuracies stay "
                      "linear")
    method = c3.selectbox("smoothing", ["none", "rolling mean", "EMA"], key="curves-smooth",
                          help="rolling mean: the trailing mean of the last N epochs; EMA: exponential moving average "
                          "with alpha = 2 / (N + 1). Applied to each line's mean and band edges; the unsmoothed mean "
                          "is in the tooltip.")
    window = c4.slider("window N (epochs)", 2, 25, 5, key="curves-window", disabled=method == "none")
    st.caption(
        "Each line: the mean over seeds of one config group (the runs that differ only in their seed), coloured by "
        "temperature; the legend gives n, the seeds per line. Bands: ± 1 std over seeds, only where n ≥ 2; for "
        "losses, norms and ranks the band is mean ×/÷ (1 + std/mean), symmetric on a log axis and never below 0; "
        "accuracy bands are clipped to [0, 1]. Train loss and accuracy start at epoch 1 (epoch 0 is before training)."
    )
    if not chosen:
        st.info("Pick at least one quantity.")
        return
    curves = data.epoch_curves(filters, tuple(chosen), split_by=split_by)
    if curves.is_empty():
        ui.no_rows("epoch logs")
        return
    shown = curves if method == "none" else charts.smooth(curves, window, method="ema" if method == "EMA" else "rolling")
    ui.show_curve_panels(shown, "curves-epochs", name=f"curves_{filters['arch']}_{filters['dataset']}",
                         title=ui.describe(filters), csv=curves, quantities=tuple(chosen), log_y=log_y, split=split_by)


curves_section(filters, split_by)
