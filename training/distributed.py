"""DistributedDataParallel set-up: one task per GPU, from submitit's (Slurm's) or torchrun's environment.

- Under submitit with more than one task (`SUBMITIT_EXECUTOR` set, `SLURM_NTASKS` > 1), submitit's
  `TorchDistributedEnvironment` exports MASTER_ADDR/PORT (first host of the job, a port derived from
  the job id), RANK, WORLD_SIZE and LOCAL_RANK; under torchrun they are already set.
- Each rank uses GPU `LOCAL_RANK` (NCCL); on CPU-only machines the gloo backend.
- Data: every rank draws the same global batch (same seed) and trains on its share
  (training/fast.py); the loss is scaled so DDP's gradient average equals the gradient of the
  global batch's mean loss, so a run on W ranks matches a single-process run with the same global
  batch (up to float summation order). BatchNorm is converted to SyncBatchNorm on GPUs so its
  statistics are the global batch's too (on CPU/gloo they stay per rank: the CPU test uses an MLP).
- Metrics (loss sums, correct counts) are all-reduced before rank 0 alone logs them, writes the
  shards and saves checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            tdist.barrier()

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """All-reduce (sum) in place across ranks; a no-op for one process."""
        if self.active:
            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        return tensor


SINGLE = DistInfo()


def env_info() -> DistInfo:
    """Rank, world size and local rank from the environment (submitit first, then torchrun's variables)."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(info: DistInfo | None = None, backend: str | None = None) -> DistInfo:
    """Join the process group (env:// initialisation) when there is more than one task; idempotent."""
    info = info or env_info()
    if not info.active or tdist.is_initialized():
        return info
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(info.local_rank)
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"distributed run without {', '.join(missing)}; start it with submitit (tasks_per_node = GPUs) "
                           "or torchrun")
    tdist.init_process_group(backend or ("nccl" if cuda else "gloo"), rank=info.rank, world_size=info.world)
    return info


def teardown() -> None:
    if tdist.is_initialized():
        tdist.destroy_process_group()


def device_for(info: DistInfo) -> torch.device:
    return torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def wrap(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """DDP around `model` for a multi-rank run (SyncBatchNorm on GPUs); the model itself otherwise."""
    if not info.active:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DDP(model, device_ids=[device.index])
    return DDP(model)
