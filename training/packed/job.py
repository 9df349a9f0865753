"""`PackJob`: what a job runs for a pack of compatible configs. Torch-free at import, like RunJob.

Each run gets exactly what a solo `RunJob` gives it: a 'running' event, a heartbeat, its epoch-log
shard re-written after every epoch, its checkpoints, its analysis rows, and a final event
(finished / diverged / failed) with an end-of-run `jobs` row. Only the training is shared.

Requeue: `checkpoint` is RunJob's (same events, same max_requeues rule) resubmitting a PackJob; the
requeued job resumes every run from its own `last.pt`. Runs that a kill left at different epochs
are trained as separate packs, one per epoch.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from slurm.heartbeat import Heartbeat
from training.config import RunConfig, make_config
from training.job import RunJob, _resume_epoch, write_event
from warehouse import Home, home


class PackJob(RunJob):
    """Train a pack of runs as one stacked model, then analyse each; rows exactly as solo runs write them."""

    def __call__(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str) -> dict[str, str]:
        from slurm.events import latest_events
        from training.job import _job_env
        from training.packed.group import compatibility_key, describe_difference

        where = home(home_root)
        self._job_id, restarts, self._executor = _job_env()
        self.requeues = max(self.requeues, restarts)
        cfgs = [make_config(**values) for values in configs]
        for c in cfgs[1:]:
            if compatibility_key(c) != compatibility_key(cfgs[0]):
                raise ValueError(f"PackJob got incompatible runs ({describe_difference(cfgs[0], c)}); "
                                 "build packs with training.packed.pack_groups")
        statuses: dict[str, str] = {}
        before = latest_events([c.run_id for c in cfgs], where)
        todo = []
        for cfg in cfgs:
            last = before.get(cfg.run_id, {}).get("status")
            if last in ("finished", "diverged"):  # ended in an earlier attempt of this job: not again
                statuses[cfg.run_id] = last
                self._done.append(cfg.run_id)
            else:
                todo.append(cfg)
        by_epoch: dict[int, list[RunConfig]] = {}
        for cfg in todo:
            by_epoch.setdefault(_resume_epoch(where, cfg.run_id) or 0, []).append(cfg)
        for epoch in sorted(by_epoch):
            statuses.update(self._run_pack(by_epoch[epoch], epoch, sweep_id, where))
        failures = [rid for rid, s in statuses.items() if s == "failed"]
        if failures:
            raise RuntimeError(f"run(s) {', '.join(failures)} failed; their tracebacks are in run_events")
        return statuses

    def _run_pack(self, cfgs: list[RunConfig], resumed: int, sweep_id: str, where: Home) -> dict[str, str]:
        from submitit.core.utils import UncompletedJobError

        from slurm.events import write_job_rows

        ids = dict(job_id=self._job_id, requeues=self.requeues)
        message = f"resumed from its checkpoint at epoch {resumed}" if resumed else ""
        message += ("; " if message else "") + f"packed with {len(cfgs) - 1} other run(s)"
        rows, beats = {}, []
        for cfg in cfgs:
            write_event(where, cfg, sweep_id, "running", epoch=resumed or None, message=message, **ids)
            print(f"run {cfg.run_id}: running (job {self._job_id}, requeues {self.requeues}), {message}", flush=True)
            rows[cfg.run_id] = dict(run_id=cfg.run_id, job_id=self._job_id, executor=self._executor,
                                    requeues=self.requeues)
            beats.append(Heartbeat(where, sweep_id, rows[cfg.run_id]).start())
        self._current = cfgs[0]  # RunJob.checkpoint reads the epoch it was preempted at from this run
        try:
            ends = self._train_and_analyse_pack(cfgs, where)
        except UncompletedJobError:
            raise
        except Exception:
            text = traceback.format_exc()
            ends = {c.run_id: ("failed", resumed or None, text) for c in cfgs}
        finally:
            for beat in beats:
                beat.stop()
            self._current = None
        statuses = {}
        for cfg in cfgs:
            status, epoch, text = ends[cfg.run_id]
            write_event(where, cfg, sweep_id, status, epoch=epoch, message=text, **ids)
            write_job_rows(where, sweep_id, f"end-{self._job_id}-{cfg.run_id}",
                           [dict(rows[cfg.run_id], state="FAILED" if status == "failed" else "COMPLETED",
                                 traceback=text if status == "failed" else "")])
            print(f"run {cfg.run_id}: {status}" + (f"\n{text}" if status == "failed" else ""), flush=True)
            statuses[cfg.run_id] = status
            self._done.append(cfg.run_id)
        return statuses

    def _train_and_analyse_pack(self, cfgs: list[RunConfig], where: Home) -> dict[str, tuple[str, int | None, str]]:
        import torch

        from training.loop import Diverged
        from training.packed.pipeline import prepare_pack, train_pack
        from training.pipeline import analyse_run

        if os.environ.get("THERMOSCOPE_THREADS"):
            torch.set_num_threads(int(os.environ["THERMOSCOPE_THREADS"]))
        runs = prepare_pack(cfgs)
        ends: dict[str, tuple[str, int | None, str]] = {}
        for run, result in zip(runs, train_pack(runs, where)):
            rid = run.cfg.run_id
            if isinstance(result, Diverged):
                ends[rid] = ("diverged", result.epoch, str(result))
                continue
            try:  # one run's analysis failing must not take its pack-mates' results with it
                analyse_run(run, where)
                ends[rid] = ("finished", result.epochs_done, "")
            except Exception:
                ends[rid] = ("failed", result.epochs_done, traceback.format_exc())
        return ends

    def checkpoint(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str):
        """RunJob's requeue bookkeeping, resubmitting this pack as a PackJob."""
        resubmission = super().checkpoint(configs, sweep_id, home_root)
        if resubmission is not None:
            resubmission.function = PackJob(self.max_requeues, self.requeues + 1)
        return resubmission
