"""Re-analysis on a real Slurm (tests/slurm/conftest.py): a tiny sweep's kept checkpoints measured again as one
sbatch array with one setting changed; rows replaced, the tasks finished in Slurm's accounting and in `status`."""

from __future__ import annotations

import pytest

from lab.records.manifest import load_manifest
from tests.lab.reanalysis import check_replaced, reanalysed
from tests.slurm.slurmhelp import SLURM_FLAGS

pytestmark = pytest.mark.slurm


def test_a_sweeps_checkpoints_reanalysed_as_one_slurm_array(slurm_cluster, tmp_home, tiny_sweep, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_THREADS", "1")
    sweep_id = tiny_sweep  # trained locally (once per session): the re-analysis is what runs on Slurm here
    out = reanalysed(tmp_home, sweep_id, "--set", "max_samples=100", *SLURM_FLAGS, "--wait")
    check_replaced(tmp_home, sweep_id, out)
    analysis_sweep = out.stdout.split("analysis sweep ", 1)[1].split(":", 1)[0]
    manifest = load_manifest(tmp_home, analysis_sweep)
    assert manifest.executor == "slurm" and len({j.split("_")[0] for j in manifest.jobs}) == 1  # one array
    from warehouse.read import query

    states = query("SELECT DISTINCT job_id, state FROM jobs_latest WHERE sweep_id = ?", [analysis_sweep],
                   where=tmp_home).to_dicts()
    assert {s["job_id"] for s in states} == set(manifest.jobs) and {s["state"] for s in states} == {"COMPLETED"}
