"""Waiting for local submitit jobs in tests: on the process's exit itself, not on a once-a-second poll."""

from __future__ import annotations

import subprocess
import time


def wait_local(jobs, timeout: float, what: str) -> None:
    """Block until every local job's process has exited (the job's own end, e.g. after its ingest); fail with
    `what` after `timeout` seconds in all. submitit's LocalJob keeps its Popen in `_process`; a job rebuilt
    without one (never the case for jobs a test just launched) falls back to a short poll of done()."""
    deadline = time.monotonic() + timeout
    for job in jobs:
        left = max(0.0, deadline - time.monotonic())
        process = getattr(job, "_process", None)
        try:
            if process is not None:
                process.wait(timeout=left)
            else:
                while not job.done():
                    assert time.monotonic() < deadline, what
                    time.sleep(0.05)
        except subprocess.TimeoutExpired:
            raise AssertionError(what) from None
        assert job.done(), what
