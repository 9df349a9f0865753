"""Converged probes against known answers and scikit-learn; the paper protocol against the values it gave before
the converged protocol existed; convergence records, and bad input that spoils one probe, never the run."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from analysis import AnalysisData, AnalysisSettings, Split, analyse_model, train_probes
from analysis.probes import fit_converged, paper_records
from tests.analysis.helpers import TinyMLP
from thermoscope.fields import ConfigError

L2 = 1e-3


def separable(n: int, d: int, classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g) * 0.3
    x[torch.arange(n), y] += 5.0
    return x, y


def mixed(n: int, d: int, classes: int, seed: int, centres_seed: int = 99):
    """Overlapping Gaussian classes (not separable), ReLU'd like a hidden layer; train and test share centres."""
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(centres_seed)) * 0.4
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=g)
    return (centres[y] + torch.randn(n, d, generator=g)).relu(), y


def sklearn_probe(x: torch.Tensor, y: torch.Tensor, l2: float):
    """The independent answer: StandardScaler + LogisticRegression(lbfgs), C = 1/(l2·n) for mean CE + l2/2‖W‖²."""
    xs = x.double().numpy()
    scaler = StandardScaler().fit(xs)
    model = LogisticRegression(C=1.0 / (l2 * x.shape[0]), tol=1e-10, max_iter=20_000).fit(scaler.transform(xs),
                                                                                          y.numpy())
    return scaler, model


def test_separable_classes_reach_train_accuracy_one_and_converge():
    x, y = separable(400, 12, 4, 0)
    xt, yt = separable(200, 12, 4, 1)
    p = fit_converged([x], y, 4, l2=L2, tol=1e-4)[0]
    r = p.record
    assert r.protocol == "converged" and r.converged and r.note == ""
    assert r.train_acc == 1.0 and r.grad_norm <= 1e-4 and 0 < r.iterations < 1000
    assert p.accuracy(xt, yt) == 1.0
    assert r.train_loss < 0.05  # separable with margin: the loss goes near 0, held up only by the penalty


@pytest.mark.parametrize("n,d,classes", [(60, 200, 3), (3000, 20, 10), (4000, 40, 100)],
                         ids=["n<d", "n>>d", "100 classes"])
def test_matches_scikit_learn_logistic_regression(n, d, classes):
    x, y = mixed(n, d, classes, seed=1)
    xt, yt = mixed(1000, d, classes, seed=2)
    if classes == 100:  # every class present in the train rows, as scikit-learn's coef_ has one row per seen class
        y[:classes] = torch.arange(classes)
    tol = 1e-7  # ||g||_2 ≤ 1e-7 ⇒ ||W − W*|| ≤ tol / l2 = 1e-4 (strong convexity)
    p = fit_converged([x], y, classes, l2=L2, tol=tol, max_iter=5000)[0]
    assert p.record.converged, p.record
    scaler, model = sklearn_probe(x, y, L2)
    ours = p.logits(xt).argmax(1).numpy()
    theirs = model.predict(scaler.transform(xt.double().numpy()))
    assert (ours != theirs).mean() <= 0.002  # the same predictions, up to ties at the decision boundary
    assert abs(p.accuracy(xt, yt) - model.score(scaler.transform(xt.double().numpy()), yt.numpy())) <= 0.002
    w_ref = torch.tensor(model.coef_)
    # weights within 1e-3 relative (Frobenius); the bias is defined up to a shared constant: compare centred
    assert float((p.weight.double() - w_ref).norm() / w_ref.norm()) < 1e-3
    b, b_ref = p.bias.double(), torch.tensor(model.intercept_)
    torch.testing.assert_close(b - b.mean(), b_ref - b_ref.mean(), atol=1e-3 * float(b_ref.abs().max()) + 1e-4,
                               rtol=0)
    torch.testing.assert_close(p.mean.double(), torch.tensor(scaler.mean_), rtol=1e-5, atol=1e-6)


def test_too_few_iterations_is_recorded_not_converged():
    x, y = mixed(500, 30, 5, seed=3)
    p = fit_converged([x], y, 5, l2=L2, tol=1e-6, max_iter=3)[0]
    r = p.record
    assert not r.converged and r.iterations == 3 and r.grad_norm > 1e-6
    assert "iteration cap (3)" in r.note and "\n" not in r.note
    full = fit_converged([x], y, 5, l2=L2, tol=1e-6)[0].record
    assert full.converged and full.train_loss < r.train_loss


def test_paper_protocol_reproduces_the_values_it_gave_before():
    """Numbers from the paper-protocol code as it was before the converged protocol (commit 7605f9b)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 12, generator=g)
    y = torch.randint(4, (300,), generator=g)
    p = train_probes([x], y, 4, epochs=7, batch=64, lr=1e-2)[0]
    assert float(p.weight.abs().sum()) == pytest.approx(3.6684627532958984, rel=1e-5)
    torch.testing.assert_close(p.bias, torch.tensor([-0.02245599776506424, 0.03492208197712898,
                                                     -0.010435239411890507, 0.026542821899056435]),
                               atol=1e-6, rtol=1e-5)
    p = paper_records([p], [x], y, steps=35, weight_decay=1e-3, tol=1e-4)[0]
    assert p.record.protocol == "paper" and p.record.iterations == 35 and not p.record.converged
    assert "35 Adam steps" in p.record.note


def test_paper_protocol_in_analyse_model_gives_the_stored_values_of_before(trained):
    model, data = trained
    s = AnalysisSettings(probe_protocol="paper", probe_epochs=30, probe_batch=32, alignment_top_k=0)
    rows = analyse_model(model, model.layer_taps(), data, run_id="r", epoch=1, temperature=1.0, settings=s)
    got = {(r["layer_name"], r["dataset"]): r["value"] for r in rows["layer_metrics"] if r["metric"] == "probe_acc"}
    before = {("hidden1", "blobs"): 1.0, ("hidden2", "blobs"): 1.0, ("hidden3", "blobs"): 1.0,
              ("logits", "blobs"): 1.0, ("softmax", "blobs"): 1.0, ("hidden1", "other"): 0.9833333333333333,
              ("hidden2", "other"): 0.8833333333333333, ("hidden3", "other"): 0.7666666666666667,
              ("logits", "other"): 0.7333333333333333, ("softmax", "other"): 0.8}
    assert got == pytest.approx(before, abs=1e-9)
    summary = {(r["dataset"], r["metric"]): (r["value"], r["probe_protocol"]) for r in rows["run_metrics"]
               if r["metric"] in ("kappa", "rho")}
    assert summary[("blobs", "kappa")] == (pytest.approx(33.333333333333336), "paper")
    assert summary[("other", "rho")] == (pytest.approx(22.033898305084737), "paper")


def _hidden(model: TinyMLP, x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for lin, act in zip(model.lins, model.acts):
            x = act(lin(x))
            out.append(x)
    return out


def test_both_protocols_on_every_layer_of_a_real_tiny_run(trained):
    model, data = trained
    s = AnalysisSettings(probe_protocol="both", probe_epochs=30, probe_batch=32, alignment_top_k=0, probe_tol=1e-6)
    rows = analyse_model(model, model.layer_taps(), data, run_id="r", epoch=1, temperature=1.0, settings=s)
    probes = [r for r in rows["layer_metrics"] if r["metric"] == "probe_acc"]
    assert {r["probe_protocol"] for r in probes} == {"converged", "paper"}
    assert len(probes) == 2 * 5 * 2  # two protocols × 5 probed layers × (ID, OOD)
    for r in probes:
        assert r["probe_iterations"] > 0 and math.isfinite(r["probe_train_loss"]) and r["probe_grad_norm"] >= 0
        assert 0 <= r["probe_train_acc"] <= 1
        if r["probe_protocol"] == "converged":
            assert r["probe_converged"] and r["probe_grad_norm"] <= 1e-6, r
    others = [r for r in rows["layer_metrics"] if r["metric"] != "probe_acc"]
    assert all(r["probe_protocol"] is None for r in others)
    # the converged OOD probes of the hidden layers agree with scikit-learn on the same features
    ood_tr, ood_te = data.ood["other"]
    for i, (htr, hte) in enumerate(zip(_hidden(model, ood_tr.x), _hidden(model, ood_te.x))):
        scaler, ref = sklearn_probe(htr, ood_tr.y, L2)
        ref_acc = ref.score(scaler.transform(hte.double().numpy()), ood_te.y.numpy())
        ours = next(r["value"] for r in probes if r["layer_name"] == f"hidden{i + 1}" and r["dataset"] == "other"
                    and r["probe_protocol"] == "converged")
        assert ours == pytest.approx(ref_acc, abs=1.5 / ood_te.y.numel()), i  # at most one test row apart
    summaries = {(r["dataset"], r["metric"], r["probe_protocol"]) for r in rows["run_metrics"]
                 if r["probe_protocol"] is not None}
    for protocol in ("converged", "paper"):
        assert {("blobs", "kappa", protocol), ("other", "rho", protocol), ("blobs", "probes_converged", protocol),
                ("other", "probes_converged", protocol)} <= summaries
    conv = {(r["dataset"], r["probe_protocol"]): r["value"] for r in rows["run_metrics"]
            if r["metric"] == "probes_converged"}
    assert conv[("blobs", "converged")] == 1.0 and conv[("other", "converged")] == 1.0
    assert conv[("other", "paper")] == 0.0  # 90 rows, batch 32: 90 Adam steps do not reach 1e-6


def test_bad_inputs_are_one_line_in_the_record():
    x, y = mixed(300, 10, 3, seed=4)
    x[:, 2] = 0.0  # a dead unit
    x[:, 5] = 7.0  # a constant feature
    p = fit_converged([x, torch.zeros(300, 4)], y, 3, l2=L2, tol=1e-5)
    assert p[0].record.converged and p[0].record.note.startswith("2 of 10 features constant")
    assert float(p[0].weight[:, [2, 5]].abs().max()) == 0.0
    xt, yt = mixed(200, 10, 3, seed=5)
    assert math.isfinite(p[0].accuracy(xt, yt))
    assert p[1].record.note.startswith("4 of 4 features constant")  # nothing to learn: predicts the bias' class
    nan_x = x.clone()
    nan_x[3, 1] = float("nan")
    one_class = torch.zeros(300, dtype=torch.long)
    bad = fit_converged([nan_x], y, 3) + fit_converged([x], one_class, 3)
    assert "NaN/inf in 1 of 300 train rows" in bad[0].record.note
    assert "single class (0)" in bad[1].record.note
    for b in bad:
        assert not b.record.converged and "\n" not in b.record.note and math.isnan(b.accuracy(xt, yt))


def test_a_single_class_ood_split_spoils_only_its_own_probes(trained):
    model, data = trained
    tr, te = data.ood["other"]
    broken = AnalysisData(data.id_name, data.id_train, data.id_test,
                          {"other": data.ood["other"], "mono": (Split(tr.x, torch.zeros_like(tr.y)), te)})
    rows = analyse_model(model, model.layer_taps(), broken, run_id="r", epoch=1, temperature=1.0,
                         settings=AnalysisSettings(alignment_top_k=0))
    mono = [r for r in rows["layer_metrics"] if r["dataset"] == "mono"]
    assert mono and all(not r["probe_converged"] and "single class" in r["probe_note"] for r in mono)
    assert all(math.isnan(r["value"]) for r in mono)
    metrics = {(r["dataset"], r["metric"]) for r in rows["run_metrics"]}
    assert ("other", "rho") in metrics and ("blobs", "kappa") in metrics and ("mono", "rho") not in metrics
    assert ("mono", "probes_converged") in metrics


def test_probe_settings_are_checked():
    assert AnalysisSettings().probe_protocol == "converged"
    assert AnalysisSettings(probe_protocol="both").probe_protocols() == ("converged", "paper")
    with pytest.raises(ConfigError, match="probe_protocol must be one of converged, paper, both"):
        AnalysisSettings(probe_protocol="sgd")
    with pytest.raises(ConfigError, match="probe_tol"):
        AnalysisSettings(probe_tol=0.0)
    assert AnalysisSettings.from_dict({"probe_protocol": "paper", "probe_l2": "1e-4"}).probe_l2 == 1e-4

