"""Shared test set-up: every test gets its own THERMOSCOPE_HOME; torch (if a test loads it) uses one
thread, because tests share two cores with servers, Slurm jobs and each other (docs/testing.md)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def trained_tiny_sweep(tmp_path_factory):
    """tests/lab/reanalysis.py's tiny sweep (2 demo runs, real local jobs), trained once per session in a home of
    its own that no test writes to: (home, sweep id)."""
    from tests.lab.reanalysis import train_tiny_sweep
    from warehouse import home

    where = home(tmp_path_factory.mktemp("tiny-sweep") / "home")
    return where, train_tiny_sweep(where)


@pytest.fixture
def tiny_sweep(trained_tiny_sweep, tmp_home) -> str:
    """The session's tiny trained sweep copied into this test's own home (shards, checkpoints, warehouse, job
    folder); returns its sweep id. Each test changes its copy only; training it again would cost a minute."""
    source, sweep_id = trained_tiny_sweep
    shutil.copytree(source.root, tmp_home.root)
    return sweep_id


def pytest_collection_modifyitems(items):
    """A test that needs Slurm or a browser is slow by nature (a job's or a server's start-up takes seconds): it
    carries `slow` as well, so that `pytest -m "not slow"` is the quick subset without listing them twice."""
    for item in items:
        if item.get_closest_marker("slurm") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
