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


# --- limits asserted from outside the process: peak memory and wall time of the real CLI ----------------

MEASURE = """
import resource, subprocess, sys, time
t0 = time.monotonic()
done = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1]) if sys.argv[1] != '-' else None, capture_output=True,
                      text=True)
# the largest resident set of any process under this one (the CLI, or its sandbox worker), in KiB on Linux
print(done.returncode, time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.stderr.write(done.stderr)
"""


def measured(where, *args: str, stdin: str = "-") -> tuple[int, float, int, str]:
    """(exit status, wall seconds, peak RSS in bytes, stderr) of `python -m warehouse ARGS`, seen from a parent."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root))
    out = subprocess.run([sys.executable, "-c", MEASURE, stdin, sys.executable, "-m", "warehouse", *args],
                         capture_output=True, text=True, env=env, timeout=600)
    code, seconds, peak = out.stdout.split()
    return int(code), float(seconds), int(peak), out.stderr


@pytest.mark.slow
def test_a_few_very_wide_rows_are_refused_by_bytes_within_the_memory_limit(where):
    """10,000 rows of two 200 kB strings: 4 GB of answer, which once took 4-5 GB of memory past the 2 GB limit."""
    from warehouse.console import MEMORY_BYTES

    code, _, peak, err = measured(where, "sql", "--safe", "--byte-cap-mb", "64",
                                  "SELECT repeat('x', 200000) AS a, repeat('y', 200000) AS b FROM range(10000)")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "passed 64 MB" in err
    assert peak < MEMORY_BYTES, f"peak RSS {peak / 2**30:.2f} GiB"
    # wider still: DuckDB's own 2048-row chunks would pass the limit; the worker's address space stops them
    cols = ", ".join(f"repeat('x', 200000) AS c{i}" for i in range(8))
    code, _, peak, err = measured(where, "sql", "--safe", f"SELECT {cols} FROM range(10000)")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "memory" in err, err
    assert peak < MEMORY_BYTES + 2**29, f"peak RSS {peak / 2**30:.2f} GiB"  # the limit, plus the worker's start-up


@pytest.mark.slow
def test_a_query_slow_to_plan_is_stopped_at_the_time_limit(where, tmp_path):
    """20,000 `SELECT 1` joined by UNION ALL: planning it took 275 s here, deaf to DuckDB's interrupt. It comes
    from a file (past the shell's argument limit) on standard input, and must stop at the limit."""
    query = tmp_path / "union.sql"
    query.write_text(" UNION ALL ".join(["SELECT 1"] * 20_000))
    code, seconds, _, err = measured(where, "sql", "--safe", "--timeout", "3", "-", stdin=str(query))
    assert code == 2 and "stopped after 3 s" in err, err
    assert seconds < 3 + 30, f"took {seconds:.0f} s"  # the limit plus two interpreter start-ups on a busy machine


@pytest.mark.slow
def test_cli_reads_the_query_from_a_file_or_standard_input(where, tmp_path):
    import subprocess

    query = tmp_path / "q.sql"
    query.write_text("SELECT run_id FROM runs\nORDER BY run_id\n")
    for args in (["--file", str(query)], ["--safe", "-f", str(query)]):
        done = cli("sql", *args, "--format", "csv", where=where)
        assert done.returncode == 0 and done.stdout.split() == ["run_id", "r0", "r1", "r2"], done.stderr
    import os
    import sys

    from tests.conftest import ROOT

    piped = subprocess.run([sys.executable, "-m", "warehouse", "sql", "-", "--format", "csv"], input=query.read_text(),
                           capture_output=True, text=True, cwd=ROOT, timeout=120,
                           env=dict(os.environ, THERMOSCOPE_HOME=str(where.root)))
    assert piped.returncode == 0 and piped.stdout.split() == ["run_id", "r0", "r1", "r2"], piped.stderr
    for args, fragment in ((["--file", str(tmp_path / "missing.sql")], "missing.sql"),
                           (["SELECT 1", "--file", str(query)], "not both"), ([], "not none")):
        done = cli("sql", *args, where=where)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and fragment in done.stderr, \
            done.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--row-cap", "0"], "--row-cap"), (["--row-cap", "-1"], "--row-cap"), (["--timeout", "0"], "--timeout"),
    (["--timeout", "-5"], "--timeout"), (["--byte-cap-mb", "0"], "--byte-cap-mb"),
])
def test_cli_limits_must_be_positive(where, args, fragment):
    done = cli("sql", "--safe", "SELECT 1", *args, where=where)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr and args[1] in done.stderr


def test_plain_sql_is_read_only_as_its_help_says(where, tmp_path):
    target = tmp_path / "copied.csv"
    for sql, kind in ((f"COPY runs TO '{target}'", "COPY"), (f"ATTACH '{tmp_path / 'new.duckdb'}' AS n", "ATTACH"),
                      ("SET threads = 1", "SET"), ("CREATE TABLE t AS SELECT 1", "CREATE")):
        done = cli("sql", sql, where=where)
        assert done.returncode == 2 and f"{kind} statements are refused" in done.stderr, done.stderr
    assert not target.exists() and not (tmp_path / "new.duckdb").exists()
    described = cli("sql", "DESCRIBE runs", "--format", "csv", where=where)
    assert described.returncode == 0 and "run_id" in described.stdout, described.stderr
