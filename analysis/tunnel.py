"""κ (effective depth) and ρ (OOD generalisation drop) from per-layer probe accuracy curves (docs/methods.md).

κ = 100 · k / D, k the 1-based position of the first layer whose ID probe accuracy reaches τ · best
(best over the D layers counted); ρ = 100 · (best − last) / best on an OOD accuracy curve, last = the last
counted layer (the last hidden = penultimate layer). Which layers count is the caller's choice; analyse_model
counts the post-activation ('hidden') taps and records them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _curve(accs: Sequence[float], what: str) -> list[float]:
    accs = [float(a) for a in accs]
    if not accs:
        raise ValueError(f"{what} needs at least one layer's accuracy")
    if any(not math.isfinite(a) for a in accs):
        raise ValueError(f"{what}: accuracy curve holds a non-finite value: {accs}")
    return accs


def kappa_detail(accs: Sequence[float], tau: float = 0.95) -> dict:
    """κ with the numbers it came from: value [%], k, D, best, threshold."""
    accs = _curve(accs, "kappa")
    if not 0 < tau <= 1:
        raise ValueError(f"kappa threshold tau must be in (0, 1], got {tau}")
    best = max(accs)
    threshold = tau * best
    k = next(i for i, a in enumerate(accs) if a >= threshold) + 1
    return {"value": 100.0 * k / len(accs), "k": k, "D": len(accs), "best": best, "threshold": threshold, "tau": tau}


def kappa(accs: Sequence[float], tau: float = 0.95) -> float:
    """Effective depth κ [%] of an ID probe accuracy curve (input side first)."""
    return kappa_detail(accs, tau)["value"]


def rho_detail(accs: Sequence[float], last_index: int = -1) -> dict:
    """ρ with the numbers it came from: value [%], best, last, best layer position."""
    accs = _curve(accs, "rho")
    best = max(accs)
    last = accs[last_index]
    value = 100.0 * (best - last) / best if best > 0 else float("nan")
    return {"value": value, "best": best, "last": last, "best_position": accs.index(best), "D": len(accs)}


def rho(accs: Sequence[float], last_index: int = -1) -> float:
    """OOD generalisation drop ρ [%] of an OOD probe accuracy curve; NaN when every accuracy is 0."""
    return rho_detail(accs, last_index)["value"]
