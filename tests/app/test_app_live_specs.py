"""The live curve-panel spec (charts.curve_panels_spec): the same bytes whatever the numbers, so Streamlit's
frontend swaps the data into the drawn chart instead of compiling it again (docs/dashboard.md, "Speed"); and
still the ticks charts.ticks_within chooses, checked by drawing the spec with vl-convert's Vega (an
independent renderer of the same spec)."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from app import charts
from tests.app.factory import seed_stats

vlc = pytest.importorskip("vl_convert")


NORMS = seed_stats({(1.0, 0): [34, 36], (1.0, 1): [40, 44], (10.0, 0): [540, 560], (10.0, 1): [600, 640]})
OTHER = seed_stats({(1.0, 0): [30, 31], (1.0, 1): [45, 47], (10.0, 0): [440, 460], (10.0, 1): [700, 740]})
WIDE = seed_stats({(1.0, 0): [1.2, 1.3], (1.0, 1): [2, 3], (10.0, 0): [5000, 6000], (10.0, 1): [7000, 8000]})
NARROW = seed_stats({(1.0, 0): [2.28, 2.29], (1.0, 1): [2.29, 2.3], (10.0, 0): [2.30, 2.31], (10.0, 1): [2.3, 2.31]},
                quantity="train_loss")


def test_same_shape_other_numbers_same_spec():
    a, frame_a = charts.curve_panels_spec(NORMS)
    b, frame_b = charts.curve_panels_spec(OTHER)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert not frame_a.equals(frame_b)  # the numbers travel as data
    assert "data" not in a and "datasets" not in a and "title" not in a
    y = next(p for p in a["concat"][0]["layer"] if p["encoding"]["y"]["field"] == "mean")["encoding"]["y"]
    assert y["scale"] == {"type": "log", "nice": False, "zero": False, "padding": charts.LOG_PAD_PX}
    # another tick regime (four decades instead of one) is another spec: the tick list differs
    wide, _ = charts.curve_panels_spec(WIDE)
    assert wide != a and charts.log_regime(WIDE["mean"].to_list()) == "decades"
    # linear axes: nothing from the data either
    flat_a, _ = charts.curve_panels_spec(NORMS, log_y=False)
    flat_b, _ = charts.curve_panels_spec(WIDE, log_y=False)
    assert flat_a == flat_b


def _drawn_ticks(frame: pl.DataFrame) -> list[float]:
    spec, data = charts.curve_panels_spec(frame)
    spec["data"] = {"values": json.loads(data.write_json())}
    svg = vlc.vegalite_to_svg(spec)
    # the y axis's labels: the group whose aria label names the quantity's axis
    axis = re.search(r'aria-label="Y-axis titled[^"]*"(.*?)</g></g></g>', svg, re.S)
    assert axis, "no y axis drawn"
    return [float(t.replace(",", "")) for t in re.findall(r"<text[^>]*>([0-9.,]+)</text>", axis.group(1))]


@pytest.mark.parametrize("frame", [NORMS, WIDE], ids=["1-2-5", "decades"])
def test_vega_draws_the_ticks_python_chooses(frame):
    values = [v for c in ("mean", "lo", "hi") for v in frame[c].drop_nulls().to_list()]
    lo, hi = charts.log_domain(min(values), max(values))
    assert _drawn_ticks(frame) == charts.ticks_within(lo, hi)


def test_a_narrow_range_fills_the_panel_with_round_ticks():
    ticks = _drawn_ticks(NARROW)
    assert 3 <= len(ticks) <= 6 and 2.27 <= min(ticks) and max(ticks) <= 2.32
    assert charts.log_regime(NARROW["mean"].to_list()) == "auto"
