"""Helpers for AppTest-driven page tests: run a page on a given home, read the rows each chart received."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from tests.conftest import APP_TOKEN

APP = Path(__file__).resolve().parents[2] / "app"
PAGES = sorted(p.relative_to(APP).as_posix() for p in (APP / "pages").glob("*.py"))
ALL_PAGES = ["Home.py", *PAGES]
# AppTest's way in: conftest.py's autouse fixture gives the pages this token (THERMOSCOPE_TOKEN, as a hand-made
# `streamlit run` takes it) and run_page brings it as ?token=, as a browser's first visit does (app/gate.py)
TOKEN = APP_TOKEN


def run_page(page: str, timeout: float = 60, **query) -> AppTest:
    at = AppTest.from_file(str(APP / page), default_timeout=timeout)
    at.query_params["token"] = TOKEN
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def chart_frames(element) -> list[pl.DataFrame]:
    """Every dataset the browser receives for one chart (Streamlit ships them as Arrow IPC): the main
    data (charts sent as a spec + frame) and the named datasets (charts sent with their data inside)."""
    frames = [pl.from_arrow(pa.ipc.open_stream(element.proto.data.data).read_all())] if element.proto.data.data else []
    return frames + [pl.from_arrow(pa.ipc.open_stream(d.data.data).read_all()) for d in element.proto.datasets]


def chart_frame(element) -> pl.DataFrame:
    frames = chart_frames(element)
    assert len(frames) == 1, f"expected one dataset, got {len(frames)}"
    return frames[0]


def spec(element) -> dict:
    return json.loads(element.proto.spec)


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "info", "warning", "error", "success", "caption", "title", "subheader", "header"):
        parts += [str(getattr(e, "value", "")) for e in at.get(kind)]
    return "\n".join(parts)


SELECTS = ("lf-executor", "lf-preset", "lf-arch", "lf-dataset", "lf-loss")


def fill_form(at: AppTest, **values) -> AppTest:
    """Type into the sidebar's launch form by widget key (select boxes, text areas, text inputs)."""
    for key, value in values.items():
        widget = at.selectbox(key=key) if key in SELECTS \
            else at.text_area(key=key) if key in ("lf-extra", "lf-note") else at.text_input(key=key)
        widget.set_value(value)
    return at


def press(at: AppTest, label: str) -> AppTest:
    """Click the button with this label, rerun, and fail on any exception the page raised."""
    next(b for b in at.button if b.label == label).click().run()
    no_exceptions(at)
    return at

