"""Does the request fit the partition? `misfit(options)`: one warning line, or '' when it fits.

sbatch accepts a job that asks for more CPUs (or time) than any node of the partition has, and the job
then pends for ever with reason PartitionConfig (or PartitionTimeLimit), silently. Asking `sinfo` first
costs one call at submit time and turns that into one line naming what was asked, what the partition
offers and the flags to pass. Only a warning: sinfo may not know everything (a cluster's job_submit
plugin or QOS can change requests), and sbatch stays the judge of what it accepts.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from slurm.options import SlurmOptions


@dataclass(frozen=True)
class PartitionSize:
    """The largest node of a partition, as sinfo reports it."""

    cpus: int
    mem_mb: int  # RealMemory [MB]
    gpus: int  # count of gres 'gpu' per node
    time_min: int | None  # the partition's time limit; None = infinite


def partition_size(partition: str) -> PartitionSize | None:
    """The partition's largest node (max over its node groups), or None when sinfo cannot say."""
    command = ["sinfo", "-h", "-p", partition, "-o", "%c|%m|%G|%l"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [line.split("|") for line in out.stdout.splitlines() if line.count("|") == 3]
    if out.returncode != 0 or not rows:
        return None
    try:
        return PartitionSize(cpus=max(int(r[0].rstrip("+")) for r in rows),
                             mem_mb=max(int(r[1].rstrip("+")) for r in rows),
                             gpus=max(_gpus(r[2]) for r in rows), time_min=_minutes(rows[0][3]))
    except ValueError:
        return None


def _gpus(gres: str) -> int:
    """'gpu:4', 'gpu:a100:4(S:0-1)', 'gpu:2,shard:8' or '(null)' → the number of GPUs per node."""
    found = re.findall(r"(?:^|,)gpu(?::[^:,(]+)?:(\d+)", gres)
    return sum(int(n) for n in found)


def _minutes(limit: str) -> int | None:
    """sinfo's time limit ('infinite', '30:00', '2:00:00', '1-00:00:00') in minutes; None = no limit."""
    if limit.strip() in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    hours, minutes = (parts[-3] if len(parts) == 3 else 0), (parts[-2] if len(parts) >= 2 else parts[0])
    return int(days or 0) * 1440 + hours * 60 + minutes


def misfit(options: SlurmOptions, size: PartitionSize | None = None) -> str:
    """One line when the request exceeds what the partition's largest node offers, else ''."""
    size = size or partition_size(options.partition)
    if size is None:
        return ""
    cpus = options.cpus_per_task * max(options.tasks_per_node, options.gpus_per_node)
    checks = [  # (what was asked, what is offered, does it fit, the flag that fixes it)
        (f"{cpus} CPUs", f"{size.cpus} CPUs", cpus <= size.cpus,
         f"--cpus {max(1, size.cpus // max(options.tasks_per_node, options.gpus_per_node, 1))}"),
        (f"{options.mem_gb} GB", f"{size.mem_mb // 1024} GB", options.mem_gb * 1024 <= size.mem_mb or not options.mem_gb,
         f"--mem-gb {size.mem_mb // 1024}"),
        (f"{options.gpus_per_node} GPUs", f"{size.gpus} GPUs", options.gpus_per_node <= size.gpus,
         f"--gpus {size.gpus}"),
        (f"{options.timeout_min} min", f"{size.time_min} min", size.time_min is None
         or options.timeout_min <= size.time_min, f"--time-min {size.time_min}"),
    ]
    wrong = [c for c in checks if not c[2]]
    if not wrong:
        return ""
    return (f"asked {' / '.join(c[0] for c in wrong)} per job, partition {options.partition!r} offers at most "
            f"{' / '.join(c[1] for c in wrong)} per node: the jobs would wait for ever (PartitionConfig); pass "
            + " ".join(c[3] for c in wrong))
