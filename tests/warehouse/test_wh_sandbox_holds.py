"""The console's sandbox holds where it leaked: EXPLAIN ANALYZE of a write, the working folder's `.tmp`, spill
files, and queries piling up. Real worker processes, a real DuckDB file, real files on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import ROOT
from tests.warehouse.wh_helpers import cli, write_run
from warehouse.console import answer, run_safe
from warehouse.ingest import ingest


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    from warehouse import home

    where = home(tmp_path_factory.mktemp("sandbox") / "home")
    write_run(where, "r0", seed=0)
    ingest(where)
    return where


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("template", [
    "EXPLAIN ANALYZE COPY (SELECT * FROM range(1000)) TO '{target}'",
    "explain /* a comment */ analyze -- and another\n COPY (SELECT 1) TO '{target}' (FORMAT csv)",
    "EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 1) TO '{target}'",
    "EXPLAIN ANALYSE COPY runs TO '{target}'",
])
@pytest.mark.slow
def test_explain_analyze_of_a_write_is_refused_and_writes_nothing(where, tmp_path, template, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    for target in (tmp_path / "stolen.csv", ".tmp/stolen.csv"):
        result = run_safe(template.format(target=target), where=where)
        assert isinstance(result, str) and "COPY statements are refused" in result and "\n" not in result, result
        # the plain (unsandboxed) `warehouse sql` shares the statement check
        done = cli("sql", template.format(target=target), where=where)
        assert done.returncode == 2 and "COPY statements are refused" in done.stderr, done.stderr
    assert files_under(tmp_path) == [".tmp"]


@pytest.mark.parametrize("sql", ["EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN ANALYZE PRAGMA version",
                                 "EXPLAIN DELETE FROM run_configs"])
def test_explain_of_any_other_statement_is_refused(where, sql):
    result = run_safe(sql, where=where)
    assert isinstance(result, str) and "statements are refused" in result and result.startswith("EXPLAIN"), result


@pytest.mark.parametrize("sql,column", [
    ("EXPLAIN SELECT run_id FROM runs", "physical_plan"),
    ("EXPLAIN ANALYZE SELECT count(*) FROM layer_metrics", "analyzed_plan"),
    ("EXPLAIN (FORMAT json) SELECT 1", "physical_plan"),
    ("EXPLAIN (SELECT 1) UNION ALL (SELECT 2)", "physical_plan"),
])
def test_explain_of_a_select_still_answers(where, sql, column):
    frame = run_safe(sql, where=where)
    assert isinstance(frame, pl.DataFrame) and frame["explain_key"].to_list() == [column], frame


def test_the_in_process_sandbox_allows_no_folder_at_all(where, tmp_path, monkeypatch):
    from warehouse.console import open_sandbox

    monkeypatch.chdir(tmp_path)
    con = open_sandbox(where)
    try:
        assert con.execute("SELECT current_setting('allowed_directories'), current_setting('temp_directory')"
                           ).fetchall() == [([], "")]
    finally:
        con.close()


@pytest.mark.slow
def test_a_tmp_link_in_the_working_folder_reaches_nothing(where, tmp_path):
    """The app started from a folder someone else can write, whose `.tmp` links to an owner-only folder."""
    secret = tmp_path / "private"
    secret.mkdir(mode=0o700)
    (secret / "secret.txt").write_text("the owner's secret\n")
    cwd = tmp_path / "shared"
    cwd.mkdir()
    (cwd / ".tmp").symlink_to(secret)
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root), PYTHONPATH=str(ROOT))
    # a relative path is the worker's own (empty) private folder: nothing there; any other is refused
    for sql, refused in (("SELECT * FROM read_text('.tmp/secret.txt')", False), ("SELECT * FROM glob('.tmp/*')", False),
                         (f"SELECT * FROM read_text('{cwd}/.tmp/secret.txt')", True),
                         (f"SELECT * FROM read_text('{secret}/secret.txt')", True),
                         (f"SELECT * FROM glob('{cwd}/.tmp/*')", True)):
        done = subprocess.run([sys.executable, "-m", "warehouse", "sql", "--safe", "--format", "csv", sql], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=120)
        assert "secret" not in done.stdout, done.stdout
        if refused:
            assert done.returncode == 2 and "disabled by configuration" in done.stderr, done.stdout + done.stderr
        else:
            assert done.returncode == 0 and len(done.stdout.splitlines()) == 1, done.stdout + done.stderr  # a header
    assert files_under(secret) == ["secret.txt"] and files_under(cwd) == [".tmp"]


N_SPILL = 5_000_000
SPILL = (f"SELECT count(*) AS n, sum(k) AS s FROM (SELECT range % 1000003 AS k, repeat('x', 50) || range::VARCHAR AS v "
         f"FROM range({N_SPILL}) ORDER BY v DESC, random())")


class Watch:
    """Polls `scratch` while a query runs: the private folders seen (name, mode) and the most bytes inside."""

    def __init__(self, scratch: Path):
        self.scratch, self.folders, self.most, self._stop = scratch, set(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for folder in list(self.scratch.iterdir()):
                try:
                    self.folders.add((folder.name, folder.stat().st_mode & 0o777))
                    total += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                except FileNotFoundError:
                    pass  # removed under us
            self.most = max(self.most, total)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """An empty working folder (with a `.tmp` link pointing elsewhere) and an empty folder for private folders."""
    cwd, elsewhere, scratch = tmp_path / "cwd", tmp_path / "elsewhere", tmp_path / "scratch"
    for folder in (cwd, elsewhere, scratch):
        folder.mkdir()
    (cwd / ".tmp").symlink_to(elsewhere)
    monkeypatch.chdir(cwd)
    yield scratch
    assert files_under(cwd) == [".tmp"] and files_under(elsewhere) == []


def test_a_spilling_query_spills_only_into_its_private_folder_and_leaves_nothing(where, scratch):
    with Watch(scratch) as watch:
        # 512 MB for the worker: DuckDB's buffer pool is 384 MB, under what the sort needs
        result = answer(SPILL, where=where, memory_bytes=512 * 2**20, scratch=scratch, timeout_s=120)
    assert result.refusal is None, result.refusal
    keys = np.arange(N_SPILL, dtype=np.int64) % 1000003  # the answer, by numpy
    assert result.frame.rows() == [(N_SPILL, int(keys.sum()))]
    assert watch.most > 16 * 2**20, f"it spilled only {watch.most} bytes: the test no longer spills"
    assert watch.folders and all(name.startswith("thermoscope-sql-") and mode == 0o700 for name, mode in watch.folders)
    assert files_under(scratch) == []


def test_the_spill_is_capped(where, scratch):
    with Watch(scratch) as watch:
        result = answer(SPILL, where=where, memory_bytes=512 * 2**20, temp_bytes=16 * 2**20, scratch=scratch,
                        timeout_s=120)
    assert result.frame is None and "spilled more to disk than the console allows" in result.refusal
    assert watch.most <= 16 * 2**20 + 2**20, watch.most  # the cap, plus a block being written
    assert files_under(scratch) == []


def test_a_spilling_query_killed_at_the_time_limit_leaves_nothing(where, scratch):
    slower = SPILL.replace(str(N_SPILL), str(40 * N_SPILL))
    with Watch(scratch) as watch:
        result = answer(slower, where=where, memory_bytes=512 * 2**20, scratch=scratch, timeout_s=4)
    assert result.frame is None and "stopped after 4 s" in result.refusal
    assert watch.most > 0, "nothing was spilled before the kill: the test proves nothing"
    assert files_under(scratch) == []


SLOW = "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1"


@pytest.mark.slow
def test_queries_at_once_are_capped_across_processes_and_a_dead_console_frees_its_slot(where, tmp_path):
    import psutil

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root), THERMOSCOPE_SQL_SLOTS="1", TMPDIR=str(scratch))
    console = subprocess.Popen([sys.executable, "-m", "warehouse", "sql", "--safe", "--timeout", "120", SLOW],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not list(scratch.iterdir()) or not psutil.Process(console.pid).children():
            assert time.monotonic() < deadline and console.poll() is None, "the first query never started"
            time.sleep(0.05)
        worker = psutil.Process(console.pid).children()[0]
        t0 = time.monotonic()
        full = answer("SELECT 1 AS one", where=where, slots_n=1)
        assert full.frame is None and "1 sandboxed queries are running already" in full.refusal
        assert "\n" not in full.refusal and time.monotonic() - t0 < 5
        # the console dies (kill -9): its worker still holds the slot, so the cap still counts it
        os.kill(console.pid, signal.SIGKILL)
        console.wait()
        left = list(scratch.iterdir())
        assert len(left) == 1 and worker.is_running()
        assert answer("SELECT 1 AS one", where=where, slots_n=1).frame is None
        # the worker ends too: the slot is free, and whoever takes it removes the dead query's folder
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
        ok = answer("SELECT 1 AS one", where=where, slots_n=1)
        assert ok.refusal is None and ok.frame.rows() == [(1,)]
        assert not left[0].exists()
    finally:  # only the two processes this test started, by their ids
        if console.poll() is None:
            console.kill()
        if worker is not None and worker.is_running():
            worker.kill()

