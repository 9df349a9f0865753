"""The sweep manifest, `$THERMOSCOPE_HOME/jobs/<sweep_id>/sweep.json`: which job runs which runs.

`status` and `cancel` start from it (a new process knows nothing else); it is written atomically
after a successful submission, so a refused sweep has none.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from warehouse import Home


def sweep_id_for(unit_ids: list[str]) -> str:
    """A new sweep id for these runs or analysis tasks: 'YYYYmmdd-HHMMSS-xxxxxx', sortable by time; the suffix mixes
    in randomness so that the same sweep launched twice in one second still gets two ids (and two manifests)."""
    seed = "".join(sorted(unit_ids)) + secrets.token_hex(8)
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{hashlib.sha256(seed.encode()).hexdigest()[:6]}"


class UnknownSweep(LookupError):
    pass


@dataclass
class Manifest:
    sweep_id: str
    executor: str  # 'slurm' or 'local'
    folder: str  # submitit folder (logs, pickles)
    jobs: dict[str, list[str]] = field(default_factory=dict)  # job id ('123_4' or a local PID) -> run ids
    max_requeues: int = 3
    submitted_at: float = 0.0  # epoch seconds, just before sbatch: older sacct records are other jobs

    @property
    def run_ids(self) -> list[str]:
        return [r for runs in self.jobs.values() for r in runs]

    def job_of(self, run_id: str) -> str:
        return next(j for j, runs in self.jobs.items() if run_id in runs)

    def save(self, where: Home) -> Path:
        path = manifest_path(where, self.sweep_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".sweep.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)
        return path


def manifest_path(where: Home, sweep_id: str) -> Path:
    return where.jobs / sweep_id / "sweep.json"


def load_manifest(where: Home, sweep_id: str) -> Manifest:
    path = manifest_path(where, sweep_id)
    if "/" in sweep_id or sweep_id.startswith(".") or not path.is_file():
        known = sorted(p.parent.name for p in where.jobs.glob("*/sweep.json")) if where.jobs.exists() else []
        hint = f"known sweeps: {', '.join(known[-5:])}" if known else f"no sweeps under {where.jobs}"
        raise UnknownSweep(f"no sweep {sweep_id!r} in {where.root}; {hint}")
    doc = json.loads(path.read_text())
    known = set(Manifest.__dataclass_fields__)
    return Manifest(**{k: v for k, v in doc.items() if k in known})


def list_sweeps(where: Home) -> list[str]:
    return sorted(p.parent.name for p in where.jobs.glob("*/sweep.json")) if where.jobs.exists() else []
