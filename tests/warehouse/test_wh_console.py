"""The SQL console's sandbox refuses what could touch files, the network or the data, and answers SELECTs."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.warehouse.wh_helpers import cli, write_run
from warehouse.console import answer, run_safe
from warehouse.ingest import ingest


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    from warehouse import home

    where = home(tmp_path_factory.mktemp("console") / "home")
    for seed in range(3):
        write_run(where, f"r{seed}", seed=seed)
    ingest(where)
    return where


@pytest.mark.parametrize("sql,fragment", [
    ("COPY layer_metrics TO '/tmp/thermoscope-stolen.csv'", "COPY statements are refused"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    ("SELECT * FROM read_text('/etc/hostname')", "disabled by configuration"),
    ("SELECT * FROM glob('/etc/*')", "disabled by configuration"),
    ("ATTACH '/tmp/other.duckdb' AS o", "ATTACH statements are refused"),
    ("INSTALL httpfs", "INSTALL/LOAD statements are refused"),
    ("LOAD httpfs", "INSTALL/LOAD statements are refused"),
    ("DROP TABLE layer_metrics", "DROP statements are refused"),
    ("DELETE FROM runs", "DELETE statements are refused"),
    ("SET enable_external_access = true", "SET statements are refused"),
    ("SELECT 1; DROP TABLE runs", "one statement at a time"),
    ("SELEC 1", "not valid SQL"),
])
def test_refused_with_one_line(where, sql, fragment):
    result = run_safe(sql, where=where)
    assert isinstance(result, str) and fragment in result and "\n" not in result


def test_nothing_was_written_or_dropped(where, tmp_path):
    run_safe("COPY layer_metrics TO '/tmp/thermoscope-stolen.csv'", where=where)
    run_safe("DROP TABLE layer_metrics", where=where)
    assert run_safe("SELECT count(*) AS n FROM layer_metrics", where=where)["n"][0] == 9


def test_select_answers_a_polars_frame(where):
    frame = run_safe("SELECT run_id, status FROM runs ORDER BY run_id", where=where)
    assert isinstance(frame, pl.DataFrame)
    assert frame.rows() == [("r0", "finished"), ("r1", "finished"), ("r2", "finished")]


def test_row_cap_and_time_limit(where):
    capped = answer("SELECT * FROM range(1000)", row_cap=10, where=where)
    assert capped.frame.height == 10 and capped.truncated
    slow = answer("SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1",
                  timeout_s=0.5, where=where)
    assert slow.frame is None and "stopped after 0.5 s" in slow.refusal
    assert slow.seconds < 10


def test_cli_safe_mode(where):
    done = cli("sql", "--safe", "SELECT run_id FROM runs ORDER BY run_id", "--format", "json", where=where)
    assert done.returncode == 0, done.stderr
    assert [r["run_id"] for r in json.loads(done.stdout)] == ["r0", "r1", "r2"]
    refused = cli("sql", "--safe", "SELECT * FROM read_csv('/etc/passwd')", where=where)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "root:" not in refused.stdout + refused.stderr


def test_cli_formats_and_export(where, tmp_path):
    csv = tmp_path / "runs.csv"
    done = cli("sql", "SELECT run_id, ood, status FROM runs ORDER BY run_id", "--format", "csv", "--out", str(csv),
               where=where)
    assert done.returncode == 0, done.stderr
    assert csv.read_text().splitlines()[:2] == ["run_id,ood,status", "r0,[shapes],finished"]
    pq_out = tmp_path / "stats.parquet"
    assert cli("sql", "SELECT * FROM layer_stats", "--format", "parquet", "--out", str(pq_out), where=where).returncode == 0
    assert pl.read_parquet(pq_out).height == 3
    table = cli("sql", "SELECT count(*) AS n FROM epochs", where=where)
    assert "12" in table.stdout
    out = tmp_path / "export"
    done = cli("export", "--out", str(out), where=where)
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(out / "layer_metrics.parquet").height == 9
    assert "_shard" not in pl.read_parquet(out / "layer_metrics.parquet").columns
    assert pl.read_parquet(out / "runs.parquet").height == 3


def test_console_and_ordinary_connections_coexist_in_one_process(where):
    from warehouse.read import connect

    before = connect(where)  # the app holds an ordinary read-only connection
    try:
        assert isinstance(run_safe("SELECT count(*) AS n FROM runs", where=where), pl.DataFrame)
        assert "disabled by configuration" in run_safe("SELECT * FROM read_csv('/etc/passwd')", where=where)
        after = connect(where)
        after.close()
    finally:
        before.close()


def test_the_sandbox_cannot_be_unlocked(where):
    from warehouse.console import open_sandbox

    con = open_sandbox(where)
    try:
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("ATTACH '/tmp/thermoscope-other.duckdb' AS o")
    finally:
        con.close()


def test_pivot_without_values_gets_a_hint(where):
    result = run_safe("PIVOT (SELECT i, j, cosine FROM alignment) ON j USING first(cosine)", where=where)
    assert isinstance(result, str) and "ON j IN (0, 1, 2)" in result
