"""Dashboard in a real browser: first-chart time per page in a fresh tab, and one interaction, on 10,000 runs.

    .venv/bin/python bench/bench_browser.py [--quick] [--runs N] [--keep DIR] [--repeat K] [--shots DIR]
                                            [--pages Runs,Paper_check,...]

What a user waits for, measured in headless Chromium (Debian's /usr/bin/chromium driven by playwright,
as in tests/app/browser.py) against a running `streamlit run app/Home.py`:
- first chart: from opening the page's URL in a new tab until its first chart is drawn (a canvas or svg
  inside a Vega-Lite element) — or, for a page without charts, until the script's run ended;
- interaction: on pages with a config selector, from choosing another value until the rerun ended and
  the charts are drawn again.
"Warm" = the server has imported everything and served each page once before (the figures a user sees
on a dashboard that is already up); the cold first visit of each page is printed beside it.
Budgets (issue #13): 1 s per page, 300 ms per interaction; ratios below 1 are within budget. The reference
(bench/reference_page.py: a title, a selectbox, one 50-point chart, no data) is timed the same way, in turns with
each page (reference, page, reference, page ...): page / reference is what the dashboard adds to what any
Streamlit page costs on this machine, with a neighbour's load hitting both alike. Goals (issue #20): first chart
within 1.3x the reference's, an interaction within 2x the reference's rerun.
The floor (bench/floor_page.py: the dashboard's navigation, sidebar, five selectboxes and its own four-panel
chart code on synthetic rows, no warehouse) is timed first, the same way, as a row of its own: its ratio is
what a page of that shape costs before any query, and each page's ratio to it (the "x floor" column) is what
reading the warehouse and the page's further elements add.
The warehouse is bench_app.py's (same builder): 10,000 runs, written as jobs write shards, ingested.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_app import build  # same folder: the 10,000-run warehouse builder

from warehouse import home

ROOT = Path(__file__).resolve().parents[1]
PAGE_BUDGET_MS, INTERACTION_BUDGET_MS = 1000.0, 300.0
FIRST_GOAL, CLICK_GOAL = 1.3, 2.0  # issue #20: first chart within 1.3x the reference page, a rerun within 2x its
# Streamlit's frontend marks its root with the script's state: 'notRunning' once a run has ended
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
FLOOR = "floor"  # the row of bench/floor_page.py


def _driver():
    """tests/app/browser.py (server start/stop, chromium flags), loaded from its file: bench is not a package."""
    spec = importlib.util.spec_from_file_location("thermoscope_browser", ROOT / "tests" / "app" / "browser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def page_paths() -> list[str]:
    """URL path of every page: Streamlit names a page after its file, without the number prefix."""
    names = [""] + [p.stem.split("_", 1)[1] for p in sorted((ROOT / "app" / "pages").glob("*.py"),
                                                         key=lambda p: int(p.stem.split("_", 1)[0]))]
    return names


def first_chart_ms(context, url: str, driver, charts: bool, timeout_ms: int = 60_000,
                   shot: Path | None = None) -> tuple[float, int]:
    """(milliseconds to the first drawn chart, charts drawn) in a new tab; for a page without charts
    (`charts` False), milliseconds until its script's first run ended (its title is drawn and the app idle)."""
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        done = "document.querySelector(sel) !== null" if charts else \
            f"document.querySelector('[data-testid=\"stMain\"] h1') !== null && document.querySelector({IDLE!r}) !== null"
        page.wait_for_function(f"(sel) => {done}", arg=driver.CHART, timeout=timeout_ms, polling=20)
        ms = (time.perf_counter() - t0) * 1000
        driver._wait_idle(page, timeout_ms)
        if not charts:  # Vega draws after the script's run: give a late chart time to show before counting
            page.wait_for_timeout(2_000)
        charts = page.locator(driver.CHART).count()
        if shot is not None:
            page.screenshot(path=str(shot), full_page=True)
        return ms, charts
    finally:
        page.close()


def interaction_ms(context, url: str, driver, timeout_ms: int = 60_000) -> float | None:
    """Choose the second option of the page's first selectbox; ms until the rerun ended (None: no selectbox)."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        page.wait_for_selector(driver.CHART, timeout=timeout_ms)
        driver._wait_idle(page, timeout_ms)
        boxes = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]')
        if boxes.count() == 0:
            return None
        options = page.locator('[role="option"]')
        for _ in range(3):  # the open list can be redrawn under the pointer: open it again
            boxes.first.click()
            try:
                options.first.wait_for(timeout=10_000)
                break
            except Exception:  # playwright's TimeoutError
                page.keyboard.press("Escape")
        else:
            return None
        if options.count() < 2:
            page.keyboard.press("Escape")
            return None
        # the time of the click and of the last change the rerun made to the page, in the page's own clock
        page.evaluate("""() => {
            window.__clicked = null; window.__changed = performance.now();
            document.addEventListener('mousedown', () => { window.__clicked = performance.now(); }, true);
            new MutationObserver(() => { window.__changed = performance.now(); }).observe(
                document.querySelector('[data-testid="stApp"]'),
                {subtree: true, childList: true, attributes: true, characterData: true});
        }""")
        options.nth(1).click()
        # done = the script's run has ended and the page has not changed for 0.5 s (charts draw after the run)
        page.wait_for_function(
            """() => window.__clicked !== null && performance.now() - window.__changed > 500 &&
                     document.querySelector(IDLE) !== null""".replace("IDLE", repr(IDLE)),
            timeout=timeout_ms, polling=50)
        return page.evaluate("window.__changed - window.__clicked")
    finally:
        page.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="runs in the warehouse (default 10,000; --quick 500)")
    p.add_argument("--repeat", type=int, help="fresh tabs per page (default 3; --quick 1)")
    p.add_argument("--quick", action="store_true", help="smoke run for `bench/run_all.py --quick`")
    p.add_argument("--keep", help="build the warehouse here and keep it (reused when it already holds one)")
    p.add_argument("--shots", help="save one screenshot per page here")
    p.add_argument("--pages", help="only these pages, comma-separated URL names (Home, Runs, Logits_norm, ...): "
                   "re-measure the pages a change touched without paying for the others")
    args = p.parse_args()
    paths = page_paths()
    if args.pages:
        wanted = [w.strip() for w in args.pages.split(",") if w.strip()]
        unknown = [w for w in wanted if (w if w != "Home" else "") not in paths]
        if unknown:
            p.error(f"unknown page(s) {', '.join(unknown)}; pages: Home, {', '.join(x for x in paths if x)}")
        paths = [x for x in paths if (x or "Home") in wanted]
    n = args.runs or (500 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    driver = _driver()
    why = driver.missing()
    if why:
        print(f"bench_browser: skipped: {why}")
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-browser-"))
    where = home(root)
    if not where.database.exists():
        t0 = time.perf_counter()
        build(where, n)
        print(f"warehouse: {n:,} runs built and ingested in {time.perf_counter() - t0:.0f} s")
    else:  # a kept warehouse: say how many runs it holds, not how many --runs asked for
        from warehouse.read import query

        n = int(query("SELECT count(*) AS n FROM runs", where=where)["n"][0])
    shots = Path(args.shots) if args.shots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{n:,} runs, {repeat} fresh tab(s) per page")
    from playwright.sync_api import sync_playwright

    server = driver.start_server(root, root / "streamlit.log")
    reference = driver.start_server(root, root / "reference.log", script=ROOT / "bench" / "reference_page.py")
    floor = driver.start_server(root, root / "floor.log", script=ROOT / "bench" / "floor_page.py")
    rows, all_ref_first, all_ref_clicks = [], [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=driver.CHROMIUM, args=driver.LAUNCH_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            driver.login(context, server)  # the dashboard's token, once (the reference page has no gate)
            # the reference: Streamlit's own cost of a fresh tab with one chart, and of one rerun. Timed beside
            # every page, in alternating turns (reference, page, reference, page ...), so a neighbour's load on
            # this shared machine hits both alike: each page's ratio is to the reference measured next to it
            first_chart_ms(context, reference.url, driver, True)  # warm it up
            for path in [FLOOR, *paths]:
                url = floor.url if path == FLOOR else f"{server.url}/{path}"
                # the cold visit also tells whether the page draws charts at all (what to wait for)
                cold, charts = first_chart_ms(context, url, driver, charts=False)
                if charts:
                    cold, charts = first_chart_ms(context, url, driver, charts=True)
                warm, ref_warm = [], []
                for i in range(repeat):
                    ref_warm.append(first_chart_ms(context, reference.url, driver, True)[0])
                    warm.append(first_chart_ms(context, url, driver, bool(charts),
                                               shot=(shots / f"{path or 'Home'}.png") if shots and i == 0 else None)[0])
                clicks, ref_clicks = [], []
                for _ in range(repeat if charts else 0):
                    click = interaction_ms(context, url, driver)
                    if click is None:  # no selectbox with a second value: nothing to compare
                        break
                    clicks.append(click)
                    ref_clicks.append(interaction_ms(context, reference.url, driver))
                clicks = [c for c in clicks if c is not None]
                ref_clicks = [c for c in ref_clicks if c is not None]
                rows.append((path or "Home", cold, statistics.median(warm), min(warm), charts,
                             statistics.median(clicks) if clicks else None, statistics.median(ref_warm),
                             statistics.median(ref_clicks) if ref_clicks else None))
                all_ref_first += ref_warm
                all_ref_clicks += ref_clicks
                print(f"  {path or 'Home'}: first chart {rows[-1][2]:.0f} ms (reference {rows[-1][6]:.0f}), "
                      f"interaction {rows[-1][5] or 0:.0f} ms (reference {rows[-1][7] or 0:.0f}), "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            browser.close()
    finally:
        server.stop()
        reference.stop()
        floor.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'page':<14} {'cold ms':>8} {'warm ms':>8} {'best':>6} {'charts':>6} {'click ms':>9} "
          f"{'ref first':>9} {'ref click':>9}")
    for name, cold, warm, best, charts, click, ref_first, ref_click in rows:
        print(f"{name:<14} {cold:8.0f} {warm:8.0f} {best:6.0f} {charts:6d} "
              f"{'-' if click is None else f'{click:.0f}':>9} {ref_first:9.0f} "
              f"{'-' if ref_click is None else f'{ref_click:.0f}':>9}")
    ref_first = statistics.median(all_ref_first)
    ref_click = statistics.median(all_ref_clicks) if all_ref_clicks else None
    ref_text = f"{ref_click:.0f} ms" if ref_click is not None else "not measured"
    print(f"reference page (Streamlit alone, bench/reference_page.py), median of all its turns: first chart "
          f"{ref_first:.0f} ms, interaction {ref_text}")
    print(f"ratios: warm first chart / 1 s budget and / the reference timed beside it (goal <= {FIRST_GOAL}x); "
          f"interaction / 300 ms budget and / the reference's rerun beside it (goal <= {CLICK_GOAL}x)")
    missed = []
    floor_first, floor_click = rows[0][2] / rows[0][6], (rows[0][5] / rows[0][7]) if rows[0][5] and rows[0][7] else None
    for name, _cold, warm, _best, _charts, click, ref_first, ref_click in rows:
        extra = ""
        if name == FLOOR:
            print(f"  {name:<14} first chart {warm / ref_first:.2f}x reference" + (
                f", interaction {click / ref_click:.2f}x reference" if floor_click else "")
                + "   (Streamlit and the chart code alone: what these goals leave for the warehouse)")
            continue
        if warm / ref_first > FIRST_GOAL:
            missed.append(f"{name} first chart {warm / ref_first:.2f}x")
        if click is not None:
            extra = f"   interaction {click / INTERACTION_BUDGET_MS:.2f} of budget" + (
                f", {click / ref_click:.2f}x reference" if ref_click else "")
            if ref_click and click / ref_click > CLICK_GOAL:
                missed.append(f"{name} interaction {click / ref_click:.2f}x")
        if click is not None and ref_click and floor_click:
            extra += f" ({click / ref_click / floor_click:.2f}x floor)"
        print(f"  {name:<14} first chart {warm / PAGE_BUDGET_MS:.2f} of budget, {warm / ref_first:.2f}x reference "
              f"({warm / ref_first / floor_first:.2f}x floor){extra}")
    print("goals (issue #20, dashboard pages): " + ("all met" if not missed else "missed: " + "; ".join(missed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
