"""Chart builders on frames whose answer is known by construction: bands, n, splits, axes, smoothing."""

from __future__ import annotations

import math

import polars as pl
import pytest

from app import charts
from tests.app.factory import seed_stats
from warehouse.queries import with_band


def _line(layer_spec: dict) -> dict:
    return next(p for p in layer_spec["layer"] if p["encoding"]["y"]["field"] == "mean")


def test_band_of_a_positive_quantity_stays_above_zero():
    # values 1 and 100: mean 50.5, std 70.0; mean - std = -19.5 would put a norm below 0
    frame = seed_stats({(1.0, 0): [1.0, 100.0]})
    row = frame.row(0, named=True)
    assert row["mean"] == pytest.approx(50.5) and row["std"] == pytest.approx(99 / math.sqrt(2))
    assert row["lo"] > 0
    assert row["hi"] == pytest.approx(50.5 + 99 / math.sqrt(2))
    # symmetric in log space: lo * hi = mean^2
    assert row["lo"] * row["hi"] == pytest.approx(50.5 ** 2)
    # and close to mean ± std when the spread is small
    tight = seed_stats({(1.0, 0): [10.0, 10.2]}).row(0, named=True)
    m, sd = tight["mean"], tight["std"]
    assert tight["lo"] == pytest.approx(m - sd + sd ** 2 / (m + sd))  # mean − std up to std² / (mean + std)
    assert tight["lo"] == pytest.approx(m - sd, rel=1e-3)


def test_band_of_a_fraction_is_clipped_and_other_quantities_are_plain():
    frame = seed_stats({(1.0, 0): [0.98, 1.0, 0.7]}, quantity="test_acc").row(0, named=True)
    assert frame["hi"] == 1.0 and frame["lo"] == pytest.approx(frame["mean"] - frame["std"])
    kappa = with_band(pl.DataFrame({"metric": ["kappa"], "mean": [1.0], "std": [3.0], "n": [2]})).row(0, named=True)
    assert kappa["lo"] == pytest.approx(-2.0)  # κ, ρ: no bound is assumed


def test_one_seed_has_no_std_no_band_and_says_n():
    frame = seed_stats({(1.0, 0): [35.0], (1.0, 1): [36.0], (10.0, 0): [500.0, 600.0], (10.0, 1): [540.0]})
    one = frame.filter(pl.col("n") == 1)
    assert one["std"].is_null().all() and one["lo"].is_null().all() and one["hi"].is_null().all()
    labelled = charts.with_legend_labels(frame)
    assert set(labelled["Tn"]) == {"T=1 (n=1)", "T=10 (n=1–2)"}
    stats = dict(zip(labelled["mean"], labelled["stat"]))
    assert stats[35.0] == "35 (n=1)" and stats[550.0] == "550 ± 70.7 (n=2)"
    assert charts.n_caption(frame) == "n = 1–2 seeds per point (no band where n = 1: one seed has no spread)"
    assert charts.n_caption(frame.filter(pl.col("n") == 2)) == "n = 2 seeds per point"
    spec = charts.curve_panels(frame).to_dict()
    (panel,) = spec["concat"]
    band = next(p for p in panel["layer"] if p["mark"]["type"] == "area")
    assert any("isValid(datum.lo)" in str(t.get("filter")) for t in band["transform"])
    assert "n = 1–2 seeds per point" in str(spec["title"])
    assert spec["datasets"] and all("±" not in str(r["stat"]) for d in spec["datasets"].values() for r in d
                                    if r["n"] == 1)


def test_log_axis_has_readable_ticks():
    # T = 1 near 35 and T = 10 near 550: both readable on a log axis with 1-2-5 ticks
    assert charts.log_ticks(35, 550) == [20, 50, 100, 200, 500, 1000]
    # two decades or more: powers of ten
    assert charts.log_ticks(1.2, 8000) == [1, 10, 100, 1000, 10000]
    with pytest.raises(ValueError):
        charts.log_ticks(0, 10)
    frame = seed_stats({(1.0, 0): [34.0, 36.0], (10.0, 0): [540.0, 560.0]})
    y = _line(charts.curve_panels(frame).to_dict()["concat"][0])["encoding"]["y"]
    # the axis spans the values (with a small margin), and the 1-2-5 ticks inside it label them
    lo, hi = y["scale"]["domain"]
    assert y["scale"]["type"] == "log" and 25 < lo < 34 and 560 < hi < 700
    assert y["axis"]["values"] == [50, 100, 200, 500]
    # a narrow range (a loss of 2.28–2.31) fills the panel instead of lying flat on a 2–5 axis
    narrow = seed_stats({(1.0, 0): [2.28, 2.29], (10.0, 0): [2.30, 2.31]})
    y = _line(charts.curve_panels(narrow).to_dict()["concat"][0])["encoding"]["y"]
    lo, hi = y["scale"]["domain"]
    assert 2.2 < lo < 2.28 and 2.31 < hi < 2.4
    assert len(y["axis"]["values"]) >= 3 and all(lo <= t <= hi for t in y["axis"]["values"])
    flat = _line(charts.curve_panels(frame, log_y=False).to_dict()["concat"][0])["encoding"]["y"]
    assert flat["scale"] == {"zero": False, "padding": 8}


def test_accuracy_axis_is_not_forced_to_zero_and_ranks_tick_at_integers():
    layers = pl.DataFrame({"config_group": ["a", "a", "b", "b"], "temperature": [1.0, 1.0, 10.0, 10.0],
                           "position": [0, 1, 0, 1], "layer_name": ["h0", "h1", "h0", "h1"],
                           "mean": [0.90, 0.95, 0.93, 0.98], "std": [0.01] * 4, "n": [3] * 4})
    layers = with_band(layers, "fraction")
    line = _line(charts.layer_band_chart(layers, y_title="probe accuracy").to_dict())
    assert line["encoding"]["y"]["scale"] == {"zero": False, "padding": 8}
    full = _line(charts.layer_band_chart(layers, y_title="probe accuracy", y_domain=(0, 1)).to_dict())
    assert full["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    sr = with_band(pl.DataFrame({"temperature": [1.0, 10.0], "metric": ["solution_rank"] * 2, "mean": [10.0, 9.0],
                                 "std": [None, None], "n": [1, 1]}, schema_overrides={"std": pl.Float64}))
    axis = _line(charts.temperature_chart(sr, y_title="solution rank", integer=True).to_dict())["encoding"]["y"]["axis"]
    assert axis["format"] == "d" and axis["tickMinStep"] == 1


def test_split_adds_a_dash_per_value_and_names_the_field():
    rows = [dict(config_group=f"{t}-{e}", temperature=t, epochs=e, position=p, layer_name=f"h{p}", mean=10.0 + p,
                 std=1.0, n=2) for t in (1.0, 10.0) for e in (2, 120) for p in (0, 1)]
    frame = with_band(pl.DataFrame(rows), "positive")
    spec = charts.layer_band_chart(frame, y_title="rank", split="epochs").to_dict()
    enc = _line(spec)["encoding"]
    dash = enc["strokeDash"]
    assert dash["field"] == "split_value" and dash["legend"]["title"] == "epochs"
    assert dash["scale"]["domain"] == ["2", "120"]  # numeric values in numeric order
    assert enc["color"]["field"] == "Tn"  # colour = T stays
    assert enc["detail"]["field"] == "config_group"  # one line per seed group
    template, data = charts.layer_band_spec(frame, y_title="rank", split="epochs")
    assert "strokeDash" in str(template) and set(data["split_value"]) == {"2", "120"}
    # too many values for dashes: a facet column per value, titled by the field
    many = pl.concat([frame.filter(pl.col("epochs") == 2).with_columns(pl.lit(w).alias("width"),
                      (pl.col("config_group") + f"-{w}").alias("config_group")) for w in (8, 16, 32, 64, 128)])
    facet = charts.layer_band_chart(many, y_title="rank", split="width").to_dict()
    assert facet["facet"]["column"]["field"] == "split_value" and facet["facet"]["column"]["title"] == "width"
    template, _ = charts.layer_band_spec(many, y_title="rank", split="width")
    assert "data" not in template and template["facet"]["column"]["title"] == "width"
    with pytest.raises(ValueError, match="no 'init' column"):
        charts.layer_band_chart(frame, y_title="rank", split="init")


def test_split_in_curves_and_temperature_charts():
    rows = [dict(config_group=f"{t}-{i}", temperature=t, init=i, epoch=e, quantity="test_acc", mean=0.5 + e / 10,
                 std=0.01, n=2) for t in (1.0, 10.0) for i in ("kaiming", "normal") for e in (0, 1)]
    frame = with_band(pl.DataFrame(rows))
    spec = charts.curve_panels(frame, split="init").to_dict()
    enc = spec["concat"][0]["layer"][1]["encoding"]
    assert enc["strokeDash"]["legend"]["title"] == "init" and enc["color"]["field"] == "Tn"
    summary = with_band(pl.DataFrame([dict(temperature=t, init=i, metric="kappa", mean=90.0, std=None, n=1)
                                      for t in (1.0, 10.0) for i in ("kaiming", "normal")],
                                     schema_overrides={"std": pl.Float64}))
    line = _line(charts.temperature_chart(summary, y_title="%", color="metric", split="init").to_dict())
    assert line["encoding"]["strokeDash"]["legend"]["title"] == "init"


def test_smoothing_with_known_numbers():
    frame = pl.DataFrame({"config_group": ["a"] * 4 + ["b"] * 4, "quantity": ["train_loss"] * 8,
                          "epoch": [0, 1, 2, 3] * 2, "mean": [0.0, 3.0, 6.0, 9.0, 10.0, 10.0, 10.0, 10.0],
                          "lo": [0.0, 3.0, 6.0, 9.0] * 2, "hi": [1.0, 4.0, 7.0, 10.0] * 2})
    rolled = charts.smooth(frame, 2).filter(pl.col("config_group") == "a").sort("epoch")
    assert rolled["mean"].to_list() == pytest.approx([0.0, 1.5, 4.5, 7.5])
    assert rolled["raw"].to_list() == [0.0, 3.0, 6.0, 9.0]
    assert rolled["hi"].to_list() == pytest.approx([1.0, 2.5, 5.5, 8.5])
    # lines never mix: group b stays at 10
    assert charts.smooth(frame, 3).filter(pl.col("config_group") == "b")["mean"].to_list() == pytest.approx([10.0] * 4)
    # EMA with alpha = 2 / (N + 1) = 0.5 for N = 3: 0, 1.5, 3.75, 6.375
    ema = charts.smooth(frame, 3, method="ema").filter(pl.col("config_group") == "a").sort("epoch")
    assert ema["mean"].to_list() == pytest.approx([0.0, 1.5, 3.75, 6.375])
    assert charts.smooth(frame, 1)["mean"].to_list() == frame["mean"].to_list()
    with pytest.raises(ValueError):
        charts.smooth(frame, 0)


def test_run_panels_have_their_own_axes_and_distinct_legend_entries():
    long = pl.DataFrame({"epoch": [0, 1] * 4, "quantity": ["test_acc"] * 2 + ["train_acc"] * 2 + ["logits_norm"] * 2
                         + ["train_loss"] * 2, "value": [0.1, 0.9, 0.2, 0.95, 35.0, 550.0, 2.3, 0.4]})
    spec = charts.run_panels(long).to_dict()
    assert spec["resolve"]["scale"]["y"] == "independent"
    titles = [p["title"] for p in spec["concat"]]
    assert titles == ["loss", "accuracy", "logits norm ‖z‖₂"]
    norm = spec["concat"][2]["encoding"]["y"]
    assert norm["scale"]["type"] == "log" and norm["axis"]["values"] == [50, 100, 200, 500]
    color = spec["concat"][1]["encoding"]["color"]
    assert color["scale"]["domain"] == ["train_loss", "train_acc", "test_acc", "logits_norm"]
    assert len(set(color["scale"]["range"])) == 4


def test_layer_epoch_heatmap_one_facet_per_temperature():
    rows = [dict(config_group=f"g{t}", temperature=t, epoch=e, position=p, layer_name=f"hidden{p}", mean=100 - p - t,
                 std=None, n=1) for t in (1.0, 10.0) for e in (0, 5) for p in (0, 1, 2)]
    frame = with_band(pl.DataFrame(rows, schema_overrides={"std": pl.Float64}), "positive")
    spec = charts.layer_epoch_heatmap(frame).to_dict()
    assert spec["facet"]["column"]["field"] == "Tn" and spec["facet"]["column"]["sort"] == ["T=1 (n=1)",
                                                                                            "T=10 (n=1)"]
    assert spec["spec"]["encoding"]["y"]["sort"] == ["hidden0", "hidden1", "hidden2"]
    assert spec["spec"]["encoding"]["color"]["field"] == "mean"
