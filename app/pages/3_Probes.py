"""Tunnel / probes: ID and OOD linear-probe accuracy per layer, one line per temperature, seed-grouped."""

import streamlit as st

from app import charts, data, state, ui

filters, split_by = ui.open_page("Tunnel effect: linear probes per layer", needs_runs="the probes page", pick="probe")
c0, c00 = st.columns([1, 3])
protocol = ui.pick_protocol(c0, filters, "probe")
c00.caption(f"Probes: {ui.PROTOCOL_WORDS[protocol]}.")
skip = ui.without_unconverged(st, filters, protocol, "probe")
st.caption(
    "A linear probe per layer, trained on the frozen representation. "
    "In distribution (ID) accuracy saturates early in compressed (high-T) networks: κ is the share of layers "
    "up to the first that reaches τ of the best. Out of distribution (OOD) accuracy then drops over the "
    "'tunnel': ρ = (best − last) / best."
)
opts = data.layer_options(filters, "probe_acc")
if opts.is_empty():
    ui.no_rows("probe-accuracy rows")
    st.stop()
epochs = sorted(set(opts["epoch"].to_list()))
c1, c2 = st.columns([1, 3])
epoch = ui.select(c1, "epoch", ["last", *epochs], "last", key="probe-epoch", name=state.EPOCH, help="'last' = each group's last analysed epoch")
full = c2.toggle("full 0–1 range", value=False, key="probe-full",
                 help="off: the axis spans the values (with a little padding) so differences between "
                 "temperatures show; on: accuracy from 0 to 1")
sets = sorted(set(opts["dataset"].to_list()), key=lambda d: (d != filters["dataset"], d))
for ds in sets:
    role = "ID" if ds == filters["dataset"] else "OOD"
    split = "test" if "test" in set(opts.filter(dataset=ds)["split"].to_list()) else None
    curves = data.layer_curves(filters, "probe_acc", kinds=["hidden", "logits", "softmax"], split=split,
                               datasets=[ds], epoch=None if epoch == "last" else int(epoch), split_by=split_by,
                               protocol=protocol, skip_unconverged=skip)
    st.subheader(f"{role}: {ds} ({protocol} probes)")
    if curves.is_empty():
        ui.no_rows(f"probe rows on {ds}")
        continue
    ui.show_layer_curves(curves, f"probe-{ds}", y_title=f"{role} probe accuracy",
                         y_domain=(0, 1) if full else None, split=split_by, name=f"probe_{role}_{filters['arch']}_{ds}")

kr = data.summary_by_temperature(filters, ["kappa", "rho"], split_by=split_by, protocol=protocol)
if not kr.is_empty():
    st.subheader(f"κ and ρ of these runs ({protocol} probes)")
    ui.show_chart(charts.temperature_chart(kr, y_title="%", color="metric", split=split_by), kr, "probe-kr",
                  name=f"kappa_rho_{filters['arch']}_{filters['dataset']}")
