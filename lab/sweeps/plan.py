"""Planning a sweep: which of its runs to submit and which to skip. Pure: it reads, it never writes.

A run is skipped when it already finished (unless `force`) or when it is queued or running in some
sweep: two jobs training one run would share one checkpoint folder. "Queued or running" is the
runs' own latest event, corrected by what the executor says of their jobs right now
(`reconcile.assess`: a job that ended without its run reporting an end is not live), so a run
whose job died is planned again, yet nothing is written: a dry run, the dashboard's Check and the
launch itself leave the home as they found it (only `status` and `--wait` record verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.records.events import latest_events
from lab.records.manifest import UnknownSweep, load_manifest
from lab.records.reconcile import assess
from lab.sweeps.spec import Sweep
from thermoscope.status import LIVE, RunStatus
from training.config import RunConfig
from warehouse import Home
from warehouse.read import WarehouseMissing, query


@dataclass
class Plan:
    todo: list[RunConfig]  # to submit
    skipped: list[RunConfig]  # finished (unless force) or live elsewhere
    live: dict[str, str] = field(default_factory=dict)  # skipped run id -> the sweep it is queued/running in
    known: dict[str, RunStatus] = field(default_factory=dict)  # run id -> its latest status anywhere


def finished_in_warehouse(run_ids: list[str], where: Home) -> set[str]:
    """Run ids among `run_ids` that the warehouse shows as finished (runs whose shards were cleaned up)."""
    try:
        frame = query("SELECT run_id FROM runs WHERE status = 'finished' AND run_id IN (SELECT unnest(?))",
                      [run_ids], where)
    except WarehouseMissing:
        return set()
    return set(frame["run_id"].to_list())


def current_events(run_ids: list[str], where: Home) -> dict[str, dict]:
    """Latest event of each run (shards, newer than any ingest), with the executor's verdict on live runs
    whose job already ended applied in memory only."""
    events = latest_events(run_ids, where)
    for sweep_id in sorted({e["sweep_id"] for e in events.values() if e["status"] in LIVE}):
        try:
            status = assess(load_manifest(where, sweep_id), where)
        except UnknownSweep:
            continue
        events.update({rid: status.runs[rid] for rid in status.reconciled if rid in events})
    return events


def plan(sweep: Sweep, *, force: bool = False, where: Home) -> Plan:
    configs = sweep.configs()
    ids = [c.run_id for c in configs]
    events = current_events(ids, where)
    finished = finished_in_warehouse(ids, where) | {r for r, e in events.items() if e["status"] == RunStatus.FINISHED}
    live = {r: e["sweep_id"] for r, e in events.items() if e["status"] in LIVE}
    done = set() if force else finished
    todo = [c for c in configs if c.run_id not in done and c.run_id not in live]
    skipped = [c for c in configs if c.run_id in done or c.run_id in live]
    known = {r: RunStatus(e["status"]) for r, e in events.items()}
    known.update({r: RunStatus.FINISHED for r in finished})
    return Plan(todo, skipped, live, known)
