"""`AnalysisSettings`: every knob of the analysis, with documented defaults (Table 5 for the paper probe protocol). Torch-free.

A sweep sets them in its `[analysis]` table or with `--set analysis.FIELD=V`; the launcher validates
them like run fields and stores them with the run (`run_configs.analysis_json`). Each setting a
measured row depends on is recorded in that row's `detail`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from thermoscope.fields import ConfigError, check_type, coerce, field_types

PROBE_PROTOCOLS = ("converged", "paper", "both")


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class AnalysisSettings:
    # linear probes: which protocol (docs/methods.md §3)
    probe_protocol: str = _doc("'converged' (L2 logistic regression on standardised features solved to probe_tol), "
                               "'paper' (Table 5: Adam with the probe_epochs/lr/weight_decay/batch below) or 'both' "
                               "(two rows per probe, κ and ρ from each)", "converged")
    probe_l2: float = _doc("converged probes: lambda in mean CE + lambda/2 ||W||^2 (the objective Table 5's weight "
                           "decay 1e-3 regularises toward)", 1e-3)
    probe_tol: float = _doc("converged probes stop when the full objective's gradient norm ||g||_2 <= this "
                            "(a paper-protocol probe is recorded converged only if it ends there too)", 1e-4)
    probe_max_iter: int = _doc("converged probes: L-BFGS iteration cap; a probe stopped by it is stored "
                               "converged = false", 1000)
    # linear probes, paper protocol (Table 5)
    probe_epochs: int = _doc("paper-protocol probe training epochs (Table 5: 50)", 50)
    probe_lr: float = _doc("paper-protocol probe Adam learning rate (Table 5: 1e-3)", 1e-3)
    probe_weight_decay: float = _doc("paper-protocol probe Adam weight decay, torch's L2 form (Table 5: 1e-3)", 1e-3)
    probe_batch: int = _doc("paper-protocol probe batch size [samples] (Table 5: 4096)", 4096)
    probe_standardize: bool = _doc("paper protocol: standardise probe features with train statistics (the paper "
                                   "says nothing: off; converged probes always standardise)", False)
    probe_preact: bool = _doc("train probes on pre-activations too (their rank is always measured)", False)
    # representation capture
    max_samples: int = _doc("samples per split; a fixed seeded subset when a split is larger", 10_000)
    max_features: int = _doc("features per layer; a fixed seeded subset when a layer is wider (the paper's 10,000)",
                             10_000)
    feature_seed: int = _doc("seeds the sample subset, the feature subset and probe shuffling", 0)
    forward_batch: int = _doc("samples per forward pass while capturing representations", 512)
    include_preact: bool = _doc("measure pre-activations (before the non-linearity) as well", True)
    memory_budget_mb: float = _doc("layers whose train+test representations fit in this many MiB are captured and "
                                   "probed together (0 = one layer at a time)", 2048.0)
    # kappa / rho / solution rank
    kappa_threshold: float = _doc("tau: kappa's first layer reaching tau x the best probe accuracy", 0.95)
    kappa_kinds: tuple[str, ...] = _doc("representations kappa and rho count as layers", ("hidden",))
    solution_rank_max_samples: int = _doc("solution rank on the whole ID test split up to this many samples",
                                          100_000)
    # alignment
    alignment_top_k: int = _doc("top singular vectors compared per layer (0 = no alignment)", 15)
    alignment_samples: int = _doc("inputs whose representation enters each weight", 2_000)
    alignment_patches_per_image: int = _doc("conv layers: seeded random patch positions per image", 8)
    # geometry
    orthodev_samples: int = _doc("rows of H in the 'sample' OrthoDev (its Gram is n x n)", 1_000)
    orthodev_center: bool = _doc("class-mean OrthoDev: subtract the global mean first", True)
    neural_collapse: bool = _doc("measure NC1-NC4 per layer and at the penultimate layer", True)
    # OOD detection
    ood_detection: bool = _doc("score OOD detection (MSP, energy, NECO, Mahalanobis) on each OOD set", True)
    neco_dim: int | None = _doc("principal components NECO keeps (none = the number of classes)", None)

    def __post_init__(self) -> None:
        for name, kind in field_types(type(self)).items():  # the types first: a str where an int belongs
            check_type(f"analysis.{name}", kind, getattr(self, name))
        for name in ("probe_epochs", "probe_batch", "probe_max_iter", "max_samples", "max_features", "forward_batch",
                     "solution_rank_max_samples", "alignment_samples", "orthodev_samples",
                     "alignment_patches_per_image"):
            if getattr(self, name) < 1:
                raise ConfigError(f"analysis.{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("alignment_top_k", "feature_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"analysis.{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not (math.isfinite(self.probe_lr) and self.probe_lr > 0):
            raise ConfigError(f"analysis.probe_lr must be a positive finite number, got {self.probe_lr!r}")
        if self.probe_protocol not in PROBE_PROTOCOLS:
            raise ConfigError(f"analysis.probe_protocol must be one of {', '.join(PROBE_PROTOCOLS)}, "
                              f"got {self.probe_protocol!r}")
        for name in ("probe_l2", "probe_tol"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"analysis.{name} must be a positive finite number, got {getattr(self, name)!r}")
        for name in ("probe_weight_decay", "memory_budget_mb"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"analysis.{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if not 0 < self.kappa_threshold <= 1:
            raise ConfigError(f"analysis.kappa_threshold must be in (0, 1], got {self.kappa_threshold!r}")
        if self.neco_dim is not None and self.neco_dim < 1:
            raise ConfigError(f"analysis.neco_dim must be a positive integer or none, got {self.neco_dim!r}")
        known = ("preact", "hidden", "logits", "softmax")
        if not self.kappa_kinds or any(k not in known for k in self.kappa_kinds):
            raise ConfigError(f"analysis.kappa_kinds must name some of {', '.join(known)}, got {self.kappa_kinds!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AnalysisSettings:
        """Settings from TOML/JSON/CLI values (coerced); ConfigError for an unknown name or a wrong value."""
        types_ = field_types(cls)
        unknown = sorted(set(values) - set(types_))
        if unknown:
            raise ConfigError(f"unknown analysis setting(s) {', '.join(map(repr, unknown))}; settings are: "
                              f"{', '.join(types_)}")
        return cls(**{k: coerce(f"analysis.{k}", types_[k], v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=list)

    def probe_protocols(self) -> tuple[str, ...]:
        """The protocols a run is probed with, the primary first (its probe weights feed NC3)."""
        return ("converged", "paper") if self.probe_protocol == "both" else (self.probe_protocol,)

    def replace(self, **changes: Any) -> AnalysisSettings:
        return dataclasses.replace(self, **changes)


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AnalysisSettings))
