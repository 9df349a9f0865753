"""Analysis as a sweep of its own: plan the tasks, skip what is already measured, submit one job array.

The same executors, options and bookkeeping as a training sweep (lab/sweeps/launch.py): `--executor local|slurm`,
`SlurmOptions` from the same flags, a manifest `jobs/<sweep_id>/sweep.json` mapping each job to its task ids,
'queued' events at submission, so `status`, `--wait`, `cancel` and the Jobs page follow it unchanged.

A task is skipped when its (run, epoch) was already measured to the end with the same measuring spec (its
`analyses` record, lab/records/analyses.py) unless `force`, or when it is queued or running in another analysis
sweep right now (two jobs writing one checkpoint's rows would race).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from lab.jobs.analyse_job import AnalyseJob
from lab.jobs.tasks import to_dict
from lab.records.events import now, write_job_rows, write_run_event
from lab.records.manifest import Manifest, sweep_id_for
from lab.sweeps.launch import LaunchResult, job_chunks
from lab.sweeps.plan import current_events
from slurm import OptionError, SlurmOptions, make_executor, resolve_kind, submit_array
from thermoscope.status import LIVE, RunStatus
from warehouse import Home


@dataclass
class AnalysisPlan:
    todo: list[Any] = field(default_factory=list)  # planned tasks: .task_id, .task, .describe()
    skipped: list[tuple[Any, str]] = field(default_factory=list)  # (planned task, why)


def plan_tasks(planned: list[Any], where: Home, force: bool = False) -> AnalysisPlan:
    out = AnalysisPlan()
    seen: set[str] = set()
    events = current_events([p.task_id for p in planned], where)
    for p in planned:
        if p.task_id in seen:
            continue
        seen.add(p.task_id)
        live = events.get(p.task_id, {})
        if live.get("status") in LIVE:
            out.skipped.append((p, f"already {live['status']} in sweep {live['sweep_id']}"))
        elif not force and p.done(where):
            out.skipped.append((p, "already analysed with these settings; --force analyses it again"))
        else:
            out.todo.append(p)
    return out


def submit(todo: list[Any], *, executor: str = "auto", slurm: SlurmOptions | None = None, where: Home,
           tasks_per_job: int = 0) -> LaunchResult:
    """Submit the planned tasks as one job array; returns at once. OptionError (nothing written) if refused."""
    slurm = slurm or SlurmOptions()
    kind = resolve_kind(executor)
    if isinstance(tasks_per_job, bool) or not isinstance(tasks_per_job, int) or tasks_per_job < 0:
        raise OptionError(f"--tasks-per-job must be an integer >= 0, got {tasks_per_job!r}")
    sweep_id = sweep_id_for([p.task_id for p in todo])
    result = LaunchResult(sweep_id, kind, runs=[])
    if not todo:
        return result
    chunks, _ = job_chunks(todo, kind, tasks_per_job, 0)
    threads = max(1, (os.cpu_count() or 1) // len(chunks)) if kind == "local" else 0
    folder = where.jobs / sweep_id
    ex = make_executor(kind, folder, slurm)
    queued_at = now()
    args = [([{"id": p.task_id, "task": to_dict(p.task)} for p in chunk], sweep_id, str(where.root))
            for chunk in chunks]
    try:
        jobs = submit_array(ex, AnalyseJob(max_requeues=slurm.max_requeues, threads=threads), args, slurm)
    except OptionError:
        shutil.rmtree(folder, ignore_errors=True)  # only this sweep's own, just-made folder
        raise
    result.jobs, result.job_ids = jobs, [str(j.job_id) for j in jobs]
    Manifest(sweep_id, kind, str(folder), {j: [p.task_id for p in chunk] for j, chunk in zip(result.job_ids, chunks)},
             slurm.max_requeues, queued_at.timestamp()).save(where)
    for job_id, chunk in zip(result.job_ids, chunks):
        for p in chunk:
            write_run_event(where, p.task_id, sweep_id, RunStatus.QUEUED, job_id=job_id, ts=queued_at,
                            message=f"analyse {p.describe()}")
    write_job_rows(where, sweep_id, "submitted",
                   [dict(run_id=p.task_id, job_id=j, executor=kind, state="SUBMITTED", ts=queued_at)
                    for j, chunk in zip(result.job_ids, chunks) for p in chunk])
    return result
