"""The inputs analyse_model takes: the data splits and the settings (Table 5 defaults), plus its error type."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Split:
    """One split: `x` already normalised model input (N, ...), `y` int64 labels (N,)."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass(frozen=True)
class AnalysisData:
    id_name: str
    id_train: Split
    id_test: Split
    ood: dict[str, tuple[Split, Split]] = field(default_factory=dict)  # name -> (train, test)


@dataclass(frozen=True)
class AnalysisSettings:
    """Every knob of the analysis; each one a measured row depends on is recorded in its `detail`."""

    # linear probes (Table 5)
    probe_epochs: int = 50
    probe_lr: float = 1e-3
    probe_weight_decay: float = 1e-3
    probe_batch: int = 4096
    probe_standardize: bool = False  # Table 5 says nothing about feature scaling: off by default
    probe_preact: bool = False  # probes on pre-activations too (rank is always measured on them)
    # representation capture
    max_samples: int = 10_000  # per split, a fixed seeded subset when a split is larger
    max_features: int = 10_000  # per layer, a fixed seeded subset of features when a layer is wider
    feature_seed: int = 0  # seeds the sample subset, the feature subset and probe shuffling
    forward_batch: int = 512
    include_preact: bool = True
    # memory: layers whose train+test representations fit in this many MiB are captured and probed
    # together; a chunk always holds at least one layer (0 = strictly one layer at a time)
    memory_budget_mb: float = 2048.0
    # kappa / rho / solution rank
    kappa_threshold: float = 0.95
    kappa_kinds: tuple[str, ...] = ("hidden",)  # which representations kappa and rho count as layers
    solution_rank_max_samples: int = 100_000  # SR on the whole ID test split up to this many samples
    # alignment
    alignment_top_k: int = 15  # 0 = skip the alignment measurement
    alignment_samples: int = 2_000  # inputs whose representation enters each weight
    alignment_patches_per_image: int = 8  # conv: random patch positions per image (seeded)
    # geometry
    orthodev_samples: int = 1_000  # rows of H in the 'sample' OrthoDev (its Gram is n × n)
    orthodev_center: bool = True  # class-mean OrthoDev: subtract the global mean first
    neural_collapse: bool = True
    # OOD detection
    ood_detection: bool = True
    neco_dim: int | None = None  # principal components kept by NECO; None = number of classes

    def __post_init__(self) -> None:
        for name in ("probe_epochs", "probe_batch", "max_samples", "max_features", "forward_batch",
                     "solution_rank_max_samples", "alignment_samples", "orthodev_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AnalysisSettings.{name} must be a positive integer, got {value!r}")
        if isinstance(self.alignment_top_k, bool) or not isinstance(self.alignment_top_k, int) or self.alignment_top_k < 0:
            raise ValueError(f"AnalysisSettings.alignment_top_k must be an integer >= 0 (0 = no alignment), "
                             f"got {self.alignment_top_k!r}")
        if not 0 < self.kappa_threshold <= 1:
            raise ValueError(f"AnalysisSettings.kappa_threshold must be in (0, 1], got {self.kappa_threshold!r}")


class AnalysisError(ValueError):
    """Bad input or a broken model, named in one line; `rows` holds every row measured before it happened.

    The caller can write `err.rows` (same shape as analyse_model's return value) and report `str(err)`.
    """

    def __init__(self, message: str, rows: dict[str, list[dict]] | None = None) -> None:
        super().__init__(message)
        self.rows: dict[str, list[dict]] = rows if rows is not None else {}
