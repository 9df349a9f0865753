"""Thermoscope dashboard, first page: rank and linear-probe accuracy per layer, one line per temperature.

    thermoscope app                    (or `make app`; reads $THERMOSCOPE_HOME's warehouse; only the holder of
                                       the token it prints gets in: app/gate.py, docs/cluster.md)

The app never imports torch (tests/app checks it): it reads the DuckDB warehouse read-only and
launches through the torch-free launch API.
"""

import polars as pl
import streamlit as st

from app import charts, data, state, ui

filters, split_by = ui.open_page(
    "Thermoscope: softmax temperature and representations",
    caption="Unpacking Softmax (Masarczyk et al. 2025): training at a higher softmax temperature T lowers the rank "
    "of the representations and compresses the network. Each line is one temperature: the mean over "
    "seeds of runs with the same config, with a ± 1 std band.",
    needs_runs="the dashboard", pick="home")
spread = "every temperature and seed" + (f", one line per {split_by}" if split_by else "")
st.caption(f"Runs: {ui.describe(filters)}, {spread}. Values at each run's last analysed epoch. "
           "With nothing chosen, Home shows the most complete group: the most finished runs that learned, "
           "then the most temperatures and seeds.")
every_t = {k: v for k, v in filters.items() if k != "temperature"}  # the report names unlearned runs itself


def _report() -> bytes:
    # built only when the button is pressed (Streamlit calls this then), never on a rerun
    from app.report import build_report

    return build_report(every_t, described=ui.describe(every_t)).html.encode()


st.download_button("⬇ Download report", _report, file_name="thermoscope-report.html", mime="text/html",
                   key="home-report", on_click="ignore", help="one self-contained HTML file for this selection: the figures, the "
                   "κ/ρ/SR table, mean ± std and n per seed group, the runs that did not learn, the environment "
                   "and the commands that make these runs again; it opens offline in any browser")

# ---- numerical rank per layer --------------------------------------------------------------------


@st.fragment
def rank_section(filters: dict) -> None:
    """The representation and split pickers with their chart: a fragment, so they redraw this chart only."""
    opts = data.layer_options(filters, "rank")
    if opts.is_empty():
        ui.no_rows("numerical-rank rows")
        return
    kinds_present = [k for k in data.KIND_ORDER if k in set(opts["kind"].to_list())]
    default = [k for k in kinds_present if k != "preact"] or kinds_present
    c1, c2 = st.columns([3, 1])
    kinds = ui.select_many(c1, "representations", kinds_present, default, key="home-kinds", name=state.KINDS,
                           help="hidden = after the non-linearity; preact = before it; logits / softmax = the "
                           "final layer before / after softmax(z/T)")
    id_name = filters["dataset"]
    splits = sorted(set(opts.filter(dataset=id_name)["split"].to_list())) or sorted(set(opts["split"].to_list()))
    split = ui.select(c2, "data split", splits, "test" if "test" in splits else splits[0], key="home-split",
                      name=state.DATA_SPLIT, help="the evaluation data the ranks were measured on")
    rank = data.layer_curves(filters, "rank", kinds=kinds, split=split, datasets=[id_name])
    st.subheader("Numerical rank per layer")
    if rank.is_empty():
        ui.no_rows("rank rows for these representations")
    else:
        ui.show_layer_curves(rank, "home-rank", y_title="numerical rank", name=f"rank_{filters['arch']}_{id_name}")


rank_section(filters)

# ---- linear probes, in and out of distribution --------------------------------------------------------
st.subheader("Linear-probe accuracy per layer")
popts = data.layer_options(filters, "probe_acc")
if popts.is_empty():
    ui.no_rows("probe-accuracy rows")
else:
    probe_sets = sorted(set(popts["dataset"].to_list()), key=lambda d: (d != filters["dataset"], d))
    split = "test" if "test" in set(popts["split"].to_list()) else None
    # one query for every probe dataset (ID and each OOD set), split here: fewer round trips per click
    all_curves = data.layer_curves(filters, "probe_acc", kinds=["hidden", "logits", "softmax"], split=split,
                                   datasets=probe_sets)
    cols = st.columns(len(probe_sets))
    for col, ds in zip(cols, probe_sets):
        role = "ID" if ds == filters["dataset"] else "OOD"
        curves = all_curves.filter(pl.col("dataset") == ds)
        with col:
            st.markdown(f"**{role}: {ds}**")
            if curves.is_empty():
                ui.no_rows(f"probe rows on {ds}")
                continue
            ui.show_layer_curves(curves, f"home-probe-{ds}", y_title="probe accuracy",
                                 name=f"probe_{role}_{filters['arch']}_{ds}")

# ---- did the runs learn? ------------------------------------------------------------------------------
st.subheader("Did the runs learn?")
acc = data.final_accuracy(every_t).join(data.learned_by_temperature(every_t).drop("runs"), on="temperature",
                                        how="left")
st.caption(
    "Comparing temperatures only means something for runs that learned: the verdict is stored with each run "
    "when it ends (final test accuracy at least a tenth of the way from chance to perfect, and training loss "
    "clearly below the uniform guess's; docs/methods.md §1 in the repository). High-T runs can stay on a "
    "plateau at chance: train longer, start from a larger logits norm (init=kaiming) or calibrate T."
)
acc = acc.with_columns(
    pl.when(pl.col("not_learned") > 0).then(pl.format("⚠️ {} of {} did not learn", pl.col("not_learned"), pl.col("runs")))
    .when(pl.col("learned") > 0).then(pl.format("✅ learned ({} of {})", pl.col("learned"), pl.col("runs")))
    .otherwise(pl.lit("… no verdict yet (not ended)")).alias("learned"),
)
st.dataframe(
    charts.with_t_label(acc).select("T", "learned", "runs", "finished", "not_ok", "with_epochs", "test_acc_mean",
                                    "test_acc_std", "logits_norm_mean"),
    hide_index=True, width="stretch",
    column_config={
        "not_ok": st.column_config.NumberColumn("failed/diverged/cancelled"),
        "with_epochs": st.column_config.NumberColumn("n (runs with epochs)"),
        "test_acc_mean": st.column_config.NumberColumn("final test acc (mean)", format="%.3f"),
        "test_acc_std": st.column_config.NumberColumn("± std (n ≥ 2)", format="%.3f"),
        "logits_norm_mean": st.column_config.NumberColumn("final logits norm", format="%.3g"),
    },
)
