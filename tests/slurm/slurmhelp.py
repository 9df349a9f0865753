"""Helpers for the Slurm integration tests: the CLI in a subprocess, polling, tiny sweeps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import ROOT

# the demo MLP at its smallest: a run trains in a second or two on one core
TINY = {"preset": "demo", "epochs": 2, "width": 32, "depth": 3}
TINY_ANALYSIS = {"probe_epochs": 2, "max_samples": 200}
# what a CPU-only test cluster can give: never ask for GPUs here
SLURM = {"partition": "gpu", "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 1, "timeout_min": 10}
SLURM_FLAGS = ["--executor", "slurm", "--partition", "gpu", "--gpus", "0", "--cpus", "1", "--mem-gb", "1",
               "--time-min", "10"]


def sets(**values: Any) -> list[str]:
    """`--set` arguments for a tiny sweep: TINY's fields and analysis settings with `values` on top."""
    out = []
    for k, v in {**TINY, **{f"analysis.{k}": v for k, v in TINY_ANALYSIS.items()}, **values}.items():
        out += ["--set", f"{k}={v}"]
    return out


def foreign_checkpoint(path) -> str:
    """A real torch checkpoint of some other model: it passes the launcher's check of `pretrained` (a torch.save
    file) and makes the run fail in its job, when the state dict does not fit the model."""
    import torch

    torch.save({"weight": torch.zeros(3)}, path)
    return str(path)


def cli(*args: str, home, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, THERMOSCOPE_HOME=str(home.root), THERMOSCOPE_THREADS="1",
               THERMOSCOPE_HEARTBEAT_S="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def until(what: str, check: Callable[[], Any], timeout: float = 180, every: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds.

    Every check reads shards or asks squeue/sacct once (tens of ms), so a short interval ends the wait
    within a quarter second of the event instead of up to a second after it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def release_requeued(job_id: str, timeout: float = 120) -> None:
    """Make a job that Slurm has just requeued eligible at once.

    Slurm holds a requeued job with BeginTime = now + cred_expire (120 s by default) before it may run again;
    on a real cluster that is noise in a queue, in a test it is two idle minutes. Once the job pends again,
    `scontrol update StartTime=now+2` (what an admin would do) lets the scheduler start it; the requeue itself
    (submitit's USR2 handler, the checkpoint, the 'queued' event) is untouched. Not `now`: the requeue revokes
    the job's credential, and slurmd compares credential times in whole seconds, so a restart within the
    same second is killed at once ("Killing non-startable batch JobId=…: Job credential revoked", seen in a
    full run) and the test waits for a start that never comes."""

    def held() -> bool:
        out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() == "PENDING"

    until(f"Slurm to requeue job {job_id}", held, timeout=timeout)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now+2"], check=True, capture_output=True,
                   timeout=30)


def squeue_ids(under=None) -> set[str]:
    """Job ids in Slurm's queue; with `under` (a folder), only jobs whose log goes below it (a test's own home:
    the cluster may be shared with other work)."""
    out = subprocess.run(["squeue", "-h", "-O", "JobID:40,StdOut:1000"], capture_output=True, text=True,
                         timeout=30).stdout
    rows = [line.split(None, 1) for line in out.splitlines() if line.strip()]
    return {r[0] for r in rows if under is None or (len(r) > 1 and r[1].strip().startswith(str(under)))}


def node_idle() -> bool:
    """Every node of the cluster idle: no job running and none still completing (a node in 'comp' is still
    running the last job's epilog, and a job submitted then is first given another pending reason)."""
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=30).stdout
    states = out.split()
    return bool(states) and all(s == "idle" for s in states)


def squeue_reasons() -> str:
    """`JOBID STATE REASON` for every queued job, for a failure message."""
    return subprocess.run(["squeue", "-h", "-o", "%i %T %r"], capture_output=True, text=True, timeout=30).stdout
