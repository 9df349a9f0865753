"""The words for Slurm's pending reasons and the partition-fit check, on inputs whose answer is known.

No cluster needed: the fit check takes the partition's size as sinfo reports it (tests/slurm/test_slurm_pending.py
runs both against the real local Slurm)."""

from __future__ import annotations

import pytest

from slurm import SlurmOptions
from slurm.fit import PartitionSize, _gpus, _minutes, misfit
from slurm.pending import explain_pending


@pytest.mark.parametrize("reason, flag", [
    ("PartitionConfig", "--cpus"), ("PartitionTimeLimit", "--time-min"), ("BadConstraints", "--constraint"),
    ("ReqNodeNotAvail, UnavailableNodes:node7", "--partition"), ("QOSMaxCpuPerJobLimit", "--qos"),
    ("QOSMaxWallDurationPerJobLimit", "--time-min"), ("AssocGrpGRES", "--array-parallelism"),
    ("QOSMaxJobsPerUserLimit", "--array-parallelism"), ("InvalidAccount", "--account"),
])
def test_reasons_that_never_resolve_on_their_own_get_words_and_the_flag(reason, flag):
    words = explain_pending(reason)
    assert flag in words and "\n" not in words


@pytest.mark.parametrize("reason", ["Resources", "Priority", "JobArrayTaskLimit", "BeginTime", "None", "", "Dependency"])
def test_reasons_that_resolve_on_their_own_need_no_words(reason):
    assert explain_pending(reason) == ""


NODE = PartitionSize(cpus=2, mem_mb=21694, gpus=0, time_min=None)


def test_the_default_request_on_a_small_cpu_node_names_each_excess_and_the_flags():
    line = misfit(SlurmOptions(partition="gpu"), NODE)  # the defaults: 1 GPU, 8 CPUs, 32 GB
    assert "asked 8 CPUs / 32 GB / 1 GPUs per job" in line
    assert "partition 'gpu' offers at most 2 CPUs / 21 GB / 0 GPUs per node" in line
    assert line.endswith("pass --cpus 2 --mem-gb 21 --gpus 0")


def test_a_request_that_fits_is_silent_and_limits_are_checked_each():
    fits = SlurmOptions(gpus_per_node=0, cpus_per_task=2, mem_gb=21, timeout_min=60)
    assert misfit(fits, NODE) == ""
    assert misfit(SlurmOptions(gpus_per_node=0, cpus_per_task=1, mem_gb=0), NODE) == ""  # 0: the partition's default
    short = PartitionSize(cpus=64, mem_mb=512_000, gpus=4, time_min=120)
    line = misfit(SlurmOptions(gpus_per_node=4, cpus_per_task=8, mem_gb=64, timeout_min=1440), short)
    assert "asked 1440 min" in line and "at most 120 min" in line and line.endswith("--time-min 120")
    # one task per GPU: 4 GPUs x 16 CPUs is 64, which fits; 4 x 17 does not, and the advice is per task
    assert misfit(SlurmOptions(gpus_per_node=4, cpus_per_task=16, mem_gb=64, timeout_min=60), short) == ""
    assert misfit(SlurmOptions(gpus_per_node=4, cpus_per_task=17, mem_gb=64, timeout_min=60), short).endswith(
        "--cpus 16")


@pytest.mark.parametrize("text, minutes", [("infinite", None), ("30:00", 30), ("2:00:00", 120),
                                           ("1-00:00:00", 1440), ("2-12:30:00", 3630), ("45", 45)])
def test_sinfo_time_limits(text, minutes):
    assert _minutes(text) == minutes


@pytest.mark.parametrize("text, gpus", [("(null)", 0), ("gpu:4", 4), ("gpu:a100:8(S:0-1)", 8), ("gpu:2,shard:8", 2),
                                        ("shard:8", 0)])
def test_sinfo_gres(text, gpus):
    assert _gpus(text) == gpus
