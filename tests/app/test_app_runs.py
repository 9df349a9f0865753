"""The Runs page (final results, result filters, group mean ± std and n, the sweep in the URL, selection → compare)
and the Compare page, as AppTest runs them on a real warehouse with known numbers (tests/app/factory.py plus two
outside runs, tests/warehouse/test_queries_results.py)."""

from __future__ import annotations

import polars as pl
import pytest

from tests.app import factory
from tests.app.apphelp import chart_frames, charts, no_exceptions, run_page, texts
from tests.warehouse.test_queries_results import ANALYSED, OUTSIDE_SWEEP, TRACKED, add_outside_runs
from warehouse import home

RUNS, COMPARE = "pages/1_Runs.py", "pages/13_Compare.py"


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory):
    where = home(tmp_path_factory.mktemp("runs-home"))
    factory.build(where)
    add_outside_runs(where)
    return where


@pytest.fixture
def on_home(runs_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(runs_home.root))
    return runs_home


# what tells each table apart (read-only tables carry no key in AppTest)
MARKS = {"runs-table": "detail", "runs-groups": "seeds"}


def table(at, key: str) -> pl.DataFrame:
    if key in MARKS:
        frames = [pl.from_pandas(d.value) for d in at.dataframe]
        return next(f for f in frames if MARKS[key] in f.columns)
    return pl.from_pandas(at.dataframe[["compare-config", "compare-results"].index(key)].value)


def links(at) -> list[str]:
    return [str(m.value) for m in at.markdown if "compare these" in str(m.value)]


def test_runs_table_carries_final_results_names_and_no_nan_seeds(on_home):
    at = run_page(RUNS)
    no_exceptions(at)
    runs = table(at, "runs-table")
    assert runs.height == 6
    by_detail = {d.split("=")[-1]: r for d, r in zip(runs["detail"], runs.iter_rows(named=True))}
    for t in factory.TEMPS:
        for seed in factory.SEEDS:
            r = by_detail[factory.run_id(factory.ARCH, t, seed)]
            assert r["test_acc"] == pytest.approx(0.8 - 0.001 * t)
            assert r["logits_norm"] == pytest.approx(30 / t)
            assert r["kappa"] == pytest.approx(factory.kappa(t, seed))
            assert r["best_auroc"] == pytest.approx(0.8 + seed / 100)
    a = by_detail[ANALYSED]
    assert (a["name"], a["tags"], a["note"], a["source"]) == ("hub resnet", "baseline, hub",
                                                               "weights from the model hub", "analysed")
    assert a["test_acc"] is None or a["test_acc"] != a["test_acc"]  # no training log: no number (NULL/NaN cell)
    groups = table(at, "runs-groups")
    assert "nan" not in " ".join(groups["seeds"].to_list())
    outside = groups.filter(pl.col("seeds") == "— (no seed)")
    assert outside.height == 2  # the two outside runs are groups of their own


def test_group_table_std_only_where_two_runs_and_n_always(on_home):
    at = run_page(RUNS)
    no_exceptions(at)
    groups = table(at, "runs-groups")
    spread = {t: s for t, s in zip(groups["temperature"], groups["kappa ±"])}
    # seed groups of two: std of kappa = sqrt(0.5) over seeds 0 and 1
    assert spread[1.0] == f"± {factory.expected_std([factory.kappa(1.0, s) for s in factory.SEEDS]):.3g} (n=2)"
    assert spread[2.0] == "— (n=1)"  # the analysed run alone: a mean, no '± 0'
    assert spread[5.0] == "— (n=0)"  # the tracked run has no kappa at all: n says so
    means = {t: m for t, m in zip(groups["temperature"], groups["kappa_mean"])}
    assert means[10.0] == pytest.approx(factory.kappa(10.0, 0) + 0.5)
    assert all("± 0 (n=1)" not in s for col in groups.columns if col.endswith("±") for s in groups[col])
    assert groups["N"].to_list() and all(n >= 1 for n in groups["N"])


def test_result_filters_keep_only_runs_in_range(on_home):
    at = run_page(RUNS)
    at.multiselect(key="runs-filter-results").set_value(["test_acc"]).run()
    at.number_input(key="runs-min-test_acc").set_value(0.795).run()
    no_exceptions(at)
    kept = table(at, "runs-table")["detail"].str.split("=").list.last().sort().to_list()
    # test_acc = 0.8 - 0.001 T: only T = 1 (0.799) is >= 0.795; runs without an accuracy are left out
    assert kept == sorted(factory.run_id(factory.ARCH, 1.0, s) for s in factory.SEEDS)
    at.number_input(key="runs-min-test_acc").set_value(None)
    at.number_input(key="runs-max-test_acc").set_value(0.5).run()
    assert table(at, "runs-table")["detail"].str.split("=").list.last().to_list() == [TRACKED]
    at.number_input(key="runs-max-test_acc").set_value(None).run()
    at.multiselect(key="runs-filter-results").set_value([]).run()
    at.toggle(key="runs-learned-only").set_value(True).run()
    no_exceptions(at)
    # the factory's runs carry the verdict an ending job stores (they learned), the analysed run its own;
    # the tracked run has none (still at epoch 0): left out
    learned = sorted([ANALYSED, *(factory.run_id(factory.ARCH, t, s) for t in factory.TEMPS for s in factory.SEEDS)])
    assert table(at, "runs-table")["detail"].str.split("=").list.last().sort().to_list() == learned


def test_sweep_in_the_url_shows_only_that_sweep_and_can_be_cleared(on_home):
    at = run_page(RUNS, sweep=OUTSIDE_SWEEP)
    no_exceptions(at)
    assert f"Showing only sweep `{OUTSIDE_SWEEP}`: 2 run(s)." in texts(at)
    assert sorted(table(at, "runs-table")["detail"].str.split("=").list.last()) == sorted([ANALYSED, TRACKED])
    at.button(key="runs-clear-sweep").click().run()
    no_exceptions(at)
    assert "sweep" not in at.query_params
    assert table(at, "runs-table").height == 6
    missing = run_page(RUNS, sweep="20991231-000000-nothing")
    no_exceptions(missing)
    assert "No run of sweep `20991231-000000-nothing`" in texts(missing)


def test_selected_rows_give_a_compare_link_with_their_ids(on_home):
    at = run_page(RUNS)
    shown = table(at, "runs-table")["detail"].str.split("=").list.last().to_list()
    assert not links(at)
    at.session_state["runs-table"] = {"selection": {"rows": [0, 2], "columns": []}}
    at.run()
    no_exceptions(at)
    assert links(at) == [f"**[🔀 compare these 2 runs](/Compare?runs={shown[0]},{shown[2]})**"]
    at.session_state["runs-table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not links(at)


def test_scatter_one_point_per_run_with_its_result(on_home):
    at = run_page(RUNS)
    at.selectbox(key="runs-scatter-y").set_value("kappa").run()
    no_exceptions(at)
    frame = next(f for c in charts(at) for f in chart_frames(c) if "kappa" in f.columns)
    assert frame.height == 5  # the tracked run has no kappa: no point, not a 0
    got = {r["run_id"]: r["kappa"] for r in frame.iter_rows(named=True)}
    assert got[ANALYSED] == pytest.approx(42.0)
    assert got[factory.run_id(factory.ARCH, 10.0, 1)] == pytest.approx(factory.kappa(10.0, 1))


def test_compare_two_runs_side_by_side(on_home):
    a, b = factory.run_id(factory.ARCH, 1.0, 0), factory.run_id(factory.ARCH, 10.0, 1)
    at = run_page(COMPARE, runs=f"{a},{b}")
    no_exceptions(at)
    diff = table(at, "compare-config")
    assert diff["field"].to_list() == ["temperature", "seed"]  # only the fields that differ
    label_a, label_b = f"{a} · T=1", f"{b} · T=10"
    assert diff[label_a].to_list() == ["1", "0"] and diff[label_b].to_list() == ["10", "1"]
    res = {r["result"]: (r[label_a], r[label_b]) for r in table(at, "compare-results").iter_rows(named=True)}
    assert res["test accuracy"] == ("0.799", "0.79")
    assert res["logits norm"] == ("30", "3")
    assert res["κ effective depth [%]"] == (f"{factory.kappa(1.0, 0):.4g}", f"{factory.kappa(10.0, 1):.4g}")
    frames = [f for c in charts(at) for f in chart_frames(c)]
    curves = pl.concat([f for f in frames if "quantity" in f.columns])
    assert curves.height == 2 * 4 * len(factory.EPOCHS)  # 2 runs x 4 quantities x 3 epochs
    norm = curves.filter((pl.col("quantity") == "logits_norm") & (pl.col("label") == label_b)).sort("epoch")
    assert norm["value"].to_list() == pytest.approx([(1 + e) * 10 / 10.0 for e in factory.EPOCHS])
    ranks = next(f for f in frames if "layer_name" in f.columns)
    hidden0 = ranks.filter((pl.col("layer_name") == "hidden0") & (pl.col("kind") == "hidden"))
    assert dict(zip(hidden0["label"], hidden0["value"])) == pytest.approx(
        {label_a: factory.rank(0, 1.0, 0), label_b: factory.rank(0, 10.0, 1)})
    assert set(ranks["epoch"]) == {factory.EPOCHS[-1]}


def test_compare_says_what_is_wrong_in_one_line(on_home):
    a = factory.run_id(factory.ARCH, 1.0, 0)
    unknown = run_page(COMPARE, runs=f"{a},nosuchrun0000000")
    no_exceptions(unknown)
    assert [e.value for e in unknown.error] == [
        "Unknown run id(s): nosuchrun0000000. Pick runs on the Runs page (or ingest, if they just ended)."]
    one = run_page(COMPARE, runs=a)
    assert [e.value for e in one.error] == ["Compare takes 2 to 8 runs, not 1: tick that many on the Runs page."]
    outside = run_page(COMPARE, runs=f"{ANALYSED},{a}")
    no_exceptions(outside)
    assert "No training log for: hub resnet · out0anal · T=2." in texts(outside)


def test_config_filter_keeps_empty_values_when_asked(on_home):
    """Runs made before `source` existed have it empty: picking the empty value keeps them, not an error."""
    at = run_page(RUNS)
    at.multiselect(key="runs-filter-fields").set_value(["source"]).run()
    at.multiselect(key="runs-filter-source").set_value([None]).run()
    no_exceptions(at)
    kept = table(at, "runs-table")["detail"].str.split("=").list.last().sort().to_list()
    assert kept == sorted(factory.run_id(factory.ARCH, t, s) for t in factory.TEMPS for s in factory.SEEDS)
    at.multiselect(key="runs-filter-source").set_value(["analysed"]).run()
    assert table(at, "runs-table")["detail"].str.split("=").list.last().to_list() == [ANALYSED]
