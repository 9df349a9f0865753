"""The shared selection (app/state.py): one choice for every page, mirrored in the URL, restored from a link.

Numbers come from tests/app/factory.py: the MSE groups' ranks sit 1000 above the CE groups', and
rank(layer, T, seed) = 100 - 10 * layer - T + seed, so the data a chart receives says which selection
it was drawn for.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.app import factory
from tests.app.apphelp import chart_frame, charts, no_exceptions, run_page, texts
from warehouse import home, write_shard
from warehouse.ingest import ingest
from warehouse.queries import Queries
from warehouse.shards import shard_path


def _values(at) -> dict:
    """label -> value of the main area's selectboxes (the sidebar's launch form is another story)."""
    return {s.label: s.value for s in at.main.selectbox}


def _url(at) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def _rank_point(at, t: float, layer_name: str, kind: str = "hidden") -> dict:
    frame = chart_frame(charts(at)[0])
    rows = frame.filter((pl.col("temperature") == t) & (pl.col("layer_name") == layer_name) & (pl.col("kind") == kind))
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_a_choice_on_one_page_is_the_choice_on_the_next(use_home):
    at = run_page("Home.py")
    no_exceptions(at)
    at.selectbox(key="home-arch").set_value("resnet18").run()
    at.selectbox(key="home-loss").set_value("mse").run()
    assert _url(at)["arch"] == "resnet18" and _url(at)["loss"] == "mse"
    at.query_params.clear()  # a page switch may clear the URL: the session keeps the selection
    at.switch_page("pages/2_Rank.py").run()
    no_exceptions(at)
    assert _values(at)["arch"] == "resnet18" and _values(at)["loss"] == "mse"
    # the Rank page's data is the MSE group's (rank + 1000), and the URL carries the selection again
    assert _rank_point(at, 10.0, "hidden3")["mean"] == pytest.approx(factory.expected_rank_mean(3, 10.0) + 1000)
    assert _url(at)["arch"] == "resnet18" and _url(at)["loss"] == "mse"
    at.switch_page("pages/3_Probes.py").run()
    assert _values(at)["arch"] == "resnet18" and _values(at)["loss"] == "mse"
    at.selectbox(key="probe-loss").set_value("ce").run()
    at.switch_page("Home.py").run()
    assert _values(at)["loss"] == "ce" and _values(at)["arch"] == "resnet18"


def test_the_url_reproduces_the_view_in_a_fresh_session(use_home):
    at = run_page("Home.py")
    at.selectbox(key="home-arch").set_value("resnet18").run()
    at.selectbox(key="home-loss").set_value("mse").run()
    at.multiselect(key="home-kinds").set_value(["preact"]).run()
    url = _url(at)
    assert url["kinds"] == "preact" and url["data_split"] == "test"
    fresh = run_page("Home.py", **url)
    no_exceptions(fresh)
    assert _values(fresh)["arch"] == "resnet18" and _values(fresh)["loss"] == "mse"
    assert fresh.multiselect(key="home-kinds").value == ["preact"]
    assert not fresh.info, [i.value for i in fresh.info]  # every value existed: no fallback notice
    p = _rank_point(fresh, 1.0, "hidden1", kind="preact")
    assert p["mean"] == pytest.approx(factory.expected_rank_mean(1, 1.0) + 1000 - 5)
    assert _url(fresh) == url  # the round trip changes nothing
    other = run_page("pages/2_Rank.py", **url)  # the same link on another page
    assert _values(other)["arch"] == "resnet18" and _values(other)["loss"] == "mse"


def test_a_bad_url_value_falls_back_with_a_notice(use_home):
    at = run_page("pages/2_Rank.py", arch="vgg99", loss="mse", temperature="10")
    no_exceptions(at)
    notices = [i.value for i in at.info]
    assert any("arch=vgg99" in n and "arch=mlp" in n for n in notices), notices
    assert _values(at)["arch"] == "mlp" and _values(at)["loss"] == "mse"  # the good value is kept
    assert _url(at)["arch"] == "mlp"
    # the fallback's data: mlp, MSE
    assert _rank_point(at, 1.0, "hidden0")["mean"] == pytest.approx(factory.expected_rank_mean(0, 1.0) + 1000)
    at.selectbox(key="rank-loss").set_value("ce").run()
    assert not [i.value for i in at.info if "vgg99" in i.value]  # one notice, not one per rerun


def test_split_lines_by_leaves_that_field_free(use_home):
    at = run_page("Home.py")
    at.selectbox(key="home-split-by").set_value("loss").run()
    no_exceptions(at)
    assert "loss" not in _values(at)  # no loss picker: lines differ on it
    assert _url(at)["split"] == "loss"
    frame = chart_frame(charts(at)[0])
    hidden0 = frame.filter((pl.col("layer_name") == "hidden0") & (pl.col("kind") == "hidden") &
                           (pl.col("temperature") == 1.0))
    # both groups, each its own seed mean: CE and CE + 1000
    assert sorted(hidden0["mean"]) == pytest.approx([factory.expected_rank_mean(0, 1.0),
                                                     factory.expected_rank_mean(0, 1.0) + 1000])
    assert "one line per loss" in texts(at)
    fresh = run_page("pages/2_Rank.py", **_url(at))
    assert fresh.selectbox(key="rank-split-by").value == "loss" and "loss" not in _values(fresh)


# ---- sweeps and the default group: warehouses built for the case --------------------------------------


def _retag(where, rid: str, sweep: str | None = None, **config) -> None:
    """Rewrite a factory run's config shard: another sweep and/or other config values (its id stays)."""
    path = shard_path("run_configs", rid, "config", where)
    row = pl.read_parquet(path).row(0, named=True)
    cfg = json.loads(row["config_json"])
    cfg.update(config)
    row.update(config, config_json=json.dumps(cfg, sort_keys=True))
    if sweep:
        row["sweep_id"] = sweep
    write_shard("run_configs", [row], owner=rid, name="config", where=where)


def _run(where, tag: str, t: float, seed: int, *, stuck: bool = False, status: str = "finished", **config) -> str:
    rid = f"{tag}{int(t):03d}s{seed}".ljust(16, "0")[:16]
    factory._write_run(where, rid, factory.ARCH, t, seed, "ce", status, factory.ID, stuck)
    if config:
        _retag(where, rid, **config)
    return rid


SWEEP_B = "20261130-040000-bbbbbb"


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory):
    """The factory's runs; seed 1 of each came from a second sweep."""
    where = home(tmp_path_factory.mktemp("two-sweeps"))
    for t in factory.TEMPS:
        for seed in factory.SEEDS:
            rid = factory.run_id(factory.ARCH, t, seed)
            factory._write_run(where, rid, factory.ARCH, t, seed, "ce", "finished")
            if seed == 1:
                _retag(where, rid, sweep=SWEEP_B)
    factory._write_globals(where, (factory.ARCH,))
    ingest(where)
    return where


def test_a_sweep_in_the_url_shows_that_sweep_only(two_sweeps, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(two_sweeps.root))
    at = run_page("Home.py", sweep=SWEEP_B)
    no_exceptions(at)
    assert f"Showing sweep **{SWEEP_B}** only." in [i.value for i in at.info]
    p = _rank_point(at, 10.0, "hidden2")
    assert (p["mean"], p["n"]) == (pytest.approx(factory.rank(2, 10.0, 1)), 1)  # seed 1 only
    assert at.dataframe[0].value["runs"].tolist() == [1, 1]
    at.switch_page("pages/2_Rank.py").run()
    assert by_layer(at, 10.0, "hidden2")["n"] == 1  # the filter follows to the next page
    next(b for b in at.button if b.label == "Show all sweeps").click().run()
    assert "sweep" not in _url(at)
    p = by_layer(at, 10.0, "hidden2")
    assert (p["mean"], p["n"]) == (pytest.approx(factory.expected_rank_mean(2, 10.0)), 2)


def by_layer(at, t, name):
    return _rank_point(at, t, name)


def test_an_unknown_sweep_falls_back_to_every_run(two_sweeps, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(two_sweeps.root))
    at = run_page("pages/2_Rank.py", sweep="20990101-000000-nothere")
    no_exceptions(at)
    assert any("sweep 20990101-000000-nothere" in i.value for i in at.info)
    assert "sweep" not in _url(at) and by_layer(at, 1.0, "hidden0")["n"] == 2


@pytest.fixture(scope="module")
def uneven(tmp_path_factory):
    """Groups of one arch and dataset that sort in this order (init, then epochs):

    a 'kaiming', 2 epochs   the test sweep: one run, T=1, seed 0, learned          (sorts first)
    b 'kaiming', 120 epochs the complete group: 2 T x 2 seeds, all learned         (the default)
    c 'normal', 2 epochs    6 runs (2 T x 3 seeds), finished but stuck at chance   (most runs)
    d 'xavier', 2 epochs    4 seeds of T=1, learned                                (as many learned runs as b)
    """
    where = home(tmp_path_factory.mktemp("uneven"))
    _run(where, "a", 1.0, 0)
    for t in factory.TEMPS:
        for seed in factory.SEEDS:
            _run(where, "b", t, seed, epochs=120)
        for seed in (0, 1, 2):
            _run(where, "c", t, seed, stuck=True, init="normal")
    for seed in range(4):
        _run(where, "d", 1.0, seed, init="xavier")
    factory._write_globals(where, (factory.ARCH,))
    ingest(where)
    return where


def test_most_complete_group_query(uneven):
    best = Queries().most_complete_group(where=uneven)
    assert (best["arch"], best["dataset"], best["init"], best["epochs"]) == (factory.ARCH, factory.ID, "kaiming", 120)
    assert "temperature" not in best and "seed" not in best
    # restricted to the first two groups' init, the 120-epoch one still wins; within epochs=2 the test sweep
    assert Queries().most_complete_group({"epochs": 2, "init": "kaiming"}, where=uneven)["epochs"] == 2
    assert Queries().most_complete_group({"arch": "none"}, where=uneven) == {}


def test_home_default_is_the_most_complete_group(uneven, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(uneven.root))
    at = run_page("Home.py")
    no_exceptions(at)
    assert _values(at)["init"] == "kaiming" and _values(at)["epochs"] == 120
    assert at.dataframe[0].value["runs"].tolist() == [2, 2]  # 2 seeds at each of 2 temperatures
    p = _rank_point(at, 10.0, "hidden1")
    assert (p["mean"], p["n"]) == (pytest.approx(factory.expected_rank_mean(1, 10.0)), 2)
    assert _url(at)["epochs"] == "120"


def test_badges_carry_words():
    from app import ui

    # lifecycle order (queued, running, then the ends), zero counts left out
    assert ui.badges({"finished": 3, "running": 1, "failed": 0}) == "🏃 1 running · ✅ 3 finished"
    assert ui.badge("diverged") == "💥 diverged" and ui.badge(None) == "❔ unknown"


def test_url_text_round_trips_typed_values():
    from app import state

    for name, value in [("temperature", 10.0), ("lr", 1e-05), ("width", 16), ("layernorm", False),
                        ("init_std", None), ("kinds", ["hidden", "logits"]), ("arch", "resnet18")]:
        back = state.from_text(name, state.to_text(value))
        assert state.same(value, back), (name, value, back)
    assert state.to_text(10.0) == "10" and not state.same(True, 1) and not state.same(16, "16x")
