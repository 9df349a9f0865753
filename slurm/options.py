"""`SlurmOptions`: what a sweep asks Slurm for, strictly validated before anything is submitted.

Names follow submitit where it has one (`gpus_per_node`, `cpus_per_task`, `mem_gb`, `timeout_min`),
so the TOML `[slurm]` section, the CLI flags and the dashboard form all use the same words. Every
value ends up in an sbatch script that bash reads: strings with control characters (a newline
would start a new shell line) and extra-flag names that are not plain `--name` words are refused,
so nothing the user typed can become a shell command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any


class OptionError(ValueError):
    """An executor option is wrong; the message names the option and says what to do."""


_FLAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# flags that submitit or the launcher set themselves: giving them again would break the array or requeue
_RESERVED = {"array", "output", "error", "signal", "open-mode", "job-name", "wrap", "parsable"}


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = "gpu"
    gpus_per_node: int = 1  # GPUs per job (0 for CPU-only partitions)
    cpus_per_task: int = 8
    mem_gb: int = 32  # 0 = the partition's default
    timeout_min: int = 24 * 60  # wall-time limit [min]; a timed-out job is requeued and resumes
    account: str = ""
    qos: str = ""
    constraint: str = ""
    array_parallelism: int = 64  # array tasks running at once
    max_requeues: int = 3  # requeues after preemption or time-out before a run is marked failed
    nodes: int = 1
    tasks_per_node: int = 1  # raised to gpus_per_node: one DDP rank per GPU
    additional: dict[str, Any] = field(default_factory=dict)  # extra sbatch flags, e.g. {"exclude": "node7"}

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise OptionError(f"slurm option {f.name} must be an integer >= 0, got {value!r}")
            elif f.type == "str":
                if not isinstance(value, str):
                    raise OptionError(f"slurm option {f.name} must be a string, got {value!r}")
                if _CONTROL.search(value):
                    raise OptionError(f"slurm option {f.name} must not hold control characters, got {value!r}")
        for name in ("cpus_per_task", "timeout_min", "array_parallelism", "nodes", "tasks_per_node"):
            if getattr(self, name) < 1:
                raise OptionError(f"slurm option {name} must be >= 1, got {getattr(self, name)!r}")
        if not self.partition:
            raise OptionError("slurm option partition must not be empty; give the partition to run on")
        if not isinstance(self.additional, dict):
            raise OptionError(f"slurm option additional must be a table of sbatch flags, got {self.additional!r}")
        for name, value in self.additional.items():
            check_flag(name, value)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SlurmOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise OptionError(f"unknown slurm option(s) {sorted(unknown)}; options are {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def merged(self, overrides: dict[str, Any]) -> SlurmOptions:
        """These options with `overrides` on top (CLI flags over the TOML section); `additional` merges."""
        overrides = dict(overrides)
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise OptionError(f"unknown slurm option(s) {sorted(unknown)}")
        if "additional" in overrides:
            overrides["additional"] = {**self.additional, **overrides["additional"]}
        return replace(self, **overrides)


def check_flag(name: Any, value: Any) -> None:
    """An extra sbatch flag: a plain lower-case name and a scalar value without control characters."""
    if not isinstance(name, str) or not _FLAG_NAME.match(name.replace("_", "-")):
        raise OptionError(f"extra sbatch flag {name!r} is not a flag name; give it as name=value, e.g. exclude=node7")
    if name.replace("_", "-") in _RESERVED:
        raise OptionError(f"extra sbatch flag {name!r} is set by the launcher itself; remove it")
    if isinstance(value, bool) and value is True:
        return
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise OptionError(f"extra sbatch flag {name!r} wants a string or number, got {value!r}")
    if _CONTROL.search(str(value)):
        raise OptionError(f"extra sbatch flag {name!r} must not hold control characters, got {value!r}")


def parse_flag(item: str) -> tuple[str, str | bool]:
    """'exclude=node7' → ('exclude', 'node7'); 'exclusive' → ('exclusive', True)."""
    name, sep, value = item.partition("=")
    name = name.strip().lstrip("-")
    parsed: str | bool = value.strip() if sep else True
    check_flag(name, parsed)
    return name, parsed
