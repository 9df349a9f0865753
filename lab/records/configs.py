"""A run's `run_configs` row: what the launcher (or an outside run) writes once, and reading it back.

The row holds every config field as a column, the whole config and analysis settings as JSON, the code
version and what a person calls the run (its labels). Jobs and re-analysis read single values back from
the run's shard (not the DuckDB file, which a job on a node may not see up to date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analysis.settings import AnalysisSettings
from thermoscope.text import clean_labels
from training.config import RunConfig
from warehouse import Home


@dataclass(frozen=True)
class RunLabels:
    """What a person calls a run: not part of its identity (the same config keeps its id whatever its name)."""

    name: str = ""
    tags: tuple[str, ...] = ()
    note: str = ""

    @classmethod
    def typed(cls, name: str = "", tags: list[str] | tuple[str, ...] | str = (), note: str = "") -> RunLabels:
        """From what a person typed: surrounding blanks dropped; tags split at commas, blanks and repeats dropped;
        control characters stripped and a ConfigError for a label past its length cap."""
        items = tags.split(",") if isinstance(tags, str) else [t for tag in tags for t in tag.split(",")]
        return cls(*clean_labels(name, items, note))  # controls stripped, length caps (thermoscope/text.py)


def config_row(cfg: RunConfig, sweep_id: str, version: str, settings: AnalysisSettings,
               labels: RunLabels = RunLabels(), source: str = "trained") -> dict[str, Any]:
    """The run's `run_configs` row: every config field as its column, the whole config and settings as JSON."""
    row = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.to_dict().items()}
    row.update(run_id=cfg.run_id, sweep_id=sweep_id, config_json=cfg.to_json(), analysis_json=settings.to_json(),
               code_version=version, created_at=datetime.now(UTC), source=source, name=labels.name,
               tags=list(labels.tags), note=labels.note)
    return row


def stored_column(where: Home, run_id: str, column: str) -> Any:
    """One value of the run's `run_configs` shard (as the launcher wrote it), None when it has none."""
    import pyarrow.parquet as pq

    path = where.shards / "run_configs" / run_id / "config.parquet"
    try:
        values = pq.read_table(path, columns=[column]).column(column).to_pylist()
    except (OSError, KeyError, ValueError):
        return None
    return values[0] if values else None


def stored_settings(where: Home, run_id: str) -> dict[str, Any]:
    """The analysis settings a run was launched with (its run_configs shard), {} when none are recorded."""
    import json

    text = stored_column(where, run_id, "analysis_json")
    return json.loads(text) if text else {}
