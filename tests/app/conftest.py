"""Fixtures for the dashboard tests: a real warehouse with known numbers, built once per module."""

from __future__ import annotations

import os

import pytest

from tests.app import browser, factory
from warehouse import home


@pytest.fixture(scope="module")
def fx_home(tmp_path_factory):
    """A warehouse written as jobs write it (shards) and ingested: 2 temperatures x 2 seeds (+ an MSE group)."""
    root = tmp_path_factory.mktemp("app-home")
    where = home(root)
    factory.build(where, archs=(factory.ARCH, "resnet18"), extra_loss=True)
    return where


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
