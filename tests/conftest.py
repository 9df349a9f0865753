"""Shared test set-up: every test gets its own THERMOSCOPE_HOME; torch (if a test loads it) uses one
thread, because tests share two cores with servers, Slurm jobs and each other (docs/testing.md)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent  # pyproject's pytest `pythonpath` makes `tests.*` importable
os.environ.setdefault("THERMOSCOPE_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with `reason` on a laptop that lacks a service; fail under CI=true, where it must exist."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


# The dashboard's token for in-process AppTest pages (tests/app/apphelp.py run_page brings it as ?token=, as a
# browser's first visit does; app/gate.py). Set for every test, since tests outside tests/app open pages too.
APP_TOKEN = "apptest-" + "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def app_token(monkeypatch):
    """Every in-process AppTest page runs behind the gate with a known token; a real server gets its own."""
    monkeypatch.setenv("THERMOSCOPE_TOKEN", APP_TOKEN)
    monkeypatch.delenv("THERMOSCOPE_TOKEN_FILE", raising=False)
    monkeypatch.delenv("THERMOSCOPE_APP_NO_TOKEN", raising=False)
    return APP_TOKEN


@pytest.fixture
def tmp_home(tmp_path, monkeypatch):
    """A fresh Thermoscope home for one test (shards, checkpoints, DuckDB file)."""
    from warehouse import home

    root = tmp_path / "home"
    monkeypatch.setenv("THERMOSCOPE_HOME", str(root))
    return home(root)


def built_once(tmp_path_factory, name: str, build):
    """`build(folder)` run once per test session, its JSON-able result returned to every caller.

    Under pytest-xdist (`make test` runs two workers) each worker is its own session, so a plain session fixture
    would build the same thing once per worker. The folder lives beside the workers' own temporary folders
    instead: the first worker builds it under a file lock, the others wait on the lock and reuse it. A build that
    failed leaves no `.built` mark, so the next caller builds it again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, shared by its workers (…/pytest-N/, not …/pytest-N/popen-gw0/)
    folder, mark = base / name, base / f"{name}.built"
    with FileLock(str(base / f"{name}.lock")):
        if not mark.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            mark.write_text(json.dumps(build(folder)))
        return folder, json.loads(mark.read_text())


@pytest.fixture(scope="session")
def trained_tiny_sweep(tmp_path_factory):
    """tests/lab/reanalysis.py's tiny sweep (2 demo runs, real local jobs), trained once per test run in a home of
    its own that no test writes to: (home, sweep id)."""
    from tests.lab.reanalysis import train_tiny_sweep
    from warehouse import home

    folder, sweep_id = built_once(tmp_path_factory, "tiny-sweep", lambda f: train_tiny_sweep(home(f / "home")))
    return home(folder / "home"), sweep_id


@pytest.fixture
def tiny_sweep(trained_tiny_sweep, tmp_home) -> str:
    """The session's tiny trained sweep copied into this test's own home (shards, checkpoints, warehouse, job
    folder); returns its sweep id. Each test changes its copy only; training it again would cost a minute."""
    source, sweep_id = trained_tiny_sweep
    shutil.copytree(source.root, tmp_home.root)
    return sweep_id


SLURM_TESTS = "tests/slurm/"  # every `slurm` test lives here (checked before it runs): they share one cluster


def _file(item) -> str:
    return item.nodeid.split("::")[0]


def pytest_collection_modifyitems(items):
    """Marks and order, for a quick subset and for two workers.

    - A test that needs Slurm or a browser is slow by nature (a job's or a server's start-up takes seconds): it
      carries `slow` as well, so that `pytest -m "not slow"` is the quick subset without listing them twice.
    - Order: the Slurm tests first, then the files that hold slow tests, then the rest, so that under pytest-xdist
      the long units start early and the quick ones fill in at the end (`make test` passes
      `--no-loadscope-reorder`, so pytest-xdist keeps this order)."""
    for item in items:
        if item.get_closest_marker("slurm") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
    slow_files = {_file(item) for item in items if item.get_closest_marker("slow")}

    def rank(item) -> int:
        if item.nodeid.startswith(SLURM_TESTS):
            return 0
        return 1 if _file(item) in slow_files else 2

    items.sort(key=rank)  # stable: within a rank, the collection's order


def pytest_runtest_setup(item):
    """A Slurm test outside tests/slurm/ fails before it runs, in one line (under pytest-xdist too): only there does
    `make test` keep the tests that share the cluster on one worker."""
    if item.get_closest_marker("slurm") and not item.nodeid.startswith(SLURM_TESTS):
        pytest.fail(f"{item.nodeid} needs Slurm: move it under {SLURM_TESTS}, where pytest-xdist keeps the tests "
                    "that share the cluster on one worker", pytrace=False)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: ignored where the plugin is not loaded
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (what `make test` uses), with one change: the Slurm tests are one unit, not one per file.

    A file goes to one worker whole, so its module fixtures are built once; the Slurm tests go to one worker
    together, since they share one single-node cluster and some need its queue empty. (pytest-xdist's own
    `loadgroup` would do this with marks, but it renames tests through `item._nodeid`, which pytest 9 no longer
    reads, so its groups are silently ignored.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndOneCluster(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SLURM_TESTS if nodeid.startswith(SLURM_TESTS) else super()._split_scope(nodeid)

    return FilesAndOneCluster(config, log)
