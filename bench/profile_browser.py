"""Where a page's first chart goes: a fresh tab's main-thread CPU profile and element timeline, in real Chromium.

    .venv/bin/python bench/profile_browser.py HOME [--pages Home,Runs,...] [--top 25] [--out DIR]

HOME is a kept warehouse (bench_browser.py --keep). For each page, after one warm-up visit, a fresh tab is
opened with Chrome's sampling profiler on (DevTools protocol, 1 ms interval) and:
- the timeline: when each chart element and table appears and when its canvas/svg is drawn, in ms from the
  navigation (performance.now() in the page, recorded by a MutationObserver installed before any script);
- the profile up to the first drawn chart (the profiler is stopped the moment it is seen): self and inclusive
  time of the heaviest functions, named as the bundle names them (Streamlit ships Vega and React minified, so
  some frames only have their module's name), and the share spent inside Vega's `embed`/`parse`/`View`.
The reference page (bench/reference_page.py) is profiled the same way first. Findings: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import bench_browser as bb  # the script's own folder is on the path when it is run: bench is not a package

# installed before any of the page's scripts: a timeline of the elements that matter for the first chart
TIMELINE = """
window.__tl = [];
const seen = new WeakSet(), drawn = new WeakSet();
const note = (what) => window.__tl.push([Math.round(performance.now()), what]);
new MutationObserver(() => {
  document.querySelectorAll('[data-testid="stVegaLiteChart"], [data-testid="stDataFrame"]').forEach((el, i) => {
    const kind = el.dataset.testid === 'stVegaLiteChart' ? 'chart' : 'table';
    if (!seen.has(el)) { seen.add(el); note(kind + ' element'); }
    if (!drawn.has(el) && el.querySelector('canvas, svg')) { drawn.add(el); note(kind + ' drawn'); }
  });
}).observe(document, {subtree: true, childList: true});
"""


def profile_tab(context, url: str, driver, charts: bool = True) -> dict:
    page = context.new_page()
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 1000})
        cdp.send("Profiler.start")
        page.goto(url, wait_until="commit")
        sel = driver.CHART if charts else '[data-testid="stMain"] h1'
        page.wait_for_function("(sel) => document.querySelector(sel) !== null", arg=sel, polling=20)
        first = page.evaluate("performance.now()")
        prof = cdp.send("Profiler.stop")["profile"]
        driver._wait_idle(page, 60_000)
        page.wait_for_timeout(1500)  # charts below the first draw after it
        timeline = page.evaluate("window.__tl")
        counts = page.evaluate("""() => ({charts: document.querySelectorAll('[data-testid="stVegaLiteChart"]').length,
            tables: document.querySelectorAll('[data-testid="stDataFrame"]').length,
            nodes: document.getElementsByTagName('*').length})""")
        return {"first_ms": first, "profile": prof, "timeline": timeline, **counts}
    finally:
        page.close()


def summarise(prof: dict, top: int) -> tuple[list, list, float]:
    """(self-time rows, inclusive-time rows, total sampled ms) of a CDP profile."""
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}

    def name(n):
        f = n["callFrame"]
        return f"{f['functionName'] or '(anonymous)'} [{Path(f['url']).name or '-'}:{f['lineNumber']}]"

    self_ms, incl_ms = defaultdict(float), defaultdict(float)
    total = 0.0
    for sample, delta in zip(prof["samples"], prof["timeDeltas"]):
        ms = delta / 1000
        total += ms
        n = nodes[sample]
        self_ms[name(n)] += ms
        names, i = set(), sample
        while i is not None:  # every distinct function on the stack gets the sample once
            names.add(name(nodes[i]))
            i = parent.get(i)
        for nm in names:
            incl_ms[nm] += ms
    rank = lambda d: sorted(d.items(), key=lambda kv: -kv[1])[:top]  # noqa: E731
    return rank(self_ms), rank(incl_ms), total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("home")
    p.add_argument("--pages", default="Home,Runs,Logits_norm")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--out", help="write each raw profile here (.cpuprofile: open in Chrome DevTools)")
    args = p.parse_args()
    driver = bb._driver()
    root = Path(args.home)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    server = driver.start_server(root, root / "streamlit.log")
    reference = driver.start_server(root, root / "reference.log", script=bb.ROOT / "bench" / "reference_page.py")
    print(f"load {os.getloadavg()[0]:.1f}")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=driver.CHROMIUM, args=driver.LAUNCH_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.add_init_script(TIMELINE)
            driver.login(context, server)
            targets = [("reference", reference.url)] + [(x, f"{server.url}/{'' if x == 'Home' else x}")
                                                        for x in args.pages.split(",")]
            for label, url in targets:
                bb.first_chart_ms(context, url, driver, True)  # warm: the server has run the page once
                r = profile_tab(context, url, driver)
                selfs, incls, total = summarise(r["profile"], args.top)
                print(f"\n== {label}: first chart at {r['first_ms']:.0f} ms (page clock); {r['charts']} chart(s), "
                      f"{r['tables']} table(s), {r['nodes']} DOM nodes; {total:.0f} ms sampled before it")
                print("timeline: " + ", ".join(f"{what} {t}" for t, what in r["timeline"]))
                print("inclusive:")
                for nm, ms in incls:
                    print(f"  {ms:7.0f} ms  {nm}")
                print("self:")
                for nm, ms in selfs[:12]:
                    print(f"  {ms:7.0f} ms  {nm}")
                if out:
                    (out / f"{label}.cpuprofile").write_text(json.dumps(r["profile"]))
            browser.close()
    finally:
        server.stop()
        reference.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
