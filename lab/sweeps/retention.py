"""How many superseded checkpoint folders a run keeps (THERMOSCOPE_KEEP_SUPERSEDED).

`--force` on a finished run moves its checkpoints aside as `<run_id>.superseded-<UTC time>` (lab/sweeps/launch.py)
instead of deleting them, so a mistaken --force loses nothing. Without a limit every --force keeps one more
copy; after a successful submission the oldest beyond the setting are deleted (the names sort by time).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from thermoscope import env
from warehouse import Home

MARK = ".superseded-"


def superseded(where: Home, run_id: str) -> list[Path]:
    """The run's superseded checkpoint folders, oldest first."""
    if not where.checkpoints.is_dir():
        return []
    return sorted(p for p in where.checkpoints.glob(f"{run_id}{MARK}*") if p.is_dir())


def prune_superseded(where: Home, run_ids: list[str], keep: int | None = None) -> list[Path]:
    """Delete all but the newest `keep` (default THERMOSCOPE_KEEP_SUPERSEDED) superseded folders of each run;
    returns what was deleted."""
    keep = max(0, env.KEEP_SUPERSEDED.get() if keep is None else keep)
    gone = []
    for run_id in run_ids:
        folders = superseded(where, run_id)
        for folder in folders[: max(0, len(folders) - keep)]:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone
