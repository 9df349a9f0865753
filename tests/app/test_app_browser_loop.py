"""The closed loop in a real browser: a sweep launched from the sidebar form reaches the Runs page and a
chart with no command typed (each job ingests its own results; the app re-reads a new warehouse version)."""

from __future__ import annotations

import re
import time

import pytest

from tests.app import browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 60_000


def _choose(page, box, option: str, tries: int = 3) -> None:
    """Pick `option` in a Streamlit selectbox. The open list can be redrawn under the click (seen in CI:
    "element was detached from the DOM"), so open and click again until the box shows the option."""
    for _ in range(tries):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
        except Exception:  # playwright's TimeoutError: the list was redrawn; open it again
            page.keyboard.press("Escape")
            continue
        if f'"{option}"' in box.inner_html() or f">{option}<" in box.inner_html():  # the value sits in an input
            return
    raise AssertionError(f"could not choose {option!r} in the selectbox {box.inner_text()!r}")


def _until_published(root, sweep_id: str, deadline: float) -> None:
    """Wait for the event the page needs, the sweep's 2 runs in the published warehouse, instead of reloading
    the page every few seconds (each reload costs the server a whole script run on a busy 2-core machine)."""
    from warehouse import home
    from warehouse.read import WarehouseMissing, query

    while time.monotonic() < deadline:
        try:
            if query("SELECT count(*) AS n FROM runs WHERE sweep_id = ?", [sweep_id], home(root))["n"][0] == 2:
                return
        except WarehouseMissing:
            pass  # no ingest has published a snapshot yet
        time.sleep(0.25)


def test_a_sweep_launched_from_the_sidebar_shows_on_runs_and_on_a_chart(tmp_path, needs_browser):
    from playwright.sync_api import sync_playwright

    root = tmp_path / "home"
    root.mkdir()
    server = browser.start_server(root, tmp_path / "streamlit.log")
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=browser.CHROMIUM, args=browser.LAUNCH_ARGS)
            page = chromium.new_page(viewport={"width": 1440, "height": 1000})
            browser.login(page, server)
            page.goto(server.url + "/", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
            # an empty home: the page says so, and the form is the way in
            page.get_by_text("No warehouse yet", exact=False).first.wait_for(timeout=TIMEOUT_MS)
            browser._wait_idle(page, TIMEOUT_MS)  # a widget touched while the script still runs can be redrawn
            side = page.locator('[data-testid="stSidebar"]')
            side.get_by_text("Launch a sweep", exact=False).first.click()
            browser._wait_idle(page, TIMEOUT_MS)
            side.get_by_role("textbox", name="temperatures", exact=True).fill("1,10")
            side.get_by_role("textbox", name="seeds", exact=True).fill("0")
            side.get_by_role("textbox", name="more fields (one FIELD=V1,V2 per line)").fill("epochs=2\nwidth=16\ndepth=2")
            side.get_by_role("textbox", name="run name", exact=True).fill("browser-loop")
            # 'auto' would pick Slurm where one runs (CI starts one): this test is about the app, not the cluster
            _choose(page, side.locator('[data-testid="stSelectbox"]').filter(has_text="executor"), "local")
            side.get_by_role("button", name="Launch").click()
            done = side.get_by_text(re.compile(r"sweep \d{8}-\d{6}-\w+: submitted 2 run"))
            done.first.wait_for(timeout=TIMEOUT_MS)
            sweep_id = re.search(r"sweep (\d{8}-\d{6}-\w+)", done.first.inner_text()).group(1)

            # nothing typed from here on: once the jobs' own ingest has published both runs (read from the
            # snapshot, as any reader would), the page is reloaded until it shows them
            deadline = time.monotonic() + 300
            _until_published(root, sweep_id, deadline)
            shown = ""
            while time.monotonic() < deadline:
                page.goto(f"{server.url}/Runs?sweep={sweep_id}", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
                browser._wait_idle(page, TIMEOUT_MS)
                main = page.locator('[data-testid="stMain"]').inner_text()
                if f"Showing only sweep {sweep_id}: 2 run(s)" in main.replace("`", ""):
                    shown = main
                    break
                time.sleep(1)
            assert shown, f"sweep {sweep_id}'s runs never reached the Runs page:\n{main[-1500:]}"
            assert page.locator('[data-testid="stException"]').count() == 0

            # and its curves are drawn on a chart page, scoped to the sweep by the same URL parameter
            page.goto(f"{server.url}/Curves?sweep={sweep_id}", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
            page.wait_for_selector(browser.CHART, timeout=TIMEOUT_MS)
            browser._wait_idle(page, TIMEOUT_MS)
            page.screenshot(path=str(tmp_path / "curves.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            box = page.locator(browser.CHART).first.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100
            assert f"Showing sweep {sweep_id} only" in page.locator('[data-testid="stMain"]').inner_text()
            chromium.close()
    finally:
        server.stop()
    assert server.proc.poll() is not None, "the server must be stopped"
