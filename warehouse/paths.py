"""Where Thermoscope keeps its state: `THERMOSCOPE_HOME` (default `./thermoscope-home`).

    $THERMOSCOPE_HOME/
      shards/<table>/<run_id>/<name>.parquet   rows written by jobs (append-only, atomic)
      quarantine/                                shards that could not be read, with a .reason file
      checkpoints/<run_id>/                      model checkpoints
      jobs/<sweep_id>/                           submitit folders (logs, pickles)
      claims/<run_id>                            held by a launcher while it submits the run (lab/sweeps/claims.py)
      warehouse.duckdb                           the published snapshot the app and users query (read-only)
      ingest/working.duckdb                      the ingester's own copy (only `python -m warehouse ingest` opens it)
      ingest.lock                                flock held by the one running ingest
      sql-slots/<i>.lock                         one per sandboxed SQL query that may run at once (slots.py)
      export/                                    `python -m warehouse export` output

Why two DuckDB files: DuckDB refuses a read-only reader while another process holds the file
read-write, so the ingester writes its private working file and then swaps a finished copy in
as `warehouse.duckdb` with an atomic rename; readers are never locked out and see whole batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from thermoscope import env, private


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
    def claims(self) -> Path:
        return self.root / "claims"

    @property
    def database(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def working(self) -> Path:
        return self.root / "ingest" / "working.duckdb"

    @property
    def lock(self) -> Path:
        return self.root / "ingest.lock"

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.checkpoints / run_id


def home(root: str | os.PathLike | None = None) -> Home:
    """The Thermoscope home: `root` if given, else `$THERMOSCOPE_HOME`, else `./thermoscope-home`.

    Private by default (thermoscope/private.py): every process that resolves a home here (the CLI, the
    dashboard's server, each job) writes owner-only files from now on (so the home's folder is created 0700),
    and an existing home of ours left open is tightened once, with one line said; THERMOSCOPE_SHARE_GROUP=1
    shares it with its Unix group instead (docs/cluster.md)."""
    chosen = root if root is not None else env.HOME.get()
    where = Home(Path(chosen).expanduser().resolve())
    p = private.policy()
    private.narrow_umask(p)
    private.secure_root(where.root, p)
    return where
