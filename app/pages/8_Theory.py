"""Theory: the appendix demonstrations with sliders, computed live in numpy; plus the stored `theory` rows."""

import numpy as np
import polars as pl
import streamlit as st

from app import charts, data, theory, ui

ui.open_page("Theory: why softmax compresses")
st.caption("Computed here, live, in numpy (no training needed).")
rule = st.radio(
    "rank tolerance", theory.RANK_RULES, horizontal=True, key="theory-rule",
    format_func={"appendix": "appendix: 1e-8 · max(m, n)", "pytorch": "PyTorch default: σ_max · max(m, n) · eps"}.get,
    help="In exact arithmetic these matrices are full rank for every c > 0 / T > 0; the tolerance decides where "
    "they become numerically full rank. The warehouse's ranks use the PyTorch rule.")

# ---- Prop. K.1 ------------------------------------------------------------------------------------------
st.subheader("Softmax of a rank-2 matrix reaches full rank (Prop. K.1)")
st.caption("A is n × 2 Gaussian with unit rows, B = ÃÃᵀ has rank 2. Row-wise softmax(cB) has rank n for every c "
           "above a finite c₀ and tends to the identity: the softmax itself can create rank.")
c1, c2, c3 = st.columns(3)
n = c1.slider("n", 3, 24, 8, key="k1-n")
c = c2.slider("c", 0.0, 60.0, 10.0, 0.5, key="k1-c")
seed = c3.number_input("seed", 0, 10_000, 0, key="k1-seed")
cs = np.unique(np.concatenate([np.geomspace(0.01, 60, 60), [c] if c > 0 else []]))
k1 = theory.prop_k1(n, cs, int(seed), rule)
now = theory.prop_k1(n, np.array([c]), int(seed), rule).row(0, named=True)
st.metric(f"rank of softmax({c:g}·B)", f"{now['rank']} / {n}", help="rank(B) = 2")
left, right = st.columns(2)
with left:
    ui.show_chart(charts.lines(k1, x="c", y="rank", log_x=True, y_title="numerical rank of softmax(cB)",
                               title="rank vs c"), k1, "theory-k1-rank", name="prop_k1_rank")
    ui.show_chart(charts.lines(k1, x="c", y="sigma_min", log_x=True, log_y=True, y_title="σ_min of softmax(cB)",
                               title="smallest singular value vs c"), k1, "theory-k1-smin", name="prop_k1_sigma_min")
with right:
    sv = theory.singular_values(theory.softmax(c * theory.prop_k1_matrix(n, int(seed)), axis=1))
    ui.show_chart(charts.lines(sv, x="index", y="sigma", log_y=True, title=f"singular values at c = {c:g}",
                               y_title="σ"), sv, "theory-k1-sv", name="prop_k1_singular_values")

# ---- Figure 21 / Prop. J.2 --------------------------------------------------------------------------------
st.subheader("Column softmax of a rank-1 5 × 5 matrix over temperatures (Figure 21, Prop. J.2)")
st.caption("Inner products of columns whose arg-max differs split from those with the same arg-max as T falls; "
           "the split shrinks the gap σ₁ − σ₅ (below the bound √(1+r) − √max(1/n − r, 0)) and raises the rank.")
c1, c2 = st.columns(2)
t_now = c1.select_slider("T", options=[float(f"{t:.3g}") for t in np.geomspace(0.01, 100, 41)], value=1.0,
                         key="f21-t")
seed2 = c2.number_input("seed of the rank-1 matrix", 0, 10_000, 0, key="f21-seed")
m = theory.rank1_matrix(5, int(seed2))
temps = np.geomspace(0.01, 100, 61)
pairs, spectrum = theory.column_softmax_sweep(m, temps, rule)
inner = pairs.with_columns(pl.when(pl.col("same_argmax")).then(pl.lit("same arg-max"))
                           .otherwise(pl.lit("different arg-max")).alias("columns"))
ui.show_chart(charts.lines(inner, x="T", y="inner", color="columns", log_x=True, point=False,
                           y_title="⟨sᵢ, sⱼ⟩", title="inner products of column pairs").encode(
                               detail="pair:N"), inner, "theory-f21-inner", name="fig21_inner_products")
long = spectrum.unpivot(index="T", on=["gap", "bound"], variable_name="quantity", value_name="value")
left, right = st.columns(2)
with left:
    ui.show_chart(charts.lines(long, x="T", y="value", color="quantity", log_x=True, point=False,
                               title="σ₁ − σ₅ and the Prop. J.2 bound"), long, "theory-f21-gap",
                  name="fig21_gap_bound")
with right:
    ui.show_chart(charts.lines(spectrum, x="T", y="rank", log_x=True, point=False, title="numerical rank",
                               y_title="rank of S(T)"), spectrum, "theory-f21-rank", name="fig21_rank")
s_now = theory.softmax(m / t_now, axis=0)
mat = theory.matrix_frame(s_now)
ui.show_chart(charts.heatmap(mat, x="j", y="i", value="value", title=f"S(T = {t_now:g}), columns sum to 1",
                             x_title="column", y_title="row", size=240), mat, "theory-f21-matrix",
              name=f"fig21_matrix_T{t_now:g}")

# ---- stored rows -----------------------------------------------------------------------------------------------
st.subheader("Stored theory rows")
state, _ = data.warehouse_state()
rows = data.theory_rows() if state == "ok" else pl.DataFrame()
if rows.is_empty():
    st.info("No `theory` rows in the warehouse yet (`python -m analysis` writes them). The demos above need none.")
else:
    for exp in rows["experiment"].unique().sort().to_list():
        part = rows.filter(pl.col("experiment") == exp)
        pname = part["param_name"][0]
        ui.show_chart(charts.lines(part, x="param", y="value", color="metric", x_title=pname, title=exp), part,
                      f"theory-stored-{exp}", name=f"theory_{exp}")
