"""Layer capture: forward hooks on each LayerTap's module (and pre_module) collect flattened representations.

A representation is one (layer, kind) pair: 'hidden' (the tap's output, after the non-linearity),
'preact' (the tap's pre_module output), 'logits' and 'softmax' (= softmax(logits / T), derived from the
logits, not tapped). Conv maps are flattened; a layer wider than `max_features` keeps a fixed seeded
subset of its features (same subset for rank and probes, recorded in the rows' detail).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from analysis.taps import LayerTap


@dataclass(frozen=True, eq=False)
class Rep:
    """One representation the analysis measures."""

    layer_index: int
    layer_name: str
    kind: str  # 'hidden' | 'preact' | 'logits' | 'softmax'
    module: nn.Module  # whose forward output is read (the logits module for 'softmax')
    source: str = "out"  # 'out' (module output) | 'softmax' (softmax(out / T))

    @property
    def key(self) -> tuple[int, str]:
        return (self.layer_index, self.kind)

    def label(self) -> str:
        return f"{self.layer_name} ({self.kind}, index {self.layer_index})"


def reps_from_taps(taps: Sequence[LayerTap], include_preact: bool = True) -> list[Rep]:
    """The measured representations, input side first; preact before its layer's output."""
    reps: list[Rep] = []
    for i, tap in enumerate(taps):
        if include_preact and tap.pre_module is not None:
            reps.append(Rep(i, f"{tap.name}_pre", "preact", tap.pre_module))
        if tap.kind == "logits":
            reps.append(Rep(i, tap.name, "logits", tap.module))
            reps.append(Rep(i, "softmax", "softmax", tap.module, source="softmax"))
        else:
            reps.append(Rep(i, tap.name, "hidden", tap.module))
    return reps


def feature_subset(n_features: int, max_features: int, seed: int) -> torch.Tensor | None:
    """Sorted indices of a fixed random subset of `max_features` features, or None when none is needed.

    Seeded only by (seed, n_features): the same layer width always gets the same subset.
    """
    if n_features <= max_features:
        return None
    g = torch.Generator().manual_seed(seed * 1_000_003 + n_features)
    return torch.randperm(n_features, generator=g)[:max_features].sort().values


def sample_subset(n: int, max_samples: int, seed: int) -> torch.Tensor | None:
    """Sorted indices of a fixed seeded subset of the split's rows, or None to keep them all."""
    if n <= max_samples:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:max_samples].sort().values


def _first_tensor(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"a tapped module returned {type(out).__name__}; expected a tensor")


@contextmanager
def hooks(modules: Sequence[nn.Module], sink: Callable[[nn.Module, torch.Tensor], None]):
    """Forward hooks on each distinct module calling sink(module, output); always removed."""
    handles = []
    try:
        for m in dict.fromkeys(modules):  # distinct, in order (logits and softmax share a module)
            handles.append(m.register_forward_hook(lambda mod, _inp, out: sink(mod, _first_tensor(out))))
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def capture(
    model: nn.Module,
    reps: Sequence[Rep],
    x: torch.Tensor,
    *,
    temperature: float,
    feature_index: dict[tuple[int, str], torch.Tensor | None],
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    out_device: torch.device | str | None = None,
) -> dict[tuple[int, str], torch.Tensor]:
    """Run `x` through the model in batches; return {rep.key: (N, features) float32} for `reps`.

    Representations are written into preallocated buffers (no list of batches, no concatenation copy).
    A module called more than once per forward (torchvision's BasicBlock reuses its ReLU) is read at its
    last call, which is the block's output; the full forward pass always runs for that reason.
    """
    out_device = torch.device(out_device or device)
    bufs: dict[tuple[int, str], torch.Tensor] = {}
    n = x.shape[0]
    state = {"lo": 0, "hi": 0}

    def sink(mod: nn.Module, out: torch.Tensor) -> None:
        lo, hi = state["lo"], state["hi"]
        flat = out.detach().flatten(1).float()
        for r in reps:
            if r.module is not mod:
                continue
            v = torch.softmax(flat / temperature, dim=1) if r.source == "softmax" else flat
            idx = feature_index.get(r.key)
            if idx is not None:
                v = v[:, idx.to(v.device)]
            buf = bufs.get(r.key)
            if buf is None:
                buf = bufs[r.key] = torch.empty((n, v.shape[1]), dtype=torch.float32, device=out_device)
            buf[lo:hi].copy_(v)

    with hooks([r.module for r in reps], sink):
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            state.update(lo=lo, hi=hi)
            model(x[lo:hi].to(device, non_blocking=True))
    return bufs


@torch.no_grad()
def layer_widths(model: nn.Module, reps: Sequence[Rep], x: torch.Tensor, device, temperature: float
                 ) -> dict[tuple[int, str], int]:
    """Flattened feature count of each representation, from one forward pass on two samples."""
    got = capture(model, reps, x[:2], temperature=temperature, feature_index={}, device=device)
    missing = [r.label() for r in reps if r.key not in got]
    if missing:
        raise ValueError(f"tapped module(s) never ran in the forward pass: {', '.join(missing)}")
    return {k: v.shape[1] for k, v in got.items()}
