"""The Home page on a real warehouse: rank and probe curves get the seed means and stds of one config."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from tests.app import factory
from tests.app.apphelp import ALL_PAGES, APP, TOKEN, chart_frame, charts, no_exceptions, run_page, texts


def _point(frame, t, layer_name):
    row = frame.filter((frame["temperature"] == t) & (frame["layer_name"] == layer_name))
    assert row.height == 1, row
    return row.row(0, named=True)


def test_home_rank_and_probe_curves_are_seed_means(use_home):
    at = run_page("Home.py")
    no_exceptions(at)
    els = charts(at)
    assert len(els) == 3  # rank, probe ID, probe OOD
    rank = chart_frame(els[0])
    # default representations: hidden, logits, softmax (not preact); the mse group (rank + 1000) is not mixed in
    assert set(rank["kind"]) == {"hidden", "logits", "softmax"}
    assert rank["mean"].max() < 500
    for t in factory.TEMPS:
        p = _point(rank, t, "hidden2")
        assert p["mean"] == pytest.approx(factory.expected_rank_mean(2, t))
        assert p["std"] == pytest.approx(math.sqrt(0.5))
        assert p["n"] == len(factory.SEEDS)
        # ranks are positive: the band is mean ×/÷ (1 + std/mean) (warehouse.queries.with_band)
        assert p["hi"] == pytest.approx(p["mean"] + p["std"])
        assert p["lo"] == pytest.approx(p["mean"] / (1 + p["std"] / p["mean"]))
    # last analysed epoch only (epoch 0 rows are 50 higher)
    assert _point(rank, 1.0, "softmax")["mean"] == pytest.approx(factory.expected_rank_mean(4, 1.0) - 1)
    # aggregated rows only: one per temperature and layer point
    assert rank.height == len(factory.TEMPS) * (factory.HIDDEN + 2)

    probe_id, probe_ood = chart_frame(els[1]), chart_frame(els[2])
    assert set(probe_id["dataset"]) == {factory.ID} and set(probe_ood["dataset"]) == {factory.OOD}
    p = _point(probe_ood, 10.0, "hidden3")
    assert p["mean"] == pytest.approx(sum(factory.probe(3, 10.0, s, True) for s in factory.SEEDS) / 2)
    p = _point(probe_id, 1.0, "hidden1")
    assert p["mean"] == pytest.approx(sum(factory.probe(1, 1.0, s) for s in factory.SEEDS) / 2)


def test_home_other_choice_changes_the_data(use_home):
    at = run_page("Home.py")
    loss = next(s for s in at.selectbox if s.label == "loss")
    loss.set_value("mse").run()
    no_exceptions(at)
    rank = chart_frame(charts(at)[0])
    assert _point(rank, 1.0, "hidden0")["mean"] == pytest.approx(factory.expected_rank_mean(0, 1.0) + 1000)
    kinds = next(m for m in at.multiselect if m.label == "representations")
    kinds.set_value(["preact"]).run()
    rank = chart_frame(charts(at)[0])
    assert set(rank["kind"]) == {"preact"}
    assert _point(rank, 10.0, "hidden1")["mean"] == pytest.approx(factory.expected_rank_mean(1, 10.0) + 1000 - 5)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_missing_warehouse_shows_how_to_fill_it(page, tmp_path, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_HOME", str(tmp_path / "nothing-here"))
    at = run_page(page)
    no_exceptions(at)
    assert not charts(at) or page.endswith("Theory.py")
    body = texts(at)
    assert "python -m training.launch sweeps/demo.toml" in body or "Theory" in page, body


@pytest.mark.parametrize("page", ALL_PAGES)
def test_empty_warehouse_says_so(page, tmp_path, monkeypatch):
    from warehouse import home
    from warehouse.ingest import ingest

    where = home(tmp_path / "empty")
    ingest(where)  # creates the tables, no rows
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page(page)
    no_exceptions(at)
    if page.endswith("Theory.py"):  # the numpy demos need no warehouse; the stored rows say they are absent
        assert "No `theory` rows in the warehouse yet" in texts(at)
    elif page.endswith("Jobs.py"):
        assert "Nothing ingested yet" in texts(at)
    else:
        assert "holds no runs yet" in texts(at), texts(at)
        assert not charts(at)


@pytest.mark.slow
def test_app_never_imports_torch(fx_home):
    """Every page, run in a fresh interpreter on a real warehouse, leaves torch unloaded."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"pages = {ALL_PAGES!r}\n"
        "for p in pages:\n"
        f"    at = AppTest.from_file({str(APP)!r} + '/' + p, default_timeout=60)\n"
        f"    at.query_params['token'] = {TOKEN!r}\n"
        "    at.run()\n"
        "    assert not at.exception, (p, [e.value for e in at.exception])\n"
        "    if p.endswith('Jobs.py'):  # the launch form's Check runs the launcher's plan(): still no torch\n"
        "        next(b for b in at.button if b.label == 'Check').click().run()\n"
        "        assert at.sidebar.info, 'Check should report the plan'\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print('TORCH', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {"THERMOSCOPE_HOME": str(fx_home.root), "PATH": "/usr/bin:/bin", "THERMOSCOPE_TOKEN": TOKEN}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "TORCH []" in out.stdout


def test_home_flags_runs_that_did_not_learn(use_home):
    at = run_page("Home.py")
    table = at.dataframe[0].value
    # factory: final test accuracy 0.8 - 0.001 T, chance 10 %: both temperatures learned
    assert list(table["learned"]) == ["✅ learned (2 of 2)", "✅ learned (2 of 2)"]
    assert table["test_acc_mean"].tolist() == pytest.approx([0.799, 0.79])
    assert not at.warning


def test_home_warns_about_runs_stuck_at_chance(tmp_path, monkeypatch):
    from warehouse import home

    where = home(tmp_path / "stuck")
    factory.build(where, stuck=(10.0,))
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("Home.py")
    # the verdict stored with each run (lab/records/verdict.py): at T = 10 the accuracy stayed at chance
    assert list(at.dataframe[0].value["learned"]) == ["✅ learned (2 of 2)", "⚠️ 2 of 2 did not learn"]
    assert "2 of 4 runs did not learn" in at.warning[0].value and "left out: T=10" in at.warning[0].value
    # left out of the charts: only T = 1 is drawn, and the table still lists both temperatures
    rank = chart_frame(charts(at)[0])
    assert set(rank["temperature"].to_list()) == {1.0}
    # shown on request (shared selection, so in the URL too)
    at.selectbox(key="home-unlearned").select("show").run()
    assert set(chart_frame(charts(at)[0])["temperature"].to_list()) == {1.0, 10.0}
    assert "shown and not comparable: T=10" in at.warning[0].value
    assert at.query_params["unlearned"] in ("show", ["show"])


def test_unreadable_warehouse_says_why(tmp_path, monkeypatch):
    """A file DuckDB can open but that is not a Thermoscope warehouse: one line saying why, no traceback."""
    import duckdb

    from warehouse import home

    where = home(tmp_path / "foreign")
    where.root.mkdir(parents=True)
    duckdb.connect(str(where.database)).close()  # an empty DuckDB file: no _meta, no tables
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("Home.py")
    no_exceptions(at)
    assert at.error and "cannot be read" in at.error[0].value, texts(at)
    assert not charts(at)
