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


def top_eigenvectors(gram: torch.Tensor, k: int, *, max_iterations: int = 25, tol: float = 1e-9,
                     seed: int = 0) -> torch.Tensor:
    """(d, k) eigenvectors of the symmetric PSD `gram` for its k largest eigenvalues, largest first.

    Up to EIGH_MAX_DIM a full `eigh`. Above it (a 512-channel 3×3 conv reads 4,608-dim patches, whose full
    eigh takes ~15 s on one CPU thread) seeded block subspace iteration with 3k columns and a Rayleigh–Ritz
    step, stopped when every Ritz pair's residual ‖Gv − θv‖ is below `tol`·θ₁; a spectrum too flat to
    converge in `max_iterations` (where the individual top vectors are barely defined anyway) falls back to
    the full eigh, so the answer is eigh's either way. Tests compare both paths with eigh.
    """
    d = gram.shape[0]
    if d > EIGH_MAX_DIM:
        block = min(d, 3 * k)
        q = torch.randn(d, block, generator=torch.Generator().manual_seed(seed), dtype=gram.dtype).to(gram.device)
        for _ in range(max_iterations):
            q, _ = torch.linalg.qr(gram @ q)
            theta, ritz = torch.linalg.eigh(q.T @ gram @ q)
            v, theta = (q @ ritz)[:, -k:].flip(1), theta[-k:].flip(0)
            residual = (gram @ v - v * theta).norm(dim=0).max()
            if residual <= tol * theta[0]:
                return v
    _, evecs = torch.linalg.eigh(gram)  # ascending eigenvalues: columns are right singular vectors of H
    return evecs[:, -k:].flip(1)


def _gram_alignment(weight: torch.Tensor, gram: torch.Tensor, n_rows: int, top_k: int) -> torch.Tensor:
    w = weight.detach().reshape(weight.shape[0], -1)
    k = min(top_k, w.shape[0], w.shape[1], n_rows)
    vw = top_right_singular_vectors(w, k)
    vh = top_eigenvectors(gram, k).T
    return (vw @ vh.T.to(vw.device)).abs()


@torch.no_grad()
def layer_alignment(model: nn.Module, weight_module: nn.Module, x: torch.Tensor, *, top_k: int = 15,
                    batch_size: int = 512, device="cpu", patches_per_image: int = 8, seed: int = 0
                    ) -> torch.Tensor | None:
    """The alignment matrix of one layer on inputs `x`, or None for a module we cannot read (no 2-D-able weight,
    grouped conv)."""
    w = getattr(weight_module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None
    is_conv = isinstance(weight_module, nn.Conv2d)
    if is_conv and weight_module.groups != 1:
        return None
    if not is_conv and (w.ndim != 2 or not isinstance(weight_module, nn.Linear)):
        return None
    d = w[0].numel()
    state = {"gram": torch.zeros(d, d, dtype=torch.float64, device=device), "rows": 0}
    gen = torch.Generator().manual_seed(seed)

    def hook(mod, inputs, _out):
        h = inputs[0].detach()
        if is_conv:
            cols = F.unfold(h.float(), mod.kernel_size, dilation=mod.dilation, padding=mod.padding,
                            stride=mod.stride)  # (B, in·kh·kw, L)
            pos = torch.randint(cols.shape[2], (cols.shape[0], min(patches_per_image, cols.shape[2])),
                                generator=gen).to(cols.device)
            rows = torch.gather(cols, 2, pos.unsqueeze(1).expand(-1, cols.shape[1], -1))  # (B, d, p)
            rows = rows.permute(0, 2, 1).reshape(-1, d)
        else:
            rows = h.reshape(-1, d)
        r64 = rows.double()
        state["gram"] += r64.T @ r64
        state["rows"] += rows.shape[0]

    handle = weight_module.register_forward_hook(hook)
    try:
        for lo in range(0, x.shape[0], batch_size):
            model(x[lo:lo + batch_size].to(device))
    finally:
        handle.remove()
    if state["rows"] == 0:
        return None
    return _gram_alignment(w, state["gram"], state["rows"], top_k)
