"""The paper's MLP: `depth` hidden Linear+ReLU layers of `width` (paper: 8 × 2048), optional LayerNorm."""

from __future__ import annotations

import math

from torch import nn

from analysis.taps import LayerTap
from training.config import RunConfig
from training.models.registry import ModelSpec, register_model


class MLP(nn.Module):
    # No torchvision_init(): torchvision has no MLP model, and torchvision.ops.MLP keeps PyTorch's default
    # init, so init='torchvision' is refused for 'mlp' (training/config.py: TORCHVISION_INIT_REFUSED).

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int, layernorm: bool) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.acts = nn.ModuleList()
        features = in_features
        for _ in range(depth):
            self.linears.append(nn.Linear(features, width))
            # LayerNorm goes between the linear map and the ReLU (Appendix E: it prevents collapse)
            self.norms.append(nn.LayerNorm(width) if layernorm else nn.Identity())
            self.acts.append(nn.ReLU())
            features = width
        self.head = nn.Linear(features, num_classes)

    def forward(self, x):
        x = x.flatten(1)
        for linear, norm, act in zip(self.linears, self.norms, self.acts):
            x = act(norm(linear(x)))
        return self.head(x)

    def layer_taps(self) -> list[LayerTap]:
        taps = [
            LayerTap(f"hidden{i + 1}", act, "hidden", pre_module=norm,  # Identity when no LayerNorm: its output is the Linear's
                     weight_module=lin)
            for i, (lin, norm, act) in enumerate(zip(self.linears, self.norms, self.acts))
        ]
        return taps + [LayerTap("logits", self.head, "logits", weight_module=self.head)]


@register_model("mlp")
def mlp(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return MLP(math.prod(spec.input_shape), spec.num_classes, cfg.width, cfg.depth, cfg.layernorm)
