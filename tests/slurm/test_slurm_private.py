"""A sweep run by real Slurm jobs leaves only owner-only files in the home (thermoscope/private.py): sbatch
passes the submitter's narrowed umask to the job (SLURM_UMASK), and each job narrows its own again when it
resolves the home. The launcher runs with umask 022, so what is measured is Thermoscope's doing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.slurm.slurmhelp import SLURM_FLAGS, sets

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_a_slurm_job_writes_owner_only_files(slurm_cluster):
    base = Path(tempfile.mkdtemp(prefix="thermoscope-private-slurm-", dir="/tmp"))
    os.chmod(base, 0o755)  # a folder anyone may enter: only the home's own modes keep others out
    try:
        root = base / "home"
        env = dict(os.environ, PYTHONPATH=str(ROOT), THERMOSCOPE_HOME=str(root), THERMOSCOPE_THREADS="1")
        env.pop("THERMOSCOPE_SHARE_GROUP", None)
        out = subprocess.run([sys.executable, "-m", "training.launch", *sets(temperature=1, seed=0), *SLURM_FLAGS,
                              "--wait"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
                             preexec_fn=lambda: os.umask(0o022))
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        modes = {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in root.rglob("*")}
        assert any(p.startswith("jobs/") and p.endswith("_log.out") for p in modes), sorted(modes)[:20]
        assert any(p.startswith("checkpoints/") for p in modes) and "warehouse.duckdb" in modes
        loose = {p: oct(m) for p, m in modes.items() if m & 0o077}
        assert not loose, f"readable by others: {loose}"
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(base, ignore_errors=True)
