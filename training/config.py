"""Run configuration: one frozen dataclass, the paper's defaults, strict validation, a stable id.

This module is torch-free on purpose: the launcher, the dashboard's sidebar and the CLI all
validate configs with exactly this code (same checks, same messages) without loading torch.

A run is fully described by its `RunConfig`; its id is a hash of every field (the seed
included), so the same config never trains twice by accident.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

# Names the registries hold. Kept here, torch-free, so the app and the launcher can list and check
# them without importing models; tests/training check that the registries hold exactly these.
ARCHITECTURES = ("mlp", "vgg19", "vgg19_bn", "resnet18", "resnet20", "resnet34", "resnet50", "vit_b16")
DATASETS = ("digits", "shapes", "cifar10", "cifar100", "svhn", "imagenet100", "imagenet1k")
FOLDER_PREFIX = "folder:"
LOSSES = ("ce", "mse")
INITS = ("kaiming", "default", "normal", "torchvision")
# init='torchvision' re-initialises a model exactly as torchvision's constructor for its family does
# (VGG: Conv2d Kaiming-normal fan_out, Linear N(0, 0.01²), zero biases, BN 1/0; ResNet: Conv2d
# Kaiming-normal fan_out, BN 1/0, Linear left at PyTorch's default). The model classes carry the rule
# (`torchvision_init()`); these architectures have none and are refused here, torch-free, with the
# reason (tests/training check that exactly these lack a rule):
# - mlp: torchvision has no MLP model; torchvision.ops.MLP does not re-initialise (it would be 'default'
#   under another name, a second run id for the same weights), and borrowing VGG's classifier rule
#   would be 'normal' at 0.01 under another name.
# - vit_b16: it is timm's ViT, which keeps timm's init or its checkpoint (build_model applies no init);
#   torchvision's ViT init (trunc-normal patch embedding, zero head) would not be what ran.
TORCHVISION_INIT_REFUSED: dict[str, str] = {
    "mlp": "torchvision has no MLP constructor to copy (torchvision.ops.MLP keeps PyTorch's default: use "
           "init='default'; VGG's classifier rule is init='normal' with init_std=0.01)",
    "vit_b16": "vit_b16 is timm's ViT and keeps timm's init or its checkpoint; init does not apply to it",
}


class ConfigError(ValueError):
    """A config value is wrong; the message says which field and what to do."""


# Table 4 of the paper (plus the embedded demo). Units: lr per step, epochs, batch in samples.
PRESETS: dict[str, dict[str, Any]] = {
    "cifar_vgg": dict(lr=0.1, momentum=0.9, weight_decay=1e-4, epochs=160, batch_size=128, milestones=(80, 120), gamma=0.1),
    "cifar_resnet": dict(lr=0.1, momentum=0.9, weight_decay=1e-4, epochs=164, batch_size=128, milestones=(82, 123), gamma=0.1),
    "cifar_mlp": dict(lr=0.05, momentum=0.0, weight_decay=0.0, epochs=100, batch_size=128, milestones=(), gamma=0.1),
    "imagenet_resnet": dict(lr=1.6, momentum=0.9, weight_decay=1e-4, epochs=120, batch_size=1024, milestones=(30, 60, 90), gamma=0.1),
    # The embedded demo: the paper's MLP recipe (SGD, batch 128, no weight decay) on 8x8 digits,
    # scaled down to finish on 2 CPU cores. Kaiming init and momentum 0.9 are what make the
    # T=10 and T=100 runs leave the high-temperature plateau within the demo's few thousand steps
    # (with PyTorch's default init and no momentum they stay at chance; see README). sweeps/demo.toml
    # overrides the init with N(0, 0.07²): a small initial logits norm, where T = 100 still learns and collapses.
    "demo": dict(
        arch="mlp", dataset="digits", ood=("shapes",), width=256, depth=8, init="kaiming",
        lr=0.05, momentum=0.9, weight_decay=0.0, epochs=120, batch_size=128, milestones=(), gamma=0.1,
    ),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run. Defaults: ResNet-18 on CIFAR-10 with Table 4's recipe."""

    arch: str = "resnet18"
    dataset: str = "cifar10"
    ood: tuple[str, ...] = ("svhn",)
    temperature: float = 1.0  # T in softmax(z / T); > 1 behaves like shrinking the logits
    seed: int = 0
    loss: str = "ce"  # 'ce': cross-entropy on z/T; 'mse': MSE(softmax(z/T), one-hot)  (Table 6)
    preset: str = "cifar_resnet"
    epochs: int = 164
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128  # samples per step
    milestones: tuple[int, ...] = (82, 123)  # epochs where lr *= gamma
    gamma: float = 0.1
    init: str = "default"  # 'kaiming' | 'default' (PyTorch's) | 'normal' (N(0, init_std^2)) | 'torchvision'
    # ('torchvision': the torchvision constructor's own re-initialisation for the family; VGG and ResNets only)
    init_std: float = 0.01
    layernorm: bool = False  # MLP: LayerNorm after each hidden layer (Appendix E)
    width: int = 2048  # MLP hidden width (paper: 2048)
    depth: int = 8  # MLP hidden layers (paper: 8)
    pretrained: str = ""  # local checkpoint to start from ('' = random init)
    data_root: str = ""  # '' = $THERMOSCOPE_DATA or ./data
    # analysis settings (Table 5 probes; PAPER.md's feature cap)
    probe_epochs: int = 50
    analysis_samples: int = 10_000  # cap on samples per split used for rank and probes
    max_features: int = 10_000  # larger layers use a fixed random subset of this many features
    kappa_threshold: float = 0.95  # tau in kappa's definition
    checkpoint_epochs: tuple[int, ...] = ()  # extra epochs to keep a checkpoint and analyse at

    def __post_init__(self) -> None:
        validate(self)

    @property
    def run_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=list)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @property
    def data_dir(self) -> Path:
        return Path(self.data_root or os.environ.get("THERMOSCOPE_DATA", "data")).expanduser()


FIELD_TYPES: dict[str, Any] = get_type_hints(RunConfig)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RunConfig))


def _dataset_ok(name: str, what: str) -> None:
    if name.startswith(FOLDER_PREFIX):
        path = Path(name[len(FOLDER_PREFIX) :]).expanduser()
        if not path.is_dir():
            raise ConfigError(f"{what} folder {str(path)!r} does not exist; give a folder with train/<class>/* and test/<class>/*")
        return
    if name not in DATASETS:
        raise ConfigError(f"unknown {what} {name!r}; choose one of {', '.join(DATASETS)} or folder:PATH")


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError with a one-line reason for the first wrong field."""
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown arch {cfg.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    _dataset_ok(cfg.dataset, "dataset")
    for name in cfg.ood:
        _dataset_ok(name, "ood dataset")
    t = cfg.temperature
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
        raise ConfigError(f"temperature must be a positive finite number, got {t!r}")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    if cfg.init not in INITS:
        raise ConfigError(f"unknown init {cfg.init!r}; choose one of {', '.join(INITS)}")
    if cfg.init == "torchvision" and cfg.arch in TORCHVISION_INIT_REFUSED:
        raise ConfigError(f"init 'torchvision' does not apply to {cfg.arch}: {TORCHVISION_INIT_REFUSED[cfg.arch]}")
    if cfg.preset not in PRESETS:
        raise ConfigError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    for name in ("epochs", "batch_size", "width", "depth", "probe_epochs", "analysis_samples", "max_features"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    for name in ("lr", "init_std", "gamma"):
        value = getattr(cfg, name)
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    for name in ("momentum", "weight_decay"):
        value = getattr(cfg, name)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    if not 0 < cfg.kappa_threshold <= 1:
        raise ConfigError(f"kappa_threshold must be in (0, 1], got {cfg.kappa_threshold!r}")
    if cfg.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {cfg.seed!r}")
    if cfg.pretrained and not Path(cfg.pretrained).expanduser().is_file():
        raise ConfigError(f"pretrained checkpoint {cfg.pretrained!r} does not exist; give a local file path")


def coerce(name: str, value: Any) -> Any:
    """Turn a value from TOML or the command line into the field's type; ConfigError if it cannot."""
    if name not in FIELD_TYPES:
        raise ConfigError(f"unknown config field {name!r}; fields are: {', '.join(FIELD_NAMES)}")
    kind = FIELD_TYPES[name]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if kind == tuple[str, ...]:
            items = value if isinstance(value, list | tuple) else [v for v in str(value).split("+") if v]
            return tuple(str(v) for v in items)
        if kind == tuple[int, ...]:
            items = value if isinstance(value, list | tuple) else [v for v in str(value).split("+") if v]
            return tuple(int(v) for v in items)
    except (TypeError, ValueError):
        pass
    type_name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"field {name!r} wants {type_name}, got {value!r}")


def make_config(**values: Any) -> RunConfig:
    """Build a config: the preset's values first, then the given fields on top (all coerced)."""
    preset = values.get("preset", RunConfig.preset)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    merged: dict[str, Any] = dict(PRESETS[preset])
    merged.update(values)
    merged["preset"] = preset
    return RunConfig(**{k: coerce(k, v) for k, v in merged.items()})


__all__ = [
    "ARCHITECTURES", "DATASETS", "LOSSES", "INITS", "TORCHVISION_INIT_REFUSED", "PRESETS", "FIELD_NAMES", "FIELD_TYPES",
    "ConfigError", "RunConfig", "coerce", "make_config", "validate", "field",
]
