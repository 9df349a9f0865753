"""κ/ρ trade-off: scatter of effective depth κ against OOD drop ρ per seed group, and the paper's table layout."""

import polars as pl
import streamlit as st

from app import charts, data, paper, state, ui
from warehouse.csv_out import csv_bytes

ui.open_page("κ / ρ trade-off", needs_runs="the κ/ρ page")
st.caption(
    "κ: share of layers up to the first whose ID probe accuracy reaches τ (0.95) of the best (lower = more "
    "compressed). ρ: relative drop of OOD probe accuracy from its best layer to the penultimate one (lower = "
    "better OOD generalisation). SR: solution rank. Each point is one seed group, bars are ± 1 std over seeds "
    "(none for a group of one seed)."
)
split_by = ui.split_field()  # a config field: one facet column per value (app/ui.py)
pairs = data.arch_datasets()
c1, c2, c3 = st.columns(3)
datasets = c1.multiselect("dataset (ID)", sorted(pairs["dataset"].unique().to_list()),
                          default=sorted(pairs["dataset"].unique().to_list())[:1], key="kr-datasets")
archs = c2.multiselect("architectures", sorted(pairs["arch"].unique().to_list()), key="kr-archs",
                       help="empty = all")
losses = c3.multiselect("loss", ["ce", "mse"], default=["ce"], key="kr-loss")
filters = {"dataset": datasets, "loss": losses}
if archs:
    filters["arch"] = archs
p1, p2 = st.columns([1, 3])
protocol = ui.pick_protocol(p1, filters, "kr")
p2.caption(f"κ and ρ from {ui.PROTOCOL_WORDS[protocol]}.")
kr = data.kappa_rho(filters, split_by=split_by, protocol=protocol).drop_nulls(["kappa", "rho"])
if kr.is_empty():
    ui.no_rows(f"κ/ρ summaries from {protocol} probes")
    st.stop()
# runs whose probes did not converge: counted and named; their groups left out unless asked
if ui.without_unconverged(st, filters, protocol, "kr"):
    kr = kr.filter(pl.col("not_converged") == 0)
    if kr.is_empty():
        st.info("Every group has runs whose probes did not converge; choose 'show' to see them anyway.")
        st.stop()
# a group whose runs all stayed at chance has the κ/ρ of an untrained network: left out unless asked for
stuck = kr.filter(pl.col("not_learned") == pl.col("n"))
partly = kr.filter((pl.col("not_learned") > 0) & (pl.col("not_learned") < pl.col("n")))
if not stuck.is_empty() or not partly.is_empty():
    w1, w2 = st.columns([4, 1])
    choice = ui.select(w2, "runs that did not learn", [ui.LEAVE_OUT, ui.SHOW], ui.LEAVE_OUT, key="kr-unlearned",
                       name=state.UNLEARNED, help="docs/methods.md §1 has the rule")
    words = []
    if not stuck.is_empty():
        where_ = ", ".join(sorted({f"{r['arch']} {charts.t_label(r['temperature'])}" for r in stuck.iter_rows(named=True)}))
        words.append(f"{stuck.select('config_group').n_unique()} group(s) where no run learned ({where_}): "
                     + ("left out" if choice == ui.LEAVE_OUT else "shown, but not comparable"))
    if not partly.is_empty():
        words.append(f"{partly.select('config_group').n_unique()} group(s) where some runs did not learn: their "
                     "points average learned and unlearned runs")
    w1.warning(" · ".join(words) + ".")
    if choice == ui.LEAVE_OUT and stuck.height < kr.height:
        kr = kr.filter(pl.col("not_learned") < pl.col("n"))
oods = sorted(kr["rho_ood"].unique().to_list())
if len(oods) > 1:
    ood = st.selectbox("OOD set for ρ", oods, key="kr-ood", help="ρ is measured on each OOD dataset separately")
    kr = kr.filter(pl.col("rho_ood") == ood)
else:
    st.caption(f"ρ measured on {oods[0]}.")

group_keys = (*data.KAPPA_GROUP, *([split_by] if split_by and split_by not in data.KAPPA_GROUP else []))
varying = [k for k in group_keys if k not in ("arch", "dataset", "loss") and kr[k].n_unique() > 1]
if varying:
    st.info(f"These groups also differ in {', '.join(varying)}: they appear as separate points of one colour.")
ui.show_chart(charts.kappa_rho_scatter(kr, split=split_by), kr, "kr-scatter", name="kappa_rho_scatter",
              width="content" if split_by else "stretch")

st.subheader(f"In the paper's layout: κ / ρ / SR per model and temperature ({protocol} probes)")
table = paper.measured_layout(kr, varying)
st.dataframe(table, hide_index=True, width="stretch")
seeds = sorted(set(kr["n"].to_list()))
st.caption("Cells are seed means rounded like the paper (κ % / ρ % / SR) over n = "
           f"{seeds[0] if len(seeds) == 1 else f'{seeds[0]}–{seeds[-1]}'} seeds per cell; the CSV holds means, "
           "stds (empty for one seed) and n.")
st.download_button("table as CSV", lambda: csv_bytes(kr), "kappa_rho_sr.csv", "text/csv", key="kr-table-csv",
                   on_click="ignore")  # made when clicked, and the click reruns nothing
