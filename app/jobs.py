"""Live sweep state for the Jobs page, read from the shard files jobs write (no ingest needed), and cancel.

The warehouse shows a run only after `python -m warehouse ingest`; a sweep that is running right now is
followed here from `jobs/<sweep>/sweep.json` (the launcher's manifest) and the runs' event and epoch shards,
the same way `python -m training.launch status` does.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lab.records.events import latest_statuses
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
    configs: dict[str, dict] = field(default_factory=dict)  # run id -> temperature, seed, name (run_configs shard)
    last: dict[str, dict] = field(default_factory=dict)  # run id -> last epoch row: train_loss, test_acc, eta_s

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
    def failed(self) -> int:
        return sum(self.statuses.get(r) == RunStatus.FAILED for r in self.run_ids)

    @property
    def progress(self) -> float:
        """Share of the sweep's planned epochs trained. A finished run counts whole; any other run (a failed,
        diverged or cancelled one too) counts the epochs it logged, so a run that failed before training
        adds 0 — an ended sweep need not be at 100 %."""
        total = sum(max(1, self.planned_epochs.get(r, 1)) for r in self.run_ids) or 1
        got = sum(
            max(1, self.planned_epochs.get(r, 1)) if self.statuses.get(r) == RunStatus.FINISHED
            else min(self.epochs.get(r, 0), self.planned_epochs.get(r, 1))
            for r in self.run_ids
        )
        return got / total

    def summary(self) -> str:
        """'1/1 runs ended (1 failed) · 0 % of planned epochs'."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"{self.done}/{len(self.run_ids)} runs ended{failed} · {self.progress * 100:.0f} % of planned epochs"


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
        cfg = where.shards / "run_configs" / rid / "config.parquet"
        if cfg.exists():
            try:
                row = pl.read_parquet(cfg, columns=["epochs", "temperature", "seed", "name"]).row(0, named=True)
                state.planned_epochs[rid] = int(row["epochs"])
                state.configs[rid] = row
            except Exception:  # a shard being replaced right now: next refresh reads it
                pass
        log = where.shards / "epochs" / rid / "epochs.parquet"
        if log.exists():
            try:
                epochs = pl.read_parquet(log, columns=["epoch", "train_loss", "test_acc", "wall_s"]).sort("epoch")
            except Exception:
                continue
            if epochs.is_empty():
                continue
            last = epochs.row(-1, named=True)
            state.epochs[rid] = int(last["epoch"])
            left = state.planned_epochs.get(rid, last["epoch"]) - last["epoch"]
            per_epoch = seconds_per_epoch(epochs)
            live = state.statuses.get(rid) not in TERMINAL
            state.last[rid] = dict(train_loss=last["train_loss"], test_acc=last["test_acc"],
                                   eta_s=left * per_epoch if live and per_epoch is not None else None)
    return state


def seconds_per_epoch(epochs: pl.DataFrame, window: int = 5) -> float | None:
    """Mean wall time of the run's last `window` epochs, from consecutive epoch rows' `wall_s` (epoch 0 is
    the evaluation before training; a resumed run restarts its clock, so negative steps are left out)."""
    rows = epochs.filter(pl.col("epoch") >= 0).select("epoch", "wall_s").drop_nulls().tail(window + 1)
    steps = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(rows.rows(), rows.rows()[1:])
             if b[0] > a[0] and b[1] >= a[1]]
    return sum(steps) / len(steps) if steps else None


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def run_table(state: SweepState, where: Home) -> pl.DataFrame:
    """One row per run of the sweep: job, status, epoch / planned, and the failure message if any."""
    events = _read_events(where, state.run_ids)
    messages = {}
    if not events.is_empty():
        bad = events.filter(pl.col("status").is_in([str(x) for x in ENDED_BADLY])).sort("ts")
        messages = dict(zip(bad["run_id"].to_list(), bad["message"].to_list()))
    rows = []
    for job, rids in state.jobs.items():
        for rid in rids:
            cfg, last = state.configs.get(rid, {}), state.last.get(rid, {})
            rows.append(dict(run_id=rid, name=cfg.get("name") or "", T=cfg.get("temperature"), seed=cfg.get("seed"),
                             job=job, status=str(state.statuses.get(rid, RunStatus.QUEUED)),
                             epoch=state.epochs.get(rid), epochs=state.planned_epochs.get(rid),
                             train_loss=last.get("train_loss"), test_acc=last.get("test_acc"),
                             eta=eta_text(last.get("eta_s")), message=shown(messages.get(rid, ""), where)))
    return pl.DataFrame(rows, schema={"run_id": pl.String, "name": pl.String, "T": pl.Float64, "seed": pl.Int64,
                                      "job": pl.String, "status": pl.String, "epoch": pl.Int64, "epochs": pl.Int64,
                                      "train_loss": pl.Float64, "test_acc": pl.Float64, "eta": pl.String,
                                      "message": pl.String})


# An absolute path in a message or log line (up to a space, quote, bracket or ':line').
_PATH = re.compile(r"(?<![\w.~-])(~?/[^\s'\"`,;:()\[\]{}<>|]+)")
OUTSIDE = "<a path outside the home>"


def shown(text: str, where: Home) -> str:
    """A message or log as the Jobs page shows it: paths under the home relative to it ($THERMOSCOPE_HOME/...),
    paths of Python code and of the allowed data roots as they are, and every other path (a file in some private
    folder that a failed run named) replaced, so the page never tells who reaches it what lies outside."""
    from training.datafiles import data_roots

    home_root = os.path.realpath(where.root)
    code = [os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[1])}]
    public = code + [str(r) for r in data_roots()]

    def one(match: re.Match) -> str:
        raw = match.group(1)
        path = os.path.normpath(os.path.expanduser(raw))
        if path == home_root or path.startswith(home_root + os.sep):
            return "$THERMOSCOPE_HOME" + path[len(home_root):]
        if any(path == p or path.startswith(p + os.sep) for p in public):
            return raw
        return OUTSIDE

    return _PATH.sub(one, text or "")


def waiting_notes(sweep_id: str, where: Home) -> list[str]:
    """Why the sweep's pending Slurm jobs will not start on their own, in words (the lines `status` prints)."""
    from lab.records.manifest import load_manifest
    from lab.records.reconcile import assess
    from lab.sweeps.follow import waiting_notes as notes

    try:
        return notes(assess(load_manifest(where, sweep_id), where))
    except Exception:  # sacct unreachable, manifest being written: the next refresh tries again
        return []


def job_log_tail(where: Home, sweep_id: str, job_id: str, lines: int = 40, stream: str = "err") -> str:
    """The end of a job's stderr (submitit's `<job>_0_log.err`; `stream="out"`: its stdout): where a crash
    before any event shows, and the job's own lines (a run starting, ending, the job's ingest)."""
    folder = where.jobs / sweep_id
    for path in (folder / f"{job_id}_0_log.{stream}", folder / f"{job_id}_log.{stream}"):
        if path.exists():
            return shown("\n".join(_tail(path, lines)), where)
    return ""


def _tail(path: Path, lines: int, chunk: int = 65536) -> list[str]:
    """The last lines of a log that may be large: only its end is read."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - chunk))
        text = fh.read().decode(errors="replace")
    return text.splitlines()[-lines:]


def job_log(where: Home, sweep_id: str, job_id: str, lines: int = 12) -> str:
    """The job's last lines of stdout then stderr, for the live monitor."""
    parts = [t for t in (job_log_tail(where, sweep_id, job_id, lines, "out"),
                         job_log_tail(where, sweep_id, job_id, lines, "err")) if t]
    return "\n".join(parts)


def reap(launched: dict[str, list]) -> int:
    """Collect the exit status of this app's finished local jobs, so none stays a zombie child of the
    server; returns how many were reaped. A finished job's entry is dropped (its manifest still follows it)."""
    reaped = 0
    for sweep_id, jobs_of in list(launched.items()):
        running = []
        for job in jobs_of:
            process = getattr(job, "_process", None)  # submitit's LocalJob; Slurm jobs have none
            if process is not None and process.poll() is not None:
                reaped += 1
            else:  # still running, or a Slurm job (kept: nothing of it lives in this process)
                running.append(job)
        if running:
            launched[sweep_id] = running
        else:
            launched.pop(sweep_id, None)
    return reaped


def ingest_now(where: Home) -> tuple[bool, str]:
    """The Jobs page's "Ingest now": load every new shard; (loaded, one line saying what or why not)."""
    from warehouse.ingest import IngestBusy, ingest

    try:
        report = ingest(where, lock_wait_s=5.0)
    except IngestBusy:
        return False, ("not ingested: another ingest is running (a job's own, or `python -m warehouse ingest`); "
                       "it loads the same shards: wait a few seconds and press again")
    except Exception as exc:  # a broken warehouse file, a full disk: say what, keep the page alive
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return False, f"not ingested ({type(exc).__name__}: {first}); try `python -m warehouse ingest` in a shell"
    return True, str(report)


def cancel(sweep_id: str, where: Home) -> str:
    """Cancel a sweep's jobs and mark its unfinished runs cancelled; returns what happened, in one line.

    The launcher's own cancel (`python -m training.launch cancel`: scancel on Slurm, SIGINT to a local
    submitit controller it can verify), so the app and the CLI stop sweeps the same way."""
    from lab.records.manifest import load_manifest
    from lab.records.reconcile import cancel as cancel_sweep

    try:
        status = cancel_sweep(load_manifest(where, sweep_id), where)
    except Exception as exc:  # scancel refused, unknown sweep: say so, keep the page alive
        return f"could not cancel sweep {sweep_id}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    counts = status.counts()
    return f"cancelled sweep {sweep_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
