"""Compare: 2 to 8 runs side by side (?runs=id1,id2,...): what differs in their configs and environments, their final results,
their training curves overlaid and their per-layer rank at the last epoch. The Runs page links here."""

import polars as pl
import streamlit as st

from app import charts, data, ui
from warehouse import environment

ui.open_page("Compare runs", needs_runs="the Compare page")

MIN_RUNS, MAX_RUNS = 2, 8
TITLES = charts.RESULT_TITLES

asked = [r.strip() for r in (st.query_params.get("runs") or "").split(",") if r.strip()]
asked = list(dict.fromkeys(asked))  # the same id twice is one run
if not asked:
    st.info("Pick runs to compare on the Runs page: tick 2 to 8 rows of its runs table, then follow "
            "**compare these runs**, or open this page with `?runs=ID1,ID2`.")
    st.markdown("[→ Runs](/Runs)")
    st.stop()
if not MIN_RUNS <= len(asked) <= MAX_RUNS:
    st.error(f"Compare takes {MIN_RUNS} to {MAX_RUNS} runs, not {len(asked)}: tick that many on the Runs page.")
    st.stop()

found = data.run_results(run_ids=asked)
unknown = [r for r in asked if r not in set(found["run_id"].to_list())]
if unknown:
    st.error(f"Unknown run id(s): {', '.join(unknown)}. Pick runs on the Runs page (or ingest, if they just ended).")
    st.stop()

# keep the order of the URL; label each run by its name (or id) and temperature, as legends show it
found = found.with_columns(pl.col("run_id").replace_strict({r: i for i, r in enumerate(asked)}).alias("_order")
                           ).sort("_order").drop("_order")
labels = {rid: f"{charts.run_label(rid, name)} · T={t:g}" if t is not None else charts.run_label(rid, name)
          for rid, name, t in found.select("run_id", "name", "temperature").iter_rows()}
found = found.with_columns(pl.col("run_id").replace_strict(labels).alias("label"))


def cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def full_height(rows: int) -> int:
    """Pixels for a table that shows all its rows (a side-by-side table is read whole, not scrolled)."""
    return 35 * (rows + 1) + 3


def side_by_side(frame: pl.DataFrame, rows: list[str], head: str, titles: dict[str, str] | None = None
                 ) -> pl.DataFrame:
    """One row per field, one column per run (the runs' labels), values as text ('—' for none)."""
    titles = titles or {}
    out = {head: [titles.get(r, r) for r in rows]}
    for rec in frame.iter_rows(named=True):
        out[rec["label"]] = [cell(rec[r]) for r in rows]
    return pl.DataFrame(out)


# ---- what differs --------------------------------------------------------------------------------------
st.subheader("Config differences")
candidates = ["sweep_id", "source", *data.CONFIG_FIELDS, "name", "tags", "note"]
differ = [c for c in candidates if found.select(pl.col(c).cast(pl.String).fill_null("\u0000")).n_unique() > 1]
if differ:
    st.dataframe(side_by_side(found, differ, "field"), hide_index=True, width="stretch", key="compare-config",
                 height=full_height(len(differ)))
else:
    st.caption("Their configs are equal in every field.")
same = [c for c in data.CONFIG_FIELDS if c not in differ and c != "data_root"]
if same:
    st.caption("Equal in all of them: " + ", ".join(f"{c}={cell(found[c][0])}" for c in same) + ".")

# ---- what differs in how they were made (run_environments: each run's own job's record) -------------
st.subheader("Environment differences")
envs = environment.primary(data.run_environments(asked).to_dicts())
records = [envs.get(r) for r in asked]
lines = environment.differences(records)
if lines:
    st.markdown("\n".join(f"- {ui.plain(line)}" for line in lines))
elif all(r is None for r in records):
    st.caption(f"Environment {environment.NOT_RECORDED} for any of them (made before Thermoscope recorded it).")
else:
    st.caption("Same code, packages, device and threads in all of them.")
if any(r is not None for r in records):
    differ_env = {c for c in environment.COMPARED if len({environment.show(c, r) for r in records}) > 1}
    rows = [c for c, _ in environment.FIELDS]
    env_frame = pl.DataFrame({"recorded": [("≠ " if c in differ_env else "") + environment.TITLES[c] for c in rows],
                              **{labels[rid]: [environment.show(c, rec) for c in rows]
                                 for rid, rec in zip(asked, records)}})
    with st.expander("every recorded field (≠ marks what differs)", expanded=bool(lines)):
        st.dataframe(env_frame, hide_index=True, width="stretch", key="compare-environment",
                     height=full_height(len(rows)))

# ---- final results ------------------------------------------------------------------------------------
st.subheader("Final results")
result_rows = ["status", "learned", "probes_converged", "probe_protocol", "final_epoch", *data.RESULT_COLUMNS,
               "best_auroc_by"]
st.dataframe(side_by_side(found, result_rows, "result", {**TITLES, "best_auroc_by": "best AUROC: score on set",
                                               "final_epoch": "last logged epoch",
                                               "probes_converged": "probes converged",
                                               "probe_protocol": "κ/ρ probe protocol"}),
             hide_index=True, width="stretch", key="compare-results", height=full_height(len(result_rows)))
st.caption("Last logged epoch for accuracy, loss and logits norm; each summary's latest measured epoch for SR, κ, "
           "ρ (mean over OOD sets) and AUROC (the best over OOD sets and scores). κ and ρ come from converged probes "
           "where the run has them, else from the paper's protocol (the row above says which); 'probes converged' "
           "is false when a converged probe stopped short of its tolerance. — = the run has no such number.")

# ---- training curves ---------------------------------------------------------------------------------
st.subheader("Training curves")
curves = data.run_epoch_curves(asked)
if curves.is_empty():
    st.caption("None of these runs has a training log (runs measured from outside weights have none).")
else:
    curves = curves.with_columns(pl.col("run_id").replace_strict(labels).alias("label"))
    log_y = st.toggle("log y for loss and logits norm", value=True, key="compare-logy",
                      help="both are positive and spread over decades between temperatures")
    logged = ("train_loss", "logits_norm") if log_y else ()
    if logged:  # a log axis cannot show 0 or less: those points are left out, not moved
        curves = curves.filter(~pl.col("quantity").is_in(list(logged)) | (pl.col("value") > 0))
    missing = [labels[r] for r in asked if r not in set(curves["run_id"].to_list())]
    ui.show_chart(charts.compare_curves(curves, log_y=logged), curves, key="compare-curves", name="compare_curves",
                  width="content")
    if missing:
        st.caption(f"No training log for: {', '.join(missing)}.")

# ---- per-layer rank ----------------------------------------------------------------------------------
st.subheader("Rank per layer at the last analysed epoch")
ranks = data.run_layer_ranks(asked)
if ranks.is_empty():
    ui.no_rows("per-layer ranks")
else:
    ranks = ranks.with_columns(pl.col("run_id").replace_strict(labels).alias("label"))
    kinds = sorted(ranks["kind"].unique().to_list(), key=lambda k: data.KIND_ORDER.get(k, 9))
    keep = st.multiselect("layer kinds", kinds, default=[k for k in kinds if k != "preact"] or kinds,
                          key="compare-kinds", help="preact = before the activation")
    shown = ranks.filter(pl.col("kind").is_in(keep)) if keep else ranks
    ui.show_chart(charts.compare_layer_ranks(shown), shown, key="compare-ranks", name="compare_layer_ranks")
    epochs = shown.group_by("label").agg(pl.col("epoch").first()).sort("label")
    st.caption("Epoch measured: " + "; ".join(f"{lab}: {ep}" for lab, ep in epochs.iter_rows()) + ".")
