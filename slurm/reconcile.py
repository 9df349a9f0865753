"""Honest status: runs whose job ended in the executor but whose last event is still queued/running.

A job killed from outside (scancel, OOM killer, node failure, a killed local process) cannot write
its own end. `reconcile` asks the executor (sacct through `slurm.state`) about the sweep's jobs
and writes, for each such run, an event with the executor's verdict: 'cancelled' for CANCELLED,
'failed' for every other end, with Slurm's state, exit code and reason as the message. A job
that ended COMPLETED while its run never reported an end is also 'failed': a run is never shown
finished unless it said so itself.

Order matters: the executor is asked first and the events read after, so an event the job wrote
just before it ended is always seen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from slurm.events import TERMINAL, latest_events, write_job_rows, write_run_event
from slurm.manifest import Manifest
from slurm.state import JobState, _is_our_controller, job_states
from warehouse import Home


@dataclass
class SweepStatus:
    manifest: Manifest
    runs: dict[str, dict] = field(default_factory=dict)  # run id -> latest event (None-free: 'queued' default)
    jobs: dict[str, JobState] = field(default_factory=dict)
    reconciled: list[str] = field(default_factory=list)  # run ids that got an event from the executor's state
    warning: str = ""  # e.g. sacct unreachable: statuses are the runs' own reports only
    where: Home | None = None

    def status_of(self, run_id: str) -> str:
        return (self.runs.get(run_id) or {}).get("status", "queued")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rid in self.manifest.run_ids:
            out[self.status_of(rid)] = out.get(self.status_of(rid), 0) + 1
        return out

    @property
    def done(self) -> bool:
        return all(self.status_of(r) in TERMINAL for r in self.manifest.run_ids)


def reconcile(manifest: Manifest, where: Home) -> SweepStatus:
    """Read the sweep's state; write an event for each run whose job ended without reporting."""
    from slurm.state import SlurmUnavailable

    status = SweepStatus(manifest, where=where)
    try:
        status.jobs = job_states(manifest.executor, list(manifest.jobs), manifest.folder, manifest.submitted_at)
    except SlurmUnavailable as exc:
        status.warning = str(exc)
    events = latest_events(manifest.run_ids, where)
    job_rows = []
    for job_id, job in status.jobs.items():
        if not job.ended:
            continue
        for run_id in manifest.jobs[job_id]:
            last = events.get(run_id)
            if last is not None and last["status"] in TERMINAL:
                continue
            verdict = "cancelled" if job.state == "CANCELLED" else "failed"
            where_log = f"; log: {manifest.folder}/{job_id}_0_log.out" if manifest.executor == "slurm" else ""
            message = f"{manifest.executor} job {job_id} ended {job.describe()} before the run reported an end{where_log}"
            write_run_event(where, run_id, manifest.sweep_id, verdict, message=message, job_id=job_id,
                            epoch=(last or {}).get("epoch"), requeues=(last or {}).get("requeues") or 0)
            job_rows.append(dict(run_id=run_id, job_id=job_id, executor=manifest.executor, state=job.state,
                                 host=job.node, traceback=message, requeues=(last or {}).get("requeues") or 0))
            status.reconciled.append(run_id)
    if job_rows:
        write_job_rows(where, manifest.sweep_id, f"reconciled-{time.time_ns()}", job_rows)
    status.runs = latest_events(manifest.run_ids, where) if status.reconciled else events
    return status


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
            if _is_our_controller(job_id, manifest.folder):
                # the controller turns SIGINT into stopping its task (submitit's own cancel)
                os.kill(int(job_id), signal.SIGINT)
    events = latest_events(manifest.run_ids, where)
    rows = []
    for job_id, run_ids in manifest.jobs.items():
        for run_id in run_ids:
            last = events.get(run_id)
            if last is not None and last["status"] in TERMINAL:
                continue
            write_run_event(where, run_id, manifest.sweep_id, "cancelled", message="cancelled by the user "
                            "(python -m training.launch cancel)", job_id=job_id, epoch=(last or {}).get("epoch"),
                            requeues=(last or {}).get("requeues") or 0)
            rows.append(dict(run_id=run_id, job_id=job_id, executor=manifest.executor, state="CANCELLED",
                             requeues=(last or {}).get("requeues") or 0))
    write_job_rows(where, manifest.sweep_id, f"cancelled-{time.time_ns()}", rows)
    status = SweepStatus(manifest, runs=latest_events(manifest.run_ids, where), where=where)
    return status
