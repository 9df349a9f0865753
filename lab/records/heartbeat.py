"""A background thread that re-writes one `jobs` row every few seconds while a run trains.

`jobs_latest.ts` then says when a job was last seen alive, which tells a hung job from a slow one
without asking Slurm. The shard is re-written in place (same name), so a week-long job leaves one
row, not thousands. Interval: `THERMOSCOPE_HEARTBEAT_S` (default 60 s).
"""

from __future__ import annotations

import threading
from typing import Any

from lab.records.events import write_job_rows
from thermoscope import env
from warehouse import Home


def interval_s() -> float:
    return env.HEARTBEAT_S.get()


class Heartbeat:
    def __init__(self, where: Home, sweep_id: str, row: dict[str, Any], every_s: float | None = None) -> None:
        self.where, self.sweep_id, self.row = where, sweep_id, dict(row)
        self.every_s = every_s or interval_s()
        self.name = f"heartbeat-{row['job_id']}-{row['run_id']}"
        self._stop = threading.Event()
        # daemon: a preempted job exits from its signal handler without waiting for this thread
        self._thread = threading.Thread(target=self._loop, name="thermoscope-heartbeat", daemon=True)

    def beat(self) -> None:
        write_job_rows(self.where, self.sweep_id, self.name, [dict(self.row, state="RUNNING")])

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except OSError:  # a full or flaky disk must not kill the training it reports on
                pass

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
