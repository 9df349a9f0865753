"""Logits norm: over epochs with pre- and post-softmax rank (linked panels); at initialisation per architecture."""

import streamlit as st

from app import charts, data, ui

filters, split_by = ui.open_page("Logits norm", needs_runs="the logits-norm page", pick="norm")
st.caption(
    "Mean ‖z‖₂ of the logits on a fixed evaluation batch, and the numerical rank of that batch's logits before "
    "and after softmax(z/T) (Figures 18–20). At high T the post-softmax rank grows because the logits norm "
    "grows, not the pre-softmax rank. Each panel has its own axis; the norm's is logarithmic (it spans orders "
    "of magnitude between temperatures). Bands: ± 1 std over seeds (×/÷ in log space), only where n ≥ 2."
)
curves = data.epoch_curves(filters, split_by=split_by)
if curves.is_empty():
    ui.no_rows("epoch logs")
else:
    ui.show_curve_panels(curves, "norm-epochs", name=f"logits_norm_{filters['arch']}_{filters['dataset']}",
                         quantities=charts.EPOCH_PANELS, log_y=True, split=split_by, height=200)

st.subheader("Logits norm at initialisation")
st.caption("One point per initialisation (seed), with the dataset its input batch came from. The paper reports "
           "VGG-19's initial norm orders of magnitude below the ResNets' — why its baseline already behaves like "
           "a high-temperature network; compare with what these points measure: measured here, the gap appears "
           "with torchvision's constructor init (`init = \"torchvision\"`) and not with PyTorch's default.")
init = data.init_norms()
if init.is_empty():
    st.info("No `init_norms` rows in the warehouse yet: one row per random initialisation (Figure 8, "
            "Appendix E). Write them with `python -m training.init_norms --arch mlp,resnet18,vgg19 "
            "--dataset noise-3x32x32` and `python -m warehouse ingest` (make demo-run does). "
            "The curves above need none.")
else:
    ui.show_chart(charts.init_norm_chart(init), init, "norm-init", name="init_norms")
