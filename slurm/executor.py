"""`make_executor(kind, folder, options)` and `submit_array`: a submitit executor for Slurm or this machine.

The job runs this interpreter (`sys.executable`, which submitit writes into the sbatch script), so
it imports Thermoscope the way the submitter did: from the installed package, no PYTHONPATH needed.

Submission is where the cluster gets its say: `submit_array` turns sbatch's refusal into an
`OptionError` naming the option, and removes what submitit wrote for the refused array, so a
rejected sweep leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError

from slurm.options import OptionError, SlurmOptions
from slurm.sbatch_errors import explain

EXECUTORS = ("auto", "slurm", "local")


def slurm_available() -> bool:
    return shutil.which("sbatch") is not None


def resolve_kind(kind: str) -> str:
    """'auto' → 'slurm' when sbatch exists, else 'local'; checks the name."""
    if kind not in EXECUTORS:
        raise OptionError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if kind == "auto":
        return "slurm" if slurm_available() else "local"
    if kind == "slurm" and not slurm_available():
        raise OptionError("--executor slurm needs sbatch on PATH; use --executor local on a machine without Slurm")
    return kind


def make_executor(kind: str, folder: Path, options: SlurmOptions | None = None) -> submitit.Executor:
    options = options or SlurmOptions()
    kind = resolve_kind(kind)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        executor = submitit.LocalExecutor(folder=str(folder), max_num_timeout=options.max_requeues)
        executor.update_parameters(timeout_min=options.timeout_min)
        return executor
    executor = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=options.max_requeues)
    params: dict[str, Any] = dict(
        partition=options.partition, cpus_per_task=options.cpus_per_task, time=options.timeout_min,
        array_parallelism=options.array_parallelism, nodes=options.nodes,
        # one task per GPU: each task is one DistributedDataParallel rank (training.distributed)
        ntasks_per_node=max(options.tasks_per_node, options.gpus_per_node),
        # the preemption/time-out signal comes this long before the kill: enough to write a checkpoint,
        # never more than half a short job's limit (Slurm rejects nothing, but the job would start signalled)
        signal_delay_s=min(120, options.timeout_min * 30),
        # stdout and stderr in one file: the traceback sits next to the log lines that led to it
        stderr_to_stdout=True,
    )
    if options.mem_gb:
        params["mem"] = f"{options.mem_gb}GB"
    if options.gpus_per_node:
        params["gpus_per_node"] = options.gpus_per_node
    for name in ("account", "qos", "constraint"):
        if getattr(options, name):
            params[name] = getattr(options, name)
    if options.additional:
        params["additional_parameters"] = {k.replace("_", "-"): v for k, v in options.additional.items()}
    executor.update_parameters(**params)
    return executor


def submit_array(executor: submitit.Executor, fn: Callable[..., Any], args: Sequence[Sequence[Any]],
                 options: SlurmOptions) -> list[submitit.Job]:
    """One job array (one task per entry of `args`); OptionError naming the option if sbatch refuses it."""
    folder = Path(executor.folder)
    before = set(folder.iterdir()) if folder.exists() else set()
    noise = io.StringIO()
    try:
        # submitit prints sbatch's stderr itself before raising; the caller prints one line instead
        with contextlib.redirect_stderr(noise), executor.batch():
            jobs = [executor.submit(fn, *a) for a in args]
    except (FailedJobError, FailedSubmissionError) as exc:
        for path in set(folder.iterdir()) - before:  # the refused array's pickles and sbatch file
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        raise OptionError(explain(str(exc) or noise.getvalue(), options)) from None
    return jobs
