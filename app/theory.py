"""The appendix's demonstrations, computed live in numpy (no torch): small enough to rerun on every slider move.

- Prop. K.1: rows of A (n × 2, Gaussian) normalised, B = ÃÃᵀ has rank 2, yet softmax(cB) row-wise reaches
  rank n once c passes a finite c₀ (it tends to the identity).
- Figure 21 / Prop. J.2: column-wise softmax of a rank-1 5 × 5 matrix over temperatures: inner products of
  columns with different arg-max split from those with the same; the split shrinks the singular-value gap
  σ₁ − σₙ, bounded by √(1+r) − √max(1/n − r, 0), and raises the rank.

Ranks take a tolerance rule: "pytorch" = σ_max · max(m, n) · eps (torch.linalg.matrix_rank's default, what
the warehouse stores) or "appendix" = 1e-8 · max(m, n) (the threshold the appendix writes). In exact
arithmetic softmax(cB) is generically full rank for every c > 0; which c makes it *numerically* full rank
depends on the rule, so the page lets the user pick and shows σ_min too.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


RANK_RULES = ("appendix", "pytorch")


def numerical_rank(s: np.ndarray, rule: str = "pytorch") -> int:
    sv = np.linalg.svd(s, compute_uv=False)
    if rule == "pytorch":
        tol = sv[0] * max(s.shape) * np.finfo(s.dtype).eps
    elif rule == "appendix":
        tol = 1e-8 * max(s.shape)
    else:
        raise ValueError(f"unknown rank rule {rule!r}; choose one of {', '.join(RANK_RULES)}")
    return int((sv > tol).sum())


def prop_k1_matrix(n: int, seed: int = 0) -> np.ndarray:
    """B = ÃÃᵀ for A ~ N(0, 1)^(n×2) with unit rows: a rank-2 Gram matrix of cosines."""
    a = np.random.default_rng(seed).standard_normal((n, 2))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return a @ a.T


def prop_k1(n: int, cs: np.ndarray, seed: int = 0, rule: str = "pytorch") -> pl.DataFrame:
    """Numerical rank of softmax(cB) (row-wise) and its smallest singular value, for each c."""
    b = prop_k1_matrix(n, seed)
    rows = []
    for c in cs:
        s = softmax(c * b, axis=1)
        sv = np.linalg.svd(s, compute_uv=False)
        rows.append(dict(c=float(c), rank=numerical_rank(s, rule), sigma_min=float(sv[-1]),
                         sigma_max=float(sv[0])))
    return pl.DataFrame(rows)


def singular_values(s: np.ndarray) -> pl.DataFrame:
    sv = np.linalg.svd(s, compute_uv=False)
    return pl.DataFrame({"index": np.arange(1, len(sv) + 1), "sigma": sv})


def rank1_matrix(n: int = 5, seed: int = 0) -> np.ndarray:
    """A rank-1 n × n matrix u vᵀ; v has both signs, so the columns' arg-max is argmax(u) or argmin(u)."""
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    if (v > 0).all() or (v < 0).all():
        v[0] = -v[0]
    return np.outer(u, v)


def column_softmax_sweep(m: np.ndarray, temps: np.ndarray, rule: str = "pytorch"
                         ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(inner products per column pair and T, spectrum summary per T) for S(T) = softmax(M / T) column-wise.

    The first frame: T, pair, same_argmax (whether the two columns peak at the same row), inner product.
    The second: T, rank, gap = σ₁ − σₙ, bound = √(1+r) − √max(1/n − r, 0) (Prop. J.2), r.
    """
    n = m.shape[1]
    pairs, spectrum = [], []
    for t in temps:
        s = softmax(m / t, axis=0)
        g = s.T @ s
        arg = s.argmax(axis=0)
        for i in range(n):
            for j in range(i + 1, n):
                pairs.append(dict(T=float(t), pair=f"{i}-{j}", same_argmax=bool(arg[i] == arg[j]),
                                  inner=float(g[i, j])))
        sv = np.linalg.svd(s, compute_uv=False)
        r = float(max(g[i].sum() - g[i, i] for i in range(n)))
        spectrum.append(dict(T=float(t), rank=numerical_rank(s, rule), gap=float(sv[0] - sv[-1]), r=r,
                             bound=float(np.sqrt(1 + r) - np.sqrt(max(1 / n - r, 0.0)))))
    return pl.DataFrame(pairs), pl.DataFrame(spectrum)


def matrix_frame(s: np.ndarray, value: str = "value") -> pl.DataFrame:
    i, j = np.indices(s.shape)
    return pl.DataFrame({"i": i.ravel(), "j": j.ravel(), value: s.ravel()})
