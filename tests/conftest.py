"""Shared test set-up: every test gets its own THERMOSCOPE_HOME; torch (if a test loads it) uses one
thread, because tests share two cores with servers, Slurm jobs and each other (docs/testing.md)."""

from __future__ import annotations

import os
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
