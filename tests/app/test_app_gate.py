"""The dashboard's door (app/gate.py), page by page through AppTest on a real warehouse: without the token every
page is one line and nothing else; with it the page is whole and the token leaves the URL; and no page file does
anything before ui.open_page(), whose first act (through ui.page) is the gate."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apphelp import ALL_PAGES, APP, TOKEN, no_exceptions, run_page

LOCKED = "This dashboard needs its token"


def _elements(at: AppTest) -> list[tuple[str, object]]:
    """Every element the page drew, main area and sidebar, depth first (type, value)."""
    out = []

    def walk(node) -> None:
        children = getattr(node, "children", None)
        for child in (children.values() if isinstance(children, dict) else []):
            if child.type not in ("main", "sidebar", "event"):
                out.append((child.type, getattr(child, "value", None)))
            walk(child)

    walk(at._tree)
    return out


def _bare(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(APP / page), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


@pytest.mark.parametrize("page", ALL_PAGES)
def test_without_the_token_every_page_is_one_line(use_home, page):
    at = _bare(page)
    no_exceptions(at)
    drawn = _elements(at)
    assert len(drawn) == 1 and drawn[0][0] == "info" and LOCKED in str(drawn[0][1]), drawn


@pytest.mark.parametrize("given", ["", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_a_wrong_token_is_one_line_too(use_home, given):
    for page in ("Home.py", "pages/10_SQL.py", "pages/11_Jobs.py"):
        drawn = _elements(_bare(page, token=given))
        assert [t for t, _ in drawn] == ["info"] and LOCKED in str(drawn[0][1]), (page, given, drawn)


@pytest.mark.slow
def test_the_token_opens_every_page_and_leaves_the_url(use_home):
    for page in ALL_PAGES:
        at = run_page(page)  # brings ?token=
        no_exceptions(at)
        assert "token" not in at.query_params, (page, dict(at.query_params))
        assert len(_elements(at)) > 3, page
        assert not any(LOCKED in str(v) for _, v in _elements(at)), page


def test_the_session_stays_in_without_the_token_in_the_url(use_home):
    at = run_page("Home.py")
    assert "token" not in at.query_params
    at.run()  # a rerun (a click): the URL has no token now, the session holds the proof
    # the page past the gate: its title and the sidebar's launch box (closed: the form is drawn only when open)
    assert any("Thermoscope" in str(t.value) for t in at.title), _elements(at)
    assert any("Launch a sweep" in e.label for e in at.sidebar.expander), _elements(at)
    at.switch_page("pages/10_SQL.py").run()  # another page of the same session
    assert any("SQL console" in str(t.value) for t in at.title), _elements(at)
    assert "token" not in at.query_params


def test_no_token_configured_lets_nobody_in(use_home, monkeypatch):
    """A hand-made `streamlit run` with no token set fails closed, even with a token in the URL."""
    monkeypatch.delenv("THERMOSCOPE_TOKEN")
    for query in ({}, {"token": TOKEN}, {"token": ""}):
        drawn = _elements(_bare("Home.py", **query))
        assert [t for t, _ in drawn] == ["info"] and "no usable token" in str(drawn[0][1]), drawn
    monkeypatch.setenv("THERMOSCOPE_TOKEN", "short")  # under 24 characters: refused as well
    drawn = _elements(_bare("Home.py", token="short"))
    assert [t for t, _ in drawn] == ["info"] and "no usable token" in str(drawn[0][1]), drawn


def test_the_explicit_switch_opens_it(use_home, monkeypatch):
    monkeypatch.delenv("THERMOSCOPE_TOKEN")
    monkeypatch.setenv("THERMOSCOPE_APP_NO_TOKEN", "1")
    at = _bare("pages/11_Jobs.py")
    no_exceptions(at)
    assert any(b.label == "Check" for b in at.button)


def test_the_token_file_must_be_ours_and_private(use_home, monkeypatch, tmp_path):
    token = "file-token-" + "x" * 24
    path = tmp_path / "app.token"
    path.write_text(token + "\n")
    monkeypatch.delenv("THERMOSCOPE_TOKEN")
    monkeypatch.setenv("THERMOSCOPE_TOKEN_FILE", str(path))
    os.chmod(path, 0o644)  # readable by others: not trusted, nobody gets in
    assert [t for t, _ in _elements(_bare("Home.py", token=token))] == ["info"]
    os.chmod(path, 0o600)
    at = _bare("Home.py", token=token)
    no_exceptions(at)
    assert len(_elements(at)) > 3 and "token" not in at.query_params
    link = tmp_path / "link.token"
    link.symlink_to(path)  # a link is not followed (someone else's link would point us anywhere)
    monkeypatch.setenv("THERMOSCOPE_TOKEN_FILE", str(link))
    assert [t for t, _ in _elements(_bare("Home.py", token=token))] == ["info"]


# ---- no page does anything before the gate ------------------------------------------------------------------


def test_ui_page_runs_the_gate_before_anything_else():
    tree = ast.parse((APP / "ui.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "page")
    calls = [ast.unparse(s.value.func) for s in fn.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]
    assert calls[:2] == ["st.set_page_config", "gate.require"], calls
    # every page's first statement is ui.open_page (tests/app/test_app_opening.py), whose first call is page()
    opening = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "open_page")
    first = [s for s in opening.body if not isinstance(s, ast.ImportFrom | ast.Import)
             and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))][0]
    assert ast.unparse(first) == "page(title)", ast.unparse(first)


def test_app_modules_do_no_work_when_imported():
    """What a page imports before ui.page() must not read the warehouse or draw: module level holds only
    definitions and constants (a call at import time would run before the gate)."""
    allowed_calls = {"Queries", "frozenset", "dict", "re.compile", "tuple", "set", "TypeVar", "st.cache_data",
                     "st.cache_resource"}
    for path in sorted(p for p in Path(APP).glob("*.py") if p.name != "Home.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                pytest.fail(f"{path.name}: a call at import time: {ast.unparse(node)[:80]}")
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                name = ast.unparse(node.value.func)
                assert name in allowed_calls, f"{path.name}: {ast.unparse(node)[:80]}"
