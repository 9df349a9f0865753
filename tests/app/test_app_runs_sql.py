"""The Runs page's table in DuckDB (warehouse/run_table.py) against the Polars path it replaced, on the 16-run
fixture warehouse: the same runs kept, in the same order, page by page, and the same group statistics; and
every value from the browser bound as a parameter, never spliced into the SQL."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tests.app import factory
from warehouse import run_table
from warehouse.queries import GROUP_DEFAULT, Queries
from warehouse.run_table import NEWEST, RunFilter

HOSTILE = "'; DROP TABLE results; --"


@pytest.fixture(scope="module")
def results(fx_home):
    return Queries().run_results(where=fx_home)


def polars_path(runs: pl.DataFrame, f: RunFilter, order: str = NEWEST) -> pl.DataFrame:
    """The Runs page's filters and order as they were before (Polars over the whole frame), kept as the reference."""
    if f.sweep is not None:
        runs = runs.filter(pl.col("sweep_id") == f.sweep)
    for name, keep in f.config:
        runs = runs.filter(pl.col(name).is_in([k for k in keep if k is not None])
                           | (pl.col(name).is_null() & pl.lit(None in keep)))
    if f.text:
        needle = f.text.lower()
        runs = runs.filter(pl.any_horizontal(pl.col(c).str.to_lowercase().str.contains(needle, literal=True)
                                             for c in ("name", "tags", "note")))
    if f.learned_only:
        runs = runs.filter(pl.col("learned").fill_null(False))
    if f.converged_only:
        runs = runs.filter(pl.col("probes_converged").fill_null(True))
    for name, lo, hi in f.ranges:
        runs = runs.filter(pl.col(name).is_not_null())
        if lo is not None:
            runs = runs.filter(pl.col(name) >= lo)
        if hi is not None:
            runs = runs.filter(pl.col(name) <= hi)
    if order != NEWEST:
        runs = runs.sort(order, descending=True, nulls_last=True, maintain_order=True)
    return runs


FILTERS = [
    RunFilter(),
    RunFilter(config=(("arch", (factory.ARCH,)),)),
    RunFilter(config=(("loss", ("mse",)), ("temperature", (10.0,)))),
    RunFilter(config=(("source", (None,)),)),
    RunFilter(config=(("arch", ("resnet18", None)),), learned_only=True),
    RunFilter(config=(("arch", (factory.ARCH,)),), converged_only=True, ranges=(("test_acc", 0.795, None),)),
    RunFilter(ranges=(("kappa", None, 99.5), ("logits_norm", 1.0, 40.0))),
]


@pytest.mark.parametrize("f", FILTERS, ids=range(len(FILTERS)))
@pytest.mark.parametrize("order", [NEWEST, "test_acc", "kappa"])
def test_pages_hold_the_runs_the_polars_path_kept_in_its_order(results, f, order):
    want = polars_path(results, f, order)["run_id"].to_list()
    assert int(run_table.query(results, *run_table.count_sql(f))["n"][0]) == len(want)
    # pages of 5 put back together are the whole ordered list, each run once
    pages = [run_table.query(results, *run_table.page_sql(f, order, limit=5, offset=o))["run_id"].to_list()
             for o in range(0, len(want) + 5, 5)]
    assert [r for p in pages for r in p] == want
    assert all(len(p) <= 5 for p in pages)
    every = run_table.query(results, *run_table.all_sql(f, order))
    assert every["run_id"].to_list() == want
    assert every.columns == results.columns


def test_the_fixture_has_something_to_filter(results):
    """The cases above are not vacuous: they keep different, non-empty sets of the 16 runs."""
    kept = [tuple(polars_path(results, f)["run_id"].to_list()) for f in FILTERS]
    assert results.height == 16
    assert all(kept[1:]) and len(set(kept)) == len(FILTERS) - 1  # source=empty keeps all 16, like no filter


def test_text_filter_and_newest_first_on_named_runs(results):
    """The fixture's runs have no names and one creation time: give them some, so the text filter (name, tags or
    note, any case, literally) and the newest-first order have something to tell apart."""
    named = results.with_row_index("i").with_columns(
        pl.when(pl.col("i") % 3 == 0).then(pl.format("Baseline {}", pl.col("run_id"))).otherwise(pl.lit(""))
        .alias("name"),
        pl.when(pl.col("i") % 4 == 1).then(pl.lit("hub, base.line")).otherwise(pl.lit("")).alias("tags"),
        pl.when(pl.col("i") % 5 == 2).then(pl.lit("50% BASELINE")).otherwise(pl.lit("")).alias("note"),
        (pl.col("created_at") + pl.duration(minutes=(pl.col("i") * 7) % 16)).alias("created_at"),
    ).drop("i")
    for text in ("baseline", "BASE.LINE", "50%", "mlp", "nothing like it"):
        f = RunFilter(text=text)
        want = polars_path(named, f).sort("created_at", "run_id", descending=[True, False])["run_id"].to_list()
        assert run_table.query(named, *run_table.all_sql(f))["run_id"].to_list() == want
        assert text == "nothing like it" or want  # a text that matches nothing matches nothing, the others some


def test_groups_match_group_results_with_counts_and_seeds(results):
    f = RunFilter(config=(("arch", (factory.ARCH,)),))
    by = list(GROUP_DEFAULT)
    cols = ("test_acc", "kappa", "logits_norm")
    got = run_table.query(results, *run_table.groups_sql(f, by, cols))
    runs = polars_path(results, f)
    want = Queries.group_results(runs, by, cols)
    assert got.height == want.height == int(got["groups"][0]) == 4  # 2 losses x 2 temperatures
    joined = got.join(want, on=by, how="inner", suffix="_pl", nulls_equal=True)
    assert joined.height == want.height
    for r in joined.iter_rows(named=True):
        assert r["N"] == r["N_pl"] == 2 and r["finished"] == 2 and r["seeds"] == "0, 1"
        for c in cols:
            assert r[f"{c}_n"] == r[f"{c}_n_pl"]
            assert r[f"{c}_mean"] == pytest.approx(r[f"{c}_mean_pl"], rel=1e-12)
            assert r[f"{c}_std"] == pytest.approx(r[f"{c}_std_pl"], rel=1e-9)
    # κ of a seed pair = 100 - T/10 + seed: std sqrt(0.5) (the formula, not only the other implementation)
    assert got["kappa_std"].to_list() == pytest.approx([math.sqrt(0.5)] * 4, rel=1e-12)
    capped = run_table.query(results, *run_table.groups_sql(f, by, cols, limit=3))
    assert capped.height == 3 and int(capped["groups"][0]) == 4
    assert capped.select(by).rows() == got.select(by).head(3).rows()


def test_varying_and_present_and_choices(results):
    f = RunFilter(config=(("arch", (factory.ARCH,)),))
    counts = run_table.query(results, *run_table.varying_sql(f, GROUP_DEFAULT)).row(0, named=True)
    runs = polars_path(results, f)
    assert counts == {c: runs[c].n_unique() for c in GROUP_DEFAULT}
    assert counts["loss"] == 2 and counts["arch"] == 1
    have = run_table.query(results, *run_table.present_sql(RunFilter())).row(0, named=True)
    assert have == {r: results[r].is_not_null().sum() for r in run_table.RESULTS}
    archs = run_table.query(results, *run_table.values_sql(RunFilter(), "arch"))["value"].to_list()
    assert sorted(archs) == sorted({factory.ARCH, "resnet18"})


def test_browser_values_are_bound_parameters_never_sql(results):
    hostile = RunFilter(sweep=HOSTILE, config=(("arch", (HOSTILE,)), ("dataset", (HOSTILE, None))), text=HOSTILE,
                        ranges=(("test_acc", 0.0, 1.0),))
    statements = [run_table.count_sql(hostile), run_table.page_sql(hostile, "kappa", limit=7, offset=3),
                  run_table.groups_sql(hostile, ["arch"], ("kappa",), limit=5),
                  run_table.scatter_sql(hostile, "temperature", "kappa", log_x=True, log_y=False),
                  run_table.values_sql(hostile, "arch"), run_table.all_sql(hostile)]
    for sql, params in statements:
        assert HOSTILE not in sql and "DROP" not in sql.upper()
        assert sql.count("?") == len(params)
        run_table.query(results, sql, params)  # runs: the value is only ever compared with
    assert int(run_table.query(results, *run_table.count_sql(hostile))["n"][0]) == 0
    assert run_table.query(results, *run_table.page_sql(hostile, limit=100)).is_empty()
    # as data it matches itself: a run named so would be found by the text filter
    named = results.with_columns(pl.lit(HOSTILE).alias("name"))
    assert int(run_table.query(named, *run_table.count_sql(RunFilter(text=HOSTILE.upper())))["n"][0]) == 16
    # column names cannot be parameters: only the table's own columns are accepted, anything else refused
    for bad in [HOSTILE, 'arch" OR 1=1 --', "nonexistent"]:
        with pytest.raises(ValueError, match="unknown column"):
            run_table.count_sql(RunFilter(config=((bad, ("x",)),)))
        with pytest.raises(ValueError, match="unknown column"):
            run_table.page_sql(RunFilter(), order=bad)
        with pytest.raises(ValueError, match="unknown column"):
            run_table.groups_sql(RunFilter(), [bad], ())


def test_scatter_points_and_total(results):
    f = RunFilter()
    pts = run_table.query(results, *run_table.scatter_sql(f, "temperature", "kappa", log_x=True, log_y=False,
                                                          order="kappa", limit=3))
    want = polars_path(results, f, "kappa").filter(pl.col("kappa").is_not_null() & (pl.col("temperature") > 0))
    assert int(pts["total"][0]) == want.height
    assert pts["run_id"].to_list() == want["run_id"].head(3).to_list()
    assert pts.columns == ["run_id", "name", "temperature", "seed", "kappa", "total"]
