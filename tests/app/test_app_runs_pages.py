"""The Runs page's smaller pages (issue 20 item 3): the group table paged like the run table, every group reachable
page by page in the same order as the unpaged statement; and the results scatter sent as a data-free spec whose
bytes do not change when only the runs drawn change (Streamlit then swaps the points instead of compiling again)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from app import charts
from tests.app import factory
from warehouse import run_table
from warehouse.queries import GROUP_DEFAULT, Queries
from warehouse.run_table import RunFilter


@pytest.fixture(scope="module")
def results(fx_home):
    return Queries().run_results(where=fx_home)


@pytest.mark.parametrize("by", [list(GROUP_DEFAULT), ["temperature"], ["arch", "loss"]], ids=["seed-groups", "T", "arch-loss"])
def test_group_pages_put_together_are_every_group_in_order(results, by):
    whole = run_table.query(results, *run_table.groups_sql(RunFilter(), by, ("test_acc",)))
    assert whole.height >= 2, whole  # the fixture has several groups, so pages of 1 and 2 split them
    for size in (1, 2, whole.height + 5):
        pages = [run_table.query(results, *run_table.groups_sql(RunFilter(), by, ("test_acc",), limit=size,
                                                                 offset=o))
                 for o in range(0, whole.height, size)]
        assert all(p.height <= size for p in pages)
        joined = pl.concat(pages)
        assert joined.select(*by, "N", "test_acc_mean").equals(whole.select(*by, "N", "test_acc_mean")), size
        assert set(joined["groups"].to_list()) == {whole.height}  # every page knows how many there are in all
    # past the last page: no rows (the page box cannot go there, but a stale page number must not fail)
    past = run_table.query(results, *run_table.groups_sql(RunFilter(), by, ("test_acc",), limit=2,
                                                          offset=whole.height))
    assert past.is_empty()


def _points(results, order: str) -> pl.DataFrame:
    sql = run_table.scatter_sql(RunFilter(config=(("arch", (factory.ARCH,)),)), "temperature", "test_acc",
                                log_x=True, log_y=False, order=order, limit=5)
    return run_table.query(results, *sql).drop("total")


def test_scatter_spec_is_the_static_chart_without_its_data_and_stays_when_the_points_change(results):
    newest, best = _points(results, run_table.NEWEST), _points(results, "test_acc")
    assert set(newest["run_id"]) != set(best["run_id"]) or newest["run_id"].to_list() != best["run_id"].to_list()
    style = dict(x="temperature", y="test_acc", log_x=True, log_y=False)
    spec_a, drawn_a = charts.results_scatter_spec(newest, **style)
    spec_b, drawn_b = charts.results_scatter_spec(best, **style)
    assert set(newest["temperature"]) == set(best["temperature"])  # same temperatures: same legend ...
    assert json.dumps(spec_a, sort_keys=True) == json.dumps(spec_b, sort_keys=True)  # ... so the same bytes
    assert "data" not in spec_a and "datasets" not in spec_a
    static = charts.results_scatter(newest, **style).to_dict(validate=False)
    rows = next(iter(static["datasets"].values()))
    # the rows sent beside the spec are the static chart's rows, and the rest of the spec is the same
    assert sorted(r["run_id"] for r in rows) == sorted(drawn_a["run_id"].to_list())
    assert {k: v for k, v in static.items() if k not in ("data", "datasets")} == spec_a
