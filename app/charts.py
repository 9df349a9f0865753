"""Altair chart builders: pure functions from (already aggregated) Polars frames to charts.

No Streamlit and no SQL here, so a chart can be built in a notebook or a test from any frame with
the documented columns. Temperatures are coloured on one fixed ordinal scheme (cold = low T) so
T = 10 has the same colour on every page.
"""

from __future__ import annotations

import functools
import json

import altair as alt
import polars as pl

TEMP_SCHEME = "plasma"


def t_label(t: float) -> str:
    return f"T={t:g}"


def with_t_label(frame: pl.DataFrame, col: str = "temperature") -> pl.DataFrame:
    return frame.with_columns(
        pl.col(col).map_elements(t_label, return_dtype=pl.String).alias("T")
    )


def _t_color(frame: pl.DataFrame, col: str = "temperature", legend_title: str = "temperature") -> alt.Color:
    order = [t_label(t) for t in sorted(frame[col].unique().to_list())] if not frame.is_empty() else []
    return alt.Color("T:N", sort=order, scale=alt.Scale(scheme=TEMP_SCHEME, domain=order),
                     legend=alt.Legend(title=legend_title))


def layer_band_chart(frame: pl.DataFrame, *, y_title: str, title: str = "", height: int = 300,
                     y_domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """One line per temperature over layers (mean over seeds) with a ± std band.

    Needs columns temperature, position, layer_name, mean, lo, hi, n (see data.layer_curves).
    """
    frame = with_t_label(frame)
    return _layer_band(alt.Chart(frame), *_layer_band_keys(frame), y_title, title, height, y_domain)


def layer_band_spec(frame: pl.DataFrame, *, y_title: str, title: str = "", height: int = 300,
                    y_domain: tuple[float, float] | None = None) -> tuple[dict, pl.DataFrame]:
    """The same chart as a Vega-Lite dict without data, plus the frame to send with it.

    Building an Altair chart costs ~20 ms; the spec only depends on the layer names, the temperatures and
    the titles, so it is built once per such shape and reused when only the numbers change (a click)."""
    frame = with_t_label(frame)
    spec = _layer_band_template(*_layer_band_keys(frame), y_title, title, height,
                                tuple(y_domain) if y_domain else None)
    return json.loads(spec), frame


def _layer_band_keys(frame: pl.DataFrame) -> tuple[tuple, tuple, bool]:
    names = frame.sort("position").select("position", "layer_name").unique(maintain_order=True)
    temps = tuple(t_label(t) for t in sorted(frame["temperature"].unique().to_list())) if not frame.is_empty() else ()
    return tuple((int(p), str(n)) for p, n in names.iter_rows()), temps, "config_group" in frame.columns


@functools.lru_cache(maxsize=256)
def _layer_band_template(names: tuple, temps: tuple, grouped: bool, y_title: str, title: str, height: int,
                         y_domain: tuple | None) -> str:
    spec = _layer_band(alt.Chart(), names, temps, grouped, y_title, title, height, y_domain).to_dict(validate=False)
    return json.dumps(without_data(spec))


def without_data(spec: dict) -> dict:
    """Drop the placeholder Altair writes for a chart built without data ({"name": "empty"} and its dataset),
    so the frame sent beside the spec is the chart's data, as for st.vega_lite_chart(frame, spec)."""
    spec.pop("datasets", None)
    spec.pop("data", None)
    for part in spec.get("layer", []):
        part.pop("data", None)
    return spec


def _layer_band(base: alt.Chart, names: tuple, temps: tuple, grouped: bool, y_title: str, title: str, height: int,
                y_domain) -> alt.LayerChart:
    label_expr = _label_expr(names)
    x = alt.X("position:Q", title="layer", axis=alt.Axis(tickMinStep=1, labelExpr=label_expr, labelAngle=-40))
    scale = alt.Scale(domain=list(y_domain)) if y_domain else alt.Scale(zero=False)
    color = alt.Color("T:N", sort=list(temps), scale=alt.Scale(scheme=TEMP_SCHEME, domain=list(temps)),
                      legend=alt.Legend(title="temperature"))
    detail = alt.Detail("config_group:N") if grouped else alt.Detail("T:N")
    base = base.encode(x=x, color=color, detail=detail)
    band = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=y_title, scale=scale), y2="hi:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=y_title, scale=scale),
        tooltip=["T:N", "layer_name:N", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("std:Q", format=".3g"),
                 "n:Q"],
    )
    return (band + line).properties(title=title, height=height)


def _label_expr(names: tuple) -> str:
    """Vega expression mapping a layer position to its name (so logits and softmax show apart)."""
    if not names:
        return "datum.value"
    pairs = ", ".join(f"'{int(p)}': '{_esc(n)}'" for p, n in names)
    return f"({{{pairs}}})[datum.value] || ''"


def _esc(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def temperature_chart(frame: pl.DataFrame, *, y_title: str, color: str | None = None, title: str = "",
                      height: int = 280, y_domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """mean ± std over seeds against temperature (log axis), optionally one line per `color` field.

    Needs temperature, mean, lo, hi, n (+ the `color` column).
    """
    frame = with_t_label(frame)
    x = alt.X("temperature:Q", title="temperature T", scale=alt.Scale(type="log"))
    scale = alt.Scale(domain=list(y_domain)) if y_domain else alt.Scale(zero=False)
    enc = dict(x=x)
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    # no detail by config_group here: each group sits at one temperature, the line joins them across T
    base = alt.Chart(frame).encode(**enc)
    tips = ["T:N", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("std:Q", format=".3g"), "n:Q"]
    if color:
        tips.insert(1, f"{color}:N")
    bars = base.mark_errorbar(ticks=True).encode(y=alt.Y("lo:Q", title=y_title, scale=scale), y2="hi:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        y=alt.Y("mean:Q", title=y_title, scale=scale), tooltip=tips)
    return (bars + line).properties(title=title, height=height)


def kappa_rho_scatter(frame: pl.DataFrame, height: int = 380) -> alt.LayerChart:
    """κ (x) against ρ (y) per seed group: colour = temperature, shape = architecture, bars = ± std."""
    frame = with_t_label(frame).with_columns(
        (pl.col("kappa") - pl.col("kappa_std")).alias("kappa_lo"), (pl.col("kappa") + pl.col("kappa_std")).alias("kappa_hi"),
        (pl.col("rho") - pl.col("rho_std")).alias("rho_lo"), (pl.col("rho") + pl.col("rho_std")).alias("rho_hi"),
    )
    color = _t_color(frame)
    base = alt.Chart(frame).encode(color=color)
    xs = alt.Scale(zero=False)
    ys = alt.Scale(zero=False)
    xbar = base.mark_rule().encode(x=alt.X("kappa_lo:Q", scale=xs, title="κ effective depth [%] (lower = more compressed)",
                                           axis=alt.Axis(format=".1f")),
                                   x2="kappa_hi:Q", y=alt.Y("rho:Q", scale=ys))
    ybar = base.mark_rule().encode(y=alt.Y("rho_lo:Q", scale=ys, title="ρ OOD drop [%] (lower = better)",
                                           axis=alt.Axis(format=".1f")),
                                   y2="rho_hi:Q", x=alt.X("kappa:Q", scale=xs))
    pts = base.mark_point(size=110, filled=True, opacity=0.9).encode(
        x=alt.X("kappa:Q", scale=xs), y=alt.Y("rho:Q", scale=ys), shape=alt.Shape("arch:N", title="architecture"),
        tooltip=["arch:N", "dataset:N", "loss:N", "T:N", alt.Tooltip("kappa:Q", format=".1f"),
                 alt.Tooltip("kappa_std:Q", format=".1f"), alt.Tooltip("rho:Q", format=".1f"),
                 alt.Tooltip("rho_std:Q", format=".1f"), alt.Tooltip("sr:Q", format=".1f"), "n:Q"],
    )
    return (xbar + ybar + pts).properties(height=height)


def epoch_panels(frame: pl.DataFrame, *, norm: str = "logits_norm", ranks: tuple[str, ...] = (
        "rank_pre_softmax", "rank_post_softmax"), height: int = 200, width: int = 760) -> alt.VConcatChart:
    """Linked panels over epochs: the logits norm on top, pre- and post-softmax rank below (shared x, one
    colour per temperature, dashed = post-softmax). Needs config_group, temperature, epoch, quantity, mean, lo, hi."""
    frame = with_t_label(frame)
    color = _t_color(frame)
    # a fixed width: Vega-Lite cannot stretch concatenated views to the container (the legend would fall off)
    points = frame["epoch"].n_unique() <= 40 if not frame.is_empty() else True
    brush = alt.selection_interval(encodings=["x"], name="epochs")
    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(domain={"param": "epochs"}))
    tips = ["T:N", "quantity:N", "epoch:Q", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("std:Q", format=".3g"),
            "n:Q"]
    top_base = alt.Chart(frame).transform_filter(alt.datum.quantity == norm).encode(
        x=alt.X("epoch:Q", title="epoch (drag to zoom the panel below)"), color=color,
        detail=alt.Detail("config_group:N"))
    top = (top_base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title="logits norm", scale=alt.Scale(type="symlog")),
                                                   y2="hi:Q")
           + top_base.mark_line(point=points).encode(y=alt.Y("mean:Q", scale=alt.Scale(type="symlog")), tooltip=tips)
           ).add_params(brush).properties(height=height, width=width)
    bottom = alt.Chart(frame).transform_filter(alt.FieldOneOfPredicate(field="quantity", oneOf=list(ranks))).mark_line(
        point=points).encode(
        x=x, y=alt.Y("mean:Q", title="rank of the eval batch's logits"), color=color,
        strokeDash=alt.StrokeDash("quantity:N", title="", sort=list(ranks)),
        detail=alt.Detail("config_group:N"), tooltip=tips,
    ).properties(height=height, width=width)
    return alt.vconcat(top, bottom).resolve_scale(color="shared")


def init_norm_chart(frame: pl.DataFrame, height: int = 280) -> alt.Chart:
    """Logits norm at initialisation: one point per initialisation, per architecture, log axis."""
    return alt.Chart(frame).mark_circle(size=70, opacity=0.8).encode(
        x=alt.X("arch:N", title="architecture"),
        xOffset=alt.XOffset("init:N"),
        y=alt.Y("logits_norm:Q", title="logits norm at init", scale=alt.Scale(type="log")),
        color=alt.Color("init:N", title="initialisation"),
        tooltip=["arch:N", "dataset:N", "init:N", "init_std:Q", "seed:Q", alt.Tooltip("logits_norm:Q", format=".4g")],
    ).properties(height=height)


def heatmap(frame: pl.DataFrame, *, x: str, y: str, value: str, title: str = "", x_title: str | None = None,
            y_title: str | None = None, domain: tuple[float, float] = (0.0, 1.0), size: int = 300,
            ordinal: bool = True) -> alt.Chart:
    kind = "O" if ordinal else "Q"
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X(f"{x}:{kind}", title=x_title or x),
        y=alt.Y(f"{y}:{kind}", title=y_title or y, sort="ascending"),
        color=alt.Color(f"{value}:Q", title="|cos|", scale=alt.Scale(scheme="viridis", domain=list(domain))),
        tooltip=[f"{x}:{kind}", f"{y}:{kind}", alt.Tooltip(f"{value}:Q", format=".3f")],
    ).properties(title=title, width=size, height=size)


def lines(frame: pl.DataFrame, *, x: str, y: str, color: str | None = None, log_x: bool = False, log_y: bool = False,
          x_title: str | None = None, y_title: str | None = None, title: str = "", height: int = 260,
          point: bool = True, dash: str | None = None) -> alt.Chart:
    enc = dict(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=alt.Scale(type="log") if log_x else alt.Scale()),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(type="log") if log_y else alt.Scale(zero=False)),
        tooltip=[f"{x}:Q", alt.Tooltip(f"{y}:Q", format=".4g")] + ([f"{color}:N"] if color else []),
    )
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    if dash:
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=dash)
    return alt.Chart(frame).mark_line(point=point).encode(**enc).properties(title=title, height=height)


def paper_vs_measured(frame: pl.DataFrame, height: int = 320) -> alt.Chart:
    """One panel per quantity (κ, ρ, SR): the paper's value (hollow) beside the measured mean ± std (filled)."""
    base = alt.Chart(frame).encode(y=alt.Y("config:N", title=None, sort=None))
    paper = base.mark_point(size=90, shape="diamond", color="black").encode(
        x=alt.X("paper:Q", title="value"), tooltip=["config:N", "quantity:N", "paper:Q", "measured:Q", "diff:Q"])
    bar = base.mark_rule(color="#d62728").encode(x="lo:Q", x2="hi:Q")
    meas = base.mark_point(size=80, filled=True, color="#d62728").encode(
        x="measured:Q", tooltip=["config:N", "quantity:N", "paper:Q", alt.Tooltip("measured:Q", format=".1f"),
                                 alt.Tooltip("std:Q", format=".1f"), "n:Q", alt.Tooltip("diff:Q", format="+.1f")])
    return (bar + paper + meas).properties(height=height, width=220).facet(
        column=alt.Column("quantity:N", title=None, sort=["κ", "ρ", "SR"])).resolve_scale(x="independent")


def to_svg(chart: alt.Chart) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict()).encode()


def to_png(chart: alt.Chart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=scale)


# ---- runs and comparisons (the Runs and Compare pages) -----------------------------------------------------

RESULT_TITLES = {
    "test_acc": "test accuracy", "train_acc": "train accuracy", "train_loss": "train loss",
    "logits_norm": "logits norm", "solution_rank": "solution rank SR", "kappa": "κ effective depth [%]",
    "rho": "ρ OOD drop [%]", "best_auroc": "best OOD AUROC",
}
# quantities that are positive by nature and spread over decades: a log axis reads them (T = 1 vs T = 100)
LOG_FRIENDLY = ("logits_norm", "train_loss", "temperature", "lr", "init_std", "weight_decay")


def run_label(run_id: str, name: str | None) -> str:
    """How a run is called in legends: its name when it has one, then the start of its id."""
    return f"{name} · {run_id[:8]}" if name else run_id


def results_scatter(frame: pl.DataFrame, *, x: str, y: str, log_x: bool = False, log_y: bool = False,
                    height: int = 360) -> alt.Chart:
    """One point per run: a config field (x, numeric or not) against a final result (y), colour = temperature.

    Needs run_id, name, temperature, `x` and `y`; rows without a `y` are left out (not drawn as 0)."""
    frame = frame.filter(pl.col(y).is_not_null() & pl.col("temperature").is_not_null())
    frame = with_t_label(frame)
    numeric = frame.schema[x].is_numeric() if x in frame.schema else False
    if numeric:
        xs = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
        x_enc = alt.X(f"{x}:Q", title=x, scale=xs)
    else:
        x_enc = alt.X(f"{x}:N", title=x, sort="ascending", axis=alt.Axis(labelAngle=-30))
    ys = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    tips = [alt.Tooltip("name:N", title="name"), alt.Tooltip("run_id:N", title="run"), "T:N",
            alt.Tooltip(f"{x}:{'Q' if numeric else 'N'}", title=x),
            alt.Tooltip(f"{y}:Q", title=RESULT_TITLES.get(y, y), format=".4g")]
    if "seed" in frame.columns and x != "seed":
        tips.insert(3, alt.Tooltip("seed:Q", title="seed"))
    enc = dict(x=x_enc, y=alt.Y(f"{y}:Q", title=RESULT_TITLES.get(y, y), scale=ys), color=_t_color(frame),
               tooltip=tips)
    if not numeric:  # temperatures side by side within each category, so points of one T do not hide another's
        enc["xOffset"] = alt.XOffset("T:N", sort=[t_label(t) for t in sorted(frame["temperature"].unique())])
    return alt.Chart(frame).mark_circle(size=70, opacity=0.8).encode(**enc).properties(height=height)


def compare_curves(frame: pl.DataFrame, *, quantities: tuple[str, ...] = ("train_loss", "train_acc", "test_acc",
                   "logits_norm"), log_y: tuple[str, ...] = (), width: int = 340, height: int = 200) -> alt.ConcatChart:
    """The training curves of a few runs overlaid: one panel per quantity, each with its own y axis,
    one colour per run (`label`). Needs label, epoch, quantity, value (Queries.run_epoch_curves + a label)."""
    labels = sorted(frame["label"].unique().to_list()) if not frame.is_empty() else []
    color = alt.Color("label:N", title="run", sort=labels, legend=alt.Legend(orient="bottom", columns=2,
                                                                              labelLimit=400))
    panels = []
    for q in quantities:
        part = frame.filter(pl.col("quantity") == q)
        if part.is_empty():
            continue
        scale = alt.Scale(type="log") if q in log_y else alt.Scale(zero=False)
        panels.append(alt.Chart(part).mark_line(point=part["epoch"].n_unique() <= 40).encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=RESULT_TITLES.get(q, q), scale=scale),
            color=color,
            tooltip=["label:N", "epoch:Q", alt.Tooltip("value:Q", title=RESULT_TITLES.get(q, q), format=".4g")],
        ).properties(title=RESULT_TITLES.get(q, q), width=width, height=height))
    # independent y per panel: a loss of 2 and a norm of 8,000 never share an axis
    return alt.concat(*panels, columns=2).resolve_scale(y="independent", color="shared")


def compare_layer_ranks(frame: pl.DataFrame, height: int = 300) -> alt.Chart:
    """Per-layer rank of a few runs at their last analysed epoch: one line per run (`label`).

    Needs label, position, layer_name, kind, epoch, value (Queries.run_layer_ranks + a label)."""
    names = frame.sort("position").select("position", "layer_name").unique(maintain_order=True)
    label_expr = _label_expr(tuple((int(p), str(n)) for p, n in names.iter_rows()))
    labels = sorted(frame["label"].unique().to_list()) if not frame.is_empty() else []
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("position:Q", title="layer", axis=alt.Axis(tickMinStep=1, labelExpr=label_expr, labelAngle=-40)),
        y=alt.Y("value:Q", title="numerical rank", scale=alt.Scale(zero=False)),
        color=alt.Color("label:N", title="run", sort=labels, legend=alt.Legend(orient="bottom", columns=2,
                                                                                labelLimit=400)),
        tooltip=["label:N", "layer_name:N", "kind:N", "epoch:Q", alt.Tooltip("value:Q", title="rank", format=".4g")],
    ).properties(height=height)
