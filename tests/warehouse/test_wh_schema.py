"""SCHEMA.md matches schema.py, every column is documented, and every example query runs."""

from __future__ import annotations

import pytest

from tests.warehouse.wh_helpers import write_run
from warehouse import docs
from warehouse.examples import EXAMPLES
from warehouse.ingest import ingest
from warehouse.read import query
from warehouse.schema import DERIVED, TABLES


def test_schema_md_is_current():
    assert docs.SCHEMA_MD.read_text() == docs.render(), "run `python -m warehouse schema-doc` and commit SCHEMA.md"


def test_every_column_has_a_meaning_and_appears_in_the_doc():
    text = docs.render()
    for table in [*TABLES.values(), *DERIVED.values()]:
        assert table.doc and f"### `{table.name}`" in text
        for col in table.columns:
            assert len(col.doc) > 5, f"{table.name}.{col.name} needs a meaning"
            assert f"| `{col.name}` |" in text


def test_units_are_split_out_of_the_meaning():
    assert docs._split_unit("wall time since start [s]") == ("wall time since start", "s")
    assert docs._split_unit("architecture name") == ("architecture name", "—")


@pytest.fixture(scope="module")
def small_home(tmp_path_factory):
    from warehouse import home

    where = home(tmp_path_factory.mktemp("schema") / "home")
    for t in (1.0, 10.0):
        for seed in range(3):
            write_run(where, f"r{int(t)}s{seed}", temperature=t, seed=seed)
    write_run(where, "broken", temperature=100.0, status="failed", message="CUDA out of memory")
    ingest(where)
    return where


@pytest.mark.parametrize("title,what,sql", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_query_runs_and_returns_rows(small_home, title, what, sql):
    assert query(sql, where=small_home).height > 0


def test_rank_example_gives_mean_and_std_over_seeds(small_home):
    frame = query(EXAMPLES[0][2], where=small_home)
    row = frame.filter((frame["temperature"] == 10.0) & (frame["layer_index"] == 2)).row(0, named=True)
    # seeds 0, 1, 2 store 20 + seed
    assert row["rank_mean"] == pytest.approx(21.0) and row["rank_std"] == pytest.approx(1.0) and row["seeds"] == 3


def test_runs_view_shows_status_job_host_times_and_error(small_home):
    runs = query("SELECT * FROM runs ORDER BY run_id", where=small_home)
    broken = runs.filter(runs["run_id"] == "broken").row(0, named=True)
    assert broken["status"] == "failed" and broken["error"] == "CUDA out of memory"
    assert broken["job_id"] == "77_1" and broken["host"] == "node1"
    assert broken["started_at"] < broken["ended_at"]
    ok = runs.filter(runs["run_id"] == "r1s0").row(0, named=True)
    assert ok["status"] == "finished" and ok["error"] is None and ok["code_version"] == "abc"
    assert runs.filter(runs["temperature"] == 1.0)["config_group"].n_unique() == 1  # seeds share a group
    assert runs["config_group"].n_unique() == 3


@pytest.mark.parametrize("title,what,sql", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_query_also_runs_in_the_dashboard_console(small_home, title, what, sql):
    from warehouse.console import run_safe

    result = run_safe(sql, where=small_home)
    assert not isinstance(result, str), result
    assert result.height > 0
