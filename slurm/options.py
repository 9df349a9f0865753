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

from thermoscope.fields import ConfigError


class OptionError(ConfigError):
    """An executor option is wrong; the message names the option and says what to do."""


_FLAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# flags that submitit or the launcher set themselves: giving them again would break the array or requeue
_RESERVED = {"array", "output", "error", "signal", "open-mode", "job-name", "wrap", "parsable"}


def _opt(default: Any, doc: str, flag: str = "", label: str = "", low: int = 0, high: int = 0) -> Any:
    """A Slurm option. `flag`: its launcher CLI flag ('' = none); `label`, `low`, `high`: its field in the
    dashboard's launch form (an int option is a number box from `low` to `high`). CLI and form are built
    from these declarations (lab/commands/main.py, app/sidebar.py), so the three never disagree."""
    return field(default=default, metadata={"doc": doc, "flag": flag, "label": label, "low": low, "high": high})


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = _opt("gpu", "Slurm partition", "--partition", "partition")
    gpus_per_node: int = _opt(1, "GPUs per job (0 on CPU partitions)", "--gpus", "GPUs per job", 0, 64)
    cpus_per_task: int = _opt(8, "CPUs per task", "--cpus", "CPUs per task", 1, 256)
    mem_gb: int = _opt(32, "memory per job [GB] (0: the partition's default)", "--mem-gb", "memory [GB]", 0, 4096)
    timeout_min: int = _opt(24 * 60, "time limit per job [min]; a timed-out job is requeued and resumes",
                            "--time-min", "time limit [min]", 1, 60 * 24 * 14)
    account: str = _opt("", "Slurm account", "--account", "account")
    qos: str = _opt("", "Slurm QOS", "--qos", "qos")
    constraint: str = _opt("", "node features, e.g. a100", "--constraint", "constraint")
    array_parallelism: int = _opt(64, "array tasks running at once", "--array-parallelism", "array tasks at once",
                                  1, 10_000)
    max_requeues: int = _opt(3, "requeues after preemption/time-out before a run is marked failed", "--max-requeues",
                             "max requeues", 0, 100)
    nodes: int = _opt(1, "nodes per job")
    tasks_per_node: int = _opt(1, "tasks per node (raised to gpus_per_node: one DDP rank per GPU)")
    additional: dict[str, Any] = field(default_factory=dict, metadata={
        "doc": "extra sbatch flags, e.g. {exclude = 'node7'} (CLI: --sbatch FLAG=VALUE)", "flag": "", "label": ""})

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


def cli_options() -> list:
    """The options that have a launcher flag, in declaration order (dataclass fields)."""
    return [f for f in fields(SlurmOptions) if f.metadata.get("flag")]


def form_options() -> list:
    """The options the dashboard's launch form shows, in declaration order (dataclass fields)."""
    return [f for f in fields(SlurmOptions) if f.metadata.get("label")]
