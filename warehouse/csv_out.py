"""CSV for people and their spreadsheets: `python -m warehouse sql --format csv` and the dashboard's downloads.

Two things a plain `write_csv` gets wrong: lists and structs (CSV holds neither: they are written as
'[a, b]' / JSON text instead of failing) and cells a spreadsheet would run as a formula (`=HYPERLINK(…)`,
`+cmd|…`, `@SUM(…)`): every text cell and column name starting with = + - @, a tab or a carriage return
gets a leading apostrophe (thermoscope/text.py has the rule), so it opens as the text it is. Numbers are
never touched; a number stored as text ("-1.5") neither, since it cannot be a formula.
"""

from __future__ import annotations

import polars as pl

from thermoscope.text import FORMULA_START, PLAIN_NUMBER, spreadsheet_cell


def flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists as '[a, b]' text and structs as JSON text: CSV holds no nested values."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array):
            inner = pl.col(name).cast(pl.List(dtype.inner)).list.eval(pl.element().cast(pl.String)).list.join(", ")
            exprs.append(pl.format("[{}]", inner).alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode().alias(name))
    return frame.with_columns(exprs) if exprs else frame


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell and column name that could start a formula, with a leading apostrophe."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            text = pl.col(name).cast(pl.String)
            risky = text.str.contains(FORMULA_START) & ~text.str.contains(PLAIN_NUMBER)
            exprs.append(pl.when(risky).then(pl.lit("'") + text).otherwise(text).alias(name))
    frame = frame.with_columns(exprs) if exprs else frame
    return frame.rename({c: spreadsheet_cell(c) for c in frame.columns if spreadsheet_cell(c) != c})


def csv_text(frame: pl.DataFrame) -> str:
    """`frame` as CSV text a spreadsheet opens safely (nested values flattened, formulas defused)."""
    return spreadsheet_safe(flat(frame)).write_csv()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """csv_text as UTF-8 bytes, for a download button."""
    return csv_text(frame).encode()
