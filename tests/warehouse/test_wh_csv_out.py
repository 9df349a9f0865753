"""CSV exports open in a spreadsheet as the text they hold: a cell that would start a formula gets an apostrophe.

Checked with Python's csv reader on the real `python -m warehouse sql --format csv` output, and, where
LibreOffice is installed, by LibreOffice Calc itself: it opens the CSV, evaluates what it takes for formulas,
and writes the sheet back out; `=1+1` written as-is comes back `2`, escaped it comes back as text.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import polars as pl
import pytest

from tests.warehouse.wh_helpers import cli, write_run
from thermoscope.text import spreadsheet_cell
from warehouse.csv_out import csv_bytes, csv_text
from warehouse.ingest import ingest

RISKY = {"eq": "=1+1", "plus": "+1+1", "minus": "-1+1", "at": "@SUM(1,1)", "tab": "\t=1+1", "cr": "\r=1+1",
         "link": '=HYPERLINK("http://evil.test","x")'}
SAFE = {"plain": "plain", "neg_text": "-1.5", "plus_text": "+2", "inner": "a=1+1", "empty": ""}
QUERY = ("SELECT " + ", ".join(f"'{v.replace(chr(39), chr(39) * 2)}' AS {k}" for k, v in {**RISKY, **SAFE}.items())
         + ", -1.5 AS num, 7 AS int")


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    from warehouse import home

    where = home(tmp_path_factory.mktemp("csv") / "home")
    write_run(where, "r0")
    ingest(where)
    return where


def read_back(text: str) -> dict[str, str]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 1
    return rows[0]


def test_the_cli_csv_escapes_formulas_and_leaves_numbers(where, tmp_path):
    out = tmp_path / "q.csv"
    for args in (["--out", str(out)], ["--safe", "--out", str(out)]):
        done = cli("sql", QUERY, "--format", "csv", *args, where=where)
        assert done.returncode == 0, done.stderr
        row = read_back(out.read_bytes().decode())  # bytes: a \r in a cell stays a \r
        assert {k: row[k] for k in RISKY} == {k: "'" + v for k, v in RISKY.items()}
        assert {k: row[k] for k in SAFE} == SAFE and row["num"] == "-1.5" and row["int"] == "7"


def test_column_names_lists_and_categoricals_are_escaped_too():
    frame = pl.DataFrame({"=cmd": ["=1+1"], "tags": [["=a", "b"]], "kind": ["@x"]}).with_columns(
        pl.col("kind").cast(pl.Categorical))
    text = csv_text(frame)
    assert text.splitlines() == ["'=cmd,tags,kind", "'=1+1,\"[=a, b]\",'@x"]
    assert csv_bytes(frame) == text.encode()


@pytest.mark.parametrize("value", [*RISKY.values(), *SAFE.values(), "-", "+", "1e5", "-.5", "-1\n"])
def test_the_columnar_rule_is_the_one_cell_rule(value):
    assert read_back(csv_text(pl.DataFrame({"c": [value]})))["c"] == spreadsheet_cell(value)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_the_export_as_text(where, tmp_path):
    frame = pl.DataFrame({k: [v] for k, v in {"eq": "=1+1", "at": "@SUM(1,1)", "plus": "+1+1"}.items()}).with_columns(
        num=pl.lit(-1.5))

    def through_calc(name: str, text: str) -> dict[str, str]:
        src = tmp_path / f"{name}.csv"
        src.write_text(text)
        out = tmp_path / f"out-{name}"
        subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/profile",
                        "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(out), str(src)],
                       capture_output=True, timeout=300, check=True)
        (written,) = out.glob("*.csv")
        return read_back(written.read_bytes().decode())

    raw = through_calc("raw", frame.write_csv())
    assert raw["eq"] == "2", raw  # unescaped, Calc ran it: the check can fail (Calc runs no + or @ from CSV; Excel does)
    safe = through_calc("safe", csv_text(frame))
    assert safe == {"eq": "'=1+1", "at": "'@SUM(1,1)", "plus": "'+1+1", "num": "-1.5"}, safe
