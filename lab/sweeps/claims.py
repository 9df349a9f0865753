"""Submission claims: the same run launched twice at once is submitted once.

Planning decides from the runs' events whether a run is new; its 'queued' event is written only after
sbatch (or the local executor) accepted the job. Two launchers into one home that plan inside that
window both see the run as new, and both jobs would train it into one checkpoint folder. So before the
final look at a run's events the launcher claims it: the file `$THERMOSCOPE_HOME/claims/<run_id>` is
made with `os.link` from a private temporary file, which is atomic and fails when the name exists (also
over NFS, unlike O_EXCL on old clients), so exactly one launcher holds a run. The claim is held until
the run's 'queued' event is written (or the submission failed), then removed: from then on the events
speak for the run.

A claim whose holder cannot release it must not block the run for ever. It is stale when
- its sweep's manifest exists and the run has an event of that sweep (the submission went through and
  the holder died before removing the claim: the events rule now), or
- its holder ran on this machine and that process is gone (or its PID now belongs to a younger process), or
- it is older than `STALE_AFTER_S` and was made on another machine (whose processes we cannot see).
A stale claim is taken over under an flock, re-read first, so two launchers never both take it over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from warehouse import Home

STALE_AFTER_S = 900.0  # no submission takes this long; a claim from another machine older than this is dead


@dataclass(frozen=True)
class Claim:
    run_id: str
    sweep_id: str
    host: str
    pid: int
    started: float  # the holder process's start time (epoch s): tells a reused PID from the holder
    created: float

    def describe(self) -> str:
        return f"sweep {self.sweep_id} (launcher PID {self.pid} on {self.host})"


def _me(run_id: str, sweep_id: str) -> Claim:
    import psutil

    return Claim(run_id, sweep_id, socket.gethostname(), os.getpid(), psutil.Process().create_time(), time.time())


def _path(where: Home, run_id: str) -> Path:
    return where.claims / run_id


def _read(path: Path) -> Claim | None:
    try:
        return Claim(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):  # released meanwhile, or not ours to read
        return None


def _holder_alive(claim: Claim) -> bool:
    import psutil

    try:
        proc = psutil.Process(claim.pid)
        return proc.status() != psutil.STATUS_ZOMBIE and abs(proc.create_time() - claim.started) < 1.0
    except psutil.Error:
        return False


def is_stale(claim: Claim, where: Home) -> bool:
    from lab.records.events import latest_events
    from lab.records.manifest import manifest_path

    if manifest_path(where, claim.sweep_id).is_file():
        event = latest_events([claim.run_id], where).get(claim.run_id)
        if event is not None and event["sweep_id"] == claim.sweep_id:
            return True
    if claim.host == socket.gethostname():
        return not _holder_alive(claim)
    return time.time() - claim.created > STALE_AFTER_S


@contextlib.contextmanager
def _takeover_lock(where: Home) -> Iterator[None]:
    lock = where.claims / ".takeover.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(where: Home, mine: Claim) -> Claim | None:
    """Take the run's claim; None when it is ours now, else the live claim of another launcher."""
    path = _path(where, mine.run_id)
    tmp = path.with_name(f".{mine.run_id}.{mine.pid}.{time.time_ns()}.tmp")
    tmp.write_text(json.dumps(asdict(mine)))
    try:
        for _ in range(5):
            try:
                os.link(tmp, path)
                return None
            except FileExistsError:
                pass
            other = _read(path)
            if other is None:
                continue  # released (or half gone) between our link and our read: try again
            if not is_stale(other, where):
                return other
            with _takeover_lock(where):
                if _read(path) == other:  # still the stale one, not a fresh claim made since
                    path.unlink(missing_ok=True)
        # claimed and released five times over while we looked: somebody else is busy with it; leave it to them
        return _read(path) or mine
    finally:
        tmp.unlink(missing_ok=True)


def claim_runs(where: Home, run_ids: list[str], sweep_id: str) -> tuple[list[str], dict[str, Claim]]:
    """Claim each run for `sweep_id`: (the run ids now ours, {run id: the other launcher's claim})."""
    where.claims.mkdir(parents=True, exist_ok=True)
    held, others = [], {}
    for run_id in run_ids:
        other = _acquire(where, _me(run_id, sweep_id))
        if other is None:
            held.append(run_id)
        else:
            others[run_id] = other
    return held, others


def release(where: Home, run_ids: list[str], sweep_id: str) -> None:
    """Remove our claims (only those that still name `sweep_id`: a taken-over claim is not ours to remove)."""
    for run_id in run_ids:
        path = _path(where, run_id)
        claim = _read(path)
        if claim is not None and claim.sweep_id == sweep_id and claim.pid == os.getpid():
            path.unlink(missing_ok=True)
