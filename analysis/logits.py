"""Logits norm (docs/methods.md, **our definition**: mean over samples of ‖z‖₂, plus the Frobenius norm), pre/post-softmax
rank, and the norm of freshly initialised models (table 'init_norms', Figure 8 / Appendix E)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import torch
from torch import nn

from analysis.rank import numerical_rank


def logits_norm(logits: torch.Tensor) -> tuple[float, float]:
    """(mean over rows of the L2 norm of the logit vector, Frobenius norm of the logit matrix), in float64."""
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must be a non-empty (samples, classes) matrix, got shape {tuple(logits.shape)}")
    z = logits.detach().double()
    return float(z.norm(dim=1).mean()), float(torch.linalg.matrix_norm(z))


def softmax_ranks(logits: torch.Tensor, temperature: float) -> tuple[int, int]:
    """(numerical rank of the logits, numerical rank of softmax(logits / T)) — Figures 18–20's two curves."""
    z = logits.detach().float()
    return numerical_rank(z), numerical_rank(torch.softmax(z / temperature, dim=1))


@torch.no_grad()
def init_norm_rows(
    build: Callable[[int], nn.Module],
    x: torch.Tensor,
    *,
    arch: str,
    dataset: str,
    init: str,
    init_std: float,
    seeds: Iterable[int] = (0,),
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Rows for 'init_norms': logits norm of `build(seed)` (a freshly initialised model) on the batch `x`.

    `build` owns the initialisation (training.models.build_model with the config's init); we only measure.
    """
    rows = []
    for seed in seeds:
        model = build(int(seed)).to(device)
        model.eval()
        z = model(x.to(device))
        mean, fro = logits_norm(z)
        rows.append(dict(arch=arch, dataset=dataset, init=init, init_std=float(init_std), seed=int(seed),
                         logits_norm=mean, detail=json.dumps({"fro_norm": fro, "batch": int(x.shape[0]),
                                                              "mode": "eval"}, sort_keys=True)))
    return rows
