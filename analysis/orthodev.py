"""OrthoDev (Figure 22): deviation of a layer's representation from orthogonality. The paper gives no formula;
both variants of docs/methods.md are stored, named (**our definition**):

- 'orthodev_sample'    ‖HHᵀ/‖H‖²_F − I/n‖_F over a fixed sample of n rows of H (Daneshmand et al.'s
                       orthogonality gap): 0 iff the n rows are orthogonal with equal norms.
- 'orthodev_classmean' ‖M̂M̂ᵀ − I‖_F / C over the C class means, centred on the global mean of H (when
                       `center`), each normalised to unit length. Note: centred means of balanced classes sum
                       to zero, so they cannot be mutually orthogonal; the floor is the simplex ETF's
                       √(C/(C−1)) / C. With center=False it is 0 for orthogonal class means.
"""

from __future__ import annotations

import torch


def orthodev_sample(h: torch.Tensor, n: int | None = None, seed: int = 0) -> float:
    """Orthogonality gap of (a fixed seeded sample of `n` rows of) H, computed in float64."""
    if h.ndim != 2 or h.shape[0] == 0:
        raise ValueError(f"orthodev needs a non-empty 2-D matrix, got shape {tuple(h.shape)}")
    if n is not None and h.shape[0] > n:
        g = torch.Generator().manual_seed(seed)
        h = h[torch.randperm(h.shape[0], generator=g)[:n].sort().values.to(h.device)]
    h = h.double()
    fro2 = float((h * h).sum())
    if fro2 == 0.0:
        return float("nan")
    g = h @ h.T / fro2
    g.diagonal().sub_(1.0 / h.shape[0])
    return float(torch.linalg.matrix_norm(g))


def class_means(h: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(C × d class means in float64, counts); classes without samples get a zero mean and count 0."""
    h = h.double()
    y = y.to(h.device)
    sums = torch.zeros(num_classes, h.shape[1], dtype=torch.float64, device=h.device).index_add_(0, y, h)
    counts = torch.bincount(y, minlength=num_classes).to(h.device)
    return sums / counts.clamp_min(1).unsqueeze(1).double(), counts


def orthodev_classmean(h: torch.Tensor, y: torch.Tensor, num_classes: int | None = None, center: bool = True
                       ) -> float:
    """‖M̂M̂ᵀ − I‖_F / C over the normalised (centred) class means of the classes present."""
    if num_classes is None:
        num_classes = int(y.max()) + 1
    means, counts = class_means(h, y, num_classes)
    means = means[counts > 0]
    if center:
        means = means - h.double().mean(0)
    norms = means.norm(dim=1, keepdim=True)
    if (norms == 0).any():
        return float("nan")
    m = means / norms
    c = m.shape[0]
    return float(torch.linalg.matrix_norm(m @ m.T - torch.eye(c, dtype=m.dtype, device=m.device))) / c


def orthodev(h: torch.Tensor, y: torch.Tensor | None = None, *, n: int | None = 1_000, seed: int = 0,
             center: bool = True) -> dict[str, float]:
    """Both variants: {'orthodev_sample': ..., 'orthodev_classmean': ...} (class-mean only when `y` given)."""
    out = {"orthodev_sample": orthodev_sample(h, n, seed)}
    if y is not None:
        out["orthodev_classmean"] = orthodev_classmean(h, y, center=center)
    return out
