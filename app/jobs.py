"""Live sweep state for the Jobs page, read from the shard files jobs write (no ingest needed), and cancel.

The warehouse shows a run only after `python -m warehouse ingest`; a sweep that is running right now is
followed here from `jobs/<sweep>/sweep.json` (the launcher's manifest) and the runs' event and epoch shards,
the same way `python -m training.launch status` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lab.events import latest_statuses
from thermoscope.status import ENDED_BADLY, TERMINAL, RunStatus
from warehouse.paths import Home


@dataclass
class SweepState:
    sweep_id: str
    executor: str
    jobs: dict[str, list[str]]  # job id -> run ids
    statuses: dict[str, RunStatus] = field(default_factory=dict)  # run id -> latest status (from shards)
    epochs: dict[str, int] = field(default_factory=dict)  # run id -> last logged epoch
    planned_epochs: dict[str, int] = field(default_factory=dict)

    @property
    def run_ids(self) -> list[str]:
        return [r for runs in self.jobs.values() for r in runs]

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rid in self.run_ids:
            s = self.statuses.get(rid, RunStatus.QUEUED)
            out[s] = out.get(s, 0) + 1
        return out

    @property
    def done(self) -> int:
        return sum(self.statuses.get(r) in TERMINAL for r in self.run_ids)

    @property
    def active(self) -> bool:
        return self.done < len(self.run_ids)

    @property
    def progress(self) -> float:
        """Share of the sweep's planned epochs completed (finished runs count whole)."""
        total = sum(max(1, self.planned_epochs.get(r, 1)) for r in self.run_ids) or 1
        got = sum(
            max(1, self.planned_epochs.get(r, 1)) if self.statuses.get(r) in TERMINAL
            else min(self.epochs.get(r, 0), self.planned_epochs.get(r, 1))
            for r in self.run_ids
        )
        return got / total


def manifests(where: Home, limit: int = 10) -> list[Path]:
    """The newest sweep manifests (sweep ids start with a UTC timestamp, so names sort by time)."""
    if not where.jobs.is_dir():
        return []
    found = sorted(where.jobs.glob("*/sweep.json"), key=lambda p: p.parent.name, reverse=True)
    return found[:limit]


def _read_events(where: Home, run_ids: list[str]) -> pl.DataFrame:
    files = [str(p) for rid in run_ids for p in (where.shards / "run_events" / rid).glob("event-*.parquet")]
    if not files:
        return pl.DataFrame(schema={"run_id": pl.String, "ts": pl.Datetime("us", "UTC"), "status": pl.String,
                                    "epoch": pl.Int32, "message": pl.String})
    return pl.read_parquet(files, columns=["run_id", "ts", "status", "epoch", "message"])


_ENDED: dict[tuple[str, int], SweepState] = {}  # sweeps whose every run ended never change: read them once


def sweep_state(manifest: Path, where: Home) -> SweepState:
    key = (str(manifest), manifest.stat().st_mtime_ns)
    if key in _ENDED:
        return _ENDED[key]
    state = _read_state(manifest, where)
    if not state.active:
        _ENDED[key] = state
    return state


def _read_state(manifest: Path, where: Home) -> SweepState:
    doc = json.loads(manifest.read_text())
    state = SweepState(doc["sweep_id"], doc.get("executor", "?"), doc.get("jobs", {}))
    ids = state.run_ids
    # the launcher's own reading of the event shards (same tie-break for events with equal times)
    state.statuses = latest_statuses(ids, where)
    for rid in ids:
        log = where.shards / "epochs" / rid / "epochs.parquet"
        if log.exists():
            try:
                state.epochs[rid] = int(pl.read_parquet(log, columns=["epoch"])["epoch"].max() or 0)
            except Exception:  # a shard being replaced right now: next refresh reads it
                pass
        cfg = where.shards / "run_configs" / rid / "config.parquet"
        if cfg.exists():
            try:
                state.planned_epochs[rid] = int(pl.read_parquet(cfg, columns=["epochs"])["epochs"][0])
            except Exception:
                pass
    return state


def run_table(state: SweepState, where: Home) -> pl.DataFrame:
    """One row per run of the sweep: job, status, epoch / planned, and the failure message if any."""
    events = _read_events(where, state.run_ids)
    messages = {}
    if not events.is_empty():
        bad = events.filter(pl.col("status").is_in([str(x) for x in ENDED_BADLY])).sort("ts")
        messages = dict(zip(bad["run_id"].to_list(), bad["message"].to_list()))
    rows = [dict(run_id=rid, job=job, status=str(state.statuses.get(rid, RunStatus.QUEUED)), epoch=state.epochs.get(rid),
                 epochs=state.planned_epochs.get(rid), message=messages.get(rid, ""))
            for job, rids in state.jobs.items() for rid in rids]
    return pl.DataFrame(rows, schema={"run_id": pl.String, "job": pl.String, "status": pl.String,
                                      "epoch": pl.Int64, "epochs": pl.Int64, "message": pl.String})


def waiting_notes(sweep_id: str, where: Home) -> list[str]:
    """Why the sweep's pending Slurm jobs will not start on their own, in words (the lines `status` prints)."""
    from lab.follow import waiting_notes as notes
    from lab.manifest import load_manifest
    from lab.reconcile import assess

    try:
        return notes(assess(load_manifest(where, sweep_id), where))
    except Exception:  # sacct unreachable, manifest being written: the next refresh tries again
        return []


def job_log_tail(where: Home, sweep_id: str, job_id: str, lines: int = 40) -> str:
    """The end of a job's stderr (submitit's `<job>_0_log.err`): where a crash before any event shows."""
    folder = where.jobs / sweep_id
    for path in (folder / f"{job_id}_0_log.err", folder / f"{job_id}_log.err"):
        if path.exists():
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def cancel(sweep_id: str, where: Home) -> str:
    """Cancel a sweep's jobs and mark its unfinished runs cancelled; returns what happened, in one line.

    The launcher's own cancel (`python -m training.launch cancel`: scancel on Slurm, SIGINT to a local
    submitit controller it can verify), so the app and the CLI stop sweeps the same way."""
    from lab.manifest import load_manifest
    from lab.reconcile import cancel as cancel_sweep

    try:
        status = cancel_sweep(load_manifest(where, sweep_id), where)
    except Exception as exc:  # scancel refused, unknown sweep: say so, keep the page alive
        return f"could not cancel sweep {sweep_id}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    counts = status.counts()
    return f"cancelled sweep {sweep_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
