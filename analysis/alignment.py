"""Alignment (Figures 10, 24, 25): |cosine| between the top-k right singular vectors of a layer's weight (its
input-side directions) and the top-k right singular vectors of the representation entering that layer.

- Linear: W is (out, in); the representation is the module's actual input, (samples, in) (captured with a
  forward hook on the weight module, so residual paths and reshapes are whatever the model really does).
- Conv2d (**our definition**): W reshaped to (out, in·kh·kw); the representation is the matching unfolded
  input patches (F.unfold with the conv's kernel, stride, padding, dilation; channel-major, the same order as
  the reshaped kernel), `patches_per_image` seeded random positions per image. Grouped convs are skipped.
- The representation is not centred (as for the rank). Its right singular vectors are the top eigenvectors
  of the float64 Gram HᵀH, accumulated over batches, so no activation matrix is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def top_right_singular_vectors(m: torch.Tensor, k: int) -> torch.Tensor:
    """(k, d) top right singular vectors of `m` (rows), largest first, in float64."""
    _, _, vh = torch.linalg.svd(m.double(), full_matrices=False)
    return vh[:k]


def alignment_matrix(weight: torch.Tensor, representation: torch.Tensor, top_k: int = 15) -> torch.Tensor:
    """k × k |cos|: entry (i, j) between the weight's i-th and the representation's j-th right singular vector.

    `weight` is (out, in) (a conv kernel is reshaped to (out, in·kh·kw)); `representation` is (samples, in).
    k = min(top_k, out, in, samples).
    """
    w = weight.detach().reshape(weight.shape[0], -1)
    if representation.shape[1] != w.shape[1]:
        raise ValueError(f"weight reads {w.shape[1]} inputs but the representation has {representation.shape[1]}")
    k = min(top_k, w.shape[0], w.shape[1], representation.shape[0])
    vw = top_right_singular_vectors(w, k)
    vh = top_right_singular_vectors(representation, k)
    return (vw @ vh.T.to(vw.device)).abs()


EIGH_MAX_DIM = 2048  # above this, a full eigendecomposition of the Gram matrix is the analysis' bottleneck


def top_eigenvectors(gram: torch.Tensor, k: int, *, max_iterations: int = 60, tol: float = 1e-9,
                     seed: int = 0) -> torch.Tensor:
    """(d, k) eigenvectors of the symmetric PSD `gram` for its k largest eigenvalues, largest first.

    Up to EIGH_MAX_DIM a full `eigh`. Above it (a 512-channel 3×3 conv reads 4,608-dim patches, whose full
    eigh takes ~12 s on one CPU thread) seeded block subspace iteration with 3k columns and a Rayleigh–Ritz
    step, stopped when every Ritz pair's residual ‖Gv − θv‖ is below `tol`·θ₁; one product with the Gram per
    iteration (Z = GQ gives the Rayleigh quotient QᵀZ, the residuals and the next basis), ~0.045 s at 4,608
    dims, so even the 60th iteration costs less than a quarter of the eigh. A spectrum too flat to converge
    (where the individual top vectors are barely defined anyway) falls back to the full eigh, so the answer
    is eigh's either way. Tests compare both paths with eigh.
    """
    d = gram.shape[0]
    if d > EIGH_MAX_DIM:
        q = torch.randn(d, min(d, 3 * k), generator=torch.Generator().manual_seed(seed), dtype=gram.dtype)
        q, _ = torch.linalg.qr(q.to(gram.device))
        for _ in range(max_iterations):
            z = gram @ q
            theta, ritz = torch.linalg.eigh((q.T @ z + z.T @ q) / 2)
            top, theta = ritz[:, -k:].flip(1), theta[-k:].flip(0)
            v = q @ top
            residual = (z @ top - v * theta).norm(dim=0).max()  # z @ top = G v
            if residual <= tol * theta[0]:
                return v
            q, _ = torch.linalg.qr(z)
    _, evecs = torch.linalg.eigh(gram)  # ascending eigenvalues: columns are right singular vectors of H
    return evecs[:, -k:].flip(1)


def _gram_alignment(weight: torch.Tensor, gram: torch.Tensor, n_rows: int, top_k: int) -> torch.Tensor:
    w = weight.detach().reshape(weight.shape[0], -1)
    k = min(top_k, w.shape[0], w.shape[1], n_rows)
    vw = top_right_singular_vectors(w, k)
    vh = top_eigenvectors(gram, k).T
    return (vw @ vh.T.to(vw.device)).abs()


def _readable(module: nn.Module) -> bool:
    """A Linear, or an ungrouped Conv2d: the layers whose weight we can set against their input."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return False
    if isinstance(module, nn.Conv2d):
        return module.groups == 1
    return isinstance(module, nn.Linear) and w.ndim == 2


def alignment_gram_mb(module: nn.Module) -> float:
    """MiB of the float64 input Gram that measuring `module` accumulates (0 for a layer we cannot read)."""
    return module.weight[0].numel() ** 2 * 8 / 2**20 if _readable(module) else 0.0


@torch.no_grad()
def layers_alignment(model: nn.Module, weight_modules: list[nn.Module], x: torch.Tensor, *, top_k: int = 15,
                     batch_size: int = 512, device="cpu", patches_per_image: int = 8, seed: int = 0
                     ) -> list[torch.Tensor | None]:
    """The alignment matrix of each module in `weight_modules`, from ONE pass of `x` through `model` (None for a
    module we cannot read: no 2-D-able weight, grouped conv). Every module gets its own patch generator seeded
    with `seed`, so a module's matrix does not depend on which others are measured beside it. Memory: one
    d × d float64 Gram per module (`alignment_gram_mb`); the caller chooses how many to measure at once."""
    states: dict[int, dict] = {}
    handles = []

    def make_hook(state):
        def hook(mod, inputs, _out):
            h, d = inputs[0].detach(), state["d"]
            if isinstance(mod, nn.Conv2d):
                cols = F.unfold(h.float(), mod.kernel_size, dilation=mod.dilation, padding=mod.padding,
                                stride=mod.stride)  # (B, in·kh·kw, L)
                pos = torch.randint(cols.shape[2], (cols.shape[0], min(patches_per_image, cols.shape[2])),
                                    generator=state["gen"]).to(cols.device)
                rows = torch.gather(cols, 2, pos.unsqueeze(1).expand(-1, cols.shape[1], -1))  # (B, d, p)
                rows = rows.permute(0, 2, 1).reshape(-1, d)
            else:
                rows = h.reshape(-1, d)
            r64 = rows.double()
            state["gram"] += r64.T @ r64
            state["rows"] += rows.shape[0]
        return hook

    try:
        for module in weight_modules:
            if not _readable(module) or id(module) in states:
                continue
            d = module.weight[0].numel()
            state = {"d": d, "gram": torch.zeros(d, d, dtype=torch.float64, device=device), "rows": 0,
                     "gen": torch.Generator().manual_seed(seed)}
            states[id(module)] = state
            handles.append(module.register_forward_hook(make_hook(state)))
        if states:
            for lo in range(0, x.shape[0], batch_size):
                model(x[lo:lo + batch_size].to(device))
    finally:
        for handle in handles:
            handle.remove()
    out = []
    for module in weight_modules:
        state = states.get(id(module))
        out.append(None if state is None or state["rows"] == 0
                   else _gram_alignment(module.weight, state["gram"], state["rows"], top_k))
    return out


def layer_alignment(model: nn.Module, weight_module: nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor | None:
    """The alignment matrix of one layer on inputs `x` (see `layers_alignment`, which measures several at once)."""
    return layers_alignment(model, [weight_module], x, **kwargs)[0]
