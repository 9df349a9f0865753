"""Following a sweep: its state in one line per run (`status`), a progress bar until it ends (`--wait`), `cancel`.

These are the only places besides the job itself that write status rows: each reading reconciles with the
executor (lab/records/reconcile.py), so a job killed from outside shows as ended, with the executor's reason.
"""

from __future__ import annotations

import os
import re
import sys
import time

from lab.records.events import last_heartbeats, now
from lab.records.manifest import Manifest, load_manifest
from lab.records.provenance import recorded_environments
from lab.records.reconcile import SweepStatus, cancel, reconcile
from lab.records.verdict import WHAT_HELPS
from slurm.pending import explain_pending
from thermoscope.status import TERMINAL, RunStatus
from warehouse import Home
from warehouse.environment import mixed_code_warning

SHOWN_MESSAGE = (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DIVERGED, RunStatus.QUEUED)


def wait(manifest: Manifest, where: Home, jobs: list | None = None, poll_s: float = 2.0) -> SweepStatus:
    """Show a progress bar of finished / running / failed runs until every run has ended.

    Each poll reconciles with the executor, so a job killed from outside ends the wait too. `jobs`: the
    submitit handles of local jobs, polled so that ended controllers are reaped and read right."""
    from tqdm import tqdm

    warned = ""
    # on a terminal the bar redraws in place; in a log (make, CI) one line every 30 s is plenty
    quiet = 2.0 if sys.stderr.isatty() else 30.0
    with tqdm(total=len(manifest.run_ids), desc=f"sweep {manifest.sweep_id}", unit="run", file=sys.stderr,
              mininterval=quiet, maxinterval=quiet) as bar:
        while True:
            for job in jobs or []:
                job.done()
            status = reconcile(manifest, where)
            if status.warning and status.warning != warned:
                warned = status.warning
                print(f"launch: {warned}; statuses are the runs' own reports only", file=sys.stderr)
            counts = status.counts()
            bar.set_postfix({str(k): counts[k] for k in (RunStatus.RUNNING, *TERMINAL) if counts.get(k)},
                            refresh=False)
            bar.update(sum(counts.get(s, 0) for s in TERMINAL) - bar.n)  # redraws at most every `quiet` s
            if status.done:
                return status
            _pause(manifest, where, jobs or [], poll_s)


def _event_marks(manifest: Manifest, where: Home) -> tuple[int, ...]:
    """The modification time of each run's event folder: a run writes a new event file there on every change."""
    marks = []
    for rid in manifest.run_ids:
        try:
            marks.append(os.stat(where.shards / "run_events" / rid).st_mtime_ns)
        except OSError:
            marks.append(0)
    return tuple(marks)


def _pause(manifest: Manifest, where: Home, jobs: list, poll_s: float) -> None:
    """Sleep until the next full poll, or less: until a run writes an event or a local job process ends.

    The full poll (shards + the executor's accounting) stays every `poll_s`, so a job killed from outside is
    still seen; the cheap checks between make `--wait` end right after the last run reports, not up to
    `poll_s` later. Their interval grows with the sweep (stat calls per run) so a large sweep stays cheap."""
    step = min(poll_s, max(0.1, len(manifest.run_ids) * 1e-4))
    marks, ended = _event_marks(manifest, where), sum(job.done() for job in jobs)
    deadline = time.monotonic() + poll_s
    while time.monotonic() < deadline:
        time.sleep(min(step, max(0.0, deadline - time.monotonic())))
        if _event_marks(manifest, where) != marks or sum(job.done() for job in jobs) != ended:
            return


def _last_line(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def print_status(status: SweepStatus) -> None:
    m = status.manifest
    counts = status.counts()
    print(f"sweep {m.sweep_id} ({m.executor}, {len(m.jobs)} job(s)): {len(m.run_ids)} run(s): "
          + ", ".join(f"{counts[s]} {s}" for s in (RunStatus.QUEUED, RunStatus.RUNNING, *TERMINAL) if counts.get(s)))
    if status.warning:
        print(f"  warning: {status.warning}; statuses are the runs' own reports only")
    beats = last_heartbeats(status.where, m.sweep_id) if status.where else {}
    for job_id, run_ids in m.jobs.items():
        job = status.jobs.get(job_id)
        executor_word = f" [{job.describe()}]" if job else ""
        if job_id in beats and (job is None or not job.ended):
            # a job Slurm calls RUNNING whose heartbeat is old is hung, not slow
            executor_word += f" (heartbeat {(now() - beats[job_id]).total_seconds():.0f} s ago)"
        for rid in run_ids:
            ev = status.runs.get(rid) or {}
            extra = []
            if ev.get("epoch") is not None:
                extra.append(f"epoch {ev['epoch']}")
            if ev.get("requeues"):
                extra.append(f"requeues {ev['requeues']}")
            note = _last_line(ev.get("message")) if ev.get("status") in SHOWN_MESSAGE else ""
            print(f"  job {job_id}{executor_word}  run {rid}  {status.status_of(rid)}"
                  + (f" ({', '.join(extra)})" if extra else "") + (f"  {note}" if note else ""))
    for note in waiting_notes(status):
        print(f"  {note}")
    for warning in (learn_warning(status), code_warning(status)):
        if warning:
            print(f"  {warning}")


def waiting_notes(status: SweepStatus) -> list[str]:
    """One line per pending reason that will not resolve on its own (slurm/pending.py), naming its jobs."""
    jobs: dict[str, list[str]] = {}
    for job_id, job in status.jobs.items():
        if job.state == "PENDING" and explain_pending(job.reason):
            jobs.setdefault(job.reason, []).append(job_id)
    return [f"waiting: job(s) {', '.join(ids[:4])}{', ...' if len(ids) > 4 else ''} pend with reason {reason}: "
            f"{explain_pending(reason)}" for reason, ids in jobs.items()]


def did_not_learn(run_ids: list[str], where: Home) -> list[str]:
    """Runs whose stored verdict (lab/records/verdict.py) says they did not learn, read from their shards."""
    import pyarrow.parquet as pq

    stuck = []
    for rid in run_ids:
        path = where.shards / "run_metrics" / rid / "verdict.parquet"
        try:
            values = pq.read_table(path, columns=["value"]).column("value").to_pylist()
        except (OSError, ValueError):
            continue
        if values and values[0] == 0.0:
            stuck.append(rid)
    return stuck


def learn_warning(status: SweepStatus) -> str:
    """One line naming the runs that ended without learning ('' when every ended run learned)."""
    if status.where is None:
        return ""
    stuck = did_not_learn(status.manifest.run_ids, status.where)
    if not stuck:
        return ""
    return (f"warning: {len(stuck)} run(s) did not learn (near chance: {', '.join(stuck)}); their ranks and "
            f"probes describe an untrained network, not the temperature. What usually helps: {WHAT_HELPS}")


def code_warning(status: SweepStatus) -> str:
    """One line when the sweep's jobs ran different code (commits, dirty trees), from their environment records
    (read from the shards: no ingest needed); '' when they agree or recorded nothing."""
    if status.where is None:
        return ""
    m = status.manifest
    owners = [re.sub(r"-e\d{4,}$", "", rid) for rid in m.run_ids]  # an analysis task reports under '<run_id>-eNNNN'
    return mixed_code_warning(r for r in recorded_environments(status.where, owners) if r.get("sweep_id") == m.sweep_id)


def show_status(sweep_id: str, where: Home) -> SweepStatus:
    status = reconcile(load_manifest(where, sweep_id), where)
    print_status(status)
    return status


def cancel_sweep(sweep_id: str, where: Home) -> SweepStatus:
    status = cancel(load_manifest(where, sweep_id), where)
    counts = status.counts()
    print(f"cancelled sweep {sweep_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return status
