"""Runs of networks Thermoscope did not train: their identity and the rows that make them runs like any other.

An outside run is 'analysed' (measured here from a weights file, `python -m analysis analyse-model`) or
'tracked' (measured while the user's own loop trains it, `lab.Tracker`). Its `run_configs` row holds what
is known: `arch` (the model spec, e.g. 'timm:resnet18', or the tracked model's class), `dataset`, `ood`,
`temperature` (the T it was trained with, as the user states it; 1 = plain cross-entropy), its name, tags
and note. Every other config column is NULL, never a guess; `config_json` holds the same known values.

Its run id is the first 16 hex digits of the SHA-256 of {source, model, classes, dataset, temperature,
identity}, where the identity is the run's name when it has one, else the weights file's SHA-256 (a
tracker without a name gets a fresh random identity). So analysing the same file twice, or several
epochs' files under one --name, lands in one run, whose rows per epoch are replaced, never duplicated;
OOD sets and analysis settings are not part of it (measuring differently is not another network).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analysis.settings import AnalysisSettings
from lab.records.configs import RunLabels
from lab.records.provenance import code_version
from warehouse import Home, write_shard

SOURCES = ("analysed", "tracked")


@dataclass(frozen=True)
class OutsideRun:
    source: str  # 'analysed' | 'tracked'
    model: str  # 'timm:resnet18', 'torchvision:resnet18', 'module:pkg.mod:factory', or a tracked model's class
    dataset: str
    temperature: float
    num_classes: int
    identity: str  # the name, else the weights' SHA-256 (or a tracker's random token)
    ood: tuple[str, ...] = ()
    labels: RunLabels = RunLabels()
    known: dict[str, Any] = field(default_factory=dict)  # more known facts for config_json (weights, preprocessing)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"an outside run is {' or '.join(SOURCES)}, not {self.source!r}")

    @property
    def run_id(self) -> str:
        key = {"source": self.source, "model": self.model, "num_classes": self.num_classes, "dataset": self.dataset,
               "temperature": float(self.temperature), "identity": self.identity}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def config(self) -> dict[str, Any]:
        """What is known about the network, as its config_json."""
        return {"source": self.source, "arch": self.model, "dataset": self.dataset, "ood": list(self.ood),
                "temperature": float(self.temperature), "num_classes": self.num_classes, "identity": self.identity,
                **self.known}

    def config_row(self, sweep_id: str, settings: AnalysisSettings) -> dict[str, Any]:
        return dict(run_id=self.run_id, sweep_id=sweep_id, arch=self.model, dataset=self.dataset, ood=list(self.ood),
                    temperature=float(self.temperature),
                    config_json=json.dumps(self.config(), sort_keys=True, default=str),
                    analysis_json=settings.to_json(), source=self.source, name=self.labels.name,
                    tags=list(self.labels.tags), note=self.labels.note, code_version=code_version(),
                    created_at=datetime.now(UTC))

    def write(self, where: Home, sweep_id: str, settings: AnalysisSettings, sizes: dict[str, tuple]) -> None:
        """Its run_configs row and its run_datasets rows (classes and sizes of the data as found)."""
        write_shard("run_configs", [self.config_row(sweep_id, settings)], owner=self.run_id, name="config",
                    where=where)
        rows = [dict(run_id=self.run_id, dataset=name, role="id" if name == self.dataset else "ood",
                     num_classes=n_classes, n_train=n_train, n_test=n_test)
                for name, (n_classes, n_train, n_test) in sizes.items()]
        write_shard("run_datasets", rows, owner=self.run_id, name="datasets", where=where)
