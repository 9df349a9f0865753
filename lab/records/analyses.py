"""The record of how each (run, epoch) was measured: the `analyses` table, written beside the rows.

Measuring a checkpoint writes its rows as shards named `analysis-eNNNN` (one per table, per run): measuring
it again replaces them, whatever settings it used. The `analyses` shard of the same name records which
settings those rows came from (`settings_hash`, over everything the rows depend on besides the weights),
so re-analysis can skip a checkpoint already measured the same way, and a reader can tell two runs measured
differently apart. Read from the shards directly: no ingest needed to plan a re-analysis.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.settings import AnalysisSettings
from lab.records.provenance import code_version
from warehouse import Home, write_shard

MEASURED_TABLES = ("layer_metrics", "run_metrics", "alignment")


def shard_name(epoch: int) -> str:
    return f"analysis-e{epoch:04d}"


def task_id(run_id: str, epoch: int) -> str:
    """The id an analysis job's task reports its status under (never the run's own: re-analysing a run must not
    change whether it finished, diverged or failed)."""
    return f"{run_id}-e{epoch:04d}"


def measuring_spec(settings: AnalysisSettings, ood: Iterable[str], **extra: Any) -> dict[str, Any]:
    """Everything the rows depend on besides the weights: settings, OOD sets (order does not matter), extras."""
    return {"settings": settings.to_dict(), "ood": sorted(ood), **extra}


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=list).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Measurement:
    """One analysis of one (run, epoch) while it happens: the `analyses` row it ends with."""

    run_id: str
    epoch: int
    settings: AnalysisSettings
    ood: tuple[str, ...]
    sweep_id: str
    spec: dict[str, Any] = field(default_factory=dict)  # measuring_spec(...) with the task's extras
    taps: str = "declared"
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.spec = self.spec or measuring_spec(self.settings, self.ood)

    def row(self, status: str, n_rows: int, message: str = "") -> dict[str, Any]:
        return dict(run_id=self.run_id, epoch=self.epoch, settings_hash=spec_hash(self.spec),
                    settings_json=self.settings.to_json(), ood=list(self.ood),
                    spec_json=json.dumps(self.spec, sort_keys=True, default=list), taps=self.taps,
                    checkpoint=self.checkpoint, checkpoint_sha256=self.checkpoint_sha256, sweep_id=self.sweep_id,
                    status=status, message=message, n_rows=n_rows, wall_s=time.perf_counter() - self.started,
                    code_version=code_version(), analysed_at=datetime.now(UTC))

    def write(self, rows: dict[str, list[dict]], where: Home, failure: BaseException | None = None) -> None:
        """The measured rows (every table, empty ones too: they replace what an earlier analysis wrote), then
        this record. A failure keeps the rows measured before it and says why."""
        name = shard_name(self.epoch)
        for table in MEASURED_TABLES:
            write_shard(table, rows.get(table, []), owner=self.run_id, name=name, where=where)
        n = sum(len(rows.get(t, [])) for t in MEASURED_TABLES)
        message = "" if failure is None else (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        write_shard("analyses", [self.row("failed" if failure else "finished", n, message)], owner=self.run_id,
                    name=name, where=where)


def recorded(where: Home, run_id: str, epoch: int) -> dict[str, Any] | None:
    """The `analyses` row of (run, epoch) as its shard holds it now, None when it was never recorded."""
    import pyarrow.parquet as pq

    path = where.shards / "analyses" / run_id / f"{shard_name(epoch)}.parquet"
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError):
        return None
    return rows[0] if rows else None


def already_measured(where: Home, run_id: str, epoch: int, spec: dict[str, Any]) -> bool:
    """Whether (run, epoch)'s current rows were measured, to the end, exactly as `spec` says."""
    row = recorded(where, run_id, epoch)
    return row is not None and row["status"] == "finished" and row["settings_hash"] == spec_hash(spec)
