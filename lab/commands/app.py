"""`thermoscope app`: start the dashboard's Streamlit server so that only its owner gets in, and stop it with us.

A cluster's login node is shared: every user on it reaches 127.0.0.1, so a dashboard that launches jobs as
you must not open to whoever connects. Like Jupyter:

- a token: random (`secrets.token_urlsafe(32)`, 32 bytes) at each start, or THERMOSCOPE_TOKEN / --token;
  kept in a 0600 file in a 0700 folder (~/.thermoscope/app-PORT.token, or THERMOSCOPE_TOKEN_FILE) which the
  server reads it from, so it is in no command line (`ps` shows those to everyone) and in no environment that
  jobs launched from the dashboard inherit; the address with the token is printed once, here;
- the pages let a browser in only with it (app/gate.py): the first visit brings `?token=…`, which is then
  taken out of the address bar and kept as the session's and a cookie's proof;
- Streamlit's own defences set to what is served: `server.allowedHosts` = the names this address is reached
  by (a DNS-rebinding page arrives with its own host name, refused before any page runs; and it could not know
  the token anyway), CORS and XSRF protection on, the agent API and static serving off;
- `--no-token` is the explicit way to turn the token off, with a warning; a non-loopback address without a
  token is refused.

Stopping: the server runs in its own session (a Ctrl-C in the terminal reaches us, not the jobs the dashboard
launched locally, which keep running), we forward SIGINT/SIGTERM/SIGHUP to it, wait, and kill it if it does
not stop; on Linux it also gets SIGTERM if we are killed outright (PR_SET_PDEATHSIG), so no server is left
orphaned, still serving.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from thermoscope import env, private

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
MIN_TOKEN_CHARS = 24
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~]+")  # URL-safe: the token goes into ?token=… unescaped
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
STOP_WAIT_S = 10.0


class AppError(Exception):
    """A one-line reason `thermoscope app` will not start."""


@dataclass(frozen=True)
class Serving:
    address: str
    port: int
    token: str | None  # None: --no-token
    token_file: Path | None
    allowed_hosts: tuple[str, ...]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if _is_loopback(self.address) or self.address in ("0.0.0.0", "::") else self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thermoscope app", description="start the dashboard on this home; only the "
                                "owner gets in (a token, printed once; docs/cluster.md)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: reach it through `ssh -L`; any other address "
                   "needs a token)")
    p.add_argument("--token", default=None,
                   help="the token to use (≥ 24 URL-safe characters) instead of a random one; note that other "
                   "users see command lines in `ps`: prefer THERMOSCOPE_TOKEN")
    p.add_argument("--no-token", action="store_true",
                   help="let anyone who reaches the address in (only on a machine no one else uses)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another host name the browser uses for this server (a reverse proxy's); repeatable")
    return p


def find_home_script() -> Path:
    """The dashboard's Home.py, found without importing the app package (its import pulls in Streamlit)."""
    spec = importlib.util.find_spec("app")
    if spec is None or not spec.submodule_search_locations:
        raise AppError("the dashboard's package `app` is not installed; reinstall Thermoscope (pip install -e .)")
    for folder in spec.submodule_search_locations:
        script = Path(folder) / "Home.py"
        if script.is_file():
            return script.resolve()
    raise AppError("the `app` package has no Home.py; reinstall Thermoscope (pip install -e .)")


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed_hosts(address: str, extra: list[str]) -> tuple[str, ...]:
    """The host names a browser may use for this server (Streamlit checks the Host header of its websocket).

    Loopback names always (the `ssh -L` tunnel arrives as localhost / 127.0.0.1); for another address, that
    address, this machine's names and, for a wildcard address, its own addresses."""
    names = list(LOOPBACK_NAMES)
    if not _is_loopback(address):
        names.append(address)
        if address in ("0.0.0.0", "::"):
            names.remove(address)
            try:
                names += socket.gethostbyname_ex(socket.gethostname())[2]
            except OSError:
                pass
        names += [socket.gethostname(), socket.getfqdn()]
    names += extra
    return tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))


def choose_token(args: argparse.Namespace) -> str | None:
    if args.no_token:
        if args.token or env.TOKEN.is_set():
            raise AppError("--no-token with a token (--token or THERMOSCOPE_TOKEN): drop one of them")
        return None
    token = args.token or env.TOKEN.get()
    if token is None:
        return secrets.token_urlsafe(TOKEN_BYTES)
    if len(token) < MIN_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
        raise AppError(f"the token must be at least {MIN_TOKEN_CHARS} URL-safe characters (A-Z a-z 0-9 - _ . ~); "
                       "leave it unset for a random one")
    return token


def token_file(port: int) -> Path:
    chosen = env.TOKEN_FILE.get()
    return Path(chosen).expanduser() if chosen else Path.home() / ".thermoscope" / f"app-{port}.token"


def plan(argv: list[str]) -> Serving:
    args = build_parser().parse_args(argv)
    if not 1 <= args.port <= 65535:
        raise AppError(f"--port {args.port} is not a port number (1-65535)")
    token = choose_token(args)
    if token is None and not _is_loopback(args.address):
        raise AppError(f"refusing to serve {args.address} without a token: anyone who reaches it would run jobs as "
                       "you; drop --no-token, or use --address 127.0.0.1 and `ssh -L`")
    return Serving(args.address, args.port, token, token_file(args.port) if token else None,
                   allowed_hosts(args.address, args.allow_host))


def _port_free(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def streamlit_command(script: Path, serving: Serving) -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(script),
           "--server.address", serving.address, "--server.port", str(serving.port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
           "--server.enableCORS", "true", "--server.enableXsrfProtection", "true",
           "--server.enableAgentApi", "false", "--server.enableStaticServing", "false",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false", "--global.developmentMode", "false"]
    for name in serving.allowed_hosts:
        cmd += ["--server.allowedHosts", name]
    return cmd


def server_env(serving: Serving) -> dict[str, str]:
    """The server's environment: the token's file, never the token (jobs launched from the dashboard inherit
    this environment, and Slurm copies it into theirs)."""
    out = {k: v for k, v in os.environ.items() if k not in (env.TOKEN.name, env.APP_NO_TOKEN.name)}
    out.pop(env.TOKEN_FILE.name, None)
    if serving.token_file is not None:
        out[env.TOKEN_FILE.name] = str(serving.token_file)
    else:
        out[env.APP_NO_TOKEN.name] = "1"
    return out


def ssh_line(port: int) -> str:
    """What to run on a laptop to reach this port: straight to this machine, or through the login node when
    this is a Slurm job on a compute node (which a laptop usually cannot reach directly)."""
    user, here = getpass.getuser(), socket.getfqdn()
    if here.startswith("localhost"):  # a machine without a DNS name for itself: its host name is what ssh wants
        here = socket.gethostname()
    login = os.environ.get("SLURM_SUBMIT_HOST") if os.environ.get("SLURM_JOB_ID") else None
    if login and login.split(".")[0] != here.split(".")[0]:
        return f"ssh -J {user}@{login} -L {port}:127.0.0.1:{port} {user}@{here}"
    return f"ssh -L {port}:127.0.0.1:{port} {user}@{here}"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the signal forwarding below still stops it on SIGINT/SIGTERM/SIGHUP
        pass


class _Stop(Exception):
    pass


def serve(argv: list[str]) -> int:
    from warehouse.paths import home

    try:
        serving = plan(argv)
        script = find_home_script()
        if not _port_free(serving.address, serving.port):
            raise AppError(f"port {serving.port} on {serving.address} is in use (another dashboard?); pick another "
                           "with --port")
    except AppError as exc:
        print(f"thermoscope app: {exc}", file=sys.stderr)
        return 2
    where = home()  # narrows our umask (the server and the jobs it starts inherit it), secures the home
    if serving.token_file is not None:
        try:
            if env.TOKEN_FILE.is_set():  # the user's folder: made if missing, never re-moded (it may be /tmp)
                serving.token_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            else:
                private.private_dir(serving.token_file.parent)
            private.write_private(serving.token_file, serving.token + "\n")
        except OSError as exc:
            print(f"thermoscope app: cannot write the token file {serving.token_file} ({exc.strerror}); set "
                  "THERMOSCOPE_TOKEN_FILE to a file in a folder of yours", file=sys.stderr)
            return 2
    else:
        print(f"thermoscope app: WARNING: --no-token: anyone who reaches {serving.address}:{serving.port} — on a "
              "shared login node, every user of it — can read every result, run SQL and launch jobs as you",
              file=sys.stderr)
    print(f"Thermoscope dashboard (warehouse: {where.database})\n"
          f"  open:                {serving.url}\n"
          f"  from your laptop:    {ssh_line(serving.port)}\n"
          f"                       then open the address above there"
          + (f"\n  token kept in:       {serving.token_file} (only you can read it; a new one each start)"
             if serving.token_file else ""), flush=True)
    proc = subprocess.Popen(streamlit_command(script, serving), env=server_env(serving), start_new_session=True,
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    stopped_by: list[int] = []

    def on_signal(signum, _frame):
        stopped_by.append(signum)
        raise _Stop

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        rc = proc.wait()
    except _Stop:
        rc = 0
    finally:
        for s, handler in old.items():  # a second Ctrl-C while we wait below must not leave the server behind
            signal.signal(s, signal.SIG_IGN if s != signal.SIGINT else handler)
        _stop(proc)
        if serving.token_file is not None:
            _remove_if_ours(serving.token_file, serving.token)
    if stopped_by:
        print(f"thermoscope app: stopped ({signal.Signals(stopped_by[0]).name}); the server is gone", file=sys.stderr)
    return rc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # Streamlit's own clean shutdown
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        proc.wait()


def _remove_if_ours(path: Path, token: str) -> None:
    """Remove the token file unless another start has written its own token there since."""
    try:
        if path.read_text().strip() == token:
            path.unlink()
    except OSError:
        pass
