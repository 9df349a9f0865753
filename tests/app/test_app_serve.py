"""`thermoscope app` for real (lab/commands/app.py): a real server started the way a user starts it, a real
Chromium with and without the token, a raw websocket with a rebinding page's Host, and the server's end when
`thermoscope app` is stopped or killed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from lab.commands import app as serve_app
from tests.app import browser, factory

LOCKED = "This dashboard needs its token"
TIMEOUT_MS = 60_000
ROOT = Path(__file__).resolve().parents[2]


class App:
    """One `thermoscope app` process we started, with what it printed."""

    def __init__(self, home_root: Path, tmp: Path, *args: str):
        self.port = browser.free_port()
        self.user_home = tmp / f"user-{self.port}"
        self.user_home.mkdir()
        self.log = tmp / f"app-{self.port}.log"
        env = dict(os.environ, HOME=str(self.user_home), THERMOSCOPE_HOME=str(home_root))
        for name in ("THERMOSCOPE_TOKEN", "THERMOSCOPE_TOKEN_FILE", "THERMOSCOPE_APP_NO_TOKEN", "CI"):
            env.pop(name, None)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "lab", "app", "--port", str(self.port), *args],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = self.token = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"thermoscope app exited: {self.text()[-2000:]}"
            found = re.search(r"open:\s+(\S+)", self.text())
            if found and self._healthy():
                self.url = found.group(1)
                token = re.search(r"\?token=(\S+)", self.url)
                self.token = token.group(1) if token else None
                return
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"thermoscope app did not serve within 90 s: {self.text()[-2000:]}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as r:
                return r.read().strip() == b"ok"
        except OSError:
            return False

    def server(self) -> psutil.Process:
        (child,) = psutil.Process(self.proc.pid).children()
        return child

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=30)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _handshake(port: int, host: str) -> str:
    """The status line a websocket upgrade of Streamlit's stream gets with this Host and Origin."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
                   f"Origin: http://{host}:{port}\r\n\r\n").encode())
        return s.recv(4096).decode("latin-1").split("\r\n")[0]


@pytest.mark.browser
def test_only_the_token_gets_in_and_stopping_the_app_stops_its_server(tmp_path, needs_browser):
    from playwright.sync_api import sync_playwright

    from warehouse import home

    where = home(tmp_path / "home")
    factory.build(where)
    app = App(where.root, tmp_path)
    try:
        # the token: 43 URL-safe characters, in a 0600 file in a 0700 folder, in no process's command line
        # and not in the server's environment (jobs launched from the dashboard inherit that)
        assert app.token and len(app.token) >= 43, app.text()
        token_file = app.user_home / ".thermoscope" / f"app-{app.port}.token"
        assert token_file.read_text().strip() == app.token
        assert oct(token_file.stat().st_mode & 0o777) == oct(0o600)
        assert oct(token_file.parent.stat().st_mode & 0o777) == oct(0o700)
        assert f"ssh -L {app.port}:127.0.0.1:{app.port} " in app.text()
        server = app.server()
        for proc in psutil.process_iter(["cmdline"]):
            assert app.token not in " ".join(proc.info["cmdline"] or []), proc
        assert app.token.encode() not in Path(f"/proc/{server.pid}/environ").read_bytes()

        # a rebinding page's websocket (Host evil.test) is refused; the same request with our host is not
        assert " 101 " in _handshake(app.port, "127.0.0.1")
        assert " 101 " not in _handshake(app.port, "evil.test")

        before = _snapshot(where.root)
        run = factory.run_id(factory.ARCH, 10.0, 0)
        queries = {"Run_detail": f"run={run}", "Compare": f"runs={factory.run_id(factory.ARCH, 1.0, 0)},{run}"}
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=browser.CHROMIUM, args=browser.LAUNCH_ARGS)
            try:
                # another user: a fresh context, no token. Every page: the one line, no widget, no data
                stranger = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                for path in [*browser.PAGES, "Jobs?token=wrong"]:
                    query = queries.get(path)
                    stranger.goto(f"{app.base}/{path}" + (f"?{query}" if query else ""),
                                  wait_until="domcontentloaded", timeout=TIMEOUT_MS)
                    stranger.get_by_text(LOCKED, exact=False).first.wait_for(timeout=TIMEOUT_MS)
                    browser._wait_idle(stranger, TIMEOUT_MS)
                    main = stranger.locator('[data-testid="stMain"]')
                    assert main.locator('[data-testid="stElementContainer"]').count() == 1, path
                    assert main.inner_text().strip().startswith(LOCKED), (path, main.inner_text())
                    side = stranger.locator('[data-testid="stSidebar"] [data-testid="stElementContainer"]')
                    assert side.count() == 0, (path, side.all_inner_texts())
                    for widget in ("stButton", "stTextArea", "stTextInput", "stSelectbox", "stForm",
                                   "stDataFrame", "stVegaLiteChart", "stDownloadButton", "stException"):
                        assert stranger.locator(f'[data-testid="{widget}"]').count() == 0, (path, widget)
                stranger.context.close()
                assert _snapshot(where.root) == before, "a visit without the token wrote to the home"

                # the owner: the printed address gets in, the token leaves the address bar, a cookie keeps
                # the way in for a new tab and a reload
                owner = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                owner.goto(app.url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
                owner.get_by_text("Numerical rank per layer", exact=False).first.wait_for(timeout=TIMEOUT_MS)
                browser._wait_idle(owner, TIMEOUT_MS)
                assert "token" not in owner.url, owner.url
                assert owner.locator('[data-testid="stSidebar"]').get_by_text("Launch a sweep").count() == 1
                tab = owner.context.new_page()
                tab.goto(f"{app.base}/Jobs", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
                tab.get_by_text("Sweeps in the warehouse", exact=False).first.wait_for(timeout=TIMEOUT_MS)
                tab.reload(wait_until="domcontentloaded", timeout=TIMEOUT_MS)
                tab.get_by_text("Sweeps in the warehouse", exact=False).first.wait_for(timeout=TIMEOUT_MS)
                assert tab.get_by_text(LOCKED).count() == 0
                owner.screenshot(path=str(tmp_path / "owner.png"))
            finally:
                chromium.close()

        # SIGTERM to `thermoscope app`: its server goes too, the token file with it
        assert app.stop(signal.SIGTERM) == 0, app.text()[-2000:]
        server.wait(timeout=5) if server.is_running() else None
        assert not psutil.pid_exists(server.pid) or server.status() == psutil.STATUS_ZOMBIE, "server orphaned"
        assert not token_file.exists()
        assert not app._healthy()
    finally:
        _cleanup(app)


def _cleanup(app: App) -> None:
    """Whatever happened, stop what this test started: `thermoscope app`, then its server (by their PIDs)."""
    try:
        children = psutil.Process(app.proc.pid).children()
    except psutil.NoSuchProcess:
        children = []
    if app.proc.poll() is None:
        app.proc.kill()
        app.proc.wait(timeout=10)
    for child in children:
        if child.is_running():
            child.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_the_server_never_outlives_thermoscope_app(tmp_path, sig):
    """Ctrl-C stops it cleanly; even a kill -9 of `thermoscope app` takes its server down (PR_SET_PDEATHSIG)."""
    from warehouse import home

    app = App(home(tmp_path / "home").root, tmp_path)
    try:
        server = app.server()
        token_file = app.user_home / ".thermoscope" / f"app-{app.port}.token"
        assert token_file.exists()
        app.stop(sig)
        gone, alive = psutil.wait_procs([server], timeout=20)
        assert server in gone or not psutil.pid_exists(server.pid), "streamlit outlived thermoscope app"
        assert not app._healthy()
        if sig != signal.SIGKILL:
            assert app.proc.returncode == 0 and not token_file.exists()
    finally:
        _cleanup(app)


def test_refusals_are_one_line_and_start_nothing(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), THERMOSCOPE_HOME=str(tmp_path / "home"))
    env.pop("THERMOSCOPE_TOKEN", None)
    cases = {
        ("--address", "0.0.0.0", "--no-token"): "refusing to serve 0.0.0.0 without a token",
        ("--token", "short"): "at least 24 URL-safe characters",
        ("--token", "x" * 30, "--no-token"): "--no-token with a token",
        ("--port", "70000"): "is not a port number",
    }
    for args, words in cases.items():
        out = subprocess.run([sys.executable, "-m", "lab", "app", *args], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and lines[0].startswith("thermoscope app: "), (args, lines)
        assert "streamlit" not in out.stdout.lower()
    assert not (tmp_path / ".thermoscope").exists()


def test_a_port_in_use_is_refused_before_the_token_file_is_touched(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = dict(os.environ, HOME=str(tmp_path), THERMOSCOPE_HOME=str(tmp_path / "home"))
        out = subprocess.run([sys.executable, "-m", "lab", "app", "--port", str(port)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "is in use" in out.stderr, out.stderr
    assert not (tmp_path / ".thermoscope").exists()


def test_the_plan_sets_streamlits_own_defences(monkeypatch, tmp_path):
    monkeypatch.delenv("THERMOSCOPE_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    serving = serve_app.plan(["--port", "8600"])
    assert len(serving.token) == 43 and serving.token_file == tmp_path / ".thermoscope" / "app-8600.token"
    assert serving.url == f"http://127.0.0.1:8600/?token={serving.token}"
    assert set(serving.allowed_hosts) == {"localhost", "127.0.0.1", "::1"}
    cmd = serve_app.streamlit_command(Path("Home.py"), serving)
    assert serving.token not in " ".join(cmd)
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags["--server.enableCORS"] == "true" and flags["--server.enableXsrfProtection"] == "true"
    assert flags["--server.enableAgentApi"] == "false" and flags["--server.address"] == "127.0.0.1"
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "--server.allowedHosts"] == list(serving.allowed_hosts)
    child = serve_app.server_env(serving)
    assert "THERMOSCOPE_TOKEN" not in child and child["THERMOSCOPE_TOKEN_FILE"] == str(serving.token_file)
    assert serve_app.plan(["--port", "8600"]).token != serving.token  # a new token each start
    monkeypatch.setenv("THERMOSCOPE_TOKEN", "t" * 24)
    assert serve_app.plan([]).token == "t" * 24
    wide = serve_app.plan(["--address", "0.0.0.0"])
    assert socket.gethostname().lower() in wide.allowed_hosts and "0.0.0.0" not in wide.allowed_hosts
    monkeypatch.delenv("THERMOSCOPE_TOKEN")
    open_plan = serve_app.plan(["--no-token"])
    assert open_plan.token is None and serve_app.server_env(open_plan)["THERMOSCOPE_APP_NO_TOKEN"] == "1"


def test_home_script_is_found_without_importing_the_app():
    code = ("import sys; from lab.commands.app import find_home_script; print(find_home_script()); "
            "print('APP' if 'app' in sys.modules or 'streamlit' in sys.modules else 'CLEAN')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path, clean = out.stdout.split()
    assert Path(path) == ROOT / "app" / "Home.py" and clean == "CLEAN"



def test_the_ssh_line_goes_through_the_login_node_from_a_slurm_job(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert serve_app.ssh_line(8511).startswith("ssh -L 8511:127.0.0.1:8511 ")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_SUBMIT_HOST", "login7")
    line = serve_app.ssh_line(8511)
    assert line.startswith("ssh -J ") and "@login7 -L 8511:127.0.0.1:8511 " in line, line


def test_the_token_is_never_listed(monkeypatch):
    """`--list` prints every THERMOSCOPE_* variable with its value; the token's only as [set]."""
    from thermoscope import env

    monkeypatch.setenv("THERMOSCOPE_TOKEN", "s3cret-" + "k" * 24)
    listed = env.describe()
    assert "THERMOSCOPE_TOKEN " in listed and "s3cret" not in listed and "[set]" in listed


def test_a_chosen_token_file_folder_is_never_re_moded(tmp_path):
    """THERMOSCOPE_TOKEN_FILE in a folder that is not ours to change (here an open one): its mode stays, the
    file itself is 0600."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    env = dict(os.environ, HOME=str(tmp_path), THERMOSCOPE_HOME=str(tmp_path / "home"),
               THERMOSCOPE_TOKEN_FILE=str(shared / "my.token"))
    env.pop("THERMOSCOPE_TOKEN", None)
    port = browser.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "app", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (shared / "my.token").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert oct((shared / "my.token").stat().st_mode & 0o777) == oct(0o600)
        assert oct(shared.stat().st_mode & 0o7777) == oct(0o1777)
    finally:
        server = psutil.Process(proc.pid).children()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        psutil.wait_procs(server, timeout=15)
    assert not (shared / "my.token").exists()
