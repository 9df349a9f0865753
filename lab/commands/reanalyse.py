"""`python -m analysis reanalyse`: measure kept checkpoints again, as one job array.

    python -m analysis reanalyse SWEEP_ID | RUN_ID | CHECKPOINT … [--set NAME=V …] [--ood A+B] [--epoch N …]
        [--executor auto|local|slurm] [--partition P --gpus N …] [--dry-run] [--force] [--wait]

Every kept checkpoint (`checkpoints/<run_id>/epochNNNN.pt`) of the named sweeps and runs, and every
checkpoint file named, is one task (lab/jobs/tasks.py): measured with its run's stored settings, `--set`
on top, on `--ood` instead of the run's own OOD sets when given. A checkpoint whose current rows were
measured exactly so is skipped (unless --force); re-measuring replaces its rows (shards `analysis-eNNNN`),
never adds to them. Use it after changing settings, to add an OOD set, or with --force after a code change.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lab.commands.shared import EXIT_BAD_INPUT, parse_settings
from lab.records.manifest import UnknownSweep, load_manifest
from thermoscope.fields import ConfigError
from warehouse import Home

EPOCH_FILE = re.compile(r"epoch(\d+)\.pt")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from lab.commands.shared import add_slurm_flags
    from slurm import EXECUTORS

    p.add_argument("targets", nargs="+", help="sweep ids, run ids or checkpoint files")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an analysis setting on top of each run's own (see `settings`)")
    p.add_argument("--ood", default=None, help="measure these OOD sets (a+b) instead of each run's own")
    p.add_argument("--epoch", action="append", type=int, default=[], help="only these kept epochs (repeatable)")
    p.add_argument("--executor", choices=EXECUTORS, default="auto", help="where the job array runs (default: auto)")
    p.add_argument("--dry-run", action="store_true", help="print what would be measured and skipped; write nothing")
    p.add_argument("--force", action="store_true", help="measure checkpoints already measured with these settings")
    p.add_argument("--wait", action="store_true", help="wait for the job array, then ingest")
    p.add_argument("--tasks-per-job", type=int, default=0, help="tasks measured one after another per job")
    p.add_argument("--home", default=None, help="Thermoscope home (default $THERMOSCOPE_HOME)")
    add_slurm_flags(p.add_argument_group("Slurm options"))


def kept_checkpoints(target: str, where: Home) -> list[Path]:
    """The checkpoint files a target names: itself, every kept epoch of a run, or of every run of a sweep."""
    path = Path(target).expanduser()
    if path.is_file():
        return [path]
    try:
        run_ids = load_manifest(where, target).run_ids
    except UnknownSweep:
        run_ids = [target]
    found = [p for rid in run_ids if where.checkpoint_dir(rid).is_dir()
             for p in sorted(where.checkpoint_dir(rid).iterdir()) if EPOCH_FILE.fullmatch(p.name)]
    if not found:
        raise ConfigError(f"{target!r} is no checkpoint file, and no sweep or run with kept checkpoints under "
                          f"{where.checkpoints} (a network analysed from outside weights: run analyse-model again)")
    return found


def plan_checkpoints(args: argparse.Namespace, where: Home) -> list:
    from lab.jobs.tasks import checkpoint_task

    overrides = parse_settings(args.set)
    ood = None if args.ood is None else tuple(part for part in args.ood.split("+") if part)
    if ood:
        from training.config import RunConfig

        RunConfig(ood=ood, dataset="digits")  # one line for an unknown OOD set, before any work
    paths = list(dict.fromkeys(p for t in args.targets for p in kept_checkpoints(t, where)))
    tasks = [checkpoint_task(p, where, overrides, ood) for p in paths]
    return [t for t in tasks if not args.epoch or t.epoch in args.epoch]


def submit_and_report(planned: list, args: argparse.Namespace, where: Home, prog: str) -> int:
    """Skip what is measured already, print the plan, submit the rest as one job array (or only print it)."""
    from lab.commands.shared import report_submitted, slurm_options
    from lab.sweeps.analysis_sweep import plan_tasks, submit
    from lab.sweeps.spec import Sweep
    from slurm import OptionError

    plan = plan_tasks(planned, where, force=args.force)
    for p, why in plan.skipped:
        print(f"skip  {p.task_id}  {p.describe()}: {why}")
    if args.dry_run:
        for p in plan.todo:
            print(f"would analyse  {p.task_id}  {p.describe()}")
        print(f"{len(plan.todo)} task(s) to submit, {len(plan.skipped)} skipped")
        return 0
    if not plan.todo:
        print("nothing to analyse: every checkpoint is measured with these settings already (--force measures again)")
        return 0
    try:
        result = submit(plan.todo, executor=args.executor, slurm=slurm_options(Sweep(), args), where=where,
                        tasks_per_job=args.tasks_per_job)
    except (ConfigError, OptionError) as exc:
        print(f"{prog}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return report_submitted(result, f"analysis sweep {result.sweep_id}: submitted {len(plan.todo)} task(s)", args.wait,
                            where)


def run(args: argparse.Namespace) -> int:
    from warehouse import home

    where = home(args.home)
    try:
        planned = plan_checkpoints(args, where)
    except ConfigError as exc:
        print(f"reanalyse: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return submit_and_report(planned, args, where, "reanalyse")
