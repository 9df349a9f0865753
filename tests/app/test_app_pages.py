"""Every dashboard page through AppTest on a real ingested warehouse: the rows each chart receives."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tests.app import factory
from tests.app.apphelp import chart_frame, chart_frames, charts, no_exceptions, run_page, spec, texts


def by(frame: pl.DataFrame, **eq) -> dict:
    rows = frame.filter(**eq)
    assert rows.height == 1, (eq, rows)
    return rows.row(0, named=True)


def test_runs_page_groups_by_everything_but_the_seed(use_home):
    at = run_page("pages/1_Runs.py")
    no_exceptions(at)
    groups = at.dataframe[0].value
    # 2 archs x 2 losses x 2 temperatures, each a seed group of 2
    assert len(groups) == 8 and set(groups["N"]) == {2}
    assert set(groups["status"]) == {"✅ 2 finished"}
    runs = at.dataframe[1].value
    assert len(runs) == 16
    assert runs["detail"].str.startswith("/Run_detail?run=").all()
    at.multiselect(key="runs-group-by").set_value(["arch"]).run()
    groups = at.dataframe[0].value
    assert sorted(groups["N"]) == [8, 8]
    at.multiselect(key="runs-filter-fields").set_value(["temperature"]).run()
    at.multiselect(key="runs-filter-temperature").set_value([10.0]).run()
    assert sorted(at.dataframe[0].value["N"]) == [4, 4]
    assert len(at.dataframe[1].value) == 8


def test_runs_page_status_badges(tmp_path, monkeypatch):
    from warehouse import home

    where = home(tmp_path / "h")
    rid = factory.run_id(factory.ARCH, 10.0, 1)
    factory.build(where, statuses={rid: "failed"})
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/1_Runs.py")
    groups = at.dataframe[0].value
    assert sorted(groups["status"]) == ["✅ 1 finished · ❌ 1 failed", "✅ 2 finished"]
    at = run_page("pages/12_Run_detail.py", run=rid)
    no_exceptions(at)
    assert "Traceback: boom" in "\n".join(c.value for c in at.code)
    # plain text: a traceback is not a Python program, and the highlighter cost ~140 ms of a fresh tab
    assert [c.language for c in at.code] == ["plaintext"]


def _panels(chart_spec: dict) -> list[dict]:
    return chart_spec.get("concat") or chart_spec.get("vconcat") or []


def _y(panel: dict) -> dict:
    """The y encoding of a panel (a layer's line, or the panel itself)."""
    parts = panel.get("layer", [panel])
    return next(p["encoding"]["y"] for p in parts if p.get("encoding", {}).get("y", {}).get("field") in
                ("mean", "value"))


def test_run_detail_page(use_home):
    rid = factory.run_id(factory.ARCH, 10.0, 0)
    at = run_page("pages/12_Run_detail.py", run=rid)
    no_exceptions(at)
    log = chart_frame(charts(at)[0])
    assert by(log, epoch=2, quantity="logits_norm")["value"] == pytest.approx(3.0)
    assert by(log, epoch=1, quantity="test_acc")["value"] == pytest.approx(0.69)
    # one panel per quantity, each with its own y axis: accuracy never on the logits norm's axis
    s = spec(charts(at)[0])
    panels = _panels(s)
    assert [p["title"] for p in panels] == ["loss", "accuracy", "logits norm ‖z‖₂", "rank of the eval batch's logits"]
    assert s["resolve"]["scale"]["y"] == "independent"
    assert _y(panels[2])["scale"]["type"] == "log" and "type" not in _y(panels[1])["scale"]
    # a legend whose entries differ: each series its own colour
    color = panels[1]["encoding"]["color"]
    assert color["scale"]["domain"] == ["train_loss", "train_acc", "test_acc", "logits_norm", "rank_pre_softmax",
                                        "rank_post_softmax"]
    assert len(set(color["scale"]["range"])) == len(color["scale"]["domain"])
    # per-layer values: the kind legend draws each dash as a stroke (not four identical dots)
    dash = spec(charts(at)[1])["encoding"]["strokeDash"]
    assert dash["legend"]["symbolType"] == "stroke" and dash["scale"]["domain"] == ["preact", "hidden", "logits",
                                                                                     "softmax"]
    layers = chart_frame(charts(at)[1])
    assert by(layers, layer_name="hidden1", kind="hidden")["value"] == factory.rank(1, 10.0, 0)
    at.selectbox(key="detail-metric").set_value("probe_acc").run()
    layers = chart_frame(charts(at)[1])
    assert set(layers["dataset"]) == {factory.ID, factory.OOD}
    at = run_page("pages/12_Run_detail.py", run="nope")
    assert "No run 'nope'" in texts(at)


def test_rank_page(use_home):
    at = run_page("pages/2_Rank.py")
    no_exceptions(at)
    layers, grid, sr = (chart_frame(c) for c in charts(at))
    assert by(layers, temperature=10.0, layer_name="hidden3")["mean"] == pytest.approx(factory.expected_rank_mean(3, 10))
    assert by(sr, temperature=1.0)["mean"] == 9 and by(sr, temperature=10.0)["mean"] == 8
    assert by(sr, temperature=10.0)["n"] == 2
    # the layer x epoch heatmap: every analysed epoch, one facet per temperature, n in the column titles
    assert by(grid, temperature=10.0, layer_name="hidden3", epoch=0)["mean"] == pytest.approx(
        factory.expected_rank_mean(3, 10) + 50)
    assert set(grid["Tn"]) == {"T=1 (n=2)", "T=10 (n=2)"}
    assert spec(charts(at)[1])["facet"]["column"]["field"] == "Tn"
    # the solution rank axis: whole-number ticks, never "10.000000"
    axis = _y(spec(charts(at)[2]))["axis"]
    assert axis["format"] == "d" and axis["tickMinStep"] == 1
    at.selectbox(key="rank-epoch").set_value(0).run()
    no_exceptions(at)
    els = charts(at)
    layers = chart_frame(els[0])
    assert by(layers, temperature=10.0, layer_name="hidden3")["mean"] == pytest.approx(
        factory.expected_rank_mean(3, 10) + 50)
    # the epoch picker reaches the solution rank: it was measured at epoch 2 only, and the page says so
    assert len(els) == 2
    assert "No solution rank was measured at epoch 0 (measured at epoch(s) 2)" in texts(at)
    at.selectbox(key="rank-epoch").set_value(2).run()
    assert by(chart_frame(charts(at)[2]), temperature=10.0)["mean"] == 8


def test_probes_page(use_home):
    at = run_page("pages/3_Probes.py")
    no_exceptions(at)
    els = charts(at)
    assert len(els) == 3
    # the accuracy axis spans the values (so differences show) unless "full 0-1 range" is on
    assert _y(spec(els[0]))["scale"] == {"zero": False, "padding": 8}
    at.toggle(key="probe-full").set_value(True).run()
    assert _y(spec(charts(at)[0]))["scale"] == {"domain": [0, 1]}
    ood = chart_frame(els[1])
    assert set(ood["dataset"]) == {factory.OOD}
    assert by(ood, temperature=1.0, layer_name="hidden0")["mean"] == pytest.approx(
        sum(factory.probe(0, 1.0, s, True) for s in factory.SEEDS) / 2)
    kr = chart_frame(els[2])
    assert by(kr, temperature=10.0, metric="kappa")["mean"] == pytest.approx(99.5)
    assert by(kr, temperature=10.0, metric="rho")["std"] == pytest.approx(math.sqrt(0.5))


def test_kappa_rho_page(use_home):
    at = run_page("pages/4_Kappa_rho.py")
    no_exceptions(at)
    scatter = chart_frame(charts(at)[0])
    assert scatter.height == 4  # 2 archs x 2 temperatures, CE only by default
    p = by(scatter, arch="resnet18", temperature=10.0)
    assert (p["kappa"], p["rho"], p["sr"], p["n"]) == (pytest.approx(99.5), pytest.approx(11.5), 8, 2)
    assert p["kappa_lo"] == pytest.approx(99.5 - math.sqrt(0.5))
    table = at.dataframe[0].value
    assert list(table.columns) == ["model, data", "T=1", "T=10"]
    assert table.set_index("model, data").loc["mlp, digits", "T=10"] == "100/12/8"
    at.multiselect(key="kr-loss").set_value(["mse"]).run()
    assert chart_frame(charts(at)[0])["kappa"].min() > 1000  # the MSE groups, never mixed with CE


def test_kappa_rho_leaves_out_groups_that_did_not_learn(tmp_path, monkeypatch):
    from warehouse import home

    where = home(tmp_path / "stuck")
    factory.build(where, stuck=(10.0,))  # T = 10 stays at chance: its stored verdict says "did not learn"
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/4_Kappa_rho.py")
    no_exceptions(at)
    assert set(chart_frame(charts(at)[0])["temperature"].to_list()) == {1.0}
    assert "1 group(s) where no run learned (mlp T=10): left out" in at.warning[0].value
    at.selectbox(key="kr-unlearned").select("show").run()
    assert set(chart_frame(charts(at)[0])["temperature"].to_list()) == {1.0, 10.0}


def test_logits_norm_page(use_home):
    from app import charts as ch

    at = run_page("pages/5_Logits_norm.py")
    no_exceptions(at)
    panels, init = charts(at)
    frame = chart_frame(panels)
    assert by(frame, temperature=10.0, epoch=2, quantity="logits_norm")["mean"] == pytest.approx(3.0)
    # the norm on a log axis with readable ticks (values 1 ... 30: 1, 2, 5, 10, 20 within the values' span), never
    # symlog. The page's spec is the live one (charts.curve_panels_spec): its range comes from the data inside Vega
    # and its tick list is the 1-2-5 list, which Vega cuts to that range
    s = spec(panels)
    norm = _y(_panels(s)[0])
    values = frame.filter(pl.col("quantity") == "logits_norm").select("mean", "lo", "hi").to_numpy().ravel()
    lo, hi = ch.log_domain(min(v for v in values if v == v), max(v for v in values if v == v))
    assert norm["scale"]["type"] == "log" and norm["scale"]["nice"] is False
    assert [t for t in norm["axis"]["values"] if lo <= t <= hi] == [1, 2, 5, 10, 20]
    assert "symlog" not in str(s) and s["resolve"]["scale"]["y"] == "independent"
    assert by(frame, temperature=10.0, epoch=1, quantity="rank_post_softmax")["mean"] == pytest.approx(4.0)
    assert by(frame, temperature=1.0, epoch=1, quantity="rank_pre_softmax")["n"] == 2
    points = chart_frame(init)
    assert points.height == 2 * 2 * 3  # one point per (arch, init, seed)


def test_curves_page(use_home):
    at = run_page("pages/14_Curves.py")
    no_exceptions(at)
    (el,) = charts(at)
    frame = chart_frame(el)
    assert set(frame["quantity"]) == {"train_loss", "train_acc", "test_acc", "logits_norm", "rank_pre_softmax",
                                      "rank_post_softmax"}
    # seed means per temperature: test_acc = 0.6 + 0.1 * epoch - 0.001 * T for both seeds
    row = by(frame, temperature=10.0, epoch=1, quantity="test_acc")
    assert row["mean"] == pytest.approx(0.69) and row["n"] == 2 and row["Tn"] == "T=10 (n=2)"
    assert by(frame, temperature=1.0, epoch=2, quantity="logits_norm")["mean"] == pytest.approx(30.0)
    # one panel per quantity, each with its own y scale; losses/norms/ranks on log axes, accuracies linear
    s = spec(el)
    panels = _panels(s)
    assert [p["title"] for p in panels] == ["train loss", "train accuracy", "test accuracy", "logits norm ‖z‖₂",
                                            "rank before softmax", "rank after softmax(z/T)"]
    assert s["resolve"]["scale"]["y"] == "independent"
    types = [_y(p)["scale"].get("type", "linear") for p in panels]
    assert types == ["log", "linear", "linear", "log", "log", "log"]
    assert "n = 2 seeds per point" in " ".join(c.value for c in at.caption)  # above the chart, not in its spec
    assert "title" not in s  # the selection's description too: a spec that changes with it would be re-compiled
    at.toggle(key="curves-log").set_value(False).run()
    assert all("type" not in _y(p)["scale"] for p in _panels(spec(charts(at)[0])))
    # smoothing: the trailing mean of 2 epochs; the unsmoothed mean is kept beside it
    at.selectbox(key="curves-smooth").set_value("rolling mean").run()
    at.slider(key="curves-window").set_value(2).run()
    no_exceptions(at)
    row = by(chart_frame(charts(at)[0]), temperature=1.0, epoch=1, quantity="train_loss")
    assert row["mean"] == pytest.approx((1.0 + 0.5) / 2) and row["raw"] == pytest.approx(0.5)


def test_one_seed_shows_no_spread(tmp_path, monkeypatch):
    """n = 1: no std, no band, no '± 0' in tooltips, and n = 1 in the legend and the caption."""
    from warehouse import home

    monkeypatch.setattr(factory, "SEEDS", (0,))
    where = home(tmp_path / "one-seed")
    factory.build(where)
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/14_Curves.py")
    no_exceptions(at)
    frame = chart_frame(charts(at)[0])
    assert frame["std"].is_null().all() and frame["lo"].is_null().all() and frame["hi"].is_null().all()
    assert set(frame["Tn"]) == {"T=1 (n=1)", "T=10 (n=1)"}
    assert not frame["stat"].str.contains("±").any()
    assert by(frame, temperature=1.0, epoch=1, quantity="test_acc")["stat"] == "0.699 (n=1)"
    assert "n = 1 seed per point (no band where n = 1" in " ".join(c.value for c in at.caption)
    at = run_page("pages/2_Rank.py")
    no_exceptions(at)
    layers = chart_frame(charts(at)[0])
    assert layers["std"].is_null().all() and layers["lo"].is_null().all()


def test_alignment_page(use_home):
    at = run_page("pages/6_Alignment.py")
    no_exceptions(at)
    low, high, matrix, matrix_high = (chart_frame(c) for c in charts(at))
    assert set(low["temperature"]) == {1.0} and set(high["temperature"]) == {10.0}
    # side by side at the last epoch: the T=10 run's diagonal is 0.1 * 2 * 10/10 = 0.2 above the T=1 run's 0.02
    diag = lambda m: m.filter(pl.col("i") == pl.col("j"))["cosine"].mean()  # noqa: E731
    assert diag(matrix_high) - diag(matrix) == pytest.approx(0.18)
    # diagonal of the top 5: 0.1 * epoch * T/10 + 0.01 * ((2i) % 3) for i < 5 -> mean offset 0.01
    assert by(high, epoch=2, layer_name="hidden1")["value"] == pytest.approx(0.2 + 0.01)
    assert by(low, epoch=2, layer_name="hidden1")["value"] == pytest.approx(0.02 + 0.01)
    assert matrix.height == 225 and set(matrix["i"]) == set(range(15))
    at.slider(key="align-top").set_value(1).run()
    assert by(chart_frame(charts(at)[1]), epoch=2, layer_name="hidden1")["value"] == pytest.approx(0.2)


def test_geometry_page(use_home):
    at = run_page("pages/7_Geometry_OOD.py")
    no_exceptions(at)
    els = charts(at)
    sample = chart_frame(els[0])
    assert by(sample, temperature=10.0, layer_name="hidden0")["mean"] == pytest.approx(0.1)
    nc = chart_frame(els[2])
    assert by(nc, temperature=1.0, metric="nc4")["mean"] == pytest.approx(0.05)
    auroc = chart_frame(els[4])
    assert by(auroc, temperature=10.0, score="msp")["mean"] == pytest.approx(0.8)
    assert set(auroc["score"]) == {"msp", "energy", "neco"}
    fpr = chart_frame(els[5])
    assert by(fpr, temperature=1.0, score="msp")["mean"] == pytest.approx(0.49)


def test_theory_page_and_math(tmp_path, monkeypatch):
    import numpy as np

    from app import theory

    k1 = theory.prop_k1(6, np.geomspace(0.01, 100, 30), rule="appendix")
    assert k1["rank"][0] < 6 and k1["rank"][-1] == 6  # rank-2 B, full-rank softmax(cB) for large c
    assert (k1["rank"].diff().drop_nulls() >= 0).all()
    pairs, spec = theory.column_softmax_sweep(theory.rank1_matrix(5, 0), np.geomspace(0.01, 100, 25))
    assert (spec["gap"] <= spec["bound"] + 1e-9).all()  # Prop. J.2
    cold = pairs.filter(pl.col("T") == pairs["T"].min())
    assert cold.filter(pl.col("same_argmax"))["inner"].min() > cold.filter(~pl.col("same_argmax"))["inner"].max()
    monkeypatch.setenv("THERMOSCOPE_HOME", str(tmp_path / "none"))  # the demos need no warehouse
    at = run_page("pages/8_Theory.py")
    no_exceptions(at)
    assert len(charts(at)) >= 6
    before = at.metric[0].value
    at.slider(key="k1-c").set_value(0.0).run()
    assert at.metric[0].value != before


def test_theory_page_shows_stored_rows(use_home):
    at = run_page("pages/8_Theory.py")
    stored = [chart_frame(c) for c in charts(at) if "experiment" in chart_frame(c).columns]
    assert stored and set(stored[0]["experiment"]) == {"prop_k1"}


def test_paper_check_flags_differences(tmp_path, monkeypatch):
    from warehouse import home

    monkeypatch.setattr(factory, "OOD", "svhn")  # the paper's ρ for CIFAR is on SVHN
    where = home(tmp_path / "paper")
    factory.build(where, archs=("resnet18",), dataset="cifar10")
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/9_Paper_check.py")
    no_exceptions(at)
    assert [m.value for m in at.metric] == ["6", "2"]  # κ, ρ, SR at T=1 and T=10; κ and ρ at T=10 are off
    frame = chart_frame(charts(at)[0])
    row = by(frame, slot="T=10", quantity="κ")
    assert (row["paper"], row["measured"], row["flag"]) == (88.0, pytest.approx(99.5), True)
    assert by(frame, slot="T=1", quantity="ρ")["flag"] is False  # 10.6 vs 8: within 5 points


def test_paper_check_needs_the_papers_ood_set_for_rho(tmp_path, monkeypatch):
    from warehouse import home

    where = home(tmp_path / "paper-shapes")
    factory.build(where, archs=("resnet18",), dataset="cifar10")  # OOD = shapes: ρ is not the paper's ρ
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/9_Paper_check.py")
    no_exceptions(at)
    assert [m.value for m in at.metric] == ["4", "1"]  # κ and SR only; κ at T=10 is off
    assert set(chart_frame(charts(at)[0])["quantity"]) == {"κ", "SR"}


def test_paper_check_without_paper_configs(use_home):
    at = run_page("pages/9_Paper_check.py")
    no_exceptions(at)
    assert "None of the paper's configurations" in texts(at)


def test_sql_console(use_home):
    at = run_page("pages/10_SQL.py")
    no_exceptions(at)
    at.text_area(key="sql-text").set_value("SELECT count(*) AS n FROM runs WHERE temperature = 10")
    next(b for b in at.button if b.label == "Run").click().run()
    assert at.dataframe[-1].value["n"].tolist() == [8]
    at.text_area(key="sql-text").set_value("SELECT * FROM read_csv('/etc/passwd')")
    next(b for b in at.button if b.label == "Run").click().run()
    assert at.error, "reading a file must be refused"


def test_every_chart_offers_csv_png_svg(use_home):
    from app import charts as ch

    at = run_page("Home.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("CSV") == len(charts(at)) == labels.count("PNG") == labels.count("SVG")
    frame = chart_frames(charts(at)[0])[0]
    png = ch.to_png(ch.layer_band_chart(frame, y_title="rank"))
    svg = ch.to_svg(ch.layer_band_chart(frame, y_title="rank"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg[:200]


def test_paper_table_6_mse_mapping():
    """Table 6's 'low logits norm' row is matched to the largest T > 1 among the MSE runs (our mapping)."""
    from app import paper

    measured = pl.DataFrame({
        "config_group": ["a", "b", "c"], "arch": ["resnet34"] * 3, "dataset": ["cifar100"] * 3, "loss": ["mse"] * 3,
        "temperature": [1.0, 5.0, 20.0], "kappa": [100.0, 95.0, 90.0], "kappa_std": [0.0, 1.0, 1.0],
        "rho": [10.0, 15.0, 40.0], "rho_std": [1.0, 1.0, 1.0], "sr": [99.0, 97.0, 95.0], "sr_std": [0.0] * 3,
        "n": [3, 3, 3],
    })
    cmp = paper.compare(measured)
    assert set(cmp["slot"]) == {"baseline", "low_norm"}
    low = cmp.filter((pl.col("slot") == "low_norm") & (pl.col("quantity") == "ρ")).row(0, named=True)
    assert (low["temperature"], low["paper"], low["measured"], low["flag"]) == (20.0, 20.0, 40.0, True)
    base = cmp.filter((pl.col("slot") == "baseline") & (pl.col("quantity") == "κ")).row(0, named=True)
    assert (base["paper"], base["measured"], base["flag"]) == (100.0, 100.0, False)
    assert len(paper.reported().filter(pl.col("model") == "ResNet-20, CIFAR-10")) == 3  # "—" cell skipped


@pytest.mark.parametrize("page", ["pages/14_Curves.py", "pages/2_Rank.py", "pages/5_Logits_norm.py"])
def test_pages_split_lines_by_the_chosen_field(use_home, monkeypatch, page):
    """With a split field (app/ui.py's split_field, left out of the filters), lines of one T differ by dash."""
    from app import ui

    monkeypatch.setattr(ui, "split_field", lambda: "loss", raising=False)
    monkeypatch.setattr(ui, "pick_runs", lambda key, **_: {"arch": factory.ARCH, "dataset": factory.ID})
    at = run_page(page)
    no_exceptions(at)
    el = charts(at)[0]
    frame = chart_frame(el)
    assert set(frame["loss"]) == {"ce", "mse"} and set(frame["split_value"]) == {"ce", "mse"}
    s = str(spec(el))
    assert "'strokeDash'" in s and "'title': 'loss'" in s


def _with_converged_probes(where, unconverged: str) -> None:
    """The factory's runs also probed with the converged protocol (OOD accuracy + 0.3); `unconverged`'s hidden3
    probe stopped at its cap."""
    import json

    from warehouse import write_shard
    from warehouse.ingest import ingest

    for t in factory.TEMPS:
        for seed in factory.SEEDS:
            rid = factory.run_id(factory.ARCH, t, seed)
            bad = rid == unconverged
            rows = [dict(run_id=rid, epoch=2, layer_index=layer, layer_name=f"hidden{layer}", kind="hidden",
                         dataset=factory.OOD, split="test", metric="probe_acc",
                         value=factory.probe(layer, t, seed, True) + 0.3, probe_protocol="converged",
                         probe_iterations=40, probe_train_loss=0.1, probe_train_acc=1.0,
                         probe_grad_norm=0.3 if bad and layer == 3 else 5e-5,
                         probe_converged=not (bad and layer == 3),
                         probe_note="stopped at the iteration cap (1000)" if bad and layer == 3 else "")
                    for layer in range(factory.HIDDEN)]
            write_shard("layer_metrics", rows, owner=rid, name="converged", where=where)
            write_shard("run_metrics", [
                dict(run_id=rid, epoch=2, dataset=factory.ID, metric="kappa", value=50.0, probe_protocol="converged"),
                dict(run_id=rid, epoch=2, dataset=factory.OOD, metric="rho", value=5.0, probe_protocol="converged"),
                dict(run_id=rid, epoch=2, dataset=factory.OOD, metric="probes_converged", value=float(not bad),
                     probe_protocol="converged",
                     detail=json.dumps({"not_converged": {"hidden3": "cap"} if bad else {}}))],
                owner=rid, name="converged", where=where)
    ingest(where)


def test_pages_name_the_probe_protocol_and_leave_out_unconverged_runs(tmp_path, monkeypatch):
    from warehouse import home

    where = home(tmp_path / "protocols")
    factory.build(where)
    bad = factory.run_id(factory.ARCH, 10.0, 1)
    _with_converged_probes(where, bad)
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))

    at = run_page("pages/3_Probes.py")
    no_exceptions(at)
    assert at.selectbox(key="probe-protocol").value == "converged"
    assert any("1 of 4 runs have probes that did not converge" in w.value and "shapes: hidden3" in w.value
               for w in at.warning)
    ood = chart_frame(charts(at)[-2])  # the OOD curves: converged rows only, the unconverged run left out
    assert by(ood, temperature=10.0, layer_name="hidden0")["n"] == 1
    assert by(ood, temperature=1.0, layer_name="hidden0")["mean"] == pytest.approx(
        sum(factory.probe(0, 1.0, s, True) + 0.3 for s in factory.SEEDS) / 2)
    at.selectbox(key="probe-unconverged").select("show").run()
    assert by(chart_frame(charts(at)[-2]), temperature=10.0, layer_name="hidden0")["n"] == 2
    at.selectbox(key="probe-protocol").select("paper").run()
    no_exceptions(at)
    assert by(chart_frame(charts(at)[1]), temperature=1.0, layer_name="hidden0")["mean"] == pytest.approx(
        sum(factory.probe(0, 1.0, s, True) for s in factory.SEEDS) / 2)  # the factory's (pre-v8) rows

    at = run_page("pages/4_Kappa_rho.py")
    no_exceptions(at)
    scatter = chart_frame(charts(at)[0])
    assert set(scatter["temperature"]) == {1.0} and scatter["kappa"].to_list() == [50.0]  # T = 10 left out

    at = run_page("pages/9_Paper_check.py")  # compares paper-protocol numbers only: none of the paper's configs
    no_exceptions(at)

    at = run_page("pages/1_Runs.py")
    no_exceptions(at)
    assert any("1 of 4 runs have probes that did not converge" in w.value and bad[:8] in w.value for w in at.warning)
