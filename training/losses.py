"""Temperature-scaled losses: the network is trained on softmax(z / T)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.registry import Registry

LOSSES: Registry = Registry("loss")


@LOSSES.register("ce")
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy on logits / T (the paper's main loss)."""
    return F.cross_entropy(logits / temperature, target)


@LOSSES.register("mse")
def softmax_mse(logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """MSE between softmax(logits / T) and the one-hot label (Appendix, Table 6), summed over classes."""
    probs = torch.softmax(logits / temperature, dim=1)
    one_hot = F.one_hot(target, probs.shape[1]).to(probs.dtype)
    return ((probs - one_hot) ** 2).sum(dim=1).mean()


def loss_fn(name: str):
    return LOSSES.get(name)
