"""OOD detection: scores (higher = more in-distribution) and AUROC / FPR at 95% TPR, ID as the positive class.

Scores (**our definitions** where the paper leaves them open, recorded in each row's detail):
- 'msp_T'  max softmax(z / T) at the training temperature T;   'msp_T1'  max softmax(z) (T = 1);
- 'energy' logsumexp(z) (the negative free energy at temperature 1, Liu et al. 2020);
- 'neco'   ‖P_k h‖ / ‖h‖ with h the penultimate feature standardised by ID-train mean/std, P_k the top-k
           principal components of the standardised ID-train features (k = number of classes by default);
  'neco_maxlogit' neco × max logit (the variant NECO uses for ViTs).
"""

from __future__ import annotations

import torch


def _scores_1d(s: torch.Tensor, what: str) -> torch.Tensor:
    s = torch.as_tensor(s).detach().double().flatten().cpu()
    if s.numel() == 0:
        raise ValueError(f"{what} scores are empty")
    if not bool(torch.isfinite(s).all()):
        raise ValueError(f"{what} scores hold NaN/inf")
    return s


def auroc(id_scores: torch.Tensor, ood_scores: torch.Tensor) -> float:
    """Area under the ROC curve for telling ID (positive, higher score) from OOD; ties count one half."""
    a, b = _scores_1d(id_scores, "ID"), _scores_1d(ood_scores, "OOD")
    allv = torch.cat([a, b])
    order = torch.argsort(allv, stable=True)
    ranks = torch.empty_like(allv)
    ranks[order] = torch.arange(1, allv.numel() + 1, dtype=torch.float64)
    uniq, inverse, counts = torch.unique(allv, return_inverse=True, return_counts=True)
    sums = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, ranks)
    ranks = (sums / counts)[inverse]  # average ranks of ties (Mann–Whitney)
    n1, n2 = a.numel(), b.numel()
    u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    return u / (n1 * n2)


def fpr_at_tpr(id_scores: torch.Tensor, ood_scores: torch.Tensor, tpr: float = 0.95) -> float:
    """Fraction of OOD samples accepted (score ≥ t) at the largest threshold t that accepts ≥ `tpr` of ID."""
    a, b = _scores_1d(id_scores, "ID"), _scores_1d(ood_scores, "OOD")
    a_sorted = torch.sort(a, descending=True).values
    k = max(int(torch.ceil(torch.tensor(tpr * a.numel() - 1e-9))), 1)
    threshold = a_sorted[k - 1]
    return float((b >= threshold).double().mean())


class NecoFit:
    """NECO's ID statistics: standardisation and the top-k principal directions of ID-train features."""

    def __init__(self, train_features: torch.Tensor, k: int) -> None:
        z = train_features.detach().double()
        self.mean = z.mean(0)
        std = z.std(0)
        self.std = torch.where(std > 0, std, torch.ones_like(std))  # constant features: scale 1 (as sklearn)
        z = (z - self.mean) / self.std
        z = z - z.mean(0)
        self.k = int(min(k, z.shape[0], z.shape[1]))
        # exact PCA through the Gram on the smaller side
        if z.shape[0] >= z.shape[1]:
            evals, evecs = torch.linalg.eigh(z.T @ z)
            self.components = evecs[:, -self.k:]  # (d, k)
        else:
            evals, evecs = torch.linalg.eigh(z @ z.T)
            u = evecs[:, -self.k:]
            v = z.T @ u
            self.components = v / v.norm(dim=0, keepdim=True).clamp_min(1e-300)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        z = (features.detach().double().to(self.mean.device) - self.mean) / self.std
        return (z @ self.components).norm(dim=1) / z.norm(dim=1).clamp_min(1e-300)


def ood_scores(logits: torch.Tensor, temperature: float = 1.0, features: torch.Tensor | None = None,
               neco: NecoFit | None = None) -> dict[str, torch.Tensor]:
    """Every score for one set of samples: {'msp_T', 'msp_T1', 'energy'} (+ 'neco', 'neco_maxlogit')."""
    z = logits.detach().double()
    out = {"msp_T": torch.softmax(z / temperature, 1).max(1).values, "msp_T1": torch.softmax(z, 1).max(1).values,
           "energy": torch.logsumexp(z, 1)}
    if neco is not None and features is not None:
        out["neco"] = neco.score(features)
        out["neco_maxlogit"] = out["neco"] * z.max(1).values.to(out["neco"].device)
    return out


_DETAIL = {"msp_T": "max softmax(z/T), T = training temperature", "msp_T1": "max softmax(z)",
           "energy": "logsumexp(z) (negative energy, T_e = 1)",
           "neco": "||P_k h|| / ||h||, standardised penultimate features, PCA on ID train",
           "neco_maxlogit": "neco x max logit"}


def detection_metrics(id_logits, ood_logits, *, temperature: float, id_train_features=None, id_features=None,
                      ood_features=None, neco_dim: int = 10, tpr: float = 0.95) -> dict[str, tuple[float, dict]]:
    """{'auroc_<score>': (value, detail), 'fpr95_<score>': ...} for every score of `ood_scores`."""
    neco = None
    if id_train_features is not None and id_features is not None and ood_features is not None:
        neco = NecoFit(id_train_features, neco_dim)
    sid = ood_scores(id_logits, temperature, id_features, neco)
    sood = ood_scores(ood_logits, temperature, ood_features, neco)
    out = {}
    for name in sid:
        detail = {"score": _DETAIL[name], "positive": "ID", "temperature": temperature}
        if name.startswith("neco"):
            detail["k"] = neco.k
        out[f"auroc_{name}"] = (auroc(sid[name], sood[name]), dict(detail))
        out[f"fpr95_{name}"] = (fpr_at_tpr(sid[name], sood[name], tpr), dict(detail, tpr=tpr))
    return out
