"""How a model describes its layers to the analysis: a list of `LayerTap`s.

Analysis works on any `nn.Module` plus this description; it never reaches into the trainer.
A model in the registry provides `model.layer_taps() -> list[LayerTap]`, input side first,
ending with the logits tap (kind 'logits'); the softmax(logits/T) representation is derived
from the logits by the analysis, not tapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True, eq=False)
class LayerTap:
    name: str  # stable, human-readable: 'hidden1', 'block3', 'logits', ...
    module: nn.Module  # a forward hook on its output gives the representation (post-activation)
    kind: str = "hidden"  # 'hidden' | 'logits'
    # output is the same layer's pre-activation (before the non-linearity), or None if it has none
    pre_module: nn.Module | None = None
    # the layer whose weight reads this tap's *input* (Linear/Conv2d) — used by the alignment
    # measurement: its weight's input-side singular vectors against the representation entering it
    weight_module: nn.Module | None = None
