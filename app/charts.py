"""Altair chart builders: pure functions from (already aggregated) Polars frames to charts.

No Streamlit and no SQL here, so a chart can be built in a notebook or a test from any frame with
the documented columns. Temperatures are coloured on one fixed ordinal scheme (cold = low T) so
T = 10 has the same colour on every page.
"""

from __future__ import annotations

import functools
import json
import math

import altair as alt
import polars as pl

TEMP_SCHEME = "plasma"


def t_label(t: float) -> str:
    return f"T={t:g}"


def with_t_label(frame: pl.DataFrame, col: str = "temperature") -> pl.DataFrame:
    return frame.with_columns(
        pl.col(col).map_elements(t_label, return_dtype=pl.String).alias("T")
    )


def _n_range(values: list) -> str:
    ns = [int(v) for v in values if v is not None]
    if not ns:
        return "?"
    lo, hi = min(ns), max(ns)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def n_caption(frame: pl.DataFrame, unit: str = "seeds") -> str:
    """'n = 2 seeds per point', or a range, and what n < 2 means for the bands (printed on every chart)."""
    if frame.is_empty() or "n" not in frame.columns:
        return ""
    ns = [int(v) for v in frame["n"].drop_nulls().to_list()]
    text = f"n = {_n_range(ns)} {unit if max(ns, default=0) != 1 else unit.rstrip('s')} per point"
    if ns and min(ns) < 2:
        text += " (no band where n = 1: one seed has no spread)"
    return text


def with_legend_labels(frame: pl.DataFrame, col: str = "temperature") -> pl.DataFrame:
    """Add T ('T=10'), Tn ('T=10 (n=3)', the legend: n per temperature, a range when points differ) and stat
    ('0.812 ± 0.021 (n=3)', or '0.812 (n=1)' without a spread: the tooltip never shows '± 0' for one seed)."""
    frame = with_t_label(frame, col)
    if "n" in frame.columns:
        per_t = frame.group_by("T").agg(pl.col("n").min().alias("_lo"), pl.col("n").max().alias("_hi"))
        per_t = per_t.with_columns(
            pl.when(pl.col("_lo") == pl.col("_hi"))
            .then(pl.format("{} (n={})", pl.col("T"), pl.col("_lo")))
            .otherwise(pl.format("{} (n={}–{})", pl.col("T"), pl.col("_lo"), pl.col("_hi"))).alias("Tn"))
        frame = frame.join(per_t.select("T", "Tn"), on="T", how="left")
    else:
        frame = frame.with_columns(pl.col("T").alias("Tn"))
    if "mean" in frame.columns:
        value = pl.col("mean").map_elements(lambda v: f"{v:.4g}", return_dtype=pl.String)
        spread = (pl.col("std").map_elements(lambda v: f"{v:.3g}", return_dtype=pl.String)
                  if "std" in frame.columns else pl.lit(None, dtype=pl.String))
        n = pl.col("n").cast(pl.String) if "n" in frame.columns else pl.lit("?")
        frame = frame.with_columns(
            pl.when(spread.is_not_null()).then(pl.format("{} ± {} (n={})", value, spread, n))
            .otherwise(pl.format("{} (n={})", value, n)).alias("stat"))
    return frame


def _t_order(frame: pl.DataFrame, col: str = "temperature") -> list[str]:
    """Tn labels in temperature order (the legend and colour domain)."""
    if frame.is_empty():
        return []
    pairs = frame.select(col, "Tn").unique().sort(col)
    return pairs["Tn"].to_list()


def _t_color(frame: pl.DataFrame, col: str = "temperature", legend_title: str = "temperature") -> alt.Color:
    order = _t_order(frame, col)
    return alt.Color("Tn:N", sort=order, scale=alt.Scale(scheme=TEMP_SCHEME, domain=order),
                     legend=_t_legend(legend_title))


def _t_legend(title: str = "temperature") -> alt.Legend:
    """Opaque legend symbols: the bands' low opacity would otherwise fade every entry alike."""
    return alt.Legend(title=title, symbolOpacity=1, symbolType="circle")


# ---- split by a config field ---------------------------------------------------------------------------

MAX_DASHES = 4  # more values than this and dash patterns stop being told apart: one facet column each


def with_split(frame: pl.DataFrame, split: str | None) -> pl.DataFrame:
    """Add split_value: the split field's value as text ('120', 'kaiming', 'True'); the field stays as is."""
    if not split:
        return frame
    if split not in frame.columns:
        raise ValueError(f"split by {split!r}: the frame has no {split!r} column (ask the query with split_by)")
    return frame.with_columns(pl.col(split).cast(pl.String).fill_null("none").alias("split_value"))


def _split_values(frame: pl.DataFrame, split: str | None) -> tuple[str, ...]:
    if not split or frame.is_empty():
        return ()
    return tuple(sorted(frame["split_value"].unique().to_list(), key=_natural))


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def split_mode(values: tuple[str, ...]) -> str | None:
    """'dash' (a stroke dash per value) or 'facet' (a column per value, when dashes would be unreadable)."""
    if not values:
        return None
    return "dash" if len(values) <= MAX_DASHES else "facet"


def _dash(split: str, values: tuple[str, ...]) -> alt.StrokeDash:
    return alt.StrokeDash("split_value:N", sort=list(values), scale=alt.Scale(domain=list(values)),
                          legend=_dash_legend(split))


def _dash_legend(title: str) -> alt.Legend:
    """A legend that draws each dash pattern as a stroke: with points on the lines, Vega-Lite would otherwise
    show every entry as the same filled circle."""
    return alt.Legend(title=title, symbolType="stroke", symbolStrokeWidth=2, symbolSize=200)


# ---- axes ------------------------------------------------------------------------------------------------

INTEGER_QUANTITIES = frozenset({"rank", "solution_rank", "rank_pre_softmax", "rank_post_softmax"})


def log_ticks(lo: float, hi: float) -> list[float]:
    """Readable ticks of a log axis covering [lo, hi]: powers of ten when the values span two decades or
    more (1, 10, 100, 1000, ...), else 1-2-5 steps (20, 50, 100, 200, 500, 1000), so T = 1 (≈ 35) and
    T = 10 (≈ 550) each sit between labelled ticks. Needs 0 < lo ≤ hi."""
    if not (lo > 0 and hi >= lo and math.isfinite(hi)):
        raise ValueError(f"log ticks need 0 < lo <= hi, got {lo}, {hi}")
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if last == first:
        last += 1
    steps = (1,) if math.log10(hi / lo) >= 2 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in steps]
    below = [t for t in ticks if t <= lo * (1 + 1e-9)]
    above = [t for t in ticks if t >= hi * (1 - 1e-9)]
    low, high = max(below), min(above)
    return [float(f"{t:.6g}") for t in ticks if low <= t <= high]


def log_domain(lo: float, hi: float) -> tuple[float, float]:
    """The data's range with 5 % of its log-width as margin (at least x/÷ 1.02): the axis spans the values,
    not the enclosing ticks, so a loss between 2.28 and 2.31 is not drawn as a flat line on a 2–5 axis."""
    pad = max(1.02, (hi / lo) ** 0.05)
    return float(f"{lo / pad:.6g}"), float(f"{hi * pad:.6g}")


def ticks_within(lo: float, hi: float, want: int = 3) -> list[float]:
    """log_ticks inside [lo, hi]; where fewer than `want` fall inside (a narrow range), 1-9 steps, then
    evenly spaced round values, so every log axis carries at least a few labelled ticks."""
    ticks = [t for t in log_ticks(lo, hi) if lo <= t <= hi]
    if len(ticks) < want:
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in range(1, 10) if lo <= m * 10.0 ** e <= hi]
    if len(ticks) < want:
        raw = (hi - lo) / (want + 1)
        step = 10.0 ** math.floor(math.log10(raw))
        step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
        ticks = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    return [float(f"{t:.6g}") for t in ticks]


def y_axis(frame: pl.DataFrame, title: str, *, log: bool = False, integer: bool = False,
           domain: tuple[float, float] | None = None, cols: tuple[str, ...] = ("mean", "lo", "hi")
           ) -> tuple[alt.Scale, alt.Axis]:
    """The y scale and axis for a panel: a log axis with ticks at powers of ten or 1-2-5 (log_ticks);
    otherwise linear, not forced to include 0 (a little padding) so differences show; integer counts get
    whole-number ticks ('10', never '10.000000'); `domain` fixes the range (e.g. a "full 0–1" toggle)."""
    values = [v for c in cols if c in frame.columns for v in frame[c].drop_nulls().to_list()
              if v is not None and math.isfinite(v)]
    if log:
        positive = [v for v in values if v > 0]
        if positive:
            lo, hi = log_domain(min(positive), max(positive))
            return (alt.Scale(type="log", domain=[lo, hi], nice=False),
                    alt.Axis(title=title, values=ticks_within(lo, hi), format=",~g"))
        return alt.Scale(type="log"), alt.Axis(title=title, format=",~g")
    if domain:
        return alt.Scale(domain=list(domain)), alt.Axis(title=title)
    if values and min(values) == max(values):
        # one value (one run, one epoch): Vega would stretch a zero-width domain to 0-1 ticks labelled '0';
        # centre the value with a small margin and label it alone
        v = values[0]
        pad = 1.0 if integer or v == 0 else abs(v) * 0.05
        return alt.Scale(domain=[v - pad, v + pad], nice=False), alt.Axis(title=title, values=[v], format=",~g")
    if integer:
        return alt.Scale(zero=False, padding=8), alt.Axis(title=title, tickMinStep=1, format="d")
    # no format on a linear axis: Vega picks the precision from the tick step (a ",~g" specifier would be
    # rounded to that precision too, giving "1.2e+2")
    return alt.Scale(zero=False, padding=8), alt.Axis(title=title)


def epoch_axis(frame: pl.DataFrame, most: int = 12) -> alt.Axis:
    """Whole-epoch ticks. `tickMinStep` alone is not honoured by every Vega renderer (vl-convert 1.9, which draws
    the SVG/PNG downloads and the report, labelled 3 epochs '0 1 1 2 2'), so a short log lists its epochs."""
    epochs = frame["epoch"].drop_nulls() if "epoch" in frame.columns else pl.Series([], dtype=pl.Int64)
    if epochs.is_empty() or epochs.max() - epochs.min() > most:
        return alt.Axis(tickMinStep=1, format="d")
    return alt.Axis(values=list(range(int(epochs.min()), int(epochs.max()) + 1)), format="d")


# ---- one line per temperature over layers ------------------------------------------------------------------


def layer_band_chart(frame: pl.DataFrame, *, y_title: str, title: str = "", height: int = 300,
                     y_domain: tuple[float, float] | None = None, split: str | None = None,
                     integer: bool = False) -> alt.TopLevelMixin:
    """One line per temperature over layers (mean over seeds) with a ± std band where n ≥ 2.

    Needs columns temperature, position, layer_name, mean, lo, hi, n (see data.layer_curves), plus the
    `split` column when given: lines of one T then differ by dash (or a facet column per value).
    """
    frame = with_split(with_legend_labels(frame), split)
    keys = _layer_band_keys(frame, split)
    chart = _layer_band(alt.Chart(frame), *keys, y_title, title, height, y_domain, integer, n_caption(frame))
    return chart


def layer_band_spec(frame: pl.DataFrame, *, y_title: str, title: str = "", height: int = 300,
                    y_domain: tuple[float, float] | None = None, split: str | None = None,
                    integer: bool = False) -> tuple[dict, pl.DataFrame]:
    """The same chart as a Vega-Lite dict without data, plus the frame to send with it.

    Building an Altair chart costs ~20 ms; the spec only depends on the layer names, the temperatures and
    the titles, so it is built once per such shape and reused when only the numbers change (a click)."""
    frame = with_split(with_legend_labels(frame), split)
    spec = _layer_band_template(*_layer_band_keys(frame, split), y_title, title, height,
                                tuple(y_domain) if y_domain else None, integer, n_caption(frame))
    return json.loads(spec), frame


def _layer_band_keys(frame: pl.DataFrame, split: str | None) -> tuple[tuple, tuple, bool, str | None, tuple]:
    names = frame.sort("position").select("position", "layer_name").unique(maintain_order=True)
    temps = tuple(_t_order(frame))
    return (tuple((int(p), str(n)) for p, n in names.iter_rows()), temps, "config_group" in frame.columns, split,
            _split_values(frame, split))


@functools.lru_cache(maxsize=256)
def _layer_band_template(names: tuple, temps: tuple, grouped: bool, split: str | None, splits: tuple,
                         y_title: str, title: str, height: int, y_domain: tuple | None, integer: bool,
                         caption: str) -> str:
    chart = _layer_band(alt.Chart(), names, temps, grouped, split, splits, y_title, title, height, y_domain,
                        integer, caption)
    return json.dumps(without_data(chart.to_dict(validate=False)))


def without_data(spec: dict) -> dict:
    """Drop the placeholder Altair writes for a chart built without data ({"name": "empty"} and its dataset),
    so the frame sent beside the spec is the chart's data, as for st.vega_lite_chart(frame, spec)."""
    spec.pop("datasets", None)
    spec.pop("data", None)
    parts = spec.get("layer", []) + spec.get("concat", []) + ([spec["spec"]] if isinstance(spec.get("spec"), dict) else [])
    for part in parts:
        part.pop("data", None)
        for sub in part.get("layer", []):
            sub.pop("data", None)
    return spec


def _title(title: str, caption: str) -> alt.TitleParams:
    """The chart's title with the n caption below it; the caption alone (in small type) without a title,
    since Vega draws no subtitle under an empty title."""
    if not title:
        return alt.TitleParams(text=caption or "", anchor="start", fontSize=11, fontWeight="normal", color="#555")
    return alt.TitleParams(text=title, subtitle=[caption] if caption else [], anchor="start", subtitleColor="#555")


def _layer_band(base: alt.Chart, names: tuple, temps: tuple, grouped: bool, split: str | None, splits: tuple,
                y_title: str, title: str, height: int, y_domain, integer: bool = False, caption: str = ""):
    label_expr = _label_expr(names)
    x = alt.X("position:Q", title="layer", axis=alt.Axis(tickMinStep=1, labelExpr=label_expr, labelAngle=-40))
    if y_domain:
        scale, axis = alt.Scale(domain=list(y_domain)), alt.Axis(title=y_title)
    else:
        scale = alt.Scale(zero=False, padding=8)
        axis = alt.Axis(title=y_title, tickMinStep=1, format="d") if integer else alt.Axis(title=y_title)
    color = alt.Color("Tn:N", sort=list(temps), scale=alt.Scale(scheme=TEMP_SCHEME, domain=list(temps)),
                      legend=_t_legend())
    detail = alt.Detail("config_group:N") if grouped else alt.Detail("Tn:N")
    mode = split_mode(splits)
    enc = dict(x=x, color=color, detail=detail)
    if mode == "dash":
        enc["strokeDash"] = _dash(split, splits)
    base = base.encode(**enc)
    tips = ["T:N", "layer_name:N", alt.Tooltip("stat:N", title="mean ± std (n)")]
    if split:
        tips.insert(1, alt.Tooltip("split_value:N", title=split))
    # the band only where there is a spread (n >= 2: lo and hi are NULL for one seed)
    band = base.transform_filter("isValid(datum.lo) && isValid(datum.hi)").mark_area(opacity=0.18).encode(
        y=alt.Y("lo:Q", title=y_title, scale=scale, axis=axis), y2="hi:Q")
    line = base.mark_line(point=True).encode(y=alt.Y("mean:Q", title=y_title, scale=scale, axis=axis),
                                             tooltip=tips)
    layered = alt.layer(band, line)
    if mode == "facet":
        # a template (no data) still needs a data slot at the facet's top: without_data drops it again
        slot = {} if base.data is not alt.Undefined else {"data": alt.Data(name="empty")}
        return layered.properties(height=height, width=260).facet(
            column=alt.Column("split_value:N", title=split, sort=list(splits)), **slot).properties(
            title=_title(title, caption))
    return layered.properties(title=_title(title, caption), height=height)


def _label_expr(names: tuple) -> str:
    """Vega expression mapping a layer position to its name (so logits and softmax show apart)."""
    if not names:
        return "datum.value"
    pairs = ", ".join(f"'{int(p)}': '{_esc(n)}'" for p, n in names)
    return f"({{{pairs}}})[datum.value] || ''"


def _esc(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def temperature_chart(frame: pl.DataFrame, *, y_title: str, color: str | None = None, title: str = "",
                      height: int = 280, y_domain: tuple[float, float] | None = None, split: str | None = None,
                      integer: bool = False) -> alt.TopLevelMixin:
    """mean ± std over seeds against temperature (log axis), optionally one line per `color` field and
    a stroke dash (or facet column) per `split` value. Error bars only where n ≥ 2; n in the subtitle.

    Needs temperature, mean, lo, hi, n (+ the `color` and `split` columns).
    """
    frame = with_split(with_legend_labels(frame), split)
    splits = _split_values(frame, split)
    mode = split_mode(splits)
    temps = sorted(frame["temperature"].unique().to_list()) if not frame.is_empty() else []
    x = alt.X("temperature:Q", title="temperature T", scale=alt.Scale(type="log"),
              axis=alt.Axis(values=temps, format=",~g") if temps else alt.Axis())
    scale, axis = y_axis(frame, y_title, integer=integer, domain=y_domain)
    enc = dict(x=x)
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    if mode == "dash":
        enc["strokeDash"] = _dash(split, splits)
    if split:
        enc["detail"] = alt.Detail("split_value:N")
    # no detail by config_group here: each group sits at one temperature, the line joins them across T
    base = alt.Chart(frame).encode(**enc)
    tips = ["T:N", alt.Tooltip("stat:N", title="mean ± std (n)")]
    if color:
        tips.insert(1, f"{color}:N")
    if split:
        tips.insert(1, alt.Tooltip("split_value:N", title=split))
    bars = base.transform_filter("isValid(datum.lo) && isValid(datum.hi)").mark_errorbar(ticks=True).encode(
        y=alt.Y("lo:Q", title=y_title, scale=scale, axis=axis), y2="hi:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        y=alt.Y("mean:Q", title=y_title, scale=scale, axis=axis), tooltip=tips)
    layered = alt.layer(bars, line)
    if mode == "facet":
        return layered.properties(height=height, width=240).facet(
            column=alt.Column("split_value:N", title=split, sort=list(splits))).properties(
            title=_title(title, n_caption(frame)))
    return layered.properties(title=_title(title, n_caption(frame)), height=height)


def kappa_rho_scatter(frame: pl.DataFrame, height: int = 380, split: str | None = None) -> alt.TopLevelMixin:
    """κ (x) against ρ (y) per seed group: colour = temperature (legend with n), shape = architecture,
    bars = ± std where n ≥ 2; one facet column per `split` value when given."""
    frame = with_split(with_legend_labels(frame), split).with_columns(
        (pl.col("kappa") - pl.col("kappa_std")).alias("kappa_lo"), (pl.col("kappa") + pl.col("kappa_std")).alias("kappa_hi"),
        (pl.col("rho") - pl.col("rho_std")).alias("rho_lo"), (pl.col("rho") + pl.col("rho_std")).alias("rho_hi"),
    )
    # only the fields the chart reads go to the browser: a family of 4,214 seed groups (100,000 runs) sent every
    # config column too, 1.27 MB of Arrow for Vega to parse on each visit
    drawn = ["arch", "dataset", "loss", "temperature", "T", "Tn", "n", "kappa", "kappa_std", "kappa_lo", "kappa_hi", "rho", "rho_std",
             "rho_lo", "rho_hi", "sr", *(["split_value"] if split else [])]
    color = _t_color(frame)
    frame = frame.select(c for c in drawn if c in frame.columns)
    base = alt.Chart(frame).encode(color=color)
    xs = alt.Scale(zero=False, padding=8)
    ys = alt.Scale(zero=False, padding=8)
    xbar = base.transform_filter("isValid(datum.kappa_lo)").mark_rule().encode(
        x=alt.X("kappa_lo:Q", scale=xs, title="κ effective depth [%] (lower = more compressed)",
                axis=alt.Axis(format=".1f")), x2="kappa_hi:Q", y=alt.Y("rho:Q", scale=ys))
    ybar = base.transform_filter("isValid(datum.rho_lo)").mark_rule().encode(
        y=alt.Y("rho_lo:Q", scale=ys, title="ρ OOD drop [%] (lower = better)", axis=alt.Axis(format=".1f")),
        y2="rho_hi:Q", x=alt.X("kappa:Q", scale=xs))
    tips = ["arch:N", "dataset:N", "loss:N", "T:N", alt.Tooltip("kappa:Q", format=".1f"),
            alt.Tooltip("kappa_std:Q", format=".1f", title="κ std (n ≥ 2 only)"), alt.Tooltip("rho:Q", format=".1f"),
            alt.Tooltip("rho_std:Q", format=".1f", title="ρ std (n ≥ 2 only)"), alt.Tooltip("sr:Q", format=".1f"),
            "n:Q"]
    if split:
        tips.insert(3, alt.Tooltip("split_value:N", title=split))
    pts = base.mark_point(size=110, filled=True, opacity=0.9).encode(
        x=alt.X("kappa:Q", scale=xs), y=alt.Y("rho:Q", scale=ys), shape=alt.Shape("arch:N", title="architecture"),
        tooltip=tips)
    layered = alt.layer(xbar, ybar, pts)
    title = _title("", n_caption(frame))
    if split:
        return layered.properties(height=height, width=300).facet(
            column=alt.Column("split_value:N", title=split, sort=list(_split_values(frame, split)))
        ).properties(title=title)
    return layered.properties(height=height, title=title)


# ---- curves over epochs -------------------------------------------------------------------------------------

QUANTITY_TITLES = {
    "train_loss": "train loss", "train_acc": "train accuracy", "test_acc": "test accuracy",
    "logits_norm": "logits norm ‖z‖₂", "logits_fro_norm": "logits Frobenius norm",
    "rank_pre_softmax": "rank before softmax", "rank_post_softmax": "rank after softmax(z/T)", "lr": "learning rate",
}
LOG_QUANTITIES = frozenset({"train_loss", "logits_norm", "logits_fro_norm", "rank_pre_softmax", "rank_post_softmax",
                            "lr"})  # positive, and spread over orders of magnitude between temperatures


def smooth(frame: pl.DataFrame, window: int, *, method: str = "rolling",
           by: tuple[str, ...] = ("config_group", "quantity")) -> pl.DataFrame:
    """Smooth each line's mean and band edges over epochs; the unsmoothed mean stays in `raw`.

    rolling: the trailing mean of the last `window` epochs (fewer at the start, so no epoch is dropped).
    ema: an exponential moving average with alpha = 2 / (window + 1) (the span convention), no bias
    correction. window = 1 returns the frame unchanged (raw = mean)."""
    if window < 1:
        raise ValueError(f"smoothing window must be at least 1 epoch, got {window}")
    frame = frame.with_columns(pl.col("mean").alias("raw"))
    if window == 1 or frame.is_empty():
        return frame
    keys = [k for k in by if k in frame.columns]
    cols = [c for c in ("mean", "lo", "hi") if c in frame.columns]
    if method == "rolling":
        exprs = [pl.col(c).rolling_mean(window, min_samples=1).over(keys) for c in cols]
    elif method == "ema":
        exprs = [pl.col(c).ewm_mean(alpha=2 / (window + 1), adjust=False, ignore_nulls=True).over(keys)
                 for c in cols]
    else:
        raise ValueError(f"unknown smoothing {method!r}: 'rolling' or 'ema'")
    return frame.sort(*keys, "epoch").with_columns(exprs)


def curve_panels(frame: pl.DataFrame, quantities: tuple[str, ...] | None = None, *, log_y: bool = True,
                 split: str | None = None, width: int = 380, height: int = 190, columns: int = 2,
                 title: str = "") -> alt.ConcatChart:
    """Training curves over epochs: one panel per quantity, each with its own y axis (train loss, accuracies,
    logits norm, ranks never share one), one line per seed group coloured by temperature (legend with n),
    a band where n ≥ 2, a stroke dash per `split` value. `log_y` puts losses, norms and ranks on log axes
    with readable ticks; accuracies stay linear (not forced to 0, so differences show).

    Needs config_group, temperature, epoch, quantity, mean, lo, hi, n (data.epoch_curves), + `split`.
    """
    frame = with_split(with_legend_labels(frame), split)
    present = frame["quantity"].unique().to_list() if not frame.is_empty() else []
    quantities = [q for q in (quantities or QUANTITY_TITLES) if q in present]
    color = _t_color(frame)
    splits = _split_values(frame, split)
    many_epochs = frame["epoch"].n_unique() > 40 if not frame.is_empty() else False
    panels = []
    for q in quantities:
        part = frame.filter(pl.col("quantity") == q)
        qtitle = QUANTITY_TITLES.get(q, q)
        scale, axis = y_axis(part, qtitle, log=log_y and q in LOG_QUANTITIES, integer=q in INTEGER_QUANTITIES,
                             cols=("mean", "lo", "hi"))
        panels.append(_curve_panel(alt.Chart(frame), q, qtitle, scale, axis, epoch_axis(frame), color=color,
                                   split=split, splits=splits, raw="raw" in frame.columns, many_epochs=many_epochs,
                                   width=width, height=height))
    return alt.concat(*panels, columns=columns, title=_title(title, n_caption(frame))).resolve_scale(
        y="independent", color="shared", strokeDash="shared")


def _curve_panel(chart: alt.Chart, q: str, qtitle: str, scale: alt.Scale, axis: alt.Axis, x_axis: alt.Axis, *,
                 color: alt.Color, split: str | None, splits: tuple, raw: bool, many_epochs: bool, width: int,
                 height: int) -> alt.LayerChart:
    """One quantity's panel of curve_panels and of its live spec: the seed groups' mean lines over epochs with
    their ± std band where it exists, tooltips with mean ± std (n); `chart` carries the data or none."""
    enc = dict(x=alt.X("epoch:Q", title="epoch", axis=x_axis), color=color, detail=alt.Detail("config_group:N"))
    if splits:
        enc["strokeDash"] = _dash(split, splits)
    base = chart.transform_filter(alt.datum.quantity == q).encode(**enc)
    tips = ["T:N", "epoch:Q", alt.Tooltip("stat:N", title=f"{qtitle}: mean ± std (n)")]
    if raw:
        tips.append(alt.Tooltip("raw:Q", format=".4g", title="unsmoothed mean"))
    if split:
        tips.insert(1, alt.Tooltip("split_value:N", title=split))
    band = base.transform_filter("isValid(datum.lo) && isValid(datum.hi)").mark_area(opacity=0.16).encode(
        y=alt.Y("lo:Q", scale=scale, axis=axis), y2="hi:Q")
    line = base.mark_line(point=not many_epochs).encode(y=alt.Y("mean:Q", scale=scale, axis=axis), tooltip=tips)
    return alt.layer(band, line).properties(title=qtitle, width=width, height=height)


# ---- the same panels as a spec that does not change with the numbers ---------------------------------------
# Streamlit's frontend (1.67: ArrowVegaLiteChart / useVegaElementPreprocessor / useVegaEmbed) re-creates a
# chart's Vega view — a full Vega-Lite compile, 1–2 s for these concat charts on a shared 2-core VM — whenever
# the spec it receives differs in any byte, except in the dataset names, which it maps to their position
# (`__st_dataset_<i>`), and the width/height a stretched chart is given. When only the data differs it
# swaps the rows into the existing view (`view.data(name, rows)` where the Arrow bytes changed). So the live
# spec below carries nothing that depends on the numbers: the log axes' range comes from the data inside Vega
# (`nice: false` and a pixel padding, like log_domain's margin), and their ticks are one fixed list per tick
# regime (powers of ten, 1-2-5 or 1–9 steps, as ticks_within chooses them) that Vega filters to the range; the
# title and the n caption are drawn above the chart by the page. Same picker state, same spec; a run picker
# that only changes the numbers (another arch with the same temperatures and seeds) swaps data too.
_EXPONENTS = tuple(range(-12, 13))
LOG_TICK_LISTS = {
    "decades": tuple(float(f"{10.0 ** e:.6g}") for e in _EXPONENTS),
    "125": tuple(float(f"{m * 10.0 ** e:.6g}") for e in _EXPONENTS for m in (1, 2, 5)),
    "1-9": tuple(float(f"{m * 10.0 ** e:.6g}") for e in _EXPONENTS for m in range(1, 10)),
}
LOG_PAD_PX = 8  # ≈ log_domain's 5 % of the log-width on a 190-px panel


def log_regime(values: list[float]) -> str:
    """Which of LOG_TICK_LISTS labels a log axis over `values` the way ticks_within does ('auto': a range too
    narrow for any of them, where Vega's own ticks — evenly spaced round values — are used)."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not positive:
        return "auto"
    lo, hi = log_domain(min(positive), max(positive))
    if len([t for t in log_ticks(lo, hi) if lo <= t <= hi]) >= 3:
        return "decades" if math.log10(hi / lo) >= 2 else "125"
    if len([t for t in LOG_TICK_LISTS["1-9"] if lo <= t <= hi]) >= 3:
        return "1-9"
    return "auto"


def _live_log_axis(title: str, regime: str) -> tuple[alt.Scale, alt.Axis]:
    scale = alt.Scale(type="log", nice=False, zero=False, padding=LOG_PAD_PX)
    if regime == "auto":  # a narrow range: Vega's evenly spaced round ticks, about four of them
        return scale, alt.Axis(title=title, format=",~g", tickCount=4)
    # tickCount: Vega halves an explicit list longer than it; the list is already what ticks_within would draw
    return scale, alt.Axis(title=title, format=",~g", values=list(LOG_TICK_LISTS[regime]), tickCount=40)


def curve_panels_spec(frame: pl.DataFrame, quantities: tuple[str, ...] | None = None, *, log_y: bool = True,
                      split: str | None = None, width: int = 380, height: int = 190, columns: int = 2
                      ) -> tuple[dict, pl.DataFrame]:
    """curve_panels as a Vega-Lite dict without data and without title (n_caption(frame) and the title go
    above the chart), plus the frame to send with it. The dict depends on the chart's shape only — quantities,
    temperatures (the legend's n), split values, tick regimes, epochs when few — and is built once per shape."""
    frame = with_split(with_legend_labels(frame), split)
    present = frame["quantity"].unique().to_list() if not frame.is_empty() else []
    chosen = tuple(q for q in (quantities or QUANTITY_TITLES) if q in present)
    regimes = tuple(
        log_regime([v for c in ("mean", "lo", "hi") for v in frame.filter(pl.col("quantity") == q)[c].to_list()])
        if log_y and q in LOG_QUANTITIES else "" for q in chosen)
    epochs = epoch_axis(frame).to_dict().get("values")
    key = (chosen, regimes, tuple(_t_order(frame)), split, _split_values(frame, split),
           frame["epoch"].n_unique() > 40 if not frame.is_empty() else False, tuple(epochs) if epochs else None,
           "raw" in frame.columns, width, height, columns)
    return json.loads(_curve_panels_template(*key)), frame


@functools.lru_cache(maxsize=256)
def _curve_panels_template(quantities: tuple, regimes: tuple, temps: tuple, split: str | None, splits: tuple,
                           many_epochs: bool, epochs: tuple | None, raw: bool, width: int, height: int,
                           columns: int) -> str:
    color = alt.Color("Tn:N", sort=list(temps), scale=alt.Scale(scheme=TEMP_SCHEME, domain=list(temps)),
                      legend=_t_legend())
    x_axis = alt.Axis(values=list(epochs), format="d") if epochs else alt.Axis(tickMinStep=1, format="d")
    panels = []
    for q, regime in zip(quantities, regimes):
        qtitle = QUANTITY_TITLES.get(q, q)
        if regime:
            scale, axis = _live_log_axis(qtitle, regime)
        elif q in INTEGER_QUANTITIES:
            scale, axis = alt.Scale(zero=False, padding=8), alt.Axis(title=qtitle, tickMinStep=1, format="d")
        else:
            scale, axis = alt.Scale(zero=False, padding=8), alt.Axis(title=qtitle)
        panels.append(_curve_panel(alt.Chart(), q, qtitle, scale, axis, x_axis, color=color, split=split,
                                   splits=splits, raw=raw, many_epochs=many_epochs, width=width, height=height))
    chart = alt.concat(*panels, columns=columns).resolve_scale(y="independent", color="shared", strokeDash="shared")
    return json.dumps(without_data(chart.to_dict(validate=False)))


# the run detail page: one panel per unit, each series its own colour (never four identical legend symbols)
RUN_PANELS = (
    ("loss", ("train_loss",), True),
    ("accuracy", ("train_acc", "test_acc"), False),
    ("logits norm ‖z‖₂", ("logits_norm",), True),
    ("rank of the eval batch's logits", ("rank_pre_softmax", "rank_post_softmax"), False),
)
SERIES_COLORS = {"train_loss": "#1f77b4", "train_acc": "#2ca02c", "test_acc": "#d62728", "logits_norm": "#9467bd",
                 "rank_pre_softmax": "#ff7f0e", "rank_post_softmax": "#8c564b"}


def run_panels(frame: pl.DataFrame, *, width: int = 330, height: int = 180, columns: int = 2) -> alt.ConcatChart:
    """One run's training log: a panel per unit (loss, accuracy, logits norm, rank), each with its own y axis
    and each series its own colour in one shared legend. Needs epoch, quantity, value (long format)."""
    present = set(frame["quantity"].unique().to_list()) if not frame.is_empty() else set()
    series = [q for q in SERIES_COLORS if q in present]
    color = alt.Color("quantity:N", title="series", sort=series,
                      scale=alt.Scale(domain=series, range=[SERIES_COLORS[q] for q in series]))
    panels = []
    for title, names, log in RUN_PANELS:
        names = [n for n in names if n in present]
        if not names:
            continue
        part = frame.filter(pl.col("quantity").is_in(names))
        scale, axis = y_axis(part, title, log=log, integer=title.startswith("rank"), cols=("value",))
        panels.append(alt.Chart(frame).transform_filter(alt.FieldOneOfPredicate(field="quantity", oneOf=names))
                      .mark_line(point=True).encode(
                          x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(frame)),
                          y=alt.Y("value:Q", scale=scale, axis=axis), color=color,
                          tooltip=["quantity:N", "epoch:Q", alt.Tooltip("value:Q", format=".4g")])
                      .properties(title=title, width=width, height=height))
    return alt.concat(*panels, columns=columns).resolve_scale(y="independent", color="shared")


EPOCH_PANELS = ("logits_norm", "rank_pre_softmax", "rank_post_softmax", "test_acc")


def epoch_panels(frame: pl.DataFrame, *, norm: str = "logits_norm", ranks: tuple[str, ...] = (
        "rank_pre_softmax", "rank_post_softmax"), split: str | None = None, width: int = 380,
        height: int = 200) -> alt.ConcatChart:
    """The Logits norm page: the logits norm (log axis, ticks at 1-2-5 or powers of ten) beside the pre- and
    post-softmax rank, each panel its own y axis (curve_panels; the page draws it live, ui.show_curve_panels)."""
    return curve_panels(frame, (norm, *ranks, "test_acc"), log_y=True, split=split, width=width,
                        height=height, columns=2)


def layer_epoch_heatmap(frame: pl.DataFrame, *, value_title: str = "numerical rank", size: int = 230,
                        split: str | None = None) -> alt.FacetChart:
    """Layer × epoch heatmap, one per temperature (and per `split` value as rows): colour = the mean over
    seeds (one colour scale for all, so temperatures compare). Needs temperature, epoch, position,
    layer_name, mean, n (data.layer_curves with epoch="all")."""
    frame = with_split(with_legend_labels(frame), split)
    order = _t_order(frame)
    names = frame.sort("position").select("layer_name").unique(maintain_order=True)["layer_name"].to_list()
    tips = ["T:N", "layer_name:N", "epoch:O", alt.Tooltip("stat:N", title=f"{value_title}: mean ± std (n)")]
    if split:
        tips.insert(1, alt.Tooltip("split_value:N", title=split))
    chart = alt.Chart(frame).mark_rect().encode(
        x=alt.X("epoch:O", title="epoch"),
        y=alt.Y("layer_name:N", title="layer", sort=names),
        color=alt.Color("mean:Q", title=value_title, scale=alt.Scale(scheme="viridis")),
        tooltip=tips,
    ).properties(width=max(110, min(size, 780 // max(1, len(order)))), height=size)  # the legend must fit
    facet = dict(column=alt.Column("Tn:N", title="temperature", sort=order))
    if split:
        facet["row"] = alt.Row("split_value:N", title=split, sort=list(_split_values(frame, split)))
    return chart.facet(**facet).properties(title=_title("", n_caption(frame)))


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
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=dash, legend=_dash_legend(dash))
    return alt.Chart(frame).mark_line(point=point).encode(**enc).properties(title=title, height=height)


def run_layers_chart(frame: pl.DataFrame, *, metric: str, height: int = 260) -> alt.Chart:
    """One run's per-layer values: x = layers in order (named), colour = measured dataset, dash = the kind of
    representation (a stroke per kind in the legend). Needs position, layer_name, kind, dataset, value."""
    names = tuple((int(p), str(n)) for p, n in frame.select("position", "layer_name").unique().sort("position")
                  .iter_rows())
    kinds = [k for k in ("preact", "hidden", "logits", "softmax") if k in set(frame["kind"].to_list())]
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("position:Q", title="layer", axis=alt.Axis(tickMinStep=1, labelExpr=_label_expr(names),
                                                           labelAngle=-40)),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False, padding=8),
                axis=alt.Axis(format="d", tickMinStep=1) if metric in INTEGER_QUANTITIES else alt.Axis()),
        color=alt.Color("dataset:N", title="measured on"),
        strokeDash=alt.StrokeDash("kind:N", sort=kinds, scale=alt.Scale(domain=kinds), legend=_dash_legend("kind")),
        detail=alt.Detail("kind:N"),
        tooltip=["layer_name:N", "kind:N", "dataset:N", alt.Tooltip("value:Q", format=".4g")],
    ).properties(height=height)


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
    frame = _scatter_rows(frame, y)
    return _results_scatter(alt.Chart(frame), frame, x, y, log_x, log_y, height)


def results_scatter_spec(frame: pl.DataFrame, *, x: str, y: str, log_x: bool = False, log_y: bool = False,
                         height: int = 360) -> tuple[dict, pl.DataFrame]:
    """results_scatter as a Vega-Lite dict without data, plus the rows to send beside it (as Arrow). The spec then
    depends on the axes and temperatures only, so a rerun that changes which runs are drawn (order, filters)
    swaps the points into the drawn chart instead of compiling it again, and 3,000 points do not travel as
    JSON inside the spec."""
    frame = _scatter_rows(frame, y)
    chart = _results_scatter(alt.Chart(), frame, x, y, log_x, log_y, height)
    return without_data(chart.to_dict(validate=False)), frame


def _scatter_rows(frame: pl.DataFrame, y: str) -> pl.DataFrame:
    return with_legend_labels(frame.filter(pl.col(y).is_not_null() & pl.col("temperature").is_not_null()))


def _results_scatter(base: alt.Chart, frame: pl.DataFrame, x: str, y: str, log_x: bool, log_y: bool,
                     height: int) -> alt.Chart:
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
    return base.mark_circle(size=70, opacity=0.8).encode(**enc).properties(height=height)


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
            x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(part)),
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
