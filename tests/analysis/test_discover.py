"""Layer taps found automatically (analysis/discover.py): the same representations as hand-written taps,
each call of a reused activation separately, timm's feature points, functional activations, filters."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis import AnalysisSettings, analyse_model, discover_taps, model_taps
from analysis.capture import capture, reps_from_taps
from analysis.discover import TapError
from tests.analysis.helpers import tiny_data


def reps(tapset, x: torch.Tensor, kinds=("hidden", "logits")) -> list[torch.Tensor]:
    """The tap set's representations of `x`, input side first, as the analysis captures them."""
    wanted = [r for r in reps_from_taps(tapset.taps) if r.kind in kinds]
    got = capture(tapset.model.eval(), wanted, x, temperature=1.0, feature_index={})
    return [got[r.key] for r in wanted]


def registry_model(arch: str, shape: tuple[int, int, int]):
    from training.config import make_config
    from training.models import ModelSpec, build_model

    return build_model(make_config(preset="demo", arch=arch, width=32, depth=3), ModelSpec(5, shape)).eval()


@pytest.mark.parametrize("arch, shape", [("mlp", (1, 8, 8)), ("resnet18", (3, 8, 8))])
def test_discovered_taps_of_registry_models_give_the_hand_written_representations(arch, shape):
    model = registry_model(arch, shape)
    x = torch.randn(6, *shape)
    declared = model_taps(model, x)
    found = discover_taps(model, x)
    assert declared.method == "declared" and found.method == "fx"
    assert len(found.taps) == len(declared.taps)  # MLP 3 + logits; ResNet-18 18 (pool included) + logits
    for mine, theirs in zip(reps(found, x), reps(declared, x), strict=True):
        assert torch.equal(mine, theirs)
    # the weight each tap's input meets is the hand-written one (the alignment measures it)
    assert [t.weight_module for t in found.taps] == [t.weight_module for t in declared.taps]


def test_a_reused_relu_is_read_at_each_call_and_equals_the_block_computed_by_hand():
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(3, 3, 16, 16)
    found = discover_taps(model, x)
    names = found.names
    assert names[:3] == ["relu", "layer1.0.relu", "layer1.0.relu_1"] and names[-2:] == ["flatten", "logits"]
    assert len(names) == 1 + 16 + 1 + 1
    values = dict(zip(names, reps(found, x)))
    with torch.no_grad():  # BasicBlock by hand: relu(bn1(conv1)) inside, relu(bn2(conv2(.)) + identity) out
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        block = model.layer1[0]
        inner = block.relu(block.bn1(block.conv1(stem)))
        out = torch.relu(block.bn2(block.conv2(inner)) + stem)
    assert torch.allclose(values["layer1.0.relu"], inner.flatten(1))
    assert torch.allclose(values["layer1.0.relu_1"], out.flatten(1))
    assert torch.allclose(values["logits"], model(x))
    pre = [r for r in reps_from_taps(found.taps) if r.kind == "preact" and r.layer_name == "layer1.0.relu_1_pre"]
    got = capture(found.model, pre, x, temperature=1.0, feature_index={})[pre[0].key]
    assert torch.allclose(got, (block.bn2(block.conv2(inner)) + stem).flatten(1))  # the sum, before the ReLU


def test_timm_vit_taps_are_its_feature_points_as_forward_intermediates_returns_them():
    import timm

    model = timm.create_model("test_vit", pretrained=False, num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    found = discover_taps(model, x)
    assert found.method == "timm"
    assert found.names == [f["module"] for f in model.feature_info] + ["head_drop", "logits"]
    blocks = reps(found, x)[: len(model.feature_info)]
    with torch.no_grad():
        _, inter = model.forward_intermediates(x, output_fmt="NLC")
    prefix = model.num_prefix_tokens
    for tapped, theirs in zip(blocks, inter, strict=True):
        tokens = tapped.view(2, -1, theirs.shape[-1])
        assert torch.allclose(tokens[:, prefix:], theirs)


def test_timm_cnn_stages_end_in_a_relu_so_auto_takes_every_relu_which_contains_them():
    import timm

    model = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    found = discover_taps(model, x)
    assert found.method == "fx"
    assert discover_taps(model, x, method="timm").method == "timm"  # asked for, the coarse points
    values = reps(found, x)
    with torch.no_grad():
        inter = model.forward_intermediates(x, intermediates_only=True)
    for stage in inter:
        assert any(v.shape == stage.flatten(1).shape and torch.equal(v, stage.flatten(1)) for v in values)


class Functional(nn.Module):
    """Non-linearities as functions: no activation module for a hook to find."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.head(torch.tanh(F.relu(self.b(F.gelu(self.a(x))))))


class Branchy(nn.Module):
    """Data-dependent control flow: FX cannot trace it, the hooks still read its ReLUs."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.act, self.head = nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)

    def forward(self, x):
        h = self.act(self.a(x))
        if h.sum() > -1e9:
            h = h * 1.0
        return self.head(h)


def test_functional_activations_are_found_by_fx_and_untraceable_models_fall_back_to_hooks():
    x = torch.randn(4, 8)
    model = Functional().eval()
    found = discover_taps(model, x)
    assert found.method == "fx" and found.names == ["gelu", "relu", "tanh", "logits"]
    with torch.no_grad():
        expected = torch.tanh(F.relu(model.b(F.gelu(model.a(x)))))
    assert torch.allclose(reps(found, x)[2], expected)
    assert discover_taps(model, x, method="hooks").names == ["logits"]  # invisible to hooks

    branchy = Branchy().eval()
    found = discover_taps(branchy, x)
    assert found.method == "hooks" and found.names == ["act", "logits"]
    assert found.taps[0].pre_module is branchy.a and found.taps[0].weight_module is branchy.a
    assert found.taps[1].module is branchy.head


def test_select_keeps_taps_by_glob_and_always_the_logits_and_describe_lists_them():
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(2, 3, 16, 16)
    found = discover_taps(model, x)
    some = found.select(include=["layer4.*"], exclude=["*relu_1"])
    assert some.names == ["layer4.0.relu", "layer4.1.relu", "logits"]
    with pytest.raises(TapError, match="no layer tap matches"):
        found.select(include=["nothing*"])
    lines = some.describe(x)
    assert lines[0] == "3 taps (fx)" and "512x1x1" in lines[1] and "weight: fc" in lines[3]
    with pytest.raises(TapError, match="unknown tap method"):
        discover_taps(model, x, method="magic")


def test_the_traced_graph_shares_the_models_parameters_and_the_analysis_measures_it():
    model = Functional()
    model.b.eval()  # a mix of modes, as a loop that freezes one layer has
    x = torch.randn(4, 8)
    found = discover_taps(model, x)
    assert model.training and not model.b.training and model.a.training  # discovery left each mode as it was
    assert found.model.get_submodule("a") is model.a  # the same module: training it moves the graph too
    with torch.no_grad():
        model.head.bias.add_(1.0)
    assert torch.allclose(found.model(x), model(x))
    data = tiny_data(d=8)
    rows = analyse_model(found.model, list(found.taps), data, run_id="r", epoch=0, temperature=1.0,
                         settings=AnalysisSettings(probe_epochs=2, alignment_top_k=2))
    ranked = {r["layer_name"] for r in rows["layer_metrics"] if r["metric"] == "rank"}
    assert ranked == {"gelu", "gelu_pre", "relu", "relu_pre", "tanh", "tanh_pre", "logits", "softmax"}
