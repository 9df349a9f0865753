"""What the executor itself says about jobs: Slurm's accounting (sacct) or, locally, the process table.

This is the ground truth for jobs that died without reporting (node failure, OOM kill, scancel,
a killed local process): their runs' last event still says queued/running, and only the
executor knows they are gone. sacct output is parsed with submitit's own parser, which also
expands pending array ranges such as `12_[3-7%2]`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Slurm job states after which nothing more will run (sacct's words; 'CANCELLED by 0' → 'CANCELLED')
SLURM_ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
               "DEADLINE", "PREEMPTED", "REVOKED")


# Our word (not Slurm's) for an array task that Slurm lists nowhere after its array stopped pending
LOST = "LOST"
LOST_REASON = "listed by neither squeue nor sacct after its array stopped pending: cancelled before it started"


class SlurmUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str  # Slurm's state word, or for local jobs RUNNING / COMPLETED / KILLED
    ended: bool
    exit_code: str = ""
    reason: str = ""
    node: str = ""

    def describe(self) -> str:
        parts = [self.state]
        if self.exit_code and self.exit_code != "0:0":
            parts.append(f"exit code {self.exit_code}")
        # sacct keeps the last pending reason (e.g. BeginTime after a requeue) even for a job that
        # then ran: it only explains a job that is waiting or ended badly
        if self.reason and self.reason not in ("None", "") and self.state not in ("COMPLETED", "RUNNING"):
            parts.append(f"reason {self.reason}")
        if self.node and self.node not in ("None assigned", ""):
            parts.append(f"on {self.node}")
        return ", ".join(parts)


def slurm_states(job_ids: list[str], not_before: float = 0.0) -> dict[str, JobState]:
    """State of each job id (array tasks as '123_4') from sacct; ids sacct does not know yet are left out.

    `not_before` (epoch seconds): records submitted earlier belong to another job that had the same
    id (a cluster whose job ids restarted, as the test cluster's do) and are ignored."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    bases = sorted({j.split("_")[0] for j in job_ids})
    if not bases:
        return {}
    command = ["sacct", "-X", "--parsable2", "-o", "JobID,State,ExitCode,Reason,NodeList,Submit", "-j", ",".join(bases)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise SlurmUnavailable(f"sacct failed ({detail.strip().splitlines()[-1] if detail.strip() else exc}); "
                               "is Slurm accounting (slurmdbd) up?") from None
    info = SlurmInfoWatcher(delay_s=0).read_info(out)
    states = {}
    for job_id in job_ids:
        row = info.get(job_id)
        if row is None or _submitted(row.get("Submit", "")) < not_before - 300:
            continue
        word = (row.get("State") or "UNKNOWN").split()[0].rstrip("+")
        states[job_id] = JobState(job_id, word, word in SLURM_ENDED, row.get("ExitCode", ""), row.get("Reason", ""),
                                  row.get("NodeList", ""))
    states.update(lost_tasks([j for j in job_ids if j not in states], states))
    return states


def lost_tasks(missing: list[str], known: dict[str, JobState]) -> dict[str, JobState]:
    """Array tasks Slurm lists nowhere although their array has stopped pending: state LOST (ended).

    A task cancelled while still pending never gets a record of its own: sacct keeps showing it inside
    the array's pending range (`12_[1-3%1]`) and, once that range is gone, lists it nowhere, and squeue
    has dropped it. Without this it would look queued for ever. Only declared when sacct knows the array
    (some task of it is listed), none of its tasks is pending, and squeue does not list the task either
    (sacct learns of a task that just started a few seconds after squeue does)."""
    by_array: dict[str, list[JobState]] = {}
    for job_id, state in known.items():
        by_array.setdefault(job_id.split("_")[0], []).append(state)
    candidates = [j for j in missing if "_" in j and j.split("_")[0] in by_array
                  and not any(s.state == "PENDING" for s in by_array[j.split("_")[0]])]
    if not candidates:
        return {}
    bases = sorted({j.split("_")[0] for j in candidates})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(bases)], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0 and "Invalid job id" not in out.stderr:  # squeue refuses ids it has forgotten
        return {}
    listed = set(out.stdout.split())
    return {j: JobState(j, LOST, True, reason=LOST_REASON) for j in candidates if j not in listed}


def _submitted(text: str) -> float:
    """sacct's Submit ('2026-11-29T04:32:59', the cluster's local time) in epoch seconds; inf if unreadable."""
    import time

    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return float("inf")


def local_states(job_ids: list[str], folder: str) -> dict[str, JobState]:
    """Local jobs are submitit controller processes (job id = PID): alive, ended with a result, or killed."""
    states = {}
    for job_id in job_ids:
        if is_local_controller(job_id, folder):
            states[job_id] = JobState(job_id, "RUNNING", False)
        elif _has_result(folder, job_id):
            states[job_id] = JobState(job_id, "COMPLETED", True)
        else:
            states[job_id] = JobState(job_id, "KILLED", True, reason="the local job process ended without a result")
    return states


def is_local_controller(pid: str, folder: str) -> bool:
    import psutil

    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:  # PID 1 here reaps late: a zombie has ended
            return False
        cmdline = " ".join(proc.cmdline())
    except (psutil.Error, ValueError):
        return False
    # a reused PID belongs to some other program: only submitit's controller for this folder counts
    return "submitit.local._local" in cmdline and folder in cmdline


def _has_result(folder: str, job_id: str) -> bool:
    return any(Path(folder).glob(f"{job_id}_*_result.pkl"))


def process_states(job_ids: list[str], not_before: float = 0.0) -> dict[str, JobState]:
    """Jobs that are someone's own process ('pid<PID>.<host>', e.g. a training script with a Tracker): alive while
    that process runs. A process on another host cannot be seen from here: neither alive nor ended."""
    import socket

    import psutil

    states = {}
    for job_id in job_ids:
        pid, _, host = job_id.removeprefix("pid").partition(".")
        if host != socket.gethostname():
            states[job_id] = JobState(job_id, "UNKNOWN", False, reason=f"runs on {host}")
            continue
        try:
            proc = psutil.Process(int(pid))
            # a process started after the job was recorded is another program that got the PID
            alive = proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= not_before + 1.0
        except (psutil.Error, ValueError):
            alive = False
        states[job_id] = JobState(job_id, "RUNNING" if alive else "ENDED", not alive)
    return states


def job_states(executor: str, job_ids: list[str], folder: str, not_before: float = 0.0) -> dict[str, JobState]:
    if executor == "slurm":
        return slurm_states(job_ids, not_before)
    if executor == "process":
        return process_states(job_ids, not_before)
    return local_states(job_ids, folder)
