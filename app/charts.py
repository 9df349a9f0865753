"""Altair chart builders: pure functions from (already aggregated) Polars frames to charts.

No Streamlit and no SQL here, so a chart can be built in a notebook or a test from any frame with
the documented columns. Temperatures are coloured on one fixed ordinal scheme (cold = low T) so
T = 10 has the same colour on every page.
"""

from __future__ import annotations

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
                     y_domain: tuple[float, float] | None = None) -> alt.Chart:
    """One line per temperature over layers (mean over seeds) with a ± std band.

    Needs columns temperature, position, layer_name, mean, lo, hi, n (see data.layer_curves).
    """
    frame = with_t_label(frame)
    names = frame.sort("position").select("position", "layer_name").unique(maintain_order=True)
    label_expr = _label_expr(names)
    x = alt.X("position:Q", title="layer", axis=alt.Axis(tickMinStep=1, labelExpr=label_expr, labelAngle=-40))
    scale = alt.Scale(domain=list(y_domain)) if y_domain else alt.Scale(zero=False)
    color = _t_color(frame)
    base = alt.Chart(frame).encode(x=x, color=color)
    band = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=y_title, scale=scale), y2="hi:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=y_title, scale=scale),
        tooltip=["T:N", "layer_name:N", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("std:Q", format=".3g"),
                 "n:Q"],
    )
    return (band + line).properties(title=title, height=height)


def _label_expr(names: pl.DataFrame) -> str:
    """Vega expression mapping a layer position to its name (so logits and softmax show apart)."""
    if names.is_empty():
        return "datum.value"
    pairs = ", ".join(f"'{int(p)}': '{_esc(n)}'" for p, n in names.iter_rows())
    return f"({{{pairs}}})[datum.value] || ''"


def _esc(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def to_svg(chart: alt.Chart) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict()).encode()


def to_png(chart: alt.Chart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=scale)
