"""Networks Thermoscope did not train: build one from its spec and load the weights its users saved.

A model spec names where the architecture comes from (one registry entry per source):

- `timm:NAME`             `timm.create_model(NAME, pretrained=False, num_classes=C)` (never a download)
- `torchvision:NAME`      `torchvision.models.get_model(NAME, weights=None, num_classes=C)`
- `module:PKG.MOD:FACTORY` `FACTORY(num_classes=C)` (or `FACTORY()` when it takes no such argument) from an
                           importable module (`python -m analysis` can import the working directory's)

Weights are what `torch.save(model.state_dict(), FILE)` writes, as timm and torchvision users save them,
or a training script's dict holding it under 'state_dict', 'model', 'model_state_dict' or 'module' (the
first that is a state dict); `module.` prefixes of DistributedDataParallel and `_orig_mod.` prefixes of
torch.compile are stripped; `.safetensors` files are read too. A file that does not fit the model is one
line naming the first mismatched tensor.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermoscope.fields import ConfigError
from training.registry import Registry

STATE_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")
PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class ModelSpec:
    """`source:name` as typed, split."""

    source: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        source, sep, name = text.partition(":")
        if not sep or not name or source not in SOURCES:
            raise ConfigError(f"--model {text!r}: give timm:NAME, torchvision:NAME or module:PKG.MOD:FACTORY")
        return cls(source, name)

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


SOURCES: Registry[Callable[[str, int], Any]] = Registry("model source")


@SOURCES.register("timm")
def _timm(name: str, num_classes: int):
    import timm

    if not timm.is_model(name):
        raise ConfigError(f"timm has no model {name!r}; `python -c 'import timm; print(timm.list_models())'` lists them")
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


@SOURCES.register("torchvision")
def _torchvision(name: str, num_classes: int):
    import torchvision

    if name not in torchvision.models.list_models():
        raise ConfigError(f"torchvision has no model {name!r}; torchvision.models.list_models() lists them")
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


@SOURCES.register("module")
def _module(name: str, num_classes: int):
    path, sep, attr = name.rpartition(":")
    if not sep or not path or not attr:
        raise ConfigError(f"--model module:{name}: give module:PKG.MOD:FACTORY, e.g. module:mynets:make_net")
    try:
        factory = getattr(importlib.import_module(path), attr)
    except (ImportError, AttributeError) as exc:
        # `python -m analysis` puts the working directory on the path; the `thermoscope` script does not
        raise ConfigError(f"--model module:{name}: cannot import {attr} from {path} ({exc}); run `python -m analysis` "
                          "from the folder that holds it, or put that folder on PYTHONPATH") from None
    takes_classes = "num_classes" in inspect.signature(factory).parameters
    return factory(num_classes=num_classes) if takes_classes else factory()


def build(spec: ModelSpec, num_classes: int):
    model = SOURCES.get(spec.source)(spec.name, num_classes)
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {spec}: the factory returned {type(model).__name__}, not an nn.Module")
    return model


def read_state_dict(path: Path, *, trust_pickle: bool = False) -> dict[str, Any]:
    """The state dict in `path`, unwrapped from a training script's dict and stripped of wrapper prefixes.
    Read with weights_only (training/safe_load.py) unless the owner typed `--trust-pickle`."""
    from training.safe_load import UnsafeCheckpoint, load_file

    if not path.is_file():
        raise ConfigError(f"--weights {path}: no such file")
    try:
        state: Any = load_file(path, trust_pickle=trust_pickle, offer_flag=True)
    except UnsafeCheckpoint as exc:
        raise ConfigError(f"--weights {exc}") from None
    except Exception as exc:
        raise ConfigError(f"--weights {path}: cannot be read ({type(exc).__name__}); give a torch.save'd state "
                          "dict or a .safetensors file") from None
    if hasattr(state, "state_dict") and not isinstance(state, dict):  # a whole pickled model
        state = state.state_dict()
    while isinstance(state, dict) and not _is_state_dict(state):
        inner = next((state[k] for k in STATE_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            raise ConfigError(f"--weights {path}: no state dict in it (keys {sorted(state)[:6]}); save "
                              "model.state_dict(), or a dict with it under 'state_dict' or 'model'")
        state = inner
    return {_strip(k): v for k, v in state.items()}


def _is_state_dict(d: dict) -> bool:
    import torch

    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def checkpoint_epoch(path: Path, *, trust_pickle: bool = False) -> int | None:
    """The 'epoch' a training script saved beside its weights, when it did."""
    from training.safe_load import load_file

    if path.suffix == ".safetensors":
        return None
    try:
        state = load_file(path, trust_pickle=trust_pickle)
    except Exception:
        return None
    epoch = state.get("epoch") if isinstance(state, dict) else None
    return int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None


def load_weights(model, state: dict[str, Any], path: Path) -> None:
    """Load `state` strictly; one line naming what did not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        hint = "; give --num-classes to match" if own[k].ndim and state[k].shape[0] != own[k].shape[0] else ""
        raise ConfigError(f"--weights {path}: {k} has shape {tuple(state[k].shape)}, the model's is "
                          f"{tuple(own[k].shape)}{hint}")
    if missing or unexpected:
        raise ConfigError(f"--weights {path} does not fit the model: missing {missing[:3]}, unexpected "
                          f"{unexpected[:3]}; is --model the architecture it was saved from?")
    model.load_state_dict(state)


def classes_in(state: dict[str, Any]) -> int | None:
    """The class count the saved classifier has (its last 2-D weight's rows), if it has one."""
    weights = [v for k, v in state.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 2]
    return int(weights[-1].shape[0]) if weights else None
