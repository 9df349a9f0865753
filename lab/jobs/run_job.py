"""What runs on a node: train each pack of runs, analyse each run, write its rows and every state change.

`RunJob` is what the launcher submits, for solo runs and packs alike: a solo run is a pack of one.
submitit pickles it by reference, so this module must not import torch at the top (the launcher and
the app import it without loading torch).

Every run gets a 'running' event, a heartbeat, its epoch-log shard re-written after every epoch, its
checkpoints, its analysis rows, and a final event (finished / diverged / failed) with an end-of-run
`jobs` row. With `pack=True` the job's runs train as one stacked model (lab/jobs/pipeline.py); runs that a
kill left at different epochs are trained as separate packs, one per epoch.

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
from typing import Any

from analysis.settings import AnalysisSettings
from lab.records.events import latest_events, now, write_job_rows, write_run_event
from lab.records.heartbeat import Heartbeat
from lab.records.provenance import Environment, job_env
from thermoscope import env
from thermoscope.status import ENDED_OK, RunStatus
from training.config import RunConfig, make_config
from warehouse import Home, home

Outcome = tuple[RunStatus, int | None, str]  # (status, last epoch, message or traceback)
JOB_STATE = {RunStatus.FINISHED: "COMPLETED", RunStatus.DIVERGED: "COMPLETED"}  # anything else: FAILED
# How long a job's own ingest waits for another ingester: short, because whoever holds the lock loads
# our shards too if it scans after they were written, and a later ingest always will.
JOB_INGEST_WAIT_S = 10.0


def last_logged_epoch(where: Home, run_id: str) -> int | None:
    """The last epoch in the run's epoch log shard (what a requeued run will resume near)."""
    import pyarrow.parquet as pq

    path = where.shards / "epochs" / run_id / "epochs.parquet"
    try:
        epochs = pq.read_table(path, columns=["epoch"]).column("epoch").to_pylist()
    except (OSError, ValueError):
        return None
    return max(epochs) if epochs else None


def resume_epoch(where: Home, run_id: str) -> int:
    """Epoch of the run's last checkpoint on disk, 0 for a fresh start."""
    path = where.checkpoint_dir(run_id) / "last.pt"
    if not path.exists():
        return 0
    from training import checkpoint as ckpt

    try:
        return int(ckpt.load(path)["epoch"])
    except Exception:  # an unreadable checkpoint is the loop's to report, with its own message
        return 0


def ingest_own_shards(where: Home, wait_s: float = JOB_INGEST_WAIT_S) -> None:
    """Load the shards this job wrote (and any others waiting) into the warehouse, so the dashboard shows the
    runs with no command typed. Never fails the job: a held lock or a bad shard is one line on stderr (the
    shards stay on disk; the next ingest loads them). `THERMOSCOPE_JOB_INGEST=0` turns it off."""
    import time

    from training.distributed import env_info

    try:
        if not env.JOB_INGEST.get() or env_info().rank != 0:  # under DDP one task is enough
            return
        from warehouse.ingest import ingest

        start = time.monotonic()
        report = ingest(where, lock_wait_s=wait_s)
        print(f"job ingest: {report} in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    except Exception as exc:  # IngestBusy, a broken warehouse, a bad variable: the runs' results are safe
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        print(f"job ingest: not ingested ({type(exc).__name__}: {first}); run `python -m warehouse ingest` later",
              file=sys.stderr, flush=True)


class RunJob:
    """Train + analyse the runs of one job in this process: as one pack (`pack=True`) or one by one."""

    def __init__(self, max_requeues: int = 3, requeues: int = 0, pack: bool = False, threads: int = 0) -> None:
        self.max_requeues = max_requeues
        self.requeues = requeues  # requeues through `checkpoint` so far (carried by the re-pickled job)
        self.pack = pack
        self.threads = threads  # torch threads (0: $THERMOSCOPE_THREADS or torch's default)
        self._reset()

    def _reset(self) -> None:
        self._done: list[str] = []
        self._current: list[RunConfig] = []
        self._beats: list[Heartbeat] = []
        self._job_id = ""
        self._executor = "none"
        self._envs: list[Environment] = []  # the environment records of the pack now training (rank 0's)

    def __getstate__(self) -> dict[str, Any]:  # the threads and per-process state never travel
        return {"max_requeues": self.max_requeues, "requeues": self.requeues, "pack": self.pack,
                "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def __call__(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str,
                 analysis: dict[str, Any] | None = None) -> dict[str, str]:
        where = home(home_root)
        self._job_id, restarts, self._executor = job_env()
        # Slurm also requeues on its own (node failure with --requeue): count whichever is larger
        self.requeues = max(self.requeues, restarts)
        settings = AnalysisSettings.from_dict(analysis or {})
        cfgs = [make_config(**values) for values in configs]
        if self.pack:
            from training.packed.group import compatibility_key, describe_difference

            for c in cfgs[1:]:
                if compatibility_key(c) != compatibility_key(cfgs[0]):
                    raise ValueError(f"a packed RunJob got incompatible runs ({describe_difference(cfgs[0], c)}); "
                                     "build packs with training.packed.pack_groups")
        statuses: dict[str, str] = {}
        before = latest_events([c.run_id for c in cfgs], where)
        todo = []
        for cfg in cfgs:
            last = before.get(cfg.run_id, {}).get("status")
            if last in ENDED_OK:  # ended in an earlier attempt of this job: not again
                statuses[cfg.run_id] = last
                self._done.append(cfg.run_id)
            else:
                todo.append(cfg)
        for unit in ([todo] if self.pack and todo else [[c] for c in todo]):
            by_epoch: dict[int, list[RunConfig]] = {}
            for cfg in unit:
                by_epoch.setdefault(resume_epoch(where, cfg.run_id), []).append(cfg)
            for epoch in sorted(by_epoch):
                statuses.update(self._run_pack(by_epoch[epoch], epoch, sweep_id, where, settings))
        if todo:  # nothing ran in this attempt: nothing new to load
            ingest_own_shards(where)
        failures = [rid for rid, s in statuses.items() if s == RunStatus.FAILED]
        if failures:
            # the other runs' rows are written already; the job itself reports the failure to Slurm
            raise RuntimeError(f"run(s) {', '.join(failures)} failed; their tracebacks are in run_events")
        return statuses

    def _run_pack(self, cfgs: list[RunConfig], resumed: int, sweep_id: str, where: Home,
                  settings: AnalysisSettings) -> dict[str, str]:
        """Run a pack to its end; returns each run's final status. Raises only to let a requeue through."""
        from submitit.core.utils import UncompletedJobError

        from training.distributed import env_info

        # Under DDP every task of the job runs this; only rank 0 speaks for the run, so a run's status,
        # heartbeat and job rows are written once (its epoch rows and analysis are rank 0's too).
        lead = env_info().rank == 0
        ids = dict(job_id=self._job_id, requeues=self.requeues)
        notes = [f"resumed from its checkpoint at epoch {resumed}"] if resumed else []
        if len(cfgs) > 1:
            notes.append(f"packed with {len(cfgs) - 1} other run(s)")
        message = "; ".join(notes)
        rows = {c.run_id: dict(run_id=c.run_id, job_id=self._job_id, executor=self._executor, requeues=self.requeues)
                for c in cfgs}
        beats = self._beats = []
        for cfg in cfgs:
            if lead:
                write_run_event(where, cfg.run_id, sweep_id, RunStatus.RUNNING, epoch=resumed or None,
                                message=message, **ids)
                beats.append(Heartbeat(where, sweep_id, rows[cfg.run_id]).start())
            print(f"run {cfg.run_id}: running (job {self._job_id}, requeues {self.requeues})"
                  + (f", {message}" if message else ""), flush=True)
        self._current = cfgs
        self._envs = []
        try:
            ends = self._train_and_analyse(cfgs, where, settings, sweep_id)
        except UncompletedJobError:  # submitit ending the job from its signal handler: not the run's fault
            raise
        except Exception:
            text = traceback.format_exc()
            ends = {c.run_id: (RunStatus.FAILED, resumed or None, text) for c in cfgs}
        finally:
            for beat in beats:
                beat.stop()
            for record in self._envs:  # its end time; a record never written (failed before) stays unwritten
                record.end()
            self._current, self._envs = [], []
        statuses = {}
        for cfg in cfgs:
            status, epoch, text = ends[cfg.run_id]
            statuses[cfg.run_id] = str(status)
            self._done.append(cfg.run_id)
            if not lead:
                continue
            write_run_event(where, cfg.run_id, sweep_id, status, epoch=epoch, message=text, **ids)
            write_job_rows(where, sweep_id, f"end-{self._job_id}-{cfg.run_id}",
                           [dict(rows[cfg.run_id], state=JOB_STATE.get(status, "FAILED"),
                                 traceback=text if status == RunStatus.FAILED else "")])
            print(f"run {cfg.run_id}: {status}" + (f"\n{text}" if status == RunStatus.FAILED else ""), flush=True)
        return statuses

    def _train_and_analyse(self, cfgs: list[RunConfig], where: Home, settings: AnalysisSettings, sweep_id: str = ""
                           ) -> dict[str, Outcome]:
        import torch

        from lab.jobs.pipeline import analyse_run, prepare_runs, train_runs, write_datasets, write_verdict
        from training.loop import Diverged

        threads = self.threads or env.THREADS.get()
        if threads:
            torch.set_num_threads(threads)
        started = now()
        runs = prepare_runs(cfgs)
        lead = runs[0].dist.is_main
        if lead:
            # what this process runs on (device, threads set above, versions, commit and diff), from the job itself
            self._envs = [Environment(where, run.cfg.run_id, sweep_id, "trained", run.device, started_at=started).start()
                          for run in runs]
            for run in runs:
                write_datasets(run, where)
        ends: dict[str, Outcome] = {}
        for run, result in zip(runs, train_runs(runs, where)):
            rid = run.cfg.run_id
            if lead:
                verdict = write_verdict(run, result, where)
                if not verdict.learned:
                    print(f"run {rid}: did not learn ({verdict.reason})", flush=True)
            if isinstance(result, Diverged):
                ends[rid] = (RunStatus.DIVERGED, result.epoch, str(result))
                continue
            try:  # one run's analysis failing must not take its pack-mates' results with it
                analyse_run(run, where, settings)
                ends[rid] = (RunStatus.FINISHED, result.epochs_done, "")
            except Exception:
                ends[rid] = (RunStatus.FAILED, result.epochs_done, traceback.format_exc())
        return ends

    def checkpoint(self, configs: list[dict[str, Any]], sweep_id: str, home_root: str,
                   analysis: dict[str, Any] | None = None):
        """Called by submitit on preemption/time-out: record it and resubmit the runs not yet done."""
        import submitit

        where = home(home_root)
        for beat in self._beats:  # the job is about to end: it is no longer alive for anyone asking
            beat.stop()
        remaining = [v for v in configs if make_config(**v).run_id not in self._done]
        current = {c.run_id for c in self._current}

        def epoch_of(rid: str) -> int | None:  # only the runs that were training have an epoch to report
            return last_logged_epoch(where, rid) if rid in current else None

        row = dict(job_id=self._job_id, executor=self._executor, requeues=self.requeues + 1)
        if self.requeues >= self.max_requeues:
            text = (f"preempted or timed out after {self.requeues} requeue(s) (max_requeues={self.max_requeues}); "
                    "relaunch the sweep to resume from its checkpoint, or raise max_requeues")
            for values in remaining:
                rid = make_config(**values).run_id
                write_run_event(where, rid, sweep_id, RunStatus.FAILED, epoch=epoch_of(rid), message=text,
                                job_id=self._job_id, requeues=self.requeues)
                write_job_rows(where, sweep_id, f"end-{self._job_id}-{rid}",
                               [dict(row, run_id=rid, state="FAILED", requeues=self.requeues, traceback=text)])
            print(f"job {self._job_id}: {text}", flush=True)
            sys.stderr.flush()
            # End the process here rather than return None: submitit would then raise UncompletedJobError
            # from its signal handler, i.e. wherever the main thread is, and library code that catches
            # Exception (seen: during `import torch`) swallowed it and the job trained on. Slurm records
            # the job FAILED; the runs' events above already say why.
            os._exit(1)
        epochs = {rid: epoch_of(rid) for rid in current}
        at = ", ".join(f"{e}" for e in dict.fromkeys(epochs.values())) or "start"
        text = (f"preempted or timed out at epoch {at}; requeued ({self.requeues + 1} of at most "
                f"{self.max_requeues}), will resume from its checkpoint")
        for values in remaining:
            rid = make_config(**values).run_id
            write_run_event(where, rid, sweep_id, RunStatus.QUEUED, epoch=epoch_of(rid), message=text,
                            job_id=self._job_id, requeues=self.requeues + 1)
        write_job_rows(where, sweep_id, f"requeue-{self._job_id}-{self.requeues + 1}",
                       [dict(row, run_id=make_config(**v).run_id, state="REQUEUED") for v in remaining])
        print(f"job {self._job_id}: {text}", flush=True)
        return submitit.helpers.DelayedSubmission(type(self)(self.max_requeues, self.requeues + 1, self.pack,
                                                              self.threads),
                                                  remaining, sweep_id, home_root, analysis)
