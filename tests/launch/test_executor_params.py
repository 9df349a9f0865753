"""The sbatch parameters submitit gets from SlurmOptions (read back from the executor, nothing submitted)."""

import shutil

import pytest

from slurm import SlurmOptions, make_executor
from tests.conftest import require


@pytest.fixture
def slurm_executor(tmp_path):
    require(shutil.which("sbatch") is not None, "needs sbatch on PATH to build a Slurm executor (nothing is submitted)")

    def build(**options):
        return make_executor("slurm", tmp_path / "jobs", SlurmOptions(**options))

    return build


@pytest.mark.parametrize("gpus, tasks, expected", [(0, 1, 1), (1, 1, 1), (4, 1, 4), (2, 3, 3)])
def test_one_task_per_gpu_for_ddp(slurm_executor, gpus, tasks, expected):
    ex = slurm_executor(gpus_per_node=gpus, tasks_per_node=tasks)
    assert ex.parameters["ntasks_per_node"] == expected


def test_signal_comes_before_a_short_limit(slurm_executor):
    assert slurm_executor(timeout_min=2).parameters["signal_delay_s"] == 60
    assert slurm_executor(timeout_min=600).parameters["signal_delay_s"] == 120
