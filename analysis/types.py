"""The inputs analyse_model takes: the data splits (the settings live in analysis/settings.py), plus its error type."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from analysis.settings import AnalysisSettings

__all__ = ["AnalysisData", "AnalysisError", "AnalysisSettings", "Split"]


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


class AnalysisError(ValueError):
    """Bad input or a broken model, named in one line; `rows` holds every row measured before it happened.

    The caller can write `err.rows` (same shape as analyse_model's return value) and report `str(err)`.
    """

    def __init__(self, message: str, rows: dict[str, list[dict]] | None = None) -> None:
        super().__init__(message)
        self.rows: dict[str, list[dict]] = rows if rows is not None else {}
