"""Shared page furniture: page set-up, the empty state, run selectors, charts with downloads."""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from app import charts, data
from warehouse.paths import home

DEMO_CMD = "THERMOSCOPE_HOME={home} python -m training.launch sweeps/demo.toml --executor local --wait"


def page(title: str, icon: str = "🌡️") -> None:
    st.set_page_config(page_title=f"{title} · Thermoscope", page_icon=icon, layout="wide")
    st.title(title)


def require_runs(what: str = "this page") -> int:
    """Show a helpful empty state and stop the page when there is nothing to show; else the run count."""
    where = home()
    state, n = data.warehouse_state(where)
    if state == "ok":
        return n
    cmd = DEMO_CMD.format(home=where.root)
    if state == "missing":
        st.info(
            f"**No warehouse yet** at `{where.database}`, so {what} has nothing to show.\n\n"
            f"Train the 6-run demo sweep (3 temperatures × 2 seeds, a few minutes on a CPU) and load it:\n\n"
            f"```\n{cmd}\npython -m warehouse ingest\n```\n"
            "or launch a sweep from the sidebar form. Point `THERMOSCOPE_HOME` at another home to read that one."
        )
    elif state == "unreadable":
        st.error(f"**The warehouse at `{where.database}` cannot be read:** "
                 f"{data.PROBLEMS.get(str(where.database), 'unknown error')}")
    else:
        st.info(
            f"**The warehouse at `{where.database}` holds no runs yet.**\n\n"
            f"Launch a sweep from the sidebar, or run\n\n```\n{cmd}\n```\n"
            "then `python -m warehouse ingest` to load finished results."
        )
    st.stop()
    return 0


def no_rows(what: str) -> None:
    st.warning(
        f"No {what} for this selection yet: its runs may still be training, or their analysis rows are not "
        "ingested. Run `python -m warehouse ingest`, or pick another selection."
    )


def pick_runs(key: str, *, fixed: tuple[str, ...] = ("arch", "dataset"), vary: tuple[str, ...] = ("temperature",),
              sidebar: bool = False) -> dict[str, Any]:
    """Choose one seed group family: arch and dataset, then every other config field that still varies.

    Returns config filters for data.config_where. Fields in `vary` (temperature by default) and the
    seed are left free: the charts spread over them.
    """
    box = st.sidebar if sidebar else st
    pairs = data.arch_datasets()
    filters: dict[str, Any] = {}
    cols = box.columns(len(fixed))
    for col, name in zip(cols, fixed):
        options = pairs.filter(**{k: v for k, v in filters.items() if k in pairs.columns})[name].unique().sort()
        options = options.to_list()
        default = pairs.filter(**{k: v for k, v in filters.items() if k in pairs.columns})[name][0]
        filters[name] = col.selectbox(name, options, index=options.index(default), key=f"{key}-{name}")
    combos = data.config_values(filters)
    # data_root is where the files were read from, not part of the experiment (runs.config_group ignores it too)
    free = [f for f in data.CONFIG_FIELDS if f not in (*fixed, *vary, "seed", "data_root")]
    varying = [f for f in free if f in combos.columns and combos[f].n_unique() > 1]
    if varying:
        cols = box.columns(min(4, len(varying)))
        for i, name in enumerate(varying):
            sub = combos.filter(**{k: v for k, v in filters.items() if k in combos.columns and k not in fixed})
            options = sorted({v for v in sub[name].to_list()}, key=_sort_key) or sorted(
                set(combos[name].to_list()), key=_sort_key
            )
            filters[name] = cols[i % len(cols)].selectbox(name, options, key=f"{key}-{name}",
                                                          help="differs between these runs; pick one")
    return filters


def _sort_key(v: Any) -> tuple:
    return (v is None, str(type(v)), v if v is not None else 0)


def show_chart(chart: alt.Chart, frame: pl.DataFrame, key: str, *, name: str | None = None,
               width: str = "stretch") -> None:
    """The chart, then its aggregated data as CSV and the chart as PNG / SVG (rendered only on click).

    width="content" for concatenated charts, which carry their own width.
    The chart goes to the browser as its Vega-Lite dict: Altair built it from typed objects, and
    st.altair_chart would validate it against the schema a second time (~20 ms a chart, the largest
    share of a click on a page of three charts). Streamlit still ships the data as Arrow datasets.
    """
    spec = chart.to_dict(validate=False)
    spec.get("config", {}).pop("view", None)  # Altair's default theme sizes; st.altair_chart drops them too
    if not spec.get("config"):
        spec.pop("config", None)
    st.vega_lite_chart(spec, width=width, key=f"chart-{key}")
    _downloads(frame, key, name, lambda: chart)


def show_layer_curves(frame: pl.DataFrame, key: str, *, name: str | None = None, **style) -> None:
    """charts.layer_band_chart for `frame`, from a spec built once per chart shape (see layer_band_spec)."""
    spec, data_frame = charts.layer_band_spec(frame, **style)
    spec.get("config", {}).pop("view", None)
    if not spec.get("config"):
        spec.pop("config", None)
    st.vega_lite_chart(data_frame, spec, width="stretch", key=f"chart-{key}")
    _downloads(frame, key, name, lambda: charts.layer_band_chart(frame, **style))


def _downloads(frame: pl.DataFrame, key: str, name: str | None, build) -> None:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or key)
    c1, c2, c3, _ = st.columns([1, 1, 1, 5])
    c1.download_button("CSV", frame.write_csv().encode(), file_name=f"{stem}.csv", mime="text/csv",
                       key=f"csv-{key}", help="the aggregated rows this chart shows")
    c2.download_button("PNG", lambda: charts.to_png(build()), file_name=f"{stem}.png", mime="image/png",
                       key=f"png-{key}")
    c3.download_button("SVG", lambda: charts.to_svg(build()), file_name=f"{stem}.svg", mime="image/svg+xml",
                       key=f"svg-{key}")


def describe(filters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items())


BADGES = {"queued": "⏳", "running": "🏃", "finished": "✅", "diverged": "💥", "failed": "❌", "cancelled": "🚫"}


def badge(status: str | None) -> str:
    return f"{BADGES.get(status or '', '❔')} {status or 'unknown'}"


def badges(counts: dict[str, int]) -> str:
    """'✅ 3 · 🏃 1': non-zero status counts in lifecycle order."""
    return " · ".join(f"{BADGES[s]} {counts[s]}" for s in BADGES if counts.get(s))


def run_link(run_id: str) -> str:
    """URL of a run's detail page (Streamlit names a page's URL after its file, without the number)."""
    return f"/Run_detail?run={run_id}"
