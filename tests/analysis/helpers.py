"""Small, known-answer inputs for the analysis tests."""

from __future__ import annotations

import torch
from torch import nn

from analysis import AnalysisData, LayerTap, Split


class TinyMLP(nn.Module):
    """Linear+ReLU hidden layers with LayerTaps (pre-activation = the Linear's output), then a Linear head."""

    def __init__(self, d_in: int = 8, width: int = 16, depth: int = 3, classes: int = 3) -> None:
        super().__init__()
        self.lins = nn.ModuleList()
        self.acts = nn.ModuleList()
        d = d_in
        for _ in range(depth):
            self.lins.append(nn.Linear(d, width))
            self.acts.append(nn.ReLU())
            d = width
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = x.flatten(1)
        for lin, act in zip(self.lins, self.acts):
            x = act(lin(x))
        return self.head(x)

    def layer_taps(self) -> list[LayerTap]:
        taps = [LayerTap(f"hidden{i + 1}", act, "hidden", pre_module=lin, weight_module=lin)
                for i, (lin, act) in enumerate(zip(self.lins, self.acts))]
        return taps + [LayerTap("logits", self.head, "logits", weight_module=self.head)]


def blobs(n: int, d: int, classes: int, seed: int, sep: float = 4.0) -> Split:
    """Gaussian blobs around well-separated class centres."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(1234)) * sep
    y = torch.arange(n) % classes
    x = centres[y] + torch.randn(n, d, generator=g)
    return Split(x, y.long())


def tiny_data(classes: int = 3, d: int = 8, ood: bool = True) -> AnalysisData:
    oods = {"other": (blobs(90, d, 2, seed=3, sep=2.0), blobs(60, d, 2, seed=4, sep=2.0))} if ood else {}
    return AnalysisData("blobs", blobs(120, d, classes, seed=1), blobs(90, d, classes, seed=2), oods)


def train_briefly(model: nn.Module, split: Split, steps: int = 150, temperature: float = 1.0) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(split.x) / temperature, split.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
