"""The run statuses, defined once: what each means, which are live and which are final.

Every writer (the launcher, the job on its node, the reconciler, `cancel`) and every reader (the
warehouse's `runs` view, `status`, the dashboard) uses these names; the warehouse stores them as text.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # submitted (or requeued), not started
    RUNNING = "running"  # its job is training or analysing it
    FINISHED = "finished"  # trained and analysed; its rows are written
    DIVERGED = "diverged"  # the training loss became NaN/inf; ended on purpose, rows up to then are kept
    FAILED = "failed"  # an error, or its job ended without the run reporting an end
    CANCELLED = "cancelled"  # stopped by the user or by the executor (scancel)

    @property
    def live(self) -> bool:
        return self in LIVE

    @property
    def ended(self) -> bool:
        return self in TERMINAL


# Lifecycle order: also the tie-break when two events of a run share a timestamp (the later stage wins).
ORDER: tuple[RunStatus, ...] = tuple(RunStatus)
LIVE: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
TERMINAL: tuple[RunStatus, ...] = (RunStatus.FINISHED, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.CANCELLED)
# Ended without error: a diverged run ended the way the recipe says it should when the loss blows up.
ENDED_OK: frozenset[RunStatus] = frozenset({RunStatus.FINISHED, RunStatus.DIVERGED})
# Ended badly: the dashboard and `status` show why.
ENDED_BADLY: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.CANCELLED)


def stage(status: str) -> int:
    """0 for queued, 1 for running, 2 for any end: the tie-break rank of an event."""
    return {RunStatus.QUEUED: 0, RunStatus.RUNNING: 1}.get(RunStatus(status), 2)
