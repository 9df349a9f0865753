"""Thermoscope's analysis: a model plus its LayerTaps and data -> warehouse rows (see README.md here).

Every measurement is a plain function importable from here, e.g. `from analysis import numerical_rank`.
This package imports neither `training` nor `warehouse` nor `lab`: it works on any `nn.Module`.

Names load lazily (PEP 562): `from analysis.settings import AnalysisSettings` is torch-free, so the
launcher and the dashboard validate analysis settings without loading torch; any measurement loads it.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "alignment_matrix": "alignment", "layer_alignment": "alignment",
    "Rep": "capture", "capture": "capture", "feature_subset": "capture", "reps_from_taps": "capture",
    "sample_subset": "capture",
    "nc1": "collapse", "nc2": "collapse", "nc3": "collapse", "nc4": "collapse", "neural_collapse": "collapse",
    "init_norm_rows": "logits", "logits_norm": "logits", "softmax_ranks": "logits",
    "MahalanobisFit": "ood", "NecoFit": "ood", "auroc": "ood", "detection_metrics": "ood", "fpr_at_tpr": "ood",
    "ood_scores": "ood",
    "orthodev": "orthodev", "orthodev_classmean": "orthodev", "orthodev_sample": "orthodev",
    "Probe": "probes", "linear_probe_accuracies": "probes", "train_probes": "probes",
    "numerical_rank": "rank", "rank_tolerance": "rank", "rank_with_detail": "rank", "solution_rank": "rank",
    "analyse_model": "run",
    "LayerTap": "taps",
    "TapError": "discover", "TapSet": "discover", "discover_taps": "discover", "model_taps": "discover",
    "untouched": "guard",
    "theory_rows": "theory",
    "kappa": "tunnel", "kappa_detail": "tunnel", "rho": "tunnel", "rho_detail": "tunnel",
    "AnalysisData": "types", "AnalysisError": "types", "Split": "types",
    "AnalysisSettings": "settings", "SETTING_NAMES": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"analysis.{module}"), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
