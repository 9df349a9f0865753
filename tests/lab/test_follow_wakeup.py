"""`--wait` between its full polls: it wakes when a run writes an event or a local job's process ends, and
otherwise sleeps the whole interval (so a sweep with nothing happening costs no more than before)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from lab.records.events import write_run_event
from lab.records.manifest import Manifest
from lab.sweeps.follow import _pause

RUNS = ["a" * 16, "b" * 16]
LONG = 60.0  # the full-poll interval in these tests: any early return is the wake-up, not the timeout


class LocalJob:
    """What follow.wait needs of a submitit local job: done(), true once its process has exited."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def done(self) -> bool:
        return self.proc.poll() is not None


def _manifest() -> Manifest:
    return Manifest(sweep_id="s1", executor="local", folder="/nowhere", jobs={"1": RUNS[:1], "2": RUNS[1:]})


def test_a_new_event_ends_the_pause_at_once(tmp_home):
    write_run_event(tmp_home, RUNS[0], "s1", "running", epoch=0)
    later = threading.Timer(0.5, write_run_event, (tmp_home, RUNS[1], "s1", "finished"))
    later.start()
    t0 = time.monotonic()
    _pause(_manifest(), tmp_home, [], LONG)
    waited = time.monotonic() - t0
    later.join()
    assert 0.4 < waited < LONG / 2, waited  # woke on the event (0.5 s), long before the full poll


def test_a_local_job_that_exits_ends_the_pause(tmp_home):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    t0 = time.monotonic()
    _pause(_manifest(), tmp_home, [LocalJob(proc)], LONG)
    waited = time.monotonic() - t0
    proc.wait()
    assert waited < LONG / 2, waited


def test_with_nothing_happening_the_pause_lasts_the_whole_interval(tmp_home):
    write_run_event(tmp_home, RUNS[0], "s1", "running", epoch=0)
    t0 = time.monotonic()
    _pause(_manifest(), tmp_home, [], 1.0)
    assert time.monotonic() - t0 >= 1.0
