"""`@register_model(name)` and `build_model(cfg, ...)`: one decorator per architecture."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.config import ConfigError, RunConfig
from training.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What a builder needs to know about the data: classes and input shape (C, H, W)."""

    num_classes: int
    input_shape: tuple[int, int, int]


MODELS: Registry = Registry("architecture")


def register_model(name: str):
    """Register `builder(cfg: RunConfig, spec: ModelSpec) -> nn.Module` under `name`."""
    return MODELS.register(name)


def init_weights(model: nn.Module, scheme: str, std: float) -> None:
    """Appendix E's initialisations for Linear/Conv weights: Kaiming, PyTorch default, N(0, std²);
    and 'torchvision': the model's own `torchvision_init()`, the rule torchvision's constructor for
    its family applies (declared beside each architecture; `std` does not apply)."""
    if scheme == "default":
        return  # PyTorch's own reset_parameters already ran in the constructors
    if scheme == "torchvision":
        rule = getattr(model, "torchvision_init", None)
        if rule is None:  # validate() refuses these archs first; this guards a model built another way
            raise ConfigError(f"init 'torchvision' does not apply to {type(model).__name__}: it declares no torchvision_init()")
        rule()
        return
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif scheme == "normal":
                nn.init.normal_(m.weight, 0.0, std)
            else:
                raise ValueError(f"unknown init {scheme!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_model(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    """Build `cfg.arch` with `cfg.seed`'s random init (or load `cfg.pretrained`)."""
    torch.manual_seed(cfg.seed)
    model = MODELS.get(cfg.arch)(cfg, spec)
    if getattr(model, "loads_pretrained", False):  # e.g. the timm ViT: its own init and checkpoint loading
        return _check(cfg, model)
    init_weights(model, cfg.init, cfg.init_std)
    if cfg.pretrained:
        from training.safe_load import load_file

        state = load_file(cfg.pretrained)  # weights only: a pickled object in it never runs (no flag here)
        state = state.get("model", state) if isinstance(state, dict) else state
        model.load_state_dict(state)
    return _check(cfg, model)


def _check(cfg: RunConfig, model: nn.Module) -> nn.Module:
    if not hasattr(model, "layer_taps"):
        raise TypeError(f"architecture {cfg.arch!r} has no layer_taps(); analysis cannot read its layers")
    return model
