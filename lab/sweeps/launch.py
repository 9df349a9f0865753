"""The launch API: `launch(sweep, ...) -> LaunchResult` validates, plans and submits a sweep as one job array.

Torch-free: the dashboard's sidebar calls it too (`python -m training.launch` is lab/commands/main.py).
Nothing the user typed is passed through a shell: submitit writes sbatch files from typed values.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from analysis.settings import AnalysisSettings
from lab.jobs.run_job import RunJob
from lab.records.configs import RunLabels, config_row
from lab.records.events import now, write_job_rows, write_run_event
from lab.records.manifest import Manifest, sweep_id_for
from lab.records.provenance import code_version
from lab.sweeps.claims import Claim, claim_runs, release
from lab.sweeps.plan import Plan, plan
from lab.sweeps.retention import prune_superseded
from lab.sweeps.spec import Sweep
from slurm import OptionError, SlurmOptions, make_executor, resolve_kind, submit_array
from slurm.fit import misfit
from thermoscope.status import RunStatus
from training.config import RunConfig
from warehouse import Home, home, write_shard


@dataclass
class LaunchResult:
    sweep_id: str
    executor: str
    runs: list[RunConfig]
    skipped: list[RunConfig] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    jobs: list = field(default_factory=list)  # submitit Job objects (not for the app)
    live: dict[str, str] = field(default_factory=dict)  # skipped run id -> the sweep it is queued/running in
    known: dict[str, RunStatus] = field(default_factory=dict)  # run id -> its latest status anywhere
    claimed: dict[str, str] = field(default_factory=dict)  # skipped run id -> who is submitting it right now
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. a request the partition cannot fit


def job_chunks(todo: list[RunConfig], kind: str, runs_per_job: int, pack: int) -> tuple[list[list[RunConfig]], bool]:
    """The runs of each job, and whether a job's runs train as one pack."""
    if pack > 1:
        # --pack N: up to N compatible runs train as one stacked model in one array task
        from training.packed import PackError, pack_groups

        try:
            return pack_groups(todo, pack), True
        except PackError as exc:
            raise OptionError(str(exc)) from None
    # local: one job per core, runs in sequence inside it; Slurm: one run per array task
    per_job = runs_per_job or (max(1, -(-len(todo) // (os.cpu_count() or 1))) if kind == "local" else 1)
    return [todo[i : i + per_job] for i in range(0, len(todo), per_job)], False


def launch(sweep: Sweep, *, executor: str = "auto", slurm: SlurmOptions | None = None, force: bool = False,
           dry_run: bool = False, runs_per_job: int = 0, pack: int = 0, where: Home | None = None,
           labels: RunLabels = RunLabels(), planned: Plan | None = None) -> LaunchResult:
    """Validate, plan and submit a sweep as one job array; returns at once with the sweep id.

    `labels` (a name, tags, a note) are stored with every run this launch submits (`run_configs.name/tags/
    note`); they are not part of a run's identity, so a labelled run still groups with the same config.
    `planned` is a plan of this same sweep the caller already made (the launch form's Check): it is used
    instead of planning again; the runs this launcher then claims are re-planned either way.

    Raises ConfigError / OptionError (one line naming the field or option) before anything is
    written: a sweep that Slurm refuses leaves no shard, no manifest and no job folder behind.
    """
    where = where or home()
    slurm = slurm or SlurmOptions.from_dict(sweep.slurm)
    settings = sweep.settings()
    kind = resolve_kind(executor)
    for name, value in (("--runs-per-job", runs_per_job), ("--pack", pack)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OptionError(f"{name} must be an integer >= 0, got {value!r}")
    p = planned or plan(sweep, force=force, where=where)
    sweep_id = sweep_id_for([c.run_id for c in p.todo + p.skipped])
    result = LaunchResult(sweep_id, kind, p.todo, p.skipped, live=p.live, known=p.known)
    if kind == "slurm" and p.todo:
        result.warnings += [w for w in (misfit(slurm),) if w]
    if dry_run or not p.todo:
        return result
    held, others = claim_runs(where, [c.run_id for c in p.todo], sweep_id)
    try:
        return _submit(sweep, result, held, others, slurm, settings, force, runs_per_job, pack, where, labels)
    finally:
        release(where, held, sweep_id)


def _submit(sweep: Sweep, result: LaunchResult, held: list[str], others: dict[str, Claim], slurm: SlurmOptions,
            settings: AnalysisSettings, force: bool, runs_per_job: int, pack: int, where: Home,
            labels: RunLabels) -> LaunchResult:
    """Submit the runs this launcher holds the claims of (lab/sweeps/claims.py), planned again now that they are ours:
    another launcher may have submitted some between the first plan and the claims."""
    p = plan(sweep, force=force, where=where)
    todo = [c for c in p.todo if c.run_id in held]
    result.claimed = {rid: claim.describe() for rid, claim in others.items()}
    result.skipped += [c for c in result.runs if c.run_id not in {t.run_id for t in todo}]
    result.runs, result.live, result.known = todo, {**result.live, **p.live}, {**result.known, **p.known}
    sweep_id, kind = result.sweep_id, result.executor
    if not todo:
        return result
    chunks, packed = job_chunks(todo, kind, runs_per_job, pack)
    # local jobs share this machine's cores: each gets its share of threads instead of all of them
    threads = max(1, (os.cpu_count() or 1) // len(chunks)) if kind == "local" else 0
    job_fn = RunJob(max_requeues=slurm.max_requeues, pack=packed, threads=threads)
    folder = where.jobs / sweep_id
    ex = make_executor(kind, folder, slurm)
    # --force on a finished run means train it again, not resume at its last epoch: its checkpoints are
    # moved aside (kept, not deleted) before a job can start, and moved back if the submission fails
    finished_before = [c for c in todo if p.known.get(c.run_id) == RunStatus.FINISHED]
    moved = _supersede_checkpoints(finished_before, where) if force else []
    # taken before submission: a job can only start after it, so its 'running' event is always later
    queued_at = now()
    args = [([c.to_dict() for c in chunk], sweep_id, str(where.root), settings.to_dict()) for chunk in chunks]
    try:
        jobs = submit_array(ex, job_fn, args, slurm)
    except OptionError:
        shutil.rmtree(folder, ignore_errors=True)  # only this sweep's own, just-made folder
        for original, aside in moved:
            os.replace(aside, original)
        raise
    result.jobs, result.job_ids = jobs, [str(j.job_id) for j in jobs]
    if moved:  # submitted: older superseded copies beyond THERMOSCOPE_KEEP_SUPERSEDED go (lab/sweeps/retention.py)
        prune_superseded(where, [c.run_id for c in finished_before])
    manifest = Manifest(sweep_id, kind, str(folder), {str(j.job_id): [c.run_id for c in chunk]
                                                      for j, chunk in zip(jobs, chunks)}, slurm.max_requeues,
                        queued_at.timestamp())
    manifest.save(where)
    version = code_version()
    for job_id, chunk in zip(result.job_ids, chunks):
        for cfg in chunk:
            write_shard("run_configs", [config_row(cfg, sweep_id, version, settings, labels)], owner=cfg.run_id,
                        name="config", where=where)
            write_run_event(where, cfg.run_id, sweep_id, RunStatus.QUEUED, job_id=job_id, ts=queued_at)
    write_job_rows(where, sweep_id, "submitted",
                   [dict(run_id=c.run_id, job_id=j, executor=kind, state="SUBMITTED", ts=queued_at)
                    for j, chunk in zip(result.job_ids, chunks) for c in chunk])
    return result


def _supersede_checkpoints(runs: list[RunConfig], where: Home) -> list[tuple[Path, Path]]:
    """Rename each run's checkpoint folder to `<run_id>.superseded-<UTC time>`; returns (original, aside)."""
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    moved = []
    for cfg in runs:
        original = where.checkpoint_dir(cfg.run_id)
        if original.is_dir():
            aside = original.with_name(f"{cfg.run_id}.superseded-{stamp}")
            os.replace(original, aside)
            moved.append((original, aside))
    return moved
