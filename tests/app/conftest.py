"""Fixtures for the dashboard tests: a real warehouse with known numbers, built once per test session."""

from __future__ import annotations

import os

import pytest

from tests.app import browser, factory
from tests.conftest import built_once
from warehouse import home


@pytest.fixture(scope="session")
def fx_home(tmp_path_factory):
    """A warehouse written as jobs write it (shards) and ingested: 2 temperatures x 2 seeds (+ an MSE group).

    Built once for the whole test run, shared by pytest-xdist's workers (tests/conftest.py built_once): four
    modules read it, and each build is a real ingest of 16 runs. The tests that use it only read it. A test
    that needs to write builds its own home (tmp_home + factory.build)."""
    folder, _ = built_once(tmp_path_factory, "app-home", lambda f: factory.build(
        home(f), archs=(factory.ARCH, "resnet18"), extra_loss=True))
    where = home(folder)
    published = where.database.stat().st_mtime_ns
    yield where
    # shared by many modules: a test that wrote to it would change what the later ones see
    assert where.database.stat().st_mtime_ns == published, "a test re-published the shared fx_home warehouse"


@pytest.fixture
def use_home(fx_home, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(fx_home.root))
    return fx_home


@pytest.fixture
def needs_browser():
    """Skip (with the reason printed) where headless Chromium or playwright is missing; under CI=true, fail."""
    why = browser.missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {why}")
        print(f"skipping the browser test: {why}")
        pytest.skip(why)
