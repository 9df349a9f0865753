"""OOD detection: scores (higher = more in-distribution) and AUROC / FPR at 95% TPR, ID as the positive class.

Scores (**our definitions** where the paper leaves them open, recorded in each row's detail):
- 'msp_T'  max softmax(z / T) at the training temperature T;   'msp_T1'  max softmax(z) (T = 1);
- 'energy' logsumexp(z) (the negative free energy at temperature 1, Liu et al. 2020);
- 'neco'   ‖P_k h‖ / ‖h‖ with h the penultimate feature standardised by ID-train mean/std, P_k the top-k
           principal components of the standardised ID-train features (k = number of classes by default);
  'neco_maxlogit' neco × max logit (the variant NECO uses for ViTs);
- 'mahalanobis' −min_c (h − μ_c)ᵀ Σ⁺ (h − μ_c) (Lee et al. 2018) with μ_c the ID-train class means of the
           penultimate feature h and Σ their shared (tied) within-class covariance; Σ⁺ its pseudo-inverse on
           the directions the numerical-rank rule keeps (see `MahalanobisFit`; rule and kept rank recorded).
"""

from __future__ import annotations

import math

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


def _features_2d(features, what: str) -> torch.Tensor:
    h = torch.as_tensor(features).detach()
    if h.ndim != 2 or h.shape[0] == 0 or h.shape[1] == 0:
        raise ValueError(f"{what} features must be a non-empty (samples, features) matrix, got shape {tuple(h.shape)}")
    if not h.is_floating_point():
        raise ValueError(f"{what} features must be floating point, got {h.dtype}")
    if not bool(torch.isfinite(h).all()):
        raise ValueError(f"{what} features hold NaN/inf; the model diverged or the input is broken")
    return h


class MahalanobisFit:
    """Lee et al. (2018)'s ID statistics: class means μ_c of ID-train features and one shared (tied) covariance
    Σ = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ, in float64. `score` = −min_c (h − μ_c)ᵀ Σ⁺ (h − μ_c).

    Σ⁺ is the pseudo-inverse on the directions whose singular value of the within-class-centred matrix H − M_y
    exceeds σ_max · max(N, d) · eps(feature dtype), i.e. `kept_rank` = that matrix's numerical rank as docs/methods.md
    defines it (torch.linalg.matrix_rank's default); the other directions of h − μ_c contribute nothing.
    """

    # Collapsed features make Σ singular; a ridge ε would be an arbitrary scale, whereas the project's own rank
    # rule separates real directions from the features' rounding noise, whose inverse would dominate the distance.
    RULE = "pinv: keep s_i > s_max*max(N,d)*eps(dtype), s = singular values of H - M_y (matrix_rank default)"

    def __init__(self, train_features: torch.Tensor, train_labels: torch.Tensor) -> None:
        h = _features_2d(train_features, "ID-train")
        y = torch.as_tensor(train_labels).detach()
        if y.ndim != 1 or y.shape[0] != h.shape[0]:
            raise ValueError(f"Mahalanobis needs one label per ID-train feature row, got labels {tuple(y.shape)} "
                             f"for features {tuple(h.shape)}; pass the labels of the same samples, in order")
        if y.is_floating_point() or y.is_complex():
            raise ValueError(f"Mahalanobis needs integer class labels, got {y.dtype}")
        classes, inverse = torch.unique(y.to(h.device), return_inverse=True)
        if classes.numel() < 2:
            raise ValueError(f"Mahalanobis needs ID-train labels of at least two classes, got only class "
                             f"{classes.tolist()}; give the labelled ID-train split")
        n, d = h.shape
        self.dtype = str(h.dtype).replace("torch.", "")
        self.eps = torch.finfo(h.dtype).eps
        h = h.double()
        self.num_classes = int(classes.numel())
        counts = torch.bincount(inverse, minlength=self.num_classes).double()
        means = torch.zeros(self.num_classes, d, dtype=h.dtype, device=h.device).index_add_(0, inverse, h)
        means = means / counts[:, None]
        centred = h - means[inverse]
        _, sv, vh = torch.linalg.svd(centred, full_matrices=False)  # Σ = V diag(sv² / N) Vᵀ
        self.sigma_max = float(sv.max())
        self.tol = self.sigma_max * max(n, d) * self.eps
        keep = sv > self.tol
        self.kept_rank = int(keep.sum())
        # kept_rank 0 (every ID-train sample on its class mean, e.g. a dead network's all-zero features): Σ⁺ = 0,
        # every distance 0, AUROC 0.5 — the pseudo-inverse's own answer, with kept_rank = 0 in the row, rather than
        # an error that would stop the rest of that checkpoint's analysis
        self.rcond = (max(n, d) * self.eps) ** 2  # the same cutoff on Σ's eigenvalues, relative to λ_max
        self.n_train, self.dim = n, d
        # Σ⁺ = W Wᵀ with W = V_r diag(√N / s_r): distances are squared Euclidean after x ↦ (x − centre) W
        self.centre = h.mean(0)
        self.whiten = vh[keep].T * (math.sqrt(n) / sv[keep])  # (d, r)
        self.means_w = (means - self.centre) @ self.whiten  # (C, r)

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """(samples, classes) squared Mahalanobis distances (h − μ_c)ᵀ Σ⁺ (h − μ_c), classes in sorted label order."""
        h = _features_2d(features, "scored")
        if h.shape[1] != self.dim:
            raise ValueError(f"Mahalanobis was fitted on {self.dim} features but got {h.shape[1]}; "
                             "score features of the same layer (and feature subset)")
        z = (h.double().to(self.centre.device) - self.centre) @ self.whiten
        m = self.means_w
        d2 = (z * z).sum(1, keepdim=True) - 2 * (z @ m.T) + (m * m).sum(1)  # expanded quadratic form
        return d2.clamp_min(0)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return -self.distances(features).min(1).values

    def detail(self) -> dict:
        return {"rule": self.RULE, "rcond_eigenvalues": self.rcond, "tol_singular_value": self.tol,
                "sigma_max": self.sigma_max, "eps": self.eps, "dtype": self.dtype, "num_classes": self.num_classes,
                "kept_rank": self.kept_rank, "dim": self.dim, "n_train": self.n_train, "covariance": "tied, 1/N"}


def ood_scores(logits: torch.Tensor, temperature: float = 1.0, features: torch.Tensor | None = None,
               neco: NecoFit | None = None, mahalanobis: MahalanobisFit | None = None) -> dict[str, torch.Tensor]:
    """Every score for one set of samples: {'msp_T', 'msp_T1', 'energy'} (+ 'neco', 'neco_maxlogit',
    'mahalanobis' when features and the fits are given)."""
    z = logits.detach().double()
    out = {"msp_T": torch.softmax(z / temperature, 1).max(1).values, "msp_T1": torch.softmax(z, 1).max(1).values,
           "energy": torch.logsumexp(z, 1)}
    if neco is not None and features is not None:
        out["neco"] = neco.score(features)
        out["neco_maxlogit"] = out["neco"] * z.max(1).values.to(out["neco"].device)
    if mahalanobis is not None and features is not None:
        out["mahalanobis"] = mahalanobis.score(features)
    return out


_DETAIL = {"msp_T": "max softmax(z/T), T = training temperature", "msp_T1": "max softmax(z)",
           "energy": "logsumexp(z) (negative energy, T_e = 1)",
           "neco": "||P_k h|| / ||h||, standardised penultimate features, PCA on ID train",
           "neco_maxlogit": "neco x max logit",
           "mahalanobis": "-min_c (h-mu_c)^T pinv(Sigma) (h-mu_c), ID-train class means, tied covariance (Lee 2018)"}


def detection_metrics(id_logits, ood_logits, *, temperature: float, id_train_features=None, id_features=None,
                      ood_features=None, neco_dim: int = 10, tpr: float = 0.95, id_train_labels=None
                      ) -> dict[str, tuple[float, dict]]:
    """{'auroc_<score>': (value, detail), 'fpr95_<score>': ...} for every score of `ood_scores`.

    NECO needs the three feature sets; Mahalanobis needs them and `id_train_labels` (one per ID-train row)."""
    neco = maha = None
    if id_train_features is not None and id_features is not None and ood_features is not None:
        neco = NecoFit(id_train_features, neco_dim)
        if id_train_labels is not None:
            maha = MahalanobisFit(id_train_features, id_train_labels)
    sid = ood_scores(id_logits, temperature, id_features, neco, maha)
    sood = ood_scores(ood_logits, temperature, ood_features, neco, maha)
    out = {}
    for name in sid:
        detail = {"score": _DETAIL[name], "positive": "ID", "temperature": temperature}
        if name.startswith("neco"):
            detail["k"] = neco.k
        elif name == "mahalanobis":
            detail.update(maha.detail())
        out[f"auroc_{name}"] = (auroc(sid[name], sood[name]), dict(detail))
        out[f"fpr95_{name}"] = (fpr_at_tpr(sid[name], sood[name], tpr), dict(detail, tpr=tpr))
    return out
