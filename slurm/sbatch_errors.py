"""Turn sbatch's refusal into one line that names the option to fix.

sbatch answers a bad request with a few lines ("sbatch: error: invalid partition specified: x",
"allocation failure: Invalid partition name specified"); users set options by our names
(`partition`, `gpus_per_node`, ...), so the message maps Slurm's reason back to them.
"""

from __future__ import annotations

import re

from slurm.options import SlurmOptions

# (pattern in sbatch's output, our option name, what to do)
_KNOWN: tuple[tuple[str, str, str], ...] = (
    (r"invalid partition", "partition", "pick one from `sinfo -s`"),
    (r"generic resource|gres", "gpus_per_node", "this partition has no such GPUs; set gpus_per_node=0 or "
     "pick a GPU partition"),
    (r"invalid account", "account", "pick one from `sacctmgr show assoc user=$USER`"),
    (r"invalid qos", "qos", "pick one from `sacctmgr show qos`"),
    (r"invalid feature", "constraint", "pick a feature from `sinfo -o '%f'`"),
    (r"time limit|--time", "timeout_min", "lower it to the partition's limit (`sinfo -s`)"),
    (r"memory", "mem_gb", "ask for less memory"),
    (r"node configuration is not available", "cpus_per_task/mem_gb/gpus_per_node",
     "no node has that many CPUs, that much memory or those GPUs; ask for less (`sinfo -N -l`)"),
    (r"invalid node name", "additional (nodelist/exclude)", "name nodes that exist (`sinfo -N`)"),
)


def explain(stderr: str, options: SlurmOptions) -> str:
    """One line: which option sbatch rejected, with its value, Slurm's own reason and what to do."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    reason = next((ln for ln in reversed(lines) if "error" in ln.lower() or "failure" in ln.lower()), "")
    reason = reason or (lines[0] if lines else "sbatch failed without a message")
    unknown_flag = re.search(r"unrecognized option '--([^'=]+)", stderr)
    if unknown_flag:
        return (f"sbatch rejected extra flag {unknown_flag.group(1)!r} (from the additional/--sbatch options): "
                f"{reason}; check `sbatch --help`")
    text = stderr.lower()
    for pattern, name, advice in _KNOWN:
        if re.search(pattern, text):
            value = getattr(options, name, None)
            shown = f" = {value!r}" if value is not None else ""
            return f"sbatch rejected slurm option {name}{shown}: {_strip(reason)}; {advice}"
    return f"sbatch rejected the job: {_strip(reason)}; check the [slurm] options"


def _strip(reason: str) -> str:
    return re.sub(r"^(sbatch: error: |allocation failure: )", "", reason)
