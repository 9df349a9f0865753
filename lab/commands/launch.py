"""`python -m training.launch` (= `thermoscope launch | status | cancel | list`): build a sweep and submit it,
follow it, or list what can be chosen.

    python -m training.launch [SWEEP.toml] [--set FIELD=V1,V2 …] [--executor …] [--dry-run] [--wait] [--pack N] …
    python -m training.launch status [SWEEP_ID] | cancel [SWEEP_ID] | --list
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from analysis.settings import AnalysisSettings
from lab.commands.shared import LAUNCH, OneLineParser, add_slurm_flags, report_submitted, slurm_options
from lab.records.configs import RunLabels
from lab.records.manifest import UnknownSweep, list_sweeps
from lab.sweeps.launch import LaunchResult, launch
from lab.sweeps.spec import Sweep, load_sweep
from slurm import EXECUTORS, OptionError, SlurmOptions, slurm_available
from thermoscope import env
from thermoscope import fields as tfields
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
from warehouse import home
from warehouse.migrate import WarehouseTooNew
from warehouse.read import WarehouseOutdated


def list_registered() -> str:
    lines = [
        f"architectures : {', '.join(ARCHITECTURES)}",
        f"datasets      : {', '.join(DATASETS)}, folder:PATH",
        f"presets       : {', '.join(PRESETS)}",
        f"losses        : {', '.join(LOSSES)}",
        f"inits         : {', '.join(INITS)}",
        f"executors     : {', '.join(EXECUTORS)} (auto = slurm when sbatch exists: {'yes' if slurm_available() else 'no'})",
        "",
        "config fields (--set FIELD=V1,V2, sweep [base]/[grid]/[[points]]):",
        *(f"  {line}" for line in tfields.describe(RunConfig)),
        "",
        "analysis settings (--set analysis.NAME=V, sweep [analysis]; one value per sweep):",
        *(f"  {line}" for line in tfields.describe(AnalysisSettings)),
        "",
        "slurm options (flag, sweep [slurm]):",
        *(f"  {f.metadata['flag'] or '(sweep file only)':<22} {f.name}: {f.metadata['doc']}" for f in fields(SlurmOptions)),
        "",
        "environment:",
        *(f"  {line}" for line in env.describe().splitlines()),
    ]
    return "\n".join(lines)


def build_parser(prog: str = LAUNCH) -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=prog,
        description="Build a sweep (a grid over config fields, on top of an optional TOML file) and submit it "
        "to Slurm (one job array) or to this machine. Also: `status SWEEP_ID`, `cancel SWEEP_ID`.",
        epilog="Config fields, analysis settings, Slurm options and environment variables: `--list`. Sweep files: "
        "sweeps/README.md. Results land in $THERMOSCOPE_HOME (default ./thermoscope-home); `--wait` ingests them.",
    )
    p.add_argument("sweep", nargs="?", help="sweep TOML file ([base], [grid], [[points]], [slurm], [analysis])")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="grid values for a config field (repeatable; replaces the file's value), or "
                   "analysis.NAME=V for an analysis setting")
    p.add_argument("--executor", choices=EXECUTORS, default="auto", help="where to run (default: auto = slurm "
                   "when sbatch exists)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runs and what already finished; submit and write nothing")
    p.add_argument("--wait", action="store_true", help="wait with a progress bar, then ingest the results")
    p.add_argument("--force", action="store_true",
                   help="train finished configs again from scratch (their old checkpoints are kept, renamed "
                   "<run_id>.superseded-<time>; THERMOSCOPE_KEEP_SUPERSEDED of them per run)")
    p.add_argument("--pack", type=int, default=0, metavar="N",
                   help="train up to N compatible runs (differing only in temperature, seed, init) as one "
                   "stacked model per job (default: no packing)")
    p.add_argument("--runs-per-job", type=int, default=0, metavar="N",
                   help="runs trained one after another in one job (default: 1 on Slurm, runs/cores locally)")
    p.add_argument("--name", default="", help="a name stored with every run this launch submits (shown where "
                   "runs are listed; not part of a run's identity)")
    p.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="a tag stored with every submitted run (repeatable, or comma-separated)")
    p.add_argument("--note", default="", help="a free-text note stored with every submitted run")
    p.add_argument("--list", action="store_true",
                   help="list architectures, datasets, presets, config fields, settings, options, environment")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    add_slurm_flags(p.add_argument_group("Slurm options (override the sweep file's [slurm] section)"))
    return p


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


def follow(argv: list[str], prog: str) -> int:
    from lab.sweeps.follow import cancel_sweep, show_status

    sub = OneLineParser(prog=f"{prog} {argv[0]}")
    sub.add_argument("sweep_id", nargs="?", help="the sweep id that launching printed (default: the latest)")
    sub.add_argument("--home")
    args = sub.parse_args(argv[1:])
    where = home(args.home)
    sweep_id = args.sweep_id or (list_sweeps(where) or [""])[-1]
    try:
        (show_status if argv[0] == "status" else cancel_sweep)(sweep_id, where)
    except (UnknownSweep, RuntimeError) as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 2
    return 0


def _report_plan(result: LaunchResult, dry_run: bool) -> None:
    varying = _varying([*result.runs, *result.skipped])
    for warning in result.warnings:
        print(f"launch: warning: {warning}", file=sys.stderr)
    for cfg in result.skipped:
        if cfg.run_id in result.claimed:
            print(f"skip  {cfg.run_id}  being submitted right now by {result.claimed[cfg.run_id]} "
                  f"({_describe(cfg, varying)})")
        elif cfg.run_id in result.live:
            print(f"skip  {cfg.run_id}  already {result.known.get(cfg.run_id)} in sweep {result.live[cfg.run_id]} "
                  f"({_describe(cfg, varying)}); see `{LAUNCH} status {result.live[cfg.run_id]}`")
        else:
            print(f"skip  {cfg.run_id}  already finished  ({_describe(cfg, varying)}); --force runs it again")
    if dry_run:
        for cfg in result.runs:
            before = result.known.get(cfg.run_id)
            print(f"would run  {cfg.run_id}  {_describe(cfg, varying)}" + (f"  (last status: {before})" if before else ""))
        print(f"{len(result.runs)} run(s) to submit, {len(result.skipped)} skipped (executor: {result.executor})")


def launch_main(argv: list[str] | None = None, prog: str = LAUNCH) -> int:
    """`python -m training.launch`: launch a sweep, or `status` / `cancel` one, or `--list`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("status", "cancel"):
        return follow(argv, prog)
    args = build_parser(prog).parse_args(argv)
    if args.list:
        print(list_registered())
        return 0
    where = home(args.home)
    try:
        sweep = load_sweep(args.sweep) if args.sweep else Sweep()
        sweep = sweep.with_overrides(args.set)
        options = slurm_options(sweep, args)
        result = launch(sweep, executor=args.executor, slurm=options, force=args.force, dry_run=args.dry_run,
                        runs_per_job=args.runs_per_job, pack=args.pack, where=where,
                        labels=RunLabels.typed(args.name, args.tag, args.note))
    except (ConfigError, OptionError, WarehouseOutdated, WarehouseTooNew) as exc:
        # an outdated warehouse says which migration command to run; nothing was submitted
        print(f"launch: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    _report_plan(result, args.dry_run)
    if args.dry_run:
        return 0
    if not result.runs:
        print("nothing to run: every run of the sweep already finished or is running (--force runs finished ones again)")
        return 0
    return report_submitted(result, f"sweep {result.sweep_id}: submitted {len(result.runs)} run(s)", args.wait, where)


