"""The real Slurm the integration tests submit to.

`slurm_cluster` uses a cluster that already answers (sinfo shows the node, sacct works) and
otherwise, as root, starts one with slurm/testing/start-local-slurm.sh, stopping at the end only
what it started. Without Slurm the tests skip with the reason printed; under CI=true they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

SCRIPTS = ROOT / "slurm" / "testing"


def _healthy() -> bool:
    try:
        state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=20)
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    words = state.stdout.split()
    return state.returncode == 0 and acct.returncode == 0 and bool(words) and words[0] in ("idle", "mix", "alloc", "comp")


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node Slurm with accounting; yields the partition to use ('gpu')."""
    require(shutil.which("sbatch") is not None, "no sbatch on PATH: Slurm is not installed "
            "(apt-get install slurm-wlm slurmdbd munge mariadb-server, or run under .ci/run)")
    if _healthy():
        yield "gpu"
        return
    require(os.geteuid() == 0, "Slurm daemons are not running and starting them needs root "
            "(run slurm/testing/start-local-slurm.sh as root)")
    state = Path(tempfile.mkdtemp(prefix="thermoscope-test-slurm-"))
    started = subprocess.run(["bash", str(SCRIPTS / "start-local-slurm.sh"), str(state)], capture_output=True,
                             text=True, timeout=300)
    tail = (started.stdout + started.stderr).strip().splitlines()[-3:]
    require(started.returncode == 0 and _healthy(), f"could not start a local Slurm: {' | '.join(tail)}")
    try:
        yield "gpu"
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop-local-slurm.sh"), str(state)], capture_output=True, timeout=120)
