"""`untouched(model)` restores each thing measuring could change: modes, buffers, gradients, RNG, autograd."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from analysis import AnalysisSettings, analyse_model, discover_taps, untouched
from tests.analysis.helpers import tiny_data


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def test_every_modules_own_mode_comes_back():
    model = net().train()
    model[1].eval()  # a loop that freezes its BatchNorm while the rest trains
    with untouched(model):
        model.eval()
        model[1].train()
    assert model.training and not model[1].training and model[3].training


def test_buffers_come_back_even_when_a_forward_pass_in_train_mode_moved_them():
    model = net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with untouched(model):
        model(torch.randn(32, 8) * 5 + 3)  # train mode: BatchNorm updates its running statistics
        assert not torch.equal(model[1].running_mean, before["1.running_mean"])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_gradients_come_back_as_the_same_tensors():
    model = net()
    model(torch.randn(8, 8)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    values = [g.clone() for g in grads]
    with untouched(model):
        for p in model.parameters():
            p.grad = None
        model(torch.randn(8, 8)).pow(2).sum().backward()
    assert all(p.grad is g and torch.equal(g, v) for p, g, v in zip(model.parameters(), grads, values))


def test_random_generators_and_autograd_come_back():
    model = net()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    with untouched(model):
        torch.rand(100)
        np.random.rand(100)
        random.random()
        torch.set_grad_enabled(False)
    assert torch.is_grad_enabled()
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_a_whole_analysis_inside_it_leaves_a_training_model_exactly_as_it_was():
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).train()
    model(torch.randn(16, 8)).sum().backward()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    data = tiny_data(d=8)
    with untouched(model):
        found = discover_taps(model, data.id_test.x)
        analyse_model(found.model, list(found.taps), data, run_id="r", epoch=0, temperature=1.0,
                      settings=AnalysisSettings(probe_epochs=2, alignment_top_k=2))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert torch.equal(torch.get_rng_state(), rng)
