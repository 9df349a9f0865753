"""Runnable demonstrations of the appendix (I, J, K): rows for the 'theory' table, computed in float64 torch.

Ranks use torch.linalg.matrix_rank's default rule (σ_max · max(m, n) · eps), as every stored rank does.

- Prop. I.1 ('prop_i1'): a network in neural collapse (features = class means forming a simplex ETF, classifier
  = the means, no bias) has solution rank C − 1. (With a non-zero equal bias on every class the logits gain the
  all-ones direction and the rank is C; the proposition's configuration has none.)
- Prop. J.2 ('prop_j2'): for S with probability-vector columns, r = max_i Σ_{j≠i} ⟨s_i, s_j⟩:
  σ₁ ≤ √(1 + r) and σₙ ≥ √max(1/n − r, 0) (Gershgorin on SᵀS), so σ₁ − σₙ ≤ √(1 + r) − √max(1/n − r, 0).
  The σ₁ part is attained at S = I, the whole bound at S = e₁1ᵀ (every column the same one-hot).
- Figure 21 ('fig21'): column softmax of a rank-1 5 × 5 matrix over temperatures.
- Prop. K.1 ('prop_k1'): B = ÃÃᵀ (unit rows of a Gaussian n × 2) has rank 2, yet row-softmax(cB) has rank n
  for every c from a finite c₀ on (it tends to the identity). c₀ is found on a geometric grid and recorded
  with the grid's resolution ('prop_k1' per n; 'prop_k1_sweep' the rank and σ_min over c for one n).
"""

from __future__ import annotations

import json
import math

import torch

F64 = torch.float64


def _rank(m: torch.Tensor) -> int:
    return int(torch.linalg.matrix_rank(m))


def _rank_appendix(m: torch.Tensor) -> int:
    """The threshold the appendix writes, 1e-8 · max(m, n) (absolute), stored beside PyTorch's rule."""
    return int((torch.linalg.svdvals(m) > 1e-8 * max(m.shape)).sum())


def _row(experiment: str, param_name: str, param: float, metric: str, value: float, **detail) -> dict:
    return dict(experiment=experiment, param_name=param_name, param=float(param), metric=metric,
                value=float(value), detail=json.dumps(detail, sort_keys=True, default=str))


# ---- Prop. I.1 -------------------------------------------------------------------------------------------------


def simplex_etf(num_classes: int, dim: int | None = None, seed: int = 0) -> torch.Tensor:
    """C × d (d ≥ C, default C) rows forming a simplex ETF: unit norms, pairwise cosines −1/(C − 1), mean 0."""
    c = num_classes
    d = dim or c
    if d < c:
        raise ValueError(f"a simplex ETF of {c} classes needs dim >= {c} here, got {d}")
    centred = torch.eye(c, dtype=F64) - 1.0 / c
    q, _ = torch.linalg.qr(torch.randn(d, c, generator=torch.Generator().manual_seed(seed), dtype=F64))
    m = centred @ q.T  # rotate into d dims
    return m / m.norm(dim=1, keepdim=True)


def prop_i1(num_classes: int, per_class: int = 4, dim: int | None = None, seed: int = 0) -> dict:
    """Logits of a collapsed network on `per_class` samples per class; their rank (expected C − 1)."""
    means = simplex_etf(num_classes, dim, seed)
    h = means.repeat_interleave(per_class, 0)  # NC1: every sample sits at its class mean
    logits = h @ means.T  # NC3: classifier rows = class means; no bias
    return {"solution_rank": _rank(logits), "expected": num_classes - 1, "samples": h.shape[0]}


# ---- Prop. J.2 and Figure 21 -----------------------------------------------------------------------------------


def j2_quantities(s: torch.Tensor) -> dict[str, float]:
    """σ₁, σₙ, gap and Prop. J.2's bounds for a matrix whose columns are probability vectors."""
    s = s.to(F64)
    n = s.shape[1]
    g = s.T @ s
    r = float((g.sum(1) - g.diagonal()).max())
    sv = torch.linalg.svdvals(s)
    s1, sn = float(sv[0]), float(sv[n - 1]) if sv.numel() >= n else 0.0
    b1, bn = math.sqrt(1 + r), math.sqrt(max(1.0 / n - r, 0.0))
    return {"sigma1": s1, "sigma_n": sn, "gap": s1 - sn, "r": r, "sigma1_bound": b1, "sigma_n_bound": bn,
            "bound": b1 - bn, "rank": _rank(s), "rank_appendix": _rank_appendix(s)}


def random_column_stochastic(n: int, scale: float, seed: int) -> torch.Tensor:
    z = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=F64) * scale
    return torch.softmax(z, dim=0)


def rank1_matrix(n: int = 5, seed: int = 0) -> torch.Tensor:
    """u vᵀ with v of both signs (so column arg-maxes split between argmax u and argmin u)."""
    g = torch.Generator().manual_seed(seed)
    u, v = torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    if (v > 0).all() or (v < 0).all():
        v[0] = -v[0]
    return torch.outer(u, v)


def fig21(temperatures, n: int = 5, seed: int = 0) -> list[dict]:
    """Per temperature: rank, gap, Prop. J.2 bound, and mean inner product of column pairs whose arg-max is the
    same / different."""
    m = rank1_matrix(n, seed)
    out = []
    for t in temperatures:
        s = torch.softmax(m / t, dim=0)
        q = j2_quantities(s)
        g = s.T @ s
        arg = s.argmax(0)
        same, diff = [], []
        for i in range(n):
            for j in range(i + 1, n):
                (same if arg[i] == arg[j] else diff).append(float(g[i, j]))
        q["inner_same_argmax"] = sum(same) / len(same) if same else float("nan")
        q["inner_diff_argmax"] = sum(diff) / len(diff) if diff else float("nan")
        q["temperature"] = float(t)
        out.append(q)
    return out


# ---- Prop. K.1 -------------------------------------------------------------------------------------------------


K1_GRID = torch.logspace(-6, 4, 201, dtype=F64).tolist()  # c from 1e-6 to 1e4, ratio 10^0.05 ≈ 1.122


def prop_k1_matrix(n: int, seed: int = 0) -> torch.Tensor:
    a = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=F64)
    a = a / a.norm(dim=1, keepdim=True)
    return a @ a.T


def k1_rank(b: torch.Tensor, c: float) -> tuple[int, float, int]:
    """(rank, σ_min, rank under the appendix's threshold) of row-softmax(cB)."""
    s = torch.softmax(c * b, dim=1)
    return _rank(s), float(torch.linalg.svdvals(s)[-1]), _rank_appendix(s)


def prop_k1_c0(n: int, seed: int = 0, grid=None) -> dict:
    """Smallest grid c from which row-softmax(cB) has full rank n at every larger grid point."""
    grid = grid if grid is not None else K1_GRID
    b = prop_k1_matrix(n, seed)
    ranks = [k1_rank(b, c)[0] for c in grid]
    c0 = None
    for k in range(len(grid) - 1, -1, -1):
        if ranks[k] != n:
            break
        c0 = grid[k]
    return {"c0": c0, "rank_B": _rank(b), "ranks": ranks, "grid": grid, "at_grid_start": c0 == grid[0],
            "grid_ratio": grid[1] / grid[0] if len(grid) > 1 else None}


# ---- rows -----------------------------------------------------------------------------------------------------


def theory_rows(seed: int = 0) -> list[dict]:
    """Every demonstration's rows for the 'theory' table (written once by the demo)."""
    rule = {"rank_rule": "sigma_max*max(m,n)*eps(float64)", "seed": seed}
    rows: list[dict] = []
    for c in (3, 5, 10, 20, 100):
        res = prop_i1(c, seed=seed)
        rows.append(_row("prop_i1", "num_classes", c, "solution_rank", res["solution_rank"], **rule,
                         samples=res["samples"], config="features = ETF class means, classifier = means, no bias"))
        rows.append(_row("prop_i1", "num_classes", c, "expected", res["expected"], **rule))
    trial = 0
    for n in (3, 5, 10, 20):
        for scale in (0.1, 1.0, 3.0, 10.0):
            for rep in range(3):
                q = j2_quantities(random_column_stochastic(n, scale, seed * 1000 + trial))
                for metric in ("gap", "bound", "sigma1", "sigma1_bound", "sigma_n", "sigma_n_bound", "r"):
                    rows.append(_row("prop_j2", "trial", trial, metric, q[metric], n=n, logit_scale=scale, rep=rep,
                                     **rule))
                trial += 1
    temps = torch.logspace(-2, 2, 41, dtype=F64).tolist()
    for q in fig21(temps, 5, seed):
        for metric in ("rank", "rank_appendix", "gap", "bound", "inner_same_argmax", "inner_diff_argmax"):
            extra = {"rank_rule": "1e-8*max(m,n)"} if metric == "rank_appendix" else {}
            rows.append(_row("fig21", "temperature", q["temperature"], metric, q[metric], n=5, **{**rule, **extra}))
    for n in (4, 8, 16, 32, 64):
        res = prop_k1_c0(n, seed)
        rows.append(_row("prop_k1", "n", n, "c0", res["c0"] if res["c0"] is not None else float("nan"), **rule,
                         grid="logspace(-6, 4, 201)", grid_ratio=res["grid_ratio"],
                         at_grid_start=res["at_grid_start"]))
        rows.append(_row("prop_k1", "n", n, "rank_B", res["rank_B"], **rule))
    b = prop_k1_matrix(16, seed)
    for c in torch.logspace(-2, 4, 49, dtype=F64).tolist():
        r, smin, r_app = k1_rank(b, c)
        rows.append(_row("prop_k1_sweep", "c", c, "rank", r, n=16, **rule))
        rows.append(_row("prop_k1_sweep", "c", c, "rank_appendix", r_app, n=16, rank_rule="1e-8*max(m,n)"))
        rows.append(_row("prop_k1_sweep", "c", c, "sigma_min", smin, n=16, **rule))
    return rows
