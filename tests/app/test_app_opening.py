"""Every page opens the same way, in one call (app/ui.py open_page): set-up and the shared selection, the launch
form, the empty state, the run picker — before the page does anything of its own."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "app" / "Home.py", *sorted((ROOT / "app" / "pages").glob("*.py"))]


def _first_statement(path):
    body = [n for n in ast.parse(path.read_text()).body
            if not isinstance(n, ast.Import | ast.ImportFrom)
            and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return body[0]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_the_page_opens_with_open_page(path):
    first = _first_statement(path)
    call = first.value if isinstance(first, ast.Assign | ast.Expr) else None
    if isinstance(call, ast.Attribute):  # `ui.open_page(...).filters`
        call = call.value
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "ui.open_page", ast.unparse(first)[:120]
