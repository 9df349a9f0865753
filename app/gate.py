"""The dashboard's door: every page run, of every session, shows nothing but one line until the browser has
proved it holds the server's token (the way Jupyter does it).

ui.page() calls `require()` before anything else a page does, so no data, form, SQL, cancel or ingest is
reached without it (every page's first statement is ui.open_page, whose first act is ui.page: checked by
tests/app/test_app_opening.py and tests/app/test_app_gate.py).

Where the token comes from (lab/commands/app.py sets this up):
    THERMOSCOPE_TOKEN_FILE   a 0600 file of ours holding it (what `thermoscope app` uses: the token stays out of
                             the environment that jobs launched from here inherit)
    THERMOSCOPE_TOKEN        the token itself (a hand-made `streamlit run app/Home.py`, and the tests' AppTest)
    THERMOSCOPE_APP_NO_TOKEN=1   no token at all: everyone is let in (`thermoscope app --no-token`)
With none of them, nobody gets in (fail closed): a bare `streamlit run` must not open the dashboard.

The proof: `?token=…` on the first visit, compared with hmac.compare_digest; the session then keeps a digest of
the token (st.session_state), the address bar loses the token (st.query_params), and a cookie holding another
digest (HMAC of the token, never the token) lets a reload, a new tab or a link opened from a page in without the
token in the URL. A cookie is per host, not per port, so it is named after the port. The token changes at each
start of `thermoscope app`, and with it every proof.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

import streamlit as st

from thermoscope import env

PARAM = "token"
MIN_TOKEN_CHARS = 24  # as lab/commands/app.py asks of a chosen token
_SESSION = "thermoscope-gate"  # a digest of the token this session proved it holds


def _read_token_file(path: Path) -> str | None:
    """The token in `path`, only if the file is ours and no one else can read it (else None: nobody gets in)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077 or not stat.S_ISREG(info.st_mode):
            return None
        text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    return text or None


def expected_token() -> str | None:
    """The server's token, or None (then nobody gets in, unless the gate is explicitly off)."""
    path = env.TOKEN_FILE.get()
    if path:
        return _read_token_file(Path(path))
    return env.TOKEN.get()


def is_open() -> bool:
    return bool(env.APP_NO_TOKEN.get()) and not env.TOKEN_FILE.is_set() and not env.TOKEN.is_set()


def session_proof(token: str) -> str:
    return hashlib.sha256(b"thermoscope-session\0" + token.encode()).hexdigest()


def cookie_proof(token: str) -> str:
    return hmac.new(token.encode(), b"thermoscope-cookie-v1", hashlib.sha256).hexdigest()


def cookie_name() -> str:
    return f"thermoscope_{st.get_option('server.port')}"


def _same(a: object, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a.encode(), b.encode())


def require() -> None:
    """Return when this session may see the page; otherwise show one line and stop the page run."""
    if is_open():
        return
    token = expected_token()
    if token is None or len(token) < MIN_TOKEN_CHARS:
        _locked("This dashboard has no usable token (none, or under 24 characters), so nobody can get in: start "
                "it with `thermoscope app`, which prints its address with the token.")
    proof = session_proof(token)
    given = st.query_params.get(PARAM)
    if not _same(st.session_state.get(_SESSION), proof):
        cookie = _cookie()
        if _same(given, token):
            _set_cookie(cookie_proof(token))
        elif not _same(cookie, cookie_proof(token)):
            _locked("This dashboard needs its token: open the address `thermoscope app` printed (…/?token=…), or "
                    "read the token from the file it names.")
        st.session_state[_SESSION] = proof
    if PARAM in st.query_params:  # out of the address bar (and of any link copied from it)
        del st.query_params[PARAM]


def _locked(line: str) -> None:
    st.info(line)
    st.stop()


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(cookie_name())
    except Exception:  # no request behind this session (AppTest): no cookie
        return None
    return value if isinstance(value, str) else None


def _set_cookie(value: str) -> None:
    # SameSite=Strict: never sent with a request another site starts; a session cookie: gone with the browser
    st.html(f"<script>document.cookie = '{cookie_name()}={value}; path=/; SameSite=Strict';</script>",
            unsafe_allow_javascript=True)
