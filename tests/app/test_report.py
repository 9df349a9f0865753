"""`thermoscope report` (app/report.py) on a real warehouse with known numbers (tests/app/factory.py): the file
opens in real Chromium with every request outside the file refused and counted (none may be made), every
chart is drawn, the tables hold the warehouse's numbers (asked of DuckDB directly here, not through the
report's queries), user text is escaped, and bad input is one line with no file written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from tests.app import factory
from tests.conftest import ROOT
from warehouse import home
from warehouse.ingest import ingest

SWEEP = "20261129-030000-abcdef"
HOSTILE = "hostile00run0000"
NAME = "<script>alert('x')</script> & co"
NOTE = '<img src="https://example.com/pixel.png"> see http://example.org'
TAG = "<b>bold</b>"
ARCHS = (factory.ARCH, "resnet18")
# per family (arch): rank, probe ID, probe OOD, logits norm, alignment at T=1 and T=10; plus the κ/ρ scatter
CHARTS = len(ARCHS) * 6 + 1


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """The factory's runs (2 archs x T 1, 10 x seeds 0, 1) plus one mlp run at T=100 that stayed at chance,
    whose name, tag and note are markup."""
    where = home(tmp_path_factory.mktemp("report-home"))
    factory.build(where, archs=ARCHS)
    factory._write_run(where, HOSTILE, factory.ARCH, 100.0, 0, "ce", "finished", stuck=True,
                       labels=dict(name=NAME, tags=[TAG, "plain"], note=NOTE))
    ingest(where)
    return where


def report_cli(*args: str, where, cwd=ROOT, module: tuple[str, ...] = ("-m", "app.report")):
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root))
    return subprocess.run([sys.executable, *module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def written(wh, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = report_cli(SWEEP, "--out", str(out), where=wh)
    assert done.returncode == 0, done.stderr
    assert f"{CHARTS} chart(s)" in done.stdout and "9 run(s)" in done.stdout, done.stdout
    return out


class Tables(HTMLParser):
    """Every <table>'s rows: a list of cells per row, each cell (text, attributes), keyed by the table's class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, dict]]]] = {}
        self._cls, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._cls = attrs.get("class", "")
            self.tables.setdefault(self._cls, [])
        elif tag == "tr" and self._cls is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ["", attrs]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._cls].append(self._row)  # the header row first
            self._row = None
        elif tag == "table":
            self._cls = None


def tables(path: Path) -> dict[str, list[list[tuple[str, dict]]]]:
    parser = Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def sql(where, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(where.database), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_the_group_table_holds_the_warehouses_means_stds_and_n(wh, written):
    rows = tables(written)["groups"]
    header = [t for t, _ in rows[0]]
    assert header[:3] == ["arch", "dataset", "temperature"]
    body = [dict(zip(header, r)) for r in rows[1:]]
    # the same numbers asked of DuckDB directly: each run's last epoch, grouped by arch and temperature
    truth = sql(wh, """WITH last AS (SELECT run_id, test_acc, logits_norm FROM epochs
                                     QUALIFY epoch = max(epoch) OVER (PARTITION BY run_id))
                       SELECT c.arch, c.temperature, avg(l.test_acc), stddev_samp(l.test_acc), count(*),
                              avg(l.logits_norm)
                       FROM run_configs c JOIN last l USING (run_id) GROUP BY ALL ORDER BY ALL""")
    assert len(body) == len(truth) == 5  # 2 archs x 2 T, and the T=100 run alone
    for arch, t, acc, acc_std, n, norm in truth:
        row = next(r for r in body if r["arch"][0] == arch and float(r["temperature"][1]["data-value"]) == t)
        text, attrs = row["test acc"]
        assert float(attrs["data-value"]) == pytest.approx(acc, rel=1e-12)
        assert int(attrs["data-n"]) == n and row["N runs"][0] == str(n)
        if n >= 2:
            assert float(attrs["data-std"]) == pytest.approx(acc_std, abs=1e-12)
            assert text == f"{acc:.3f} ± {acc_std:.2g} (n={n})"
        else:
            assert "data-std" not in attrs and text == f"{acc:.3f} (n=1)"  # one run has no spread, never '± 0'
        assert float(row["logits norm"][1]["data-value"]) == pytest.approx(norm, rel=1e-12)


def test_the_kappa_rho_table_is_in_the_papers_layout_with_the_warehouses_numbers(wh, written):
    found = tables(written)
    layout = found["paper-layout"]
    assert [t for t, _ in layout[0]] == ["model, data", "T=1", "T=10"]  # T=100 left out: no run learned there
    truth = sql(wh, """WITH m AS (SELECT c.arch, c.dataset, c.temperature, r.metric, avg(r.value) AS v
                                  FROM run_metrics r JOIN run_configs c USING (run_id)
                                  WHERE r.metric IN ('kappa', 'rho', 'solution_rank') AND c.temperature < 100
                                  GROUP BY ALL)
                       PIVOT m ON metric USING first(v) ORDER BY arch, temperature""")
    cells = {(r[0][0], h): t for r in layout[1:] for h, (t, _) in zip(["model, data", "T=1", "T=10"], r)}
    for arch, dataset, t, kappa, rho, sr in truth:
        assert cells[(f"{arch}, {dataset}", f"T={t:g}")] == f"{round(kappa)}/{round(rho)}/{round(sr)}"
        # and the exact means behind the rounded cells
        row = next(r for r in found["kappa-rho"][1:] if r[0][0].startswith(arch + ",")
                   and float(r[1][1]["data-value"]) == t)
        values = {a["data-col"]: float(a["data-value"]) for _, a in row if "data-value" in a and "data-col" in a}
        assert values["kappa"] == pytest.approx(kappa) and values["rho"] == pytest.approx(rho)
        assert values["sr"] == pytest.approx(sr) and values["n"] == 2


def test_runs_that_did_not_learn_are_named_and_user_text_is_escaped(written):
    text = written.read_text(encoding="utf-8")
    bad = tables(written)["not-learned"]
    assert len(bad) == 2 and bad[1][0][0] == f"{NAME} · {HOSTILE}"  # header + the one run, by its name
    assert "<script" not in text and "<img" not in text and "<b>bold" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in text
    assert "Left out of these figures: T=100" in text
    # nothing in the file names a place to fetch from, except what the user typed (escaped, as text)
    assert re.findall(r"https?://[^\s\"'<&]+", text.replace(NOTE.split('"')[1], "")) == ["http://example.org"]


def test_the_commands_and_the_environment_are_in_the_report(written):
    text = written.read_text(encoding="utf-8")
    launches = re.findall(r"(?:^|<code>)(python -m training\.launch [^<\n]*)", text, flags=re.M)
    # not one full grid (the T=100 run has one seed): mlp's by seed, then resnet18's grid
    assert len(launches) == 3 and "--set arch=resnet18 " in launches[2], launches
    assert "--set temperature=1,10,100 --set seed=0 " in launches[0] and "--set seed=1 " in launches[1]
    assert "git checkout test" in text  # the factory's code_version
    env = {r[0][0]: r[1][0] for r in tables(written)["environment"][1:]}
    assert env["code_version"] == "test (9)" and env["host"] == "node1 (9)"


@pytest.mark.browser
def test_the_report_opens_offline_draws_every_chart_and_makes_no_request(needs_browser, written, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.app.browser import CHROMIUM, LAUNCH_ARGS

    url = written.resolve().as_uri()
    asked, refused = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def route(r):
                asked.append(r.request.url)
                if r.request.url == url:
                    r.continue_()
                else:
                    refused.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(url, wait_until="load")
            page.wait_for_timeout(500)  # anything a late element would fetch
            boxes = page.eval_on_selector_all(
                "figure.chart > svg", "els => els.map(e => { const b = e.getBoundingClientRect(); "
                "return [b.width, b.height, e.querySelectorAll('[class*=\"mark-\"] path, [class*=\"mark-\"] line')"
                ".length]; })")
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            assert NAME in page.inner_text("table.not-learned")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert refused == [] and asked == [url]
    assert len(boxes) == CHARTS
    assert all(w > 100 and h > 100 and marks > 0 for w, h, marks in boxes), boxes
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_a_home_style_selection_builds_the_same_report_in_process(wh):
    from app.report import build_report

    report = build_report({"arch": factory.ARCH, "dataset": factory.ID, "loss": "ce"}, wh)
    assert report.runs == 5 and report.charts == 7  # 4 learned + the one at T=100; one family
    assert "Figures: mlp on digits" in report.html and "Figures: resnet18" not in report.html


@pytest.mark.parametrize("args, message", [
    (["--set", "arch=nope"], "report: no runs match arch=nope; nothing written"),
    (["20991231-000000-nosuch"], "report: no sweep '20991231-000000-nosuch' in the warehouse at"),
    (["--set", "colour=red"], "report: --set colour: not a config field; fields are arch, dataset"),
    (["--set", "temperature=hot"], "report: --set temperature=hot: 'hot' is not a double value"),
])
def test_bad_input_is_one_line_and_writes_no_file(wh, tmp_path, args, message):
    out = tmp_path / "report.html"
    done = report_cli(*args, "--out", str(out), where=wh)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_thermoscope_report_hands_over_to_the_app_module(wh, tmp_path):
    out = tmp_path / "r.html"
    done = report_cli("report", "--set", "temperature=10", "--set", "arch=resnet18", "--out", str(out), where=wh,
                      module=("-m", "lab"))
    assert done.returncode == 0, done.stderr
    assert "2 run(s)" in done.stdout and out.read_text().startswith("<!DOCTYPE html>")
    missing = report_cli("report", "--out", str(out), "--home", str(tmp_path / "nowhere"), where=wh, module=("-m", "lab"))
    assert missing.returncode == 2 and missing.stderr.startswith("report: no warehouse at")
    assert missing.stderr.count("\n") == 1


def test_home_offers_the_report_and_builds_it_only_when_asked(wh, monkeypatch):
    import app.report
    from tests.app.apphelp import no_exceptions, run_page

    built = []
    real = app.report.build_report
    monkeypatch.setattr(app.report, "build_report", lambda *a, **k: built.append(1) or real(*a, **k))
    monkeypatch.setenv("THERMOSCOPE_HOME", str(wh.root))
    at = run_page("Home.py")
    no_exceptions(at)
    assert "⬇ Download report" in [b.proto.label for b in at.get("download_button")]
    assert built == []  # a rerun never builds it
