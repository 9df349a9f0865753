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
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from slurm import (
    EXECUTORS,
    OptionError,
    SlurmOptions,
    make_executor,
    resolve_kind,
    slurm_available,
    submit_array,
)
from slurm.events import TERMINAL, last_heartbeats, latest_events, now, write_job_rows
from slurm.manifest import Manifest, UnknownSweep, list_sweeps, load_manifest
from slurm.reconcile import SweepStatus, cancel, reconcile
from training.config import (
    ARCHITECTURES,
    DATASETS,
    FIELD_NAMES,
    INITS,
    LOSSES,
    PRESETS,
    ConfigError,
    RunConfig,
)
from training.job import RunJob, config_row, write_event
from training.sweep import Sweep, load_sweep
from warehouse import Home, home, write_shard
from warehouse.migrate import WarehouseTooNew
from warehouse.read import WarehouseMissing, WarehouseOutdated, query

LIVE = ("queued", "running")


@dataclass
class LaunchResult:
    sweep_id: str
    executor: str
    runs: list[RunConfig]
    skipped: list[RunConfig] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    jobs: list = field(default_factory=list)  # submitit Job objects (not for the app)
    live: dict[str, str] = field(default_factory=dict)  # skipped run id -> the sweep it is queued/running in
    known: dict[str, str] = field(default_factory=dict)  # run id -> its latest status anywhere (dry-run view)


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


def known_statuses(run_ids: list[str], where: Home) -> dict[str, dict]:
    """Latest event of each run from the shards (newer than any ingest), reconciling the sweeps of live
    runs first so that a run whose job died is not taken for one still running."""
    events = latest_events(run_ids, where)
    for sweep_id in sorted({e["sweep_id"] for e in events.values() if e["status"] in LIVE}):
        try:
            reconcile(load_manifest(where, sweep_id), where)
        except UnknownSweep:
            continue
        events = latest_events(run_ids, where)
    return events


def plan(sweep: Sweep, *, force: bool = False, where: Home | None = None) -> tuple[list[RunConfig], list[RunConfig]]:
    """(runs to submit, runs skipped: finished ones unless `force`, and any queued/running elsewhere)."""
    todo, skipped, _, _ = _plan(sweep, force=force, where=where or home())
    return todo, skipped


def _plan(sweep: Sweep, *, force: bool, where: Home):
    configs = sweep.configs()
    ids = [c.run_id for c in configs]
    events = known_statuses(ids, where)
    finished = finished_runs(ids, where) | {r for r, e in events.items() if e["status"] == "finished"}
    # a run queued or running elsewhere is never started twice: two jobs would share one checkpoint
    live = {r: e["sweep_id"] for r, e in events.items() if e["status"] in LIVE}
    done = set() if force else finished
    todo = [c for c in configs if c.run_id not in done and c.run_id not in live]
    skipped = [c for c in configs if c.run_id in done or c.run_id in live]
    known = {r: e["status"] for r, e in events.items()}
    known.update({r: "finished" for r in finished})
    return todo, skipped, live, known


def new_sweep_id(configs: list[RunConfig]) -> str:
    """'YYYYmmdd-HHMMSS-xxxxxx': sortable by time; the suffix mixes in randomness so that the same
    sweep launched twice in one second still gets two ids (and two manifests)."""
    import hashlib
    import secrets

    seed = "".join(sorted(c.run_id for c in configs)) + secrets.token_hex(8)
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{hashlib.sha256(seed.encode()).hexdigest()[:6]}"


def launch(sweep: Sweep, *, executor: str = "auto", slurm: SlurmOptions | None = None, force: bool = False,
           dry_run: bool = False, runs_per_job: int = 0, pack: int = 0, where: Home | None = None) -> LaunchResult:
    """Validate, plan and submit a sweep as one job array; returns at once with the sweep id.

    Raises ConfigError / OptionError (one line naming the field or option) before anything is
    written: a sweep that Slurm refuses leaves no shard, no manifest and no job folder behind.
    """
    where = where or home()
    slurm = slurm or SlurmOptions.from_dict(sweep.slurm)
    kind = resolve_kind(executor)
    if runs_per_job < 0:
        raise OptionError(f"--runs-per-job must be >= 0, got {runs_per_job}")
    if pack < 0:
        raise OptionError(f"--pack must be >= 0, got {pack}")
    todo, skipped, live, known = _plan(sweep, force=force, where=where)
    sweep_id = new_sweep_id(todo + skipped)
    result = LaunchResult(sweep_id, kind, todo, skipped, live=live, known=known)
    if dry_run or not todo:
        return result
    job_fn: RunJob
    if pack > 1:
        # --pack N: up to N compatible runs train as one stacked model in one array task (training.packed)
        from training.packed import PackError, PackJob, pack_groups

        try:
            chunks = pack_groups(todo, pack)
        except PackError as exc:
            raise OptionError(str(exc)) from None
        job_fn = PackJob(max_requeues=slurm.max_requeues)
    else:
        # local: one job per core, runs in sequence inside it; Slurm: one run per array task
        per_job = runs_per_job or (max(1, -(-len(todo) // (os.cpu_count() or 1))) if kind == "local" else 1)
        chunks = [todo[i : i + per_job] for i in range(0, len(todo), per_job)]
        job_fn = RunJob(max_requeues=slurm.max_requeues)
    if kind == "local":
        os.environ.setdefault("THERMOSCOPE_THREADS", str(max(1, (os.cpu_count() or 1) // len(chunks))))
    folder = where.jobs / sweep_id
    ex = make_executor(kind, folder, slurm)
    # --force on a finished run means train it again, not resume at its last epoch: its checkpoints are
    # moved aside (kept, not deleted) before a job can start, and moved back if the submission fails
    moved = _supersede_checkpoints([c for c in todo if known.get(c.run_id) == "finished"], where) if force else []
    # taken before submission: a job can only start after it, so its 'running' event is always later
    queued_at = now()
    try:
        jobs = submit_array(ex, job_fn,
                            [([c.to_dict() for c in chunk], sweep_id, str(where.root)) for chunk in chunks], slurm)
    except OptionError:
        shutil.rmtree(folder, ignore_errors=True)  # only this sweep's own, just-made folder
        for original, aside in moved:
            os.replace(aside, original)
        raise
    result.jobs, result.job_ids = jobs, [str(j.job_id) for j in jobs]
    manifest = Manifest(sweep_id, kind, str(folder), {str(j.job_id): [c.run_id for c in chunk]
                                                      for j, chunk in zip(jobs, chunks)}, slurm.max_requeues,
                        queued_at.timestamp())
    manifest.save(where)
    version = code_version()
    for job_id, chunk in zip(result.job_ids, chunks):
        for cfg in chunk:
            write_shard("run_configs", [config_row(cfg, sweep_id, version)], owner=cfg.run_id, name="config",
                        where=where)
            write_event(where, cfg, sweep_id, "queued", job_id=job_id, ts=queued_at)
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


# ---- following a sweep -----------------------------------------------------------------------------

def wait(result: LaunchResult | Manifest, where: Home, poll_s: float = 2.0) -> SweepStatus:
    """Show a progress bar of finished / running / failed runs until every run has ended.

    Each poll reconciles with the executor, so a job killed from outside ends the wait too."""
    from tqdm import tqdm

    manifest = result if isinstance(result, Manifest) else load_manifest(where, result.sweep_id)
    jobs = [] if isinstance(result, Manifest) else result.jobs
    warned = ""
    # on a terminal the bar redraws in place; in a log (make, CI) one line every 30 s is plenty
    quiet = 2.0 if sys.stderr.isatty() else 30.0
    with tqdm(total=len(manifest.run_ids), desc=f"sweep {manifest.sweep_id}", unit="run", file=sys.stderr,
              mininterval=quiet, maxinterval=quiet) as bar:
        while True:
            for job in jobs:  # local jobs: reap ended controllers so their state is read right
                if manifest.executor == "local":
                    job.done()
            status = reconcile(manifest, where)
            if status.warning and status.warning != warned:
                warned = status.warning
                print(f"launch: {warned}; statuses are the runs' own reports only", file=sys.stderr)
            counts = status.counts()
            bar.set_postfix({k: counts[k] for k in ("running", *TERMINAL) if counts.get(k)}, refresh=False)
            bar.update(sum(counts.get(s, 0) for s in TERMINAL) - bar.n)  # redraws at most every `quiet` s
            if status.done:
                return status
            time.sleep(poll_s)


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


def _first_line(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def print_status(status: SweepStatus) -> None:
    m = status.manifest
    counts = status.counts()
    print(f"sweep {m.sweep_id} ({m.executor}, {len(m.jobs)} job(s)): {len(m.run_ids)} run(s): "
          + ", ".join(f"{counts[s]} {s}" for s in ("queued", "running", *TERMINAL) if counts.get(s)))
    if status.warning:
        print(f"  warning: {status.warning}; statuses are the runs' own reports only")
    beats = last_heartbeats(status.where, m.sweep_id) if status.where else {}
    for job_id, run_ids in m.jobs.items():
        job = status.jobs.get(job_id)
        slurm_word = f" [{job.describe()}]" if job else ""
        if job_id in beats and (job is None or not job.ended):
            # a job Slurm calls RUNNING whose heartbeat is old is hung, not slow
            slurm_word += f" (heartbeat {(now() - beats[job_id]).total_seconds():.0f} s ago)"
        for rid in run_ids:
            ev = status.runs.get(rid) or {}
            extra = []
            if ev.get("epoch") is not None:
                extra.append(f"epoch {ev['epoch']}")
            if ev.get("requeues"):
                extra.append(f"requeues {ev['requeues']}")
            note = _first_line(ev.get("message")) if ev.get("status") in ("failed", "cancelled", "diverged", "queued") else ""
            print(f"  job {job_id}{slurm_word}  run {rid}  {status.status_of(rid)}"
                  + (f" ({', '.join(extra)})" if extra else "") + (f"  {note}" if note else ""))


def _status(sweep_id: str, where: Home) -> int:
    status = reconcile(load_manifest(where, sweep_id), where)
    print_status(status)
    return 0


def _cancel(sweep_id: str, where: Home) -> int:
    status = cancel(load_manifest(where, sweep_id), where)
    counts = status.counts()
    print(f"cancelled sweep {sweep_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what was wrong, what to do) instead of usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"launch: {message}; see `{self.prog} --help`\n")


# CLI flags that set Slurm options (they override the sweep file's [slurm] section)
SLURM_FLAGS: dict[str, tuple[str, type, str]] = {
    "--partition": ("partition", str, "Slurm partition"),
    "--gpus": ("gpus_per_node", int, "GPUs per job (0 on CPU partitions)"),
    "--cpus": ("cpus_per_task", int, "CPUs per job"),
    "--mem-gb": ("mem_gb", int, "memory per job [GB] (0: the partition's default)"),
    "--time-min": ("timeout_min", int, "time limit per job [min]; a timed-out job is requeued and resumes"),
    "--account": ("account", str, "Slurm account"),
    "--qos": ("qos", str, "Slurm QOS"),
    "--constraint": ("constraint", str, "node features, e.g. a100"),
    "--array-parallelism": ("array_parallelism", int, "array tasks running at once"),
    "--max-requeues": ("max_requeues", int, "requeues after preemption/time-out before a run is marked failed"),
}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m training.launch",
        description="Build a sweep (a grid over config fields, on top of an optional TOML file) and submit it "
        "to Slurm (one job array) or to this machine. Also: `status SWEEP_ID`, `cancel SWEEP_ID`.",
        epilog="Config fields: see training/config.py or `--list`. Sweep files: see training/sweep.py and "
        "sweeps/*.toml. Results land in $THERMOSCOPE_HOME (default ./thermoscope-home); load them with "
        "`python -m warehouse ingest`.",
    )
    p.add_argument("sweep", nargs="?", help="sweep TOML file ([base], [grid], [[points]], [slurm])")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="grid values for a config field (repeatable); replaces the file's value")
    p.add_argument("--executor", choices=EXECUTORS, default="auto", help="where to run (default: auto = slurm "
                   "when sbatch exists)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and what already finished; submit nothing")
    p.add_argument("--wait", action="store_true", help="wait with a progress bar, then ingest the results")
    p.add_argument("--force", action="store_true",
                   help="train finished configs again from scratch (their old checkpoints are kept, renamed "
                   "<run_id>.superseded-<time>)")
    p.add_argument("--pack", type=int, default=0, metavar="N",
                   help="train up to N compatible runs (differing only in temperature, seed, init) as one "
                   "stacked model per job (default: no packing)")
    p.add_argument("--runs-per-job", type=int, default=0, metavar="N",
                   help="runs trained one after another in one job (default: 1 on Slurm, runs/cores locally)")
    p.add_argument("--list", action="store_true", help="list registered architectures, datasets, presets, ...")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    g = p.add_argument_group("Slurm options (override the sweep file's [slurm] section)")
    for flag, (_, kind, text) in SLURM_FLAGS.items():
        g.add_argument(flag, type=kind, default=None, help=text)
    g.add_argument("--sbatch", action="append", default=[], metavar="FLAG=VALUE",
                   help="any other sbatch flag, e.g. --sbatch exclude=node7 (repeatable)")
    return p


def slurm_options(sweep: Sweep, args: argparse.Namespace) -> SlurmOptions:
    """The sweep file's [slurm] section with the CLI's Slurm flags on top."""
    from slurm.options import parse_flag

    overrides = {name: getattr(args, flag[2:].replace("-", "_")) for flag, (name, _, _) in SLURM_FLAGS.items()}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.sbatch:
        overrides["additional"] = dict(parse_flag(item) for item in args.sbatch)
    return SlurmOptions.from_dict(sweep.slurm).merged(overrides)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("status", "cancel"):
        sub = _Parser(prog=f"python -m training.launch {argv[0]}")
        sub.add_argument("sweep_id", nargs="?", help="the sweep id that launching printed (default: the latest)")
        sub.add_argument("--home")
        args = sub.parse_args(argv[1:])
        where = home(args.home)
        sweep_id = args.sweep_id or (list_sweeps(where) or [""])[-1]
        try:
            return _status(sweep_id, where) if argv[0] == "status" else _cancel(sweep_id, where)
        except (UnknownSweep, RuntimeError) as exc:
            print(f"launch: {exc}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_registered())
        return 0
    where = home(args.home)
    try:
        sweep = load_sweep(args.sweep) if args.sweep else Sweep()
        sweep = sweep.with_overrides(args.set)
        options = slurm_options(sweep, args)
        result = launch(sweep, executor=args.executor, slurm=options, force=args.force, dry_run=args.dry_run,
                        runs_per_job=args.runs_per_job, pack=args.pack, where=where)
    except (ConfigError, OptionError, WarehouseOutdated, WarehouseTooNew) as exc:
        # an outdated warehouse says which migration command to run; nothing was submitted
        print(f"launch: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    varying = _varying([*result.runs, *result.skipped])
    for cfg in result.skipped:
        if cfg.run_id in result.live:
            print(f"skip  {cfg.run_id}  already {result.known.get(cfg.run_id)} in sweep {result.live[cfg.run_id]} "
                  f"({_describe(cfg, varying)}); see `python -m training.launch status {result.live[cfg.run_id]}`")
        else:
            print(f"skip  {cfg.run_id}  already finished  ({_describe(cfg, varying)}); --force runs it again")
    if args.dry_run:
        for cfg in result.runs:
            before = result.known.get(cfg.run_id)
            print(f"would run  {cfg.run_id}  {_describe(cfg, varying)}" + (f"  (last status: {before})" if before else ""))
        print(f"{len(result.runs)} run(s) to submit, {len(result.skipped)} skipped (executor: {result.executor})")
        return 0
    if not result.runs:
        print("nothing to run: every run of the sweep already finished or is running (--force runs finished ones again)")
        return 0
    print(f"sweep {result.sweep_id}: submitted {len(result.runs)} run(s) in {len(result.jobs)} {result.executor} "
          f"job(s) ({', '.join(result.job_ids[:3])}{', ...' if len(result.job_ids) > 3 else ''})")
    if not args.wait:
        print(f"follow it with: python -m training.launch status {result.sweep_id}")
        return 0
    status = wait(result, where)
    if result.executor == "local":  # every run reported; let the job processes exit so states read COMPLETED
        for job in result.jobs:
            job.wait()
        status = reconcile(load_manifest(where, result.sweep_id), where)
    from warehouse.ingest import IngestBusy, ingest

    try:
        print(ingest(where))
    except IngestBusy as exc:  # the shards are safe on disk; the next ingest loads them
        print(f"launch: not ingested now ({exc}); run `python -m warehouse ingest` later", file=sys.stderr)
    print_status(status)
    counts = status.counts()
    return 0 if set(counts) <= {"finished", "diverged"} else 1


_ALWAYS_SHOWN = ("arch", "dataset", "temperature", "seed", "loss", "preset")


def _varying(configs: list[RunConfig]) -> tuple[str, ...]:
    """Config fields, beyond the always-shown ones, whose value differs between the sweep's runs (e.g. init_std
    and layernorm in the Appendix E grid): without them two listed runs could read the same."""
    return tuple(name for name in FIELD_NAMES if name not in _ALWAYS_SHOWN
                 and len({repr(getattr(c, name)) for c in configs}) > 1)


def _describe(cfg: RunConfig, varying: tuple[str, ...] = ()) -> str:
    extra = "".join(f" {name}={getattr(cfg, name)}" for name in varying)
    return (f"arch={cfg.arch} dataset={cfg.dataset} T={cfg.temperature:g} seed={cfg.seed} loss={cfg.loss} "
            f"preset={cfg.preset}{extra}")


if __name__ == "__main__":
    sys.exit(main())
