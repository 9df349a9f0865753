"""analyse_model end to end on a tiny real MLP: rows fit the warehouse schema, the model's mode is restored, bad
input fails in one line naming the run (and the layer) while keeping the rows already measured."""

import json

import pytest
import torch

from analysis import AnalysisData, AnalysisError, AnalysisSettings, Split, analyse_model, numerical_rank
from tests.analysis.helpers import TinyMLP, blobs, tiny_data
from warehouse.schema import TABLES

FAST = AnalysisSettings(probe_epochs=30, probe_batch=32, alignment_top_k=4)


def test_rows_match_the_warehouse_schema(trained, tmp_home):
    from warehouse import write_shard

    model, data = trained
    model.train()
    rows = analyse_model(model, model.layer_taps(), data, run_id="abc", epoch=7, temperature=2.0, settings=FAST)
    assert model.training  # restored
    assert set(rows) == {"layer_metrics", "run_metrics", "alignment"}
    for table, table_rows in rows.items():
        assert table_rows, table
        cols = set(TABLES[table].column_names)
        for r in table_rows:
            assert set(r) == cols, (table, set(r) ^ cols)
            assert r["run_id"] == "abc" and r["epoch"] == 7
            if "detail" in r:
                json.loads(r["detail"])
        write_shard(table, table_rows, owner="abc", name="analysis-e7")  # the real writer accepts them


def test_layers_and_summaries_are_all_there(trained):
    model, data = trained
    rows = analyse_model(model, model.layer_taps(), data, run_id="r", epoch=1, temperature=1.0, settings=FAST)
    lm = rows["layer_metrics"]
    ranks = {(r["layer_name"], r["kind"]): r for r in lm if r["metric"] == "rank"}
    assert set(ranks) == {("hidden1_pre", "preact"), ("hidden1", "hidden"), ("hidden2_pre", "preact"),
                          ("hidden2", "hidden"), ("hidden3_pre", "preact"), ("hidden3", "hidden"),
                          ("logits", "logits"), ("softmax", "softmax")}
    assert ranks[("logits", "logits")]["layer_index"] == ranks[("softmax", "softmax")]["layer_index"] == 3
    # the stored rank is matrix_rank of the captured matrix: recompute for the logits
    with torch.no_grad():
        z = model(data.id_test.x)
    assert ranks[("logits", "logits")]["value"] == int(torch.linalg.matrix_rank(z))
    assert ranks[("softmax", "softmax")]["value"] == numerical_rank(torch.softmax(z, 1))
    assert ranks[("hidden1_pre", "preact")]["value"] <= 9  # Linear(8 -> 16) with bias: rank ≤ 9
    probes = {(r["layer_name"], r["dataset"]) for r in lm if r["metric"] == "probe_acc"}
    for name in ("hidden1", "hidden2", "hidden3", "logits", "softmax"):
        assert (name, "blobs") in probes and (name, "other") in probes
    assert not any(r["kind"] == "preact" for r in lm if r["metric"] == "probe_acc")
    metrics = {(r["dataset"], r["metric"]) for r in rows["run_metrics"]}
    for m in ("kappa", "solution_rank", "logits_norm", "nc1", "nc2", "nc3", "nc4"):
        assert ("blobs", m) in metrics
    for m in ("rho", "auroc_msp_T", "fpr95_energy", "auroc_neco", "auroc_mahalanobis", "fpr95_mahalanobis"):
        assert ("other", m) in metrics
    # Mahalanobis on hidden3 (ReLU: dead units make Σ singular): kept rank = the PAPER rank rule on the
    # within-class-centred ID-train features, recomputed here from a forward hook
    md = json.loads(next(r for r in rows["run_metrics"] if r["metric"] == "auroc_mahalanobis")["detail"])
    got = []
    hook = model.acts[2].register_forward_hook(lambda m, i, o: got.append(o.detach()))
    with torch.no_grad():
        model(data.id_train.x)
    hook.remove()
    h, y = got[0].double(), data.id_train.y
    centred = h - torch.stack([h[y == c].mean(0) for c in range(3)])[y]
    eps32 = torch.finfo(torch.float32).eps
    assert md["num_classes"] == 3 and md["feature_layer"] == "hidden3"
    assert md["kept_rank"] == int(torch.linalg.matrix_rank(centred, rtol=max(centred.shape) * eps32))
    sr = next(r for r in rows["run_metrics"] if r["metric"] == "solution_rank")
    assert sr["value"] == int(torch.linalg.matrix_rank(z))
    kd = json.loads(next(r for r in rows["run_metrics"] if r["metric"] == "kappa")["detail"])
    assert kd["layers"] == ["hidden1", "hidden2", "hidden3"] and kd["D"] == 3 and kd["tau"] == 0.95
    id_curve = [next(r["value"] for r in lm if r["metric"] == "probe_acc" and r["dataset"] == "blobs"
                     and r["layer_name"] == name) for name in kd["layers"]]
    assert kd["curve"] == id_curve  # κ is computed from the stored per-layer curve
    kappa_row = next(r for r in rows["run_metrics"] if r["metric"] == "kappa")
    assert kappa_row["value"] == 100.0 * kd["k"] / 3
    assert id_curve[kd["k"] - 1] >= 0.95 * max(id_curve) and all(a < 0.95 * max(id_curve) for a in id_curve[:kd["k"] - 1])
    rd = json.loads(next(r for r in rows["run_metrics"] if r["metric"] == "rho")["detail"])
    rho_row = next(r for r in rows["run_metrics"] if r["metric"] == "rho")
    assert rho_row["value"] == pytest.approx(100 * (max(rd["curve"]) - rd["curve"][-1]) / max(rd["curve"]))
    assert rd["last_hidden"] == "hidden3"
    # 4 tapped weights (3 hidden Linear + head) -> a k×k block each
    assert {r["layer_name"] for r in rows["alignment"]} == {"hidden1", "hidden2", "hidden3", "logits"}


def test_feature_cap_uses_a_recorded_seeded_subset(trained):
    model, data = trained
    s = AnalysisSettings(probe_epochs=2, probe_batch=64, max_features=10, max_samples=50, alignment_top_k=0,
                         ood_detection=False)
    rows = analyse_model(model, model.layer_taps(), data, run_id="r", epoch=1, temperature=1.0, settings=s)
    hid = [r for r in rows["layer_metrics"] if r["layer_name"] == "hidden2" and r["metric"] == "rank"][0]
    detail = json.loads(hid["detail"])
    assert hid["n_features"] == 10 and detail["features_total"] == 16 and detail["feature_subset"] is True
    assert hid["n_samples"] == 50 and detail["samples_total"] == 90
    again = analyse_model(model, model.layer_taps(), data, run_id="r", epoch=1, temperature=1.0, settings=s)
    assert again["layer_metrics"] == rows["layer_metrics"]  # same subsets, same probes: identical rows


def test_no_taps_empty_and_single_class_fail_in_one_line():
    model, data = TinyMLP(), tiny_data(ood=False)
    with pytest.raises(AnalysisError, match=r"^run r9 epoch 2: .*no layer taps") as e:
        analyse_model(model, [], data, run_id="r9", epoch=2, temperature=1.0, settings=FAST)
    assert "\n" not in str(e.value)
    empty = Split(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(AnalysisError, match="run r9 .*'blobs' test split is empty"):
        analyse_model(model, model.layer_taps(), AnalysisData("blobs", data.id_train, empty),
                      run_id="r9", epoch=2, temperature=1.0, settings=FAST)
    one = Split(data.id_train.x, torch.zeros_like(data.id_train.y))
    with pytest.raises(AnalysisError, match="single class"):
        analyse_model(model, model.layer_taps(), AnalysisData("blobs", one, data.id_test),
                      run_id="r9", epoch=2, temperature=1.0, settings=FAST)


def test_nan_activations_name_the_layer_and_keep_earlier_rows():
    model, data = TinyMLP(), tiny_data(ood=False)
    with torch.no_grad():
        model.lins[1].weight[0, 0] = float("nan")  # hidden2 onwards is NaN, hidden1 is fine
    s = AnalysisSettings(probe_epochs=2, probe_batch=64, memory_budget_mb=0)  # one layer per chunk
    # the logits are NaN too, and they are measured first: the failure names them
    with pytest.raises(AnalysisError, match=r"^run bad epoch 0: layer logits \(logits, index 3\) has NaN/inf activations on blobs train;") as e:
        analyse_model(model, model.layer_taps(), data, run_id="bad", epoch=0, temperature=1.0, settings=s)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed on failure too

    # a model whose head is fine but a hidden layer is not: earlier layers' rows are kept
    class Broken(TinyMLP):
        def forward(self, x):
            x = x.flatten(1)
            x = self.acts[0](self.lins[0](x))
            h2 = self.acts[1](self.lins[1](x))
            self.acts[2](self.lins[2](h2 * float("nan")))
            return self.head(x @ torch.ones(16, 16) / 16)

    broken = Broken()
    with pytest.raises(AnalysisError, match="layer hidden3_pre") as e:
        analyse_model(broken, broken.layer_taps(), data, run_id="bad", epoch=0, temperature=1.0, settings=s)
    kept = e.value.rows["layer_metrics"]
    assert {r["layer_name"] for r in kept if r["metric"] == "rank"} >= {"hidden1", "hidden2"}
    assert any(r["metric"] == "solution_rank" for r in e.value.rows["run_metrics"])


def test_probe_reaches_full_accuracy_on_separable_data_end_to_end():
    torch.manual_seed(1)
    model = TinyMLP(d_in=8, width=32)
    data = AnalysisData("sep", blobs(200, 8, 3, seed=1, sep=8.0), blobs(100, 8, 3, seed=2, sep=8.0))
    s = AnalysisSettings(probe_epochs=200, probe_batch=64, probe_lr=1e-2, alignment_top_k=0)
    rows = analyse_model(model, model.layer_taps(), data, run_id="s", epoch=0, temperature=1.0, settings=s)
    acc = {r["layer_name"]: r["value"] for r in rows["layer_metrics"] if r["metric"] == "probe_acc"}
    assert acc["hidden1"] == 1.0  # the blobs are 8 standard deviations apart: linearly separable


class TinyCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.act1 = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU()
        self.conv2, self.act2 = torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU()
        self.head = torch.nn.Linear(6 * 6 * 6, 3)

    def forward(self, x):
        return self.head(self.act2(self.conv2(self.act1(self.conv1(x)))).flatten(1))

    def layer_taps(self):
        from analysis import LayerTap

        return [LayerTap("conv1", self.act1, pre_module=self.conv1, weight_module=self.conv1),
                LayerTap("conv2", self.act2, pre_module=self.conv2, weight_module=self.conv2),
                LayerTap("logits", self.head, "logits", weight_module=self.head)]


def test_conv_maps_are_flattened_capped_and_aligned_through_patches():
    torch.manual_seed(0)
    model = TinyCNN()
    flat = blobs(150, 36, 3, seed=1)
    flat_te = blobs(90, 36, 3, seed=2)
    data = AnalysisData("img", Split(flat.x.view(-1, 1, 6, 6), flat.y), Split(flat_te.x.view(-1, 1, 6, 6), flat_te.y))
    s = AnalysisSettings(probe_epochs=3, probe_batch=64, max_features=100, alignment_top_k=5)
    rows = analyse_model(model, model.layer_taps(), data, run_id="cnn", epoch=0, temperature=1.0, settings=s)
    rank = {r["layer_name"]: r for r in rows["layer_metrics"] if r["metric"] == "rank"}
    assert rank["conv1"]["n_features"] == 100 and json.loads(rank["conv1"]["detail"])["features_total"] == 4 * 36
    assert rank["conv2"]["n_features"] == 100 and rank["logits"]["n_features"] == 3
    blocks = {}
    for r in rows["alignment"]:
        blocks.setdefault(r["layer_name"], set()).add((r["i"], r["j"]))
    # conv1 reads 1·3·3 = 9 patch features and has 4 filters: k = min(5, 4, 9) = 4; conv2: min(5, 6, 36) = 5
    assert len(blocks["conv1"]) == 16 and len(blocks["conv2"]) == 25 and len(blocks["logits"]) == 9


def test_batchnorm_statistics_and_weights_are_untouched():
    from analysis import LayerTap

    torch.manual_seed(0)
    lin, bn, act, head = torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    model = torch.nn.Sequential(lin, bn, act, head)
    taps = [LayerTap("hidden1", act, pre_module=bn, weight_module=lin), LayerTap("logits", head, "logits")]
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyse_model(model, taps, tiny_data(), run_id="bn", epoch=0, temperature=1.0,
                  settings=AnalysisSettings(probe_epochs=2, probe_batch=64, alignment_top_k=2))
    assert model.training and bn.training  # mode restored
    for k, v in model.state_dict().items():  # eval mode during the analysis: running stats did not move
        assert torch.equal(v, before[k]), k
    assert not any(m._forward_hooks for m in model.modules())  # every hook removed
