"""`make_executor(kind, folder, options)`: a submitit executor for Slurm or for this machine.

Options are a frozen, strictly validated dataclass (submitit's own parameter names where they
exist), so a typo fails before anything is submitted, with the option's name in the message.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import submitit

EXECUTORS = ("auto", "slurm", "local")


class OptionError(ValueError):
    pass


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = "gpu"
    gpus_per_node: int = 1  # GPUs per job (0 for CPU-only partitions)
    cpus_per_task: int = 8
    mem_gb: int = 32
    timeout_min: int = 24 * 60  # wall-time limit [min]; preempted/timed-out jobs are requeued
    account: str = ""
    qos: str = ""
    constraint: str = ""
    array_parallelism: int = 64  # array tasks running at once
    max_requeues: int = 3  # submitit's max_num_timeout: requeues after time-out/preemption
    nodes: int = 1
    tasks_per_node: int = 1  # one task per GPU for DistributedDataParallel
    additional: dict[str, Any] = field(default_factory=dict)  # extra sbatch flags, e.g. {"exclude": "node7"}

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise OptionError(f"slurm option {f.name} must be an integer >= 0, got {value!r}")
            elif f.type in ("str", str) and not isinstance(value, str):
                raise OptionError(f"slurm option {f.name} must be a string, got {value!r}")
        for name in ("cpus_per_task", "timeout_min", "array_parallelism", "nodes", "tasks_per_node"):
            if getattr(self, name) < 1:
                raise OptionError(f"slurm option {name} must be >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.additional, dict):
            raise OptionError(f"slurm option additional must be a table of sbatch flags, got {self.additional!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SlurmOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise OptionError(f"unknown slurm option(s) {sorted(unknown)}; options are {', '.join(sorted(known))}")
        return cls(**values)


def slurm_available() -> bool:
    return shutil.which("sbatch") is not None


def make_executor(kind: str, folder: Path, options: SlurmOptions | None = None) -> submitit.Executor:
    options = options or SlurmOptions()
    if kind not in EXECUTORS:
        raise OptionError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if kind == "auto":
        kind = "slurm" if slurm_available() else "local"
    if kind == "slurm" and not slurm_available():
        raise OptionError("--executor slurm needs sbatch on PATH; use --executor local on a machine without Slurm")
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=options.timeout_min)
        return executor
    executor = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=options.max_requeues)
    params: dict[str, Any] = dict(
        partition=options.partition, cpus_per_task=options.cpus_per_task, time=options.timeout_min,
        array_parallelism=options.array_parallelism, nodes=options.nodes, ntasks_per_node=options.tasks_per_node,
        signal_delay_s=120,
    )
    if options.mem_gb:
        params["mem"] = f"{options.mem_gb}GB"
    if options.gpus_per_node:
        params["gpus_per_node"] = options.gpus_per_node
    for name in ("account", "qos", "constraint"):
        if getattr(options, name):
            params[name] = getattr(options, name)
    if options.additional:
        params["additional_parameters"] = dict(options.additional)
    executor.update_parameters(**params)
    return executor
