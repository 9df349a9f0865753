"""What runs on a node: train each run of a job, analyse it, write its rows as shards.

`RunJob` is what the launcher submits (submitit pickles it by reference, so this module must
not import torch at the top: the launcher and the app import it without loading torch). It is
checkpointable: on preemption or time-out submitit calls `checkpoint`, which resubmits the same
call; the run then resumes from the checkpoint on disk, found from the home and the run id, never
from a path frozen into the pickle.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from training.config import RunConfig, make_config
from warehouse import Home, home, write_shard


def _job_env() -> tuple[str, int]:
    """(job id, requeue count) from submitit/Slurm, or the PID when run by hand."""
    try:
        import submitit

        env = submitit.JobEnvironment()
        job_id = str(env.job_id)
    except RuntimeError:
        job_id = f"pid{os.getpid()}"
    requeues = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return job_id, requeues


def config_row(cfg: RunConfig, sweep_id: str, code_version: str) -> dict[str, Any]:
    row = {k: v for k, v in cfg.to_dict().items() if k in _CONFIG_COLUMNS}
    row.update(run_id=cfg.run_id, sweep_id=sweep_id, ood=list(cfg.ood), milestones=list(cfg.milestones),
               config_json=cfg.to_json(), code_version=code_version, created_at=datetime.now(UTC))
    return row


def _config_columns() -> set[str]:
    from warehouse.schema import TABLES

    return set(TABLES["run_configs"].column_names)


_CONFIG_COLUMNS = _config_columns()


def write_event(where: Home, cfg: RunConfig, sweep_id: str, status: str, *, epoch: int | None = None,
                message: str = "", job_id: str = "", requeues: int = 0) -> None:
    """Append one status change of a run (its own shard, so events never overwrite each other)."""
    ts = datetime.now(UTC)
    row = dict(run_id=cfg.run_id, sweep_id=sweep_id, ts=ts, status=status, host=socket.gethostname(),
               job_id=job_id, requeues=requeues, epoch=epoch, message=message)
    write_shard("run_events", [row], owner=cfg.run_id, name=f"event-{time.time_ns()}-{status}", where=where)


class RunJob:
    """Train + analyse a list of runs, one after another, in this process."""

    def __call__(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str) -> dict[str, str]:
        where = home(home_root)
        statuses: dict[str, str] = {}
        failures: list[str] = []
        for values in configs:
            cfg = make_config(**values)
            statuses[cfg.run_id] = status = run_one(cfg, sweep_id, where)
            if status == "failed":
                failures.append(cfg.run_id)
        if failures:
            # the other runs' rows are written already; the job itself reports the failure
            raise RuntimeError(f"run(s) {', '.join(failures)} failed; their tracebacks are in run_events")
        return statuses

    def checkpoint(self, *args: Any, **kwargs: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(RunJob(), *args, **kwargs)


def run_one(cfg: RunConfig, sweep_id: str, where: Home) -> str:
    """Run one config to its end; returns its final status. Never raises for a run's own failure."""
    import torch

    from training.loop import Diverged
    from training.pipeline import analyse_run, prepare_run, train_run

    job_id, requeues = _job_env()
    event = dict(job_id=job_id, requeues=requeues)
    if torch.get_num_threads() > 1 and os.environ.get("THERMOSCOPE_THREADS"):
        torch.set_num_threads(int(os.environ["THERMOSCOPE_THREADS"]))
    write_event(where, cfg, sweep_id, "running", **event)
    epoch = 0
    try:
        run = prepare_run(cfg, where)
        result = train_run(run, where)
        epoch = result.epochs_done
        analyse_run(run, where)
    except Diverged as exc:
        write_event(where, cfg, sweep_id, "diverged", epoch=exc.epoch, message=str(exc), **event)
        return "diverged"
    except Exception:
        write_event(where, cfg, sweep_id, "failed", epoch=epoch, message=traceback.format_exc(), **event)
        return "failed"
    write_event(where, cfg, sweep_id, "finished", epoch=epoch, **event)
    return "finished"
