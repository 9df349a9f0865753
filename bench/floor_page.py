"""The floor for bench_browser.py: what a page shaped like the dashboard's costs with no warehouse behind it.

What the Logits norm page sends the browser, made from synthetic rows instead of queries: the multipage
navigation with app/pages' names (bench_browser.page_paths), the sidebar's page link and collapsed launch
box, a title, five selectboxes in two rows of columns, a caption, and the dashboard's own four-panel chart
(app.charts.curve_panels_spec through app.ui.show_curve_panels: 8 temperatures x 21 epochs x 4 quantities,
n = 3, bands, points, the Download popover). The first selectbox changes the rows and not the spec, as the
dashboard's run picker does when the shape stays.

bench_browser.py times it like a page, beside the bare reference page: floor / reference is what Streamlit and
the dashboard's chart code need for this much page; page / floor is what reading the warehouse adds to it.
"""

import math

import polars as pl
import streamlit as st
from bench_browser import page_paths  # same folder (Streamlit puts a script's folder on the path)

from app import charts, ui

st.set_page_config(page_title="floor", layout="wide")
TEMPERATURES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0)


def _curves(scale: float) -> pl.DataFrame:
    """Seed-group means over epochs, shaped like data.epoch_curves: smooth, positive, one band per line."""
    rows = []
    for t in TEMPERATURES:
        for epoch in range(21):
            grow = math.log1p(epoch + 1)
            for quantity, mean in (("logits_norm", scale * 10 * grow / t), ("rank_pre_softmax", 9.0),
                                   ("rank_post_softmax", min(9.0, 1 + grow * math.log10(t + 1))),
                                   ("test_acc", min(0.95, 0.5 + 0.02 * epoch))):
                std = 0.0 if quantity == "rank_pre_softmax" else 0.05 * mean
                rows.append({"config_group": f"g{t:g}", "temperature": t, "epoch": epoch, "quantity": quantity,
                             "mean": mean, "std": std, "n": 3, "lo": mean - std, "hi": mean + std})
    return pl.DataFrame(rows)


def _page() -> None:
    st.title("Floor page")
    c1, c2 = st.columns(2)
    scale = c1.selectbox("arch", [1.0, 2.0, 3.0], key="floor-arch")
    c2.selectbox("dataset", ["cifar10", "svhn"], key="floor-dataset")
    c3, c4, c5 = st.columns(3)
    c3.selectbox("loss", ["ce", "mse"], key="floor-loss", help="the training loss")
    c4.selectbox("width", [192, 384], key="floor-width", help="the hidden width")
    c5.selectbox("split lines by", ["none", "seed"], key="floor-split", help="one line per value")
    st.caption("Four panels of eight lines, each a mean over seeds with a ± 1 std band; the rows change with "
               "the first selectbox, the spec does not.")
    ui.show_curve_panels(_curves(scale), "floor", quantities=charts.EPOCH_PANELS, log_y=True, height=200)


def _other() -> None:
    st.title("another page")


with st.sidebar:
    st.page_link("https://localhost/", label="Jobs: follow sweeps", icon="📋", disabled=True)
    with st.expander("🚀 Launch a sweep"):
        st.caption("the launch form is built when opened, as the dashboard's is")

st.navigation([st.Page(_page, title="Home", url_path="floor", default=True)]
              + [st.Page(_other, title=name.replace("_", " "), url_path=name) for name in page_paths() if name]).run()
