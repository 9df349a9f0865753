"""Where Thermoscope keeps its state: `THERMOSCOPE_HOME` (default `./thermoscope-home`).

    $THERMOSCOPE_HOME/
      shards/<table>/<run_id>/<name>.parquet   rows written by jobs (append-only, atomic)
      quarantine/                                shards that could not be read, with a .reason file
      checkpoints/<run_id>/                      model checkpoints
      jobs/<sweep_id>/                           submitit folders (logs, pickles)
      warehouse.duckdb                           the database the app and users query
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def database(self) -> Path:
        return self.root / "warehouse.duckdb"

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.checkpoints / run_id


def home(root: str | os.PathLike | None = None) -> Home:
    """The Thermoscope home: `root` if given, else `$THERMOSCOPE_HOME`, else `./thermoscope-home`."""
    chosen = root if root is not None else os.environ.get("THERMOSCOPE_HOME", "thermoscope-home")
    return Home(Path(chosen).expanduser().resolve())
