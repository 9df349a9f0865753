"""Honest status: runs whose job ended in the executor while their last event still says queued/running.

A job killed from outside (scancel, OOM killer, node failure, a killed local process) cannot write
its own end. `assess` asks the executor (sacct through `slurm.state`) about the sweep's jobs and
works out, for each such run, the executor's verdict: 'cancelled' for CANCELLED (and for an array task
cancelled while pending, which Slurm then lists nowhere: `slurm.state.lost_tasks`), 'failed' for every
other end, with the job's state, exit code and reason as the message. A job that ended COMPLETED
while its run never reported an end is also 'failed': a run is never shown finished unless it said so.

`assess` only reads (planning, a dry run and the dashboard's Check use it and write nothing);
`reconcile` = `assess` + `record`, which writes the verdicts as events (`status`, `--wait`).
Order matters: the executor is asked first and the events read after, so an event the job wrote
just before it ended is always seen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from lab.records.events import latest_events, write_job_rows, write_run_event
from lab.records.manifest import Manifest
from slurm.state import LOST, LOST_REASON, JobState, SlurmUnavailable, is_local_controller, job_states
from thermoscope.status import TERMINAL, RunStatus
from warehouse import Home

# executor states that mean the job was stopped from outside, not that it broke: its runs are 'cancelled'
CANCELLED_STATES = ("CANCELLED", LOST)


@dataclass(frozen=True)
class Verdict:
    """What the executor says of a run whose job ended without the run reporting an end."""

    run_id: str
    job_id: str
    status: RunStatus  # cancelled or failed
    message: str
    job: JobState
    epoch: int | None = None
    requeues: int = 0


@dataclass
class SweepStatus:
    manifest: Manifest
    runs: dict[str, dict] = field(default_factory=dict)  # run id -> latest event, verdicts applied
    jobs: dict[str, JobState] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)  # runs the executor's state ends
    warning: str = ""  # e.g. sacct unreachable: statuses are the runs' own reports only
    where: Home | None = None

    def status_of(self, run_id: str) -> RunStatus:
        return RunStatus((self.runs.get(run_id) or {}).get("status", RunStatus.QUEUED))

    def counts(self) -> dict[RunStatus, int]:
        out: dict[RunStatus, int] = {}
        for rid in self.manifest.run_ids:
            out[self.status_of(rid)] = out.get(self.status_of(rid), 0) + 1
        return out

    @property
    def reconciled(self) -> list[str]:
        return [v.run_id for v in self.verdicts]

    @property
    def done(self) -> bool:
        return all(self.status_of(r) in TERMINAL for r in self.manifest.run_ids)


def assess(manifest: Manifest, where: Home) -> SweepStatus:
    """The sweep's state as its runs and its executor tell it; writes nothing."""
    status = SweepStatus(manifest, where=where)
    try:
        status.jobs = job_states(manifest.executor, list(manifest.jobs), manifest.folder, manifest.submitted_at)
    except SlurmUnavailable as exc:
        status.warning = str(exc)
    events = latest_events(manifest.run_ids, where)
    status.runs = dict(events)
    for job_id, job in status.jobs.items():
        if not job.ended:
            continue
        for run_id in manifest.jobs[job_id]:
            last = events.get(run_id)
            if last is not None and (last["status"] in TERMINAL or last["sweep_id"] != manifest.sweep_id):
                continue  # it reported its end, or it was relaunched since: another sweep speaks for it now
            verdict = RunStatus.CANCELLED if job.state in CANCELLED_STATES else RunStatus.FAILED
            if job.state == LOST:  # it never started: no log to point to, and relaunching runs it
                message = (f"slurm array task {job_id} was {LOST_REASON} (e.g. scancel of a pending task); "
                           "relaunch the sweep to run it")
            else:
                log = f"; log: {manifest.folder}/{job_id}_0_log.out" if manifest.executor == "slurm" else ""
                message = f"{manifest.executor} job {job_id} ended {job.describe()} before the run reported an end{log}"
            v = Verdict(run_id, job_id, verdict, message, job, (last or {}).get("epoch"),
                        (last or {}).get("requeues") or 0)
            status.verdicts.append(v)
            status.runs[run_id] = dict(last or {}, run_id=run_id, status=str(verdict), message=message,
                                       job_id=job_id)
    return status


def record(status: SweepStatus) -> SweepStatus:
    """Write each verdict as the run's event (and a `jobs` row), then read the events back."""
    manifest, where = status.manifest, status.where
    if not status.verdicts or where is None:
        return status
    for v in status.verdicts:
        write_run_event(where, v.run_id, manifest.sweep_id, v.status, message=v.message, job_id=v.job_id,
                        epoch=v.epoch, requeues=v.requeues)
    write_job_rows(where, manifest.sweep_id, f"reconciled-{time.time_ns()}",
                   [dict(run_id=v.run_id, job_id=v.job_id, executor=manifest.executor, state=v.job.state,
                         host=v.job.node, traceback=v.message, requeues=v.requeues) for v in status.verdicts])
    status.runs = latest_events(manifest.run_ids, where)
    return status


def reconcile(manifest: Manifest, where: Home) -> SweepStatus:
    """Read the sweep's state; write an event for each run whose job ended without reporting."""
    return record(assess(manifest, where))


def cancel(manifest: Manifest, where: Home) -> SweepStatus:
    """Stop the sweep's jobs in the executor, then mark every run that had not ended 'cancelled'."""
    if manifest.executor == "slurm":
        bases = sorted({j.split("_")[0] for j in manifest.jobs})
        # ids are digits written by us into the manifest; passed as arguments, never through a shell
        done = subprocess.run(["scancel", *bases], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 and "already completing or completed" not in done.stderr:
            raise RuntimeError(f"scancel failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
    else:
        for job_id in manifest.jobs:
            if is_local_controller(job_id, manifest.folder):
                # the controller turns SIGINT into stopping its task (submitit's own cancel)
                os.kill(int(job_id), signal.SIGINT)
    events = latest_events(manifest.run_ids, where)
    rows = []
    for job_id, run_ids in manifest.jobs.items():
        for run_id in run_ids:
            last = events.get(run_id)
            if last is not None and (last["status"] in TERMINAL or last["sweep_id"] != manifest.sweep_id):
                continue  # ended, or relaunched in another sweep since (cancelling this one must not touch it)
            write_run_event(where, run_id, manifest.sweep_id, RunStatus.CANCELLED,
                            message="cancelled by the user (python -m training.launch cancel)", job_id=job_id,
                            epoch=(last or {}).get("epoch"), requeues=(last or {}).get("requeues") or 0)
            rows.append(dict(run_id=run_id, job_id=job_id, executor=manifest.executor, state="CANCELLED",
                             requeues=(last or {}).get("requeues") or 0))
    write_job_rows(where, manifest.sweep_id, f"cancelled-{time.time_ns()}", rows)
    return SweepStatus(manifest, runs=latest_events(manifest.run_ids, where), where=where)
