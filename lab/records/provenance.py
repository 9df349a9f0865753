"""Where a result came from: the code that made it and the job it ran in.

Recorded with every run and every measurement, so a number can be traced back to the commit and the job.
"""

from __future__ import annotations

import os
from pathlib import Path


def code_version() -> str:
    """The git commit of this checkout ('' for an installed copy outside git), read without running a shell."""
    root = Path(__file__).resolve().parents[2]  # lab/records/ -> the checkout
    try:
        ref = (root / ".git" / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            ref_path = root / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text().strip()[:12]
            packed = (root / ".git" / "packed-refs").read_text().splitlines()
            return next(line.split()[0][:12] for line in packed if line.endswith(ref[5:]))
        return ref[:12]
    except (OSError, StopIteration):
        return ""


def job_env() -> tuple[str, int, str]:
    """(job id, Slurm's restart count, executor) from submitit/Slurm; the PID when run by hand."""
    try:
        import submitit

        job_id = str(submitit.JobEnvironment().job_id)
    except RuntimeError:
        job_id = f"pid{os.getpid()}"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return job_id, restarts, os.environ.get("SUBMITIT_EXECUTOR", "none")
