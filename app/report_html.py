"""The report's HTML pieces: escaped text, tables, charts as inline SVG, the page shell. No Streamlit, no SQL.

Every string that reaches the page goes through `esc` (run names, notes, tags and layer names are user text):
the report is HTML written by hand, never markdown, so nothing a user typed can become markup. Charts are
rendered to SVG here with vl-convert (what the dashboard's SVG download uses) and put inline, so the file
needs nothing beyond itself: no script, no font, no stylesheet, no image is fetched when it opens.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt

# Which number format each result gets in tables (the Runs page's precision)
FORMATS = {"test_acc": ".3f", "train_acc": ".3f", "train_loss": ".4g", "logits_norm": ".4g", "solution_rank": ".3g",
           "kappa": ".1f", "rho": ".1f", "best_auroc": ".3f", "sr": ".3g"}

# vl-convert writes the SVG namespace declarations (xmlns="http://www.w3.org/2000/svg"); an SVG inside
# HTML needs none, and without them the file holds no address at all, so a reader can check it holds none
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, fmt: str = ".4g") -> str:
    """A number as the table shows it; '—' for none (never 'nan' or '0' for a missing value)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, fmt)


class Cell:
    """A table cell: its text (escaped when written), an optional exact value (`data-value`, so a reader or a
    test can get the full-precision number behind a rounded one) and a CSS class."""

    def __init__(self, text: Any, value: Any = None, cls: str = "", col: str = "", **data: Any) -> None:
        self.text, self.value, self.cls, self.col, self.data = text, value, cls, col, data

    def html(self) -> str:
        attrs = ""
        if self.cls:
            attrs += f' class="{esc(self.cls)}"'
        if self.col:
            attrs += f' data-col="{esc(self.col)}"'
        if self.value is not None and not (isinstance(self.value, float) and not math.isfinite(self.value)):
            attrs += f' data-value="{esc(repr(self.value))}"'
        for k, v in self.data.items():
            if v is not None:
                attrs += f' data-{esc(k)}="{esc(repr(v))}"'
        return f"<td{attrs}>{esc(self.text)}</td>"


def num_cell(value: Any, fmt: str = ".4g", col: str = "") -> Cell:
    return Cell(number(value, fmt), value, "num", col)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "", caption: str = "") -> str:
    """An HTML table; a row item is a Cell or any value (written as escaped text)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join((c if isinstance(c, Cell) else Cell(c)).html() for c in row) + "</tr>"
                   for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{esc(cls)}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart drawn as SVG markup (vl-convert's own renderer: no browser, no network)."""
    import vl_convert as vlc

    spec = chart.to_dict(validate=False)
    return _NAMESPACES.sub("", vlc.vegalite_to_svg(spec), count=2)


def figure(chart: alt.TopLevelMixin, caption: str, *, key: str) -> str:
    return (f'<figure class="chart" data-chart="{esc(key)}">{svg(chart)}'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def para(text: str, cls: str = "") -> str:
    return f'<p class="{esc(cls)}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def code(lines: Iterable[str]) -> str:
    return "<pre><code>" + esc("\n".join(lines)) + "</code></pre>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222;
       max-width: 1500px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
margin-top: 2em; } h3 { margin-top: 1.6em; }
.meta { color: #555; } .warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.4em 0.8em; }
.note { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; color: #555; padding-bottom: 0.3em; }
.scroll { overflow-x: auto; }
figure.chart { margin: 1em 0; display: inline-block; vertical-align: top; max-width: 100%; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.88em; max-width: 900px; }
pre { background: #f6f8fa; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
nav ul { columns: 2; } @media print { nav { display: none; } }
"""


def page(title: str, body: str) -> str:
    # the Content-Security-Policy tells the browser to fetch nothing at all: a stray reference in user text
    # could not load anything even if it got past the escaping
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n")
