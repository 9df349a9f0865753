"""Neural collapse NC1–NC4 (Papyan et al. 2020; the paper's Appendix I; docs/methods.md), computed in float64.

- NC1 = tr(Σ_W Σ_B⁺) / C: within-class covariance against the pseudo-inverse of the between-class covariance.
  Σ_B has rank ≤ C − 1, so Σ_B⁺ is applied through the SVD of the centred means (never a d × d inverse);
  its cut-off is matrix_rank's default (σ_max · max(C, d) · eps).
- NC2 = ‖G/‖G‖_F − (I − 11ᵀ/C)/√(C − 1)‖_F, G the Gram of the centred class means: 0 exactly for a simplex
  ETF (equal norms, cosines −1/(C − 1)).
- NC3 = ‖W/‖W‖_F − M/‖M‖_F‖_F, W the classifier's rows (C × d), M the centred class means (C × d): 0 when
  the classifier is the means up to scale (self-duality). Per layer, the classifier is that layer's ID linear
  probe (**our definition**); at the penultimate layer it is the network's own last layer.
- NC4 = fraction of samples where the nearest-class-mean rule on H disagrees with the given predictions.
Centring uses the global mean of H over all samples.
"""

from __future__ import annotations

import torch

from analysis.orthodev import class_means


def _centred_means(h: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    means, counts = class_means(h, y, num_classes)
    present = counts > 0
    if int(present.sum()) < 2:
        raise ValueError("neural collapse needs at least two classes with samples")
    return means[present] - h.double().mean(0), present


def nc1(h: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> float:
    num_classes = num_classes or int(y.max()) + 1
    h64 = h.double()
    y = y.to(h.device)
    means, counts = class_means(h64, y, num_classes)
    centred, present = _centred_means(h64, y, num_classes)
    c = centred.shape[0]
    # Σ_B = Mᵀ M / C, M = U S Vᵀ  =>  Σ_B⁺ = C · V S⁻² Vᵀ  and  tr(Σ_W Σ_B⁺) = C · Σ_k v_kᵀ Σ_W v_k / s_k²
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    keep = s > s[0] * max(centred.shape) * torch.finfo(torch.float64).eps
    s, vh = s[keep], vh[keep]
    within = h64 - means[y]  # (n, d) deviations from each sample's class mean
    proj = within @ vh.T  # (n, r)
    var = (proj * proj).sum(0) / h64.shape[0]  # v_kᵀ Σ_W v_k
    trace = c * float((var / (s * s)).sum())  # tr(Σ_W Σ_B⁺)
    return trace / c


def nc2(h: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> float:
    centred, _ = _centred_means(h, y.to(h.device), num_classes or int(y.max()) + 1)
    c = centred.shape[0]
    g = centred @ centred.T
    etf = (torch.eye(c, dtype=g.dtype, device=g.device) - 1.0 / c) / (c - 1) ** 0.5
    return float(torch.linalg.matrix_norm(g / torch.linalg.matrix_norm(g) - etf))


def nc3(h: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, num_classes: int | None = None) -> float:
    num_classes = num_classes or int(y.max()) + 1
    centred, present = _centred_means(h, y.to(h.device), num_classes)
    w = weight.double().to(centred.device)
    if w.shape[0] != present.shape[0] or w.shape[1] != centred.shape[1]:
        raise ValueError(f"NC3: classifier {tuple(w.shape)} does not match {num_classes} classes × "
                         f"{centred.shape[1]} features")
    w = w[present]
    return float(torch.linalg.matrix_norm(w / torch.linalg.matrix_norm(w) - centred / torch.linalg.matrix_norm(centred)))


def nc4(h: torch.Tensor, y: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None) -> float:
    num_classes = num_classes or int(y.max()) + 1
    h64 = h.double()
    means, counts = class_means(h64, y.to(h.device), num_classes)
    dist = torch.cdist(h64, means)
    dist[:, counts == 0] = float("inf")
    ncc = dist.argmin(1)
    return float((ncc != predictions.to(ncc.device)).double().mean())


def neural_collapse(h: torch.Tensor, y: torch.Tensor, *, weight: torch.Tensor | None = None,
                    predictions: torch.Tensor | None = None, num_classes: int | None = None) -> dict[str, float]:
    """{'nc1', 'nc2'} plus 'nc3' when a classifier `weight` (C × d) is given, 'nc4' when `predictions` are."""
    num_classes = num_classes or int(y.max()) + 1
    out = {"nc1": nc1(h, y, num_classes), "nc2": nc2(h, y, num_classes)}
    if weight is not None:
        out["nc3"] = nc3(h, y, weight, num_classes)
    if predictions is not None:
        out["nc4"] = nc4(h, y, predictions, num_classes)
    return out
