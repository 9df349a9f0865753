"""Run configuration: one frozen dataclass with the paper's defaults, strict validation, a stable id.

This module is torch-free on purpose: the launcher, the dashboard's sidebar and the CLI all
validate configs with exactly this code (same checks, same messages) without loading torch.

A run is fully described by its `RunConfig` (what is trained); its id is a hash of every field
(the seed included), so the same config never trains twice by accident. How a run is *measured*
is not part of its identity: that is `analysis.settings.AnalysisSettings`, stored beside the
config (lab/spec.py puts the two together), so re-analysing with new settings never retrains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from thermoscope import env
from thermoscope.fields import ConfigError, check_type, field_types
from thermoscope.fields import coerce as coerce_field

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


# Table 4 of the paper (plus the embedded demo). Units: lr per step, epochs, batch in samples.
PRESETS: dict[str, dict[str, Any]] = {
    "cifar_vgg": dict(lr=0.1, momentum=0.9, weight_decay=1e-4, epochs=160, batch_size=128, milestones=(80, 120), gamma=0.1),
    "cifar_resnet": dict(lr=0.1, momentum=0.9, weight_decay=1e-4, epochs=164, batch_size=128, milestones=(82, 123), gamma=0.1),
    "cifar_mlp": dict(lr=0.05, momentum=0.0, weight_decay=0.0, epochs=100, batch_size=128, milestones=(), gamma=0.1),
    "imagenet_resnet": dict(lr=1.6, momentum=0.9, weight_decay=1e-4, epochs=120, batch_size=1024, milestones=(30, 60, 90), gamma=0.1),
    # The embedded demo, exactly the recipe of sweeps/demo.toml: the paper's MLP recipe (SGD, batch 128,
    # no weight decay) on 8x8 digits, scaled down to finish on 2 CPU cores. Momentum 0.9 and N(0, 0.07²)
    # init: a small initial logits norm (0.2-0.4) where T = 100 still leaves the high-temperature plateau
    # within the demo's ~1,440 steps and its deeper layers collapse (with PyTorch's default init and no
    # momentum T = 10 and T = 100 stay at chance; with Kaiming init every T learns and nothing collapses).
    "demo": dict(
        arch="mlp", dataset="digits", ood=("shapes",), width=256, depth=8, init="normal", init_std=0.07,
        lr=0.05, momentum=0.9, weight_decay=0.0, epochs=120, batch_size=128, milestones=(), gamma=0.1,
    ),
}


def _f(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained network. Defaults: ResNet-18 on CIFAR-10 with Table 4's recipe."""

    arch: str = _f("resnet18", "architecture (registry name, see --list)")
    dataset: str = _f("cifar10", "in-distribution dataset: a registered name or folder:PATH")
    ood: tuple[str, ...] = _f(("svhn",), "out-of-distribution datasets (a+b on the command line)")
    temperature: float = _f(1.0, "T in softmax(z / T) used by the training loss; > 1 acts like shrinking the logits")
    seed: int = _f(0, "seed of the initialisation and the data order, 0 <= seed < 2^63 [integer]")
    loss: str = _f("ce", "'ce': cross-entropy on z/T; 'mse': MSE(softmax(z/T), one-hot) (Table 6)")
    preset: str = _f("cifar_resnet", "hyper-parameter recipe whose values come first (Table 4, see --list)")
    epochs: int = _f(164, "training epochs [epochs]")
    lr: float = _f(0.1, "SGD learning rate before milestones [per step]")
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float = _f(1e-4, "SGD weight decay (L2 coefficient)")
    batch_size: int = _f(128, "training batch [samples per step]")
    milestones: tuple[int, ...] = _f((82, 123), "epochs where lr *= gamma")
    gamma: float = _f(0.1, "lr factor at each milestone")
    init: str = _f("default", "'kaiming' | 'default' (PyTorch's) | 'normal' (N(0, init_std^2)) | 'torchvision' "
                   "(the torchvision constructor's own init; VGG and ResNets only)")
    init_std: float = _f(0.01, "sigma of init='normal' [weight units]")
    layernorm: bool = _f(False, "MLP: LayerNorm after each hidden layer (Appendix E)")
    width: int = _f(2048, "MLP hidden width [units] (paper: 2048)")
    depth: int = _f(8, "MLP hidden layers (paper: 8)")
    pretrained: str = _f("", "local checkpoint to start from ('' = random init)")
    data_root: str = _f("", "where datasets are read ('' = $THERMOSCOPE_DATA or ./data)")
    checkpoint_epochs: tuple[int, ...] = _f((), "extra epochs to keep a checkpoint of and analyse (0 and the last "
                                           "are always kept)")

    def __post_init__(self) -> None:
        validate(self)
        for name, kind in FIELD_TYPES.items():  # 1 and 1.0 must give one run id
            if kind is float and isinstance(getattr(self, name), int):
                object.__setattr__(self, name, float(getattr(self, name)))

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
        return Path(self.data_root or env.DATA.get()).expanduser()


FIELD_TYPES: dict[str, Any] = field_types(RunConfig)
FIELD_NAMES: tuple[str, ...] = tuple(FIELD_TYPES)
SEED_LIMIT = 2**63  # seeds are stored as BIGINT and given to torch.manual_seed
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32 (torch.finfo(torch.float32).tiny)


def _dataset_ok(name: str, what: str) -> None:
    if name.startswith(FOLDER_PREFIX):
        _folder_ok(Path(name[len(FOLDER_PREFIX) :]).expanduser(), what)
        return
    if name not in DATASETS:
        raise ConfigError(f"unknown {what} {name!r}; choose one of {', '.join(DATASETS)} or folder:PATH")


def _folder_ok(path: Path, what: str) -> None:
    """A class-folder set: train/ and test/ (or val/), and at least two classes (cheap: two directory listings,
    no image is opened; unreadable images are named when the job decodes them, training/data/folders.py)."""
    layout = "give a folder with train/<class>/* and test/<class>/* (or val/<class>/*)"
    if not path.is_dir():
        raise ConfigError(f"{what} folder {str(path)!r} does not exist; {layout}")
    if not (path / "train").is_dir() or not any((path / s).is_dir() for s in ("test", "val")):
        raise ConfigError(f"{what} folder {str(path)!r} has no train/ and test/ (or val/) folders; {layout}")
    classes = sorted(d.name for d in (path / "train").iterdir() if d.is_dir())
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise ConfigError(f"{what} folder {str(path)!r} has {len(classes)} class folder(s) in train/ ({found}); "
                          "a classifier needs at least 2: put one folder of images per class there")


# Upper bounds on the sizes a typed value can ask for. Far above any run of the paper (164 epochs, width 2,048,
# depth 8), and far below what would exhaust a node: a typo like epochs=1e9 or width=1e9 is one line at once
# instead of a job that runs for years or a model that cannot be allocated. Raise them here for a real need.
UPPER_BOUNDS = {"epochs": 1_000_000, "width": 65_536, "depth": 256}
UPPER_BOUNDS_WHY = "larger is almost surely a typo (the bounds are in training/config.py UPPER_BOUNDS)"

# What a torch checkpoint file starts with: torch.save's zip archive, its legacy pickle (protocol 2 and
# torch's magic number), or a safetensors file (an 8-byte header length, then the JSON header's '{').
_LEGACY_TORCH = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _pickle_objects(path: Path) -> list[str]:
    """Objects other than weights the file's pickle names (training/pickle_scan.py: read, never run)."""
    from training.pickle_scan import foreign_globals

    try:
        return foreign_globals(path)
    except Exception:  # opcodes that do not decode: not a file torch could read as weights either
        return ["?"]


def _checkpoint_ok(text: str) -> None:
    """Refuse a `pretrained` file that is no torch checkpoint before anything could unpickle it: a look at its
    first bytes (and at a zip's member names), never a load."""
    import zipfile

    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained checkpoint {text!r} does not exist; give a local file path")
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
        if len(head) > 8 and head[8:9] == b"{" and path.suffix == ".safetensors":
            return
        torch_file = head.startswith(_LEGACY_TORCH)
        if head.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(path) as archive:
                torch_file = any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist())
        if torch_file:
            foreign = _pickle_objects(path)
            if not foreign:
                return
            from training.safe_load import UnsafeCheckpoint, refusal

            raise UnsafeCheckpoint(f"pretrained {refusal(text)}")
    except (OSError, zipfile.BadZipFile):
        pass
    raise ConfigError(f"pretrained {text!r} is not a PyTorch checkpoint (a torch.save file or .safetensors); give "
                      "the state-dict file of a model (torch.save(model.state_dict(), PATH))")


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError with a one-line reason for the first wrong field."""
    for name, kind in FIELD_TYPES.items():
        check_type(name, kind, getattr(cfg, name))
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown arch {cfg.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    _dataset_ok(cfg.dataset, "dataset")
    for name in cfg.ood:
        _dataset_ok(name, "ood dataset")
    if not math.isfinite(cfg.temperature) or cfg.temperature <= 0:
        raise ConfigError(f"temperature must be a positive finite number, got {cfg.temperature!r}")
    if cfg.temperature < FLOAT32_TINY:
        raise ConfigError(f"temperature {cfg.temperature!r} is below {FLOAT32_TINY:.3g}, the smallest normal float32: "
                          "the loss divides float32 logits by T, which would be 0 or lose its digits; give T >= 1.2e-38")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    if cfg.init not in INITS:
        raise ConfigError(f"unknown init {cfg.init!r}; choose one of {', '.join(INITS)}")
    if cfg.init == "torchvision" and cfg.arch in TORCHVISION_INIT_REFUSED:
        raise ConfigError(f"init 'torchvision' does not apply to {cfg.arch}: {TORCHVISION_INIT_REFUSED[cfg.arch]}")
    if cfg.preset not in PRESETS:
        raise ConfigError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    for name in ("epochs", "batch_size", "width", "depth"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be a positive integer, got {getattr(cfg, name)!r}")
        if name in UPPER_BOUNDS and getattr(cfg, name) > UPPER_BOUNDS[name]:
            raise ConfigError(f"{name} must be at most {UPPER_BOUNDS[name]:,}, got {getattr(cfg, name)!r}; "
                              f"{UPPER_BOUNDS_WHY}")
    for name in ("lr", "init_std", "gamma"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) > 0):
            raise ConfigError(f"{name} must be a positive finite number, got {getattr(cfg, name)!r}")
    for name in ("momentum", "weight_decay"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {getattr(cfg, name)!r}")
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ConfigError(f"seed must be an integer in [0, 2^63), got {cfg.seed!r}")
    if any(e < 0 for e in (*cfg.milestones, *cfg.checkpoint_epochs)):
        raise ConfigError("milestones and checkpoint_epochs must be epochs >= 0")
    if cfg.pretrained:
        _checkpoint_ok(cfg.pretrained)


def coerce(name: str, value: Any) -> Any:
    """Turn a value from TOML or the command line into the field's type; ConfigError if it cannot."""
    if name not in FIELD_TYPES:
        raise ConfigError(f"unknown config field {name!r}; fields are: {', '.join(FIELD_NAMES)}")
    return coerce_field(name, FIELD_TYPES[name], value)


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
    "ConfigError", "RunConfig", "coerce", "make_config", "validate",
]
