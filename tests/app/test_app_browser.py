"""End to end: the running dashboard in real headless Chromium draws its charts and shows no exception."""

from __future__ import annotations

import pytest

from tests.app import browser, factory

pytestmark = pytest.mark.browser


def test_every_page_draws_in_chromium(fx_home, tmp_path, needs_browser):
    server = browser.start_server(fx_home.root, tmp_path / "streamlit.log")
    try:
        pair = f"{factory.run_id(factory.ARCH, 1.0, 0)},{factory.run_id(factory.ARCH, 10.0, 0)}"
        results = browser.visit_all(server, tmp_path, run_id=factory.run_id(factory.ARCH, 10.0, 0),
                                    queries={"Compare": f"runs={pair}"})
    finally:
        server.stop()
    assert server.proc.poll() is not None, "the server must be stopped"
    by_page = {r.path: r for r in results}
    assert set(by_page) == {p or "Home" for p in browser.PAGES}
    for path, (_text, min_charts) in browser.PAGES.items():
        r = by_page[path or "Home"]
        assert not r.exceptions, (r.path, r.exceptions)
        assert r.charts >= min_charts, (r.path, r.charts)
        assert all(w > 0 and h > 0 for w, h in r.sizes), (r.path, r.sizes)
        print(f"{r.path:<14} drew {r.charts} chart(s) in {r.seconds:.1f} s")
