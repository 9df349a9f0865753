"""`python -m training.launch`: build a sweep, skip what already finished, submit it, optionally wait.

    python -m training.launch sweeps/demo.toml --executor local --wait
    python -m training.launch --set arch=resnet18 --set temperature=1,10,100 --set seed=0,1,2 --dry-run
    python -m training.launch status SWEEP_ID        python -m training.launch cancel SWEEP_ID
    python -m training.launch --list

The launch API, `launch(sweep, ...) -> LaunchResult`, is torch-free: the dashboard calls it too.
Nothing the user typed is passed through a shell: submitit writes sbatch files from typed values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from slurm import EXECUTORS, SlurmOptions, make_executor, slurm_available
from slurm.executor import OptionError
from training.config import ARCHITECTURES, DATASETS, INITS, LOSSES, PRESETS, ConfigError, RunConfig
from training.job import RunJob, config_row, write_event
from training.sweep import Sweep, load_sweep
from warehouse import Home, home, write_shard
from warehouse.read import WarehouseMissing, query


@dataclass
class LaunchResult:
    sweep_id: str
    executor: str
    runs: list[RunConfig]
    skipped: list[RunConfig] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    jobs: list = field(default_factory=list)  # submitit Job objects (not for the app)


def code_version() -> str:
    """The git commit of this checkout ('' outside git), read without running a shell."""
    root = Path(__file__).resolve().parent.parent
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = root / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text().strip()[:12]
            packed = (root / ".git" / "packed-refs").read_text().splitlines()
            return next(line.split()[0][:12] for line in packed if line.endswith(ref[5:]))
        return ref[:12]
    except (OSError, StopIteration):
        return ""


def finished_runs(run_ids: list[str], where: Home) -> set[str]:
    """Run ids among `run_ids` that the warehouse shows as finished."""
    try:
        frame = query("SELECT run_id FROM runs WHERE status = 'finished' AND run_id IN (SELECT unnest(?))",
                      [run_ids], where)
    except WarehouseMissing:
        return set()
    return set(frame["run_id"].to_list())


def plan(sweep: Sweep, *, force: bool = False, where: Home | None = None) -> tuple[list[RunConfig], list[RunConfig]]:
    """(runs to submit, runs skipped because they already finished)."""
    where = where or home()
    configs = sweep.configs()
    done = set() if force else finished_runs([c.run_id for c in configs], where)
    return [c for c in configs if c.run_id not in done], [c for c in configs if c.run_id in done]


def new_sweep_id(configs: list[RunConfig]) -> str:
    import hashlib

    digest = hashlib.sha256("".join(sorted(c.run_id for c in configs)).encode()).hexdigest()[:6]
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest}"


def launch(sweep: Sweep, *, executor: str = "auto", slurm: SlurmOptions | None = None, force: bool = False,
           dry_run: bool = False, runs_per_job: int = 0, where: Home | None = None) -> LaunchResult:
    """Validate, plan and submit a sweep as one job array; returns at once with the sweep id."""
    where = where or home()
    slurm = slurm or SlurmOptions.from_dict(sweep.slurm)
    if executor not in EXECUTORS:
        raise OptionError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    kind = ("slurm" if slurm_available() else "local") if executor == "auto" else executor
    todo, skipped = plan(sweep, force=force, where=where)
    sweep_id = new_sweep_id(todo + skipped)
    result = LaunchResult(sweep_id, kind, todo, skipped)
    if dry_run or not todo:
        return result
    # local: one job per core, runs in sequence inside it; Slurm: one run per array task
    per_job = runs_per_job or (max(1, -(-len(todo) // (os.cpu_count() or 1))) if kind == "local" else 1)
    chunks = [todo[i : i + per_job] for i in range(0, len(todo), per_job)]
    if kind == "local":
        os.environ.setdefault("THERMOSCOPE_THREADS", str(max(1, (os.cpu_count() or 1) // len(chunks))))
    ex = make_executor(kind, where.jobs / sweep_id, slurm)
    version = code_version()
    for cfg in todo:
        write_shard("run_configs", [config_row(cfg, sweep_id, version)], owner=cfg.run_id, name="config", where=where)
        write_event(where, cfg, sweep_id, "queued")
    n = len(chunks)
    jobs = ex.map_array(RunJob(), [[c.to_dict() for c in chunk] for chunk in chunks], [sweep_id] * n,
                        [str(where.root)] * n)
    result.jobs, result.job_ids = jobs, [str(j.job_id) for j in jobs]
    rows = [dict(sweep_id=sweep_id, run_id=c.run_id, job_id=str(j.job_id), executor=kind, state="SUBMITTED",
                 requeues=0, ts=datetime.now(UTC), host="", traceback="")
            for j, chunk in zip(jobs, chunks) for c in chunk]
    write_shard("jobs", rows, owner=sweep_id, name="submitted", where=where)
    manifest = dict(sweep_id=sweep_id, executor=kind, folder=str(where.jobs / sweep_id),
                    jobs={str(j.job_id): [c.run_id for c in chunk] for j, chunk in zip(jobs, chunks)})
    (where.jobs / sweep_id / "sweep.json").write_text(json.dumps(manifest, indent=1))
    return result


# ---- following a sweep -----------------------------------------------------------------------------

def run_statuses(run_ids: list[str], where: Home) -> dict[str, str]:
    """Latest status per run, read from the event shards directly (no ingest needed)."""
    import polars as pl

    files = [str(p) for rid in run_ids for p in (where.shards / "run_events" / rid).glob("event-*.parquet")]
    if not files:
        return {}
    frame = pl.read_parquet(files, columns=["run_id", "ts", "status"])
    latest = frame.sort("ts").group_by("run_id").last()
    return dict(zip(latest["run_id"].to_list(), latest["status"].to_list()))


def wait(result: LaunchResult, where: Home, poll_s: float = 2.0) -> dict[str, str]:
    """Show a progress bar of finished / running / failed runs until every job ended."""
    from tqdm import tqdm

    ids = [c.run_id for c in result.runs]
    terminal = ("finished", "diverged", "failed", "cancelled")
    with tqdm(total=len(ids), desc=f"sweep {result.sweep_id}", unit="run", file=sys.stderr) as bar:
        while True:
            statuses = run_statuses(ids, where)
            counts = {s: sum(v == s for v in statuses.values()) for s in ("running", *terminal)}
            bar.n = sum(counts[s] for s in terminal)
            bar.set_postfix({k: v for k, v in counts.items() if v}, refresh=False)
            bar.refresh()
            if all(j.done() for j in result.jobs):
                break
            time.sleep(poll_s)
    for job in result.jobs:
        if job.state not in ("DONE", "COMPLETED") and job.exception() is not None:
            print(f"job {job.job_id} failed: {str(job.exception()).strip().splitlines()[-1]}", file=sys.stderr)
    return run_statuses(ids, where)


def list_registered() -> str:
    lines = [
        f"architectures : {', '.join(ARCHITECTURES)}",
        f"datasets      : {', '.join(DATASETS)}, folder:PATH",
        f"presets       : {', '.join(PRESETS)}",
        f"losses        : {', '.join(LOSSES)}",
        f"inits         : {', '.join(INITS)}",
        f"executors     : {', '.join(EXECUTORS)} (auto = slurm when sbatch exists: {'yes' if slurm_available() else 'no'})",
    ]
    return "\n".join(lines)


def _status(sweep_id: str, where: Home) -> int:
    manifest_path = where.jobs / sweep_id / "sweep.json"
    if not manifest_path.exists():
        print(f"launch: no sweep {sweep_id!r} under {where.jobs}; list them with `ls {where.jobs}`", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    run_ids = [r for runs in manifest["jobs"].values() for r in runs]
    statuses = run_statuses(run_ids, where)
    print(f"sweep {sweep_id} ({manifest['executor']}): {len(run_ids)} run(s)")
    for status in ("queued", "running", "finished", "diverged", "failed", "cancelled"):
        n = sum(v == status for v in statuses.values())
        if n:
            print(f"  {status:<9} {n}")
    for job_id, runs in manifest["jobs"].items():
        print(f"  job {job_id}: " + ", ".join(f"{r} {statuses.get(r, 'unknown')}" for r in runs))
    return 0


def _cancel(sweep_id: str, where: Home) -> int:
    import submitit

    manifest_path = where.jobs / sweep_id / "sweep.json"
    if not manifest_path.exists():
        print(f"launch: no sweep {sweep_id!r} under {where.jobs}", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    folder = manifest["folder"]
    for job_id in manifest["jobs"]:
        job_cls = submitit.SlurmJob if manifest["executor"] == "slurm" else submitit.LocalJob
        job_cls(folder, job_id).cancel(check=False)
    print(f"cancelled {len(manifest['jobs'])} job(s) of sweep {sweep_id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.launch",
        description="Build a sweep (a grid over config fields, on top of an optional TOML file) and submit it "
        "to Slurm or to this machine. Also: `status SWEEP_ID`, `cancel SWEEP_ID`.",
        epilog="Config fields: see training/config.py or `--list`. Results land in $THERMOSCOPE_HOME "
        "(default ./thermoscope-home); load them with `python -m warehouse ingest`.",
    )
    p.add_argument("sweep", nargs="?", help="sweep TOML file ([base], [grid], [[points]], [slurm])")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="grid values for a config field (repeatable); replaces the file's value")
    p.add_argument("--executor", choices=EXECUTORS, default="auto", help="where to run (default: auto)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and what already finished; submit nothing")
    p.add_argument("--wait", action="store_true", help="wait with a progress bar, then ingest the results")
    p.add_argument("--force", action="store_true", help="also run configs that already finished")
    p.add_argument("--runs-per-job", type=int, default=0, help="runs trained one after another in one job")
    p.add_argument("--list", action="store_true", help="list registered architectures, datasets, presets, ...")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("status", "cancel"):
        sub = argparse.ArgumentParser(prog=f"python -m training.launch {argv[0]}")
        sub.add_argument("sweep_id")
        sub.add_argument("--home")
        args = sub.parse_args(argv[1:])
        where = home(args.home)
        return _status(args.sweep_id, where) if argv[0] == "status" else _cancel(args.sweep_id, where)
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_registered())
        return 0
    where = home(args.home)
    try:
        sweep = load_sweep(args.sweep) if args.sweep else Sweep()
        sweep = sweep.with_overrides(args.set)
        result = launch(sweep, executor=args.executor, force=args.force, dry_run=args.dry_run,
                        runs_per_job=args.runs_per_job, where=where)
    except (ConfigError, OptionError) as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 2
    for cfg in result.skipped:
        print(f"skip  {cfg.run_id}  already finished  ({_describe(cfg)}); --force runs it again")
    if args.dry_run:
        for cfg in result.runs:
            print(f"would run  {cfg.run_id}  {_describe(cfg)}")
        print(f"{len(result.runs)} run(s) to submit, {len(result.skipped)} already finished (executor: {result.executor})")
        return 0
    if not result.runs:
        print("nothing to run: every run of the sweep already finished (use --force to run again)")
        return 0
    print(f"sweep {result.sweep_id}: submitted {len(result.runs)} run(s) in {len(result.jobs)} {result.executor} job(s)")
    if not args.wait:
        print(f"follow it with: python -m training.launch status {result.sweep_id}")
        return 0
    statuses = wait(result, where)
    from warehouse.ingest import ingest

    print(ingest(where))
    counts = {s: sum(v == s for v in statuses.values()) for s in set(statuses.values())}
    print(f"sweep {result.sweep_id} ended: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0 if set(statuses.values()) <= {"finished", "diverged"} and len(statuses) == len(result.runs) else 1


def _describe(cfg: RunConfig) -> str:
    return f"arch={cfg.arch} dataset={cfg.dataset} T={cfg.temperature:g} seed={cfg.seed} loss={cfg.loss} preset={cfg.preset}"


if __name__ == "__main__":
    sys.exit(main())
