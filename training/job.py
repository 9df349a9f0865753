"""What runs on a node: train each run of a job, analyse it, write its rows and every state change.

`RunJob` is what the launcher submits. submitit pickles it by reference, so this module must not
import torch at the top (the launcher and the app import it without loading torch).

Preemption and time limits: `RunJob` is checkpointable. When Slurm (or the local controller) sends
submitit's signal, submitit calls `checkpoint`, which records the requeue (a 'queued' event and a
REQUEUED `jobs` row) and returns a new submission of the runs not yet done; submitit then requeues
the job. The requeued job finds each run's checkpoint from the home and the run id
(`$THERMOSCOPE_HOME/checkpoints/<run_id>/last.pt`), never from a path frozen into the pickle, and
the training loop resumes from it. After `max_requeues` requeues a run is marked failed instead
(its checkpoint stays: relaunching the sweep resumes it).
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from slurm.events import latest_events, write_job_rows, write_run_event
from slurm.heartbeat import Heartbeat
from training.config import RunConfig, make_config
from warehouse import Home, home


def _job_env() -> tuple[str, int, str]:
    """(job id, Slurm's restart count, executor) from submitit/Slurm; the PID when run by hand."""
    try:
        import submitit

        job_id = str(submitit.JobEnvironment().job_id)
    except RuntimeError:
        job_id = f"pid{os.getpid()}"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return job_id, restarts, os.environ.get("SUBMITIT_EXECUTOR", "none")


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
                message: str = "", job_id: str = "", requeues: int = 0, ts: datetime | None = None) -> None:
    """Append one status change of a run (kept for callers that hold a RunConfig)."""
    write_run_event(where, cfg.run_id, sweep_id, status, epoch=epoch, message=message, job_id=job_id,
                    requeues=requeues, ts=ts)


def last_logged_epoch(where: Home, run_id: str) -> int | None:
    """The last epoch in the run's epoch log shard (what a requeued run will resume near)."""
    import pyarrow.parquet as pq

    path = where.shards / "epochs" / run_id / "epochs.parquet"
    try:
        epochs = pq.read_table(path, columns=["epoch"]).column("epoch").to_pylist()
    except (OSError, ValueError):
        return None
    return max(epochs) if epochs else None


class RunJob:
    """Train + analyse a list of runs, one after another, in this process."""

    def __init__(self, max_requeues: int = 3, requeues: int = 0) -> None:
        self.max_requeues = max_requeues
        self.requeues = requeues  # requeues through `checkpoint` so far (carried by the re-pickled job)
        self._reset()

    def _reset(self) -> None:
        self._done: list[str] = []
        self._current: RunConfig | None = None
        self._heartbeat: Heartbeat | None = None
        self._job_id = ""
        self._executor = "none"

    def __getstate__(self) -> dict[str, Any]:  # the thread and per-process state never travel
        return {"max_requeues": self.max_requeues, "requeues": self.requeues}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def __call__(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str) -> dict[str, str]:
        where = home(home_root)
        self._job_id, restarts, self._executor = _job_env()
        # Slurm also requeues on its own (node failure with --requeue): count whichever is larger
        self.requeues = max(self.requeues, restarts)
        statuses: dict[str, str] = {}
        cfgs = [make_config(**values) for values in configs]
        before = latest_events([c.run_id for c in cfgs], where)
        for cfg in cfgs:
            last = before.get(cfg.run_id, {}).get("status")
            if last in ("finished", "diverged"):  # ended in an earlier attempt of this job: not again
                statuses[cfg.run_id] = last
                self._done.append(cfg.run_id)
                continue
            self._current = cfg
            statuses[cfg.run_id] = self._run_one(cfg, sweep_id, where)
            self._done.append(cfg.run_id)
            self._current = None
        failures = [rid for rid, s in statuses.items() if s == "failed"]
        if failures:
            # the other runs' rows are written already; the job itself reports the failure to Slurm
            raise RuntimeError(f"run(s) {', '.join(failures)} failed; their tracebacks are in run_events")
        return statuses

    def _run_one(self, cfg: RunConfig, sweep_id: str, where: Home) -> str:
        """Run one config to its end; returns its final status. Raises only to let a requeue through."""
        from submitit.core.utils import UncompletedJobError

        from training.distributed import env_info

        # Under DDP every task of the job runs this; only rank 0 speaks for the run, so a run's status,
        # heartbeat and job rows are written once (its epoch rows and analysis are rank 0's too).
        lead = env_info().rank == 0
        ids = dict(job_id=self._job_id, requeues=self.requeues)
        resumed = _resume_epoch(where, cfg.run_id)
        message = f"resumed from its checkpoint at epoch {resumed}" if resumed else ""
        if lead:
            write_event(where, cfg, sweep_id, "running", epoch=resumed, message=message, **ids)
        print(f"run {cfg.run_id}: running (job {self._job_id}, requeues {self.requeues})"
              + (f", {message}" if message else ""), flush=True)
        row = dict(run_id=cfg.run_id, job_id=self._job_id, executor=self._executor, requeues=self.requeues)
        self._heartbeat = Heartbeat(where, sweep_id, row).start() if lead else None
        epoch = resumed
        try:
            status, epoch, text = self._train_and_analyse(cfg, where)
        except UncompletedJobError:  # submitit ending the job from its signal handler: not the run's fault
            raise
        except Exception:
            status, text = "failed", traceback.format_exc()
        finally:
            if self._heartbeat is not None:
                self._heartbeat.stop()
        if not lead:
            return status
        write_event(where, cfg, sweep_id, status, epoch=epoch, message=text, **ids)
        write_job_rows(where, sweep_id, f"end-{self._job_id}-{cfg.run_id}",
                       [dict(row, state={"finished": "COMPLETED", "diverged": "COMPLETED"}.get(status, "FAILED"),
                             traceback=text if status == "failed" else "")])
        print(f"run {cfg.run_id}: {status}" + (f"\n{text}" if status == "failed" else ""), flush=True)
        return status

    def _train_and_analyse(self, cfg: RunConfig, where: Home) -> tuple[str, int | None, str]:
        import torch

        from training.loop import Diverged
        from training.pipeline import analyse_run, prepare_run, train_run

        if os.environ.get("THERMOSCOPE_THREADS"):
            torch.set_num_threads(int(os.environ["THERMOSCOPE_THREADS"]))
        run = prepare_run(cfg, where)
        try:
            result = train_run(run, where)
        except Diverged as exc:
            return "diverged", exc.epoch, str(exc)
        analyse_run(run, where)
        return "finished", result.epochs_done, ""

    def checkpoint(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str):
        """Called by submitit on preemption/time-out: record it and resubmit the runs not yet done."""
        import submitit

        where = home(home_root)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        remaining = [v for v in configs if make_config(**v).run_id not in self._done]
        cfg = self._current
        epoch = last_logged_epoch(where, cfg.run_id) if cfg else None
        row = dict(job_id=self._job_id, executor=self._executor, requeues=self.requeues + 1)
        if self.requeues >= self.max_requeues:
            text = (f"preempted or timed out after {self.requeues} requeue(s) (max_requeues={self.max_requeues}); "
                    "relaunch the sweep to resume from its checkpoint, or raise max_requeues")
            for values in remaining:
                rid = make_config(**values).run_id
                write_run_event(where, rid, sweep_id, "failed", epoch=epoch if cfg and rid == cfg.run_id else None,
                                message=text, job_id=self._job_id, requeues=self.requeues)
                write_job_rows(where, sweep_id, f"end-{self._job_id}-{rid}",
                               [dict(row, run_id=rid, state="FAILED", requeues=self.requeues, traceback=text)])
            print(f"job {self._job_id}: {text}", flush=True)
            sys.stderr.flush()
            # End the process here rather than return None: submitit would then raise UncompletedJobError
            # from its signal handler, i.e. wherever the main thread is, and library code that catches
            # Exception (seen: during `import torch`) swallowed it and the job trained on. Slurm records
            # the job FAILED; the runs' events above already say why.
            os._exit(1)
        text = (f"preempted or timed out at epoch {epoch}; requeued ({self.requeues + 1} of at most "
                f"{self.max_requeues}), will resume from its checkpoint")
        for values in remaining:
            rid = make_config(**values).run_id
            write_run_event(where, rid, sweep_id, "queued", epoch=epoch if cfg and rid == cfg.run_id else None,
                            message=text, job_id=self._job_id, requeues=self.requeues + 1)
        write_job_rows(where, sweep_id, f"requeue-{self._job_id}-{self.requeues + 1}",
                       [dict(row, run_id=make_config(**v).run_id, state="REQUEUED") for v in remaining])
        print(f"job {self._job_id}: {text}", flush=True)
        return submitit.helpers.DelayedSubmission(RunJob(self.max_requeues, self.requeues + 1), remaining,
                                                  sweep_id, home_root)


def _resume_epoch(where: Home, run_id: str) -> int | None:
    """Epoch of the run's last checkpoint on disk, None for a fresh start."""
    path = where.checkpoint_dir(run_id) / "last.pt"
    if not path.exists():
        return None
    from training import checkpoint as ckpt

    try:
        return int(ckpt.load(path)["epoch"])
    except Exception:  # an unreadable checkpoint is the loop's to report, with its own message
        return None
