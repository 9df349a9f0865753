"""Drive the running dashboard in real headless Chromium (Debian's /usr/bin/chromium, playwright's driver).

Used by test_app_browser.py, and by hand for screenshots:
    .venv/bin/python -m tests.app.browser HOME OUT_DIR
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
CHART = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'

# url path -> (what must be on the page, minimum number of drawn charts)
PAGES = {
    "": ("Numerical rank per layer", 3),
    "Runs": ("group(s)", 0),
    "Rank": ("Solution rank vs temperature", 2),
    "Probes": ("κ and ρ of these runs", 3),
    "Kappa_rho": ("paper's layout", 1),
    "Logits_norm": ("Logits norm at initialisation", 2),
    "Alignment": ("One matrix per run", 4),
    "Geometry_OOD": ("OOD detection", 6),
    "Theory": ("Stored theory rows", 7),
    "Paper_check": ("Paper check", 0),
    "SQL": ("SQL console", 0),
    "Jobs": ("Sweeps in the warehouse", 0),
    "Run_detail": ("Status history", 2),
    "Curves": ("Training curves", 1),
    "Compare": ("Rank per layer at the last analysed epoch", 2),  # needs ?runs=: see visit_all's queries
}


def missing() -> str | None:
    """Why a browser test cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; never `playwright install`)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    token: str = ""  # the dashboard's token (app/gate.py): login() brings a browser context in

    @property
    def entry(self) -> str:
        """The address with the token, as `thermoscope app` prints it."""
        return f"{self.url}/?token={self.token}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server we started, by its PID (its own process group: streamlit's children go too)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


def start_server(home: Path, log: Path, timeout_s: float = 90, script: Path | None = None) -> Server:
    """`streamlit run` the dashboard (or another `script`, e.g. bench's reference page) on a free port."""
    port = free_port()
    token = secrets.token_urlsafe(32)
    # the installed package, no PYTHONPATH; the token the way a hand-made `streamlit run` takes it (app/gate.py)
    env = dict(os.environ, THERMOSCOPE_HOME=str(home), THERMOSCOPE_TOKEN=token)
    env.pop("THERMOSCOPE_TOKEN_FILE", None)
    env.pop("THERMOSCOPE_APP_NO_TOKEN", None)
    env.pop("CI", None)  # nothing in the app reads it; keep the server's environment plain
    out = open(log, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script or ROOT / "app" / "Home.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Server(proc, port, log, token)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"streamlit did not answer on {server.url} within {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def login(target, server: Server, timeout_ms: int = 60_000) -> None:
    """Let a browser in, as a person does: open the token address once (the dashboard then keeps a cookie, so
    later visits of any page need no token in the URL). `target`: a page (used, left open) or a context."""
    page = target if hasattr(target, "goto") else target.new_page()
    try:
        page.goto(server.entry, wait_until="domcontentloaded", timeout=timeout_ms)
        name = f"thermoscope_{server.port}"
        page.wait_for_function(f"() => document.cookie.includes({name + '='!r})", timeout=timeout_ms)
    finally:
        if page is not target:
            page.close()


@dataclass
class PageResult:
    path: str
    seconds: float
    charts: int
    sizes: list[tuple[float, float]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    text_found: bool = False
    screenshot: Path | None = None


def visit_all(server: Server, out: Path, pages: dict[str, tuple[str, int]] = PAGES, run_id: str = "",
              timeout_ms: int = 60_000, height: int = 1100, queries: dict[str, str] | None = None) -> list[PageResult]:
    """Open each page, wait for its text and charts, screenshot it. `queries`: url path -> query string
    (e.g. {"Compare": "runs=a,b"}); `run_id` is Run_detail's."""
    queries = dict(queries or {})
    if run_id:
        queries.setdefault("Run_detail", f"run={run_id}")
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": height})
            login(page, server)
            for path, (text, min_charts) in pages.items():
                url = f"{server.url}/{path}" + (f"?{queries[path]}" if path in queries else "")
                t0 = time.monotonic()
                page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
                page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)
                if min_charts:
                    page.wait_for_function(
                        "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[CHART, min_charts],
                        timeout=timeout_ms)
                _wait_idle(page, timeout_ms)
                seconds = time.monotonic() - t0
                drawn = page.locator(CHART)
                sizes = []
                for i in range(drawn.count()):
                    box = drawn.nth(i).bounding_box()
                    sizes.append((box["width"], box["height"]) if box else (0.0, 0.0))
                errors = page.locator('[data-testid="stException"]')
                shot = out / f"{path or 'Home'}.png"
                page.screenshot(path=str(shot), full_page=True)
                results.append(PageResult(path or "Home", seconds, drawn.count(), sizes,
                                          [errors.nth(i).inner_text()[:500] for i in range(errors.count())],
                                          True, shot))
        finally:
            browser.close()
    return results


def _wait_idle(page, timeout_ms: int) -> None:
    """Until Streamlit's 'running' indicator is gone twice in a row (the script finished its run)."""
    deadline = time.monotonic() + timeout_ms / 1000
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        quiet = quiet + 1 if running == 0 else 0
        page.wait_for_timeout(300)


def main(argv: list[str]) -> int:
    home, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    only = argv[2].split(",") if len(argv) > 2 else None
    server = start_server(home, out / "streamlit.log")
    try:
        # another warehouse than the test's: at least one chart where the test expects some
        pages = {k: (text, min(n, 1)) for k, (text, n) in PAGES.items()
                 if (only is None or (k or "Home") in only) and k != "Compare"}  # Compare needs run ids
        if "Logits_norm" in pages:  # the fixture's init-norm chart may be absent
            pages["Logits_norm"] = ("Logits norm", 1)
        for r in visit_all(server, out, pages, height=2800):  # tall: Streamlit scrolls inside the page
            print(f"{r.path:<14} {r.seconds:5.1f} s  charts {r.charts}  exceptions {len(r.exceptions)}  {r.screenshot}")
    finally:
        server.stop()
        shutil.rmtree(out / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
