"""What an analysis job runs on its node: its tasks (lab/jobs/tasks.py), one after another, each with its
status events, heartbeat and end-of-task `jobs` row, exactly like a training job's runs.

A task reports under its task id ('<run_id>-eNNNN'), never under the run id: `status`, `--wait`, `cancel`,
the reconciler and the Jobs page follow it as they follow a run, while the run itself keeps its own
status (a re-analysis that fails does not make a finished run failed).

Checkpointable like `RunJob`: on preemption or time-out submitit calls `checkpoint`, which records the
requeue and resubmits the tasks not yet done; a task cut off mid-way is measured again from the start
(its rows are replaced, so nothing is duplicated). Imports no torch at the top: the launcher pickles it.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from lab.records.events import latest_events, write_job_rows, write_run_event
from lab.records.heartbeat import Heartbeat
from lab.records.provenance import job_env
from thermoscope import env
from thermoscope.status import ENDED_OK, RunStatus
from warehouse import home

Item = dict[str, Any]  # {"id": task id, "task": the task as a dict (analyse_tasks.to_dict)}


class AnalyseJob:
    def __init__(self, max_requeues: int = 3, requeues: int = 0, threads: int = 0) -> None:
        self.max_requeues, self.requeues, self.threads = max_requeues, requeues, threads
        self._done: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"max_requeues": self.max_requeues, "requeues": self.requeues, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._done = []

    def __call__(self, items: list[Item], sweep_id: str, home_root: str) -> dict[str, str]:
        from submitit.core.utils import UncompletedJobError

        from lab.jobs.tasks import from_dict

        where = home(home_root)
        job_id, restarts, executor = job_env()
        self.requeues = max(self.requeues, restarts)
        threads = self.threads or env.THREADS.get()
        if threads:
            import torch

            torch.set_num_threads(threads)
        before = latest_events([i["id"] for i in items], where)
        statuses: dict[str, str] = {}
        for item in items:
            tid = item["id"]
            if before.get(tid, {}).get("status") in ENDED_OK:  # done in an earlier attempt of this job
                statuses[tid] = before[tid]["status"]
                self._done.append(tid)
                continue
            ids = dict(job_id=job_id, requeues=self.requeues)
            write_run_event(where, tid, sweep_id, RunStatus.RUNNING, **ids)
            row = dict(run_id=tid, job_id=job_id, executor=executor, requeues=self.requeues)
            beat = Heartbeat(where, sweep_id, row).start()
            try:
                from_dict(item["task"]).run(where, sweep_id)
                status, text = RunStatus.FINISHED, ""
            except UncompletedJobError:  # submitit ending the job from its signal handler
                raise
            except Exception:
                status, text = RunStatus.FAILED, traceback.format_exc()
            finally:
                beat.stop()
            statuses[tid] = str(status)
            self._done.append(tid)
            write_run_event(where, tid, sweep_id, status, message=text, **ids)
            write_job_rows(where, sweep_id, f"end-{job_id}-{tid}",
                           [dict(row, state="COMPLETED" if status == RunStatus.FINISHED else "FAILED",
                                 traceback=text)])
            print(f"task {tid}: {status}" + (f"\n{text}" if text else ""), flush=True)
        failed = [t for t, s in statuses.items() if s == RunStatus.FAILED]
        if failed:
            raise RuntimeError(f"analysis task(s) {', '.join(failed)} failed; their tracebacks are in run_events")
        return statuses

    def checkpoint(self, items: list[Item], sweep_id: str, home_root: str):
        """Preempted or timed out: resubmit the tasks not done yet (or mark them failed past max_requeues)."""
        import submitit

        where = home(home_root)
        job_id = job_env()[0]
        remaining = [i for i in items if i["id"] not in self._done]
        over = self.requeues >= self.max_requeues
        status = RunStatus.FAILED if over else RunStatus.QUEUED
        text = (f"preempted or timed out after {self.requeues} requeue(s) (max_requeues={self.max_requeues}); "
                "submit the analysis again" if over else
                f"preempted or timed out; requeued ({self.requeues + 1} of at most {self.max_requeues})")
        for item in remaining:
            write_run_event(where, item["id"], sweep_id, status, message=text, job_id=job_id,
                            requeues=self.requeues + (0 if over else 1))
        print(f"job {job_id}: {text}", flush=True)
        if over:
            os._exit(1)  # as RunJob: returning None would let submitit raise wherever the main thread is
        return submitit.helpers.DelayedSubmission(type(self)(self.max_requeues, self.requeues + 1, self.threads),
                                                  remaining, sweep_id, home_root)
