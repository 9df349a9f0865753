"""Text people type, on its way in (run names, tags, notes) and out (spreadsheet cells).

In: control characters are taken out (an ESC in a tag repaints a terminal that prints it; a bidi override
makes a name read backwards) and each label has a length cap, refused with one line rather than cut short:

    name  at most NAME_MAX (200) characters      tags  at most TAGS_MAX (32), each TAG_MAX (64)
    note  at most NOTE_MAX (2,000) characters; its line breaks are kept (as \\n), tabs become spaces

"Control characters" are Unicode's Cc (C0, DEL, C1) and Cf (format: bidi overrides, zero-width marks) and
the line/paragraph separators; elsewhere than a note, line breaks and tabs become spaces. Emoji joined with a
zero-width joiner fall apart into their parts, a price paid for stripping the invisible ones.

Out: a cell a spreadsheet would read as a formula (starting with = + - @, or a tab or carriage return,
after which some spreadsheets look again) gets a leading apostrophe, OWASP's advice against CSV injection;
a plain number written as text ("-1.5") is left as it is, since it cannot be a formula.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from thermoscope.fields import ConfigError

NAME_MAX = 200
TAG_MAX = 64
TAGS_MAX = 32
NOTE_MAX = 2000

_SEPARATORS = {"\u2028", "\u2029", "\x85"}  # line/paragraph separators and NEL: a line break
# the rule as two patterns, so a columnar writer (warehouse/csv_out.py) applies exactly this one
FORMULA_START = r"^[=+\-@\t\r]"
_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
PLAIN_NUMBER = f"^{_NUMBER}$"  # Rust's `$` is the end of the text (Python's also matches before a final \n)


def strip_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` without control and format characters; line breaks kept as \\n (notes) or made spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n" or ch in _SEPARATORS:
            out.append("\n" if keep_newlines else " ")
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            out.append(ch)
    return "".join(out)


def _capped(what: str, text: str, limit: int) -> str:
    if len(text) > limit:
        raise ConfigError(f"the {what} has {len(text):,} characters; at most {limit:,} are stored: shorten it")
    return text


def clean_labels(name: str, tags: Iterable[str], note: str) -> tuple[str, tuple[str, ...], str]:
    """(name, tags, note) as stored: controls stripped, blanks around each dropped, empty and repeated tags
    dropped (order kept); ConfigError (one line) for a label past its length cap."""
    kept = tuple(dict.fromkeys(t for t in (strip_controls(tag).strip() for tag in tags) if t))
    if len(kept) > TAGS_MAX:
        raise ConfigError(f"{len(kept)} tags given; at most {TAGS_MAX} are stored: drop some")
    for tag in kept:
        _capped(f"tag {tag[:20]!r}…" if len(tag) > TAG_MAX else "tag", tag, TAG_MAX)
    return (_capped("name", strip_controls(name).strip(), NAME_MAX), kept,
            _capped("note", strip_controls(note, keep_newlines=True).strip(), NOTE_MAX))


def spreadsheet_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never runs it: a leading apostrophe where it could start a formula."""
    if re.match(FORMULA_START, text) and not re.fullmatch(_NUMBER, text):
        return "'" + text
    return text
