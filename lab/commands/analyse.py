"""`python -m analysis` (= `thermoscope analyse | analyse-model | reanalyse | theory | init-norms | settings`).

  python -m analysis analyse CHECKPOINT [CHECKPOINT ...] [--device auto|cpu|cuda] [--set NAME=VALUE ...]
  python -m analysis analyse-model --model timm:NAME|torchvision:NAME|module:PKG.MOD:FACTORY --weights FILE
                                   --dataset folder:PATH [--ood folder:PATH ...] [--temperature T] [--name NAME]
  python -m analysis reanalyse SWEEP_ID|RUN_ID|CHECKPOINT ... [--set NAME=VALUE ...] [--ood A+B]
                               [--executor auto|local|slurm] [--dry-run] [--force] [--wait]
  python -m analysis theory
  python -m analysis init-norms --arch mlp,resnet18 --dataset cifar10 [--init default,kaiming,normal]
                                [--init-std 0.01,0.1] [--seeds 3] [--batch 256]
  python -m analysis settings            # every analysis setting, its default and meaning

`analyse` rebuilds each checkpoint's model and data (lab/jobs/rebuild.py) and measures it in this process with the
settings its run was launched with, `--set` on top; rows go to the warehouse shards of $THERMOSCOPE_HOME (or
--home) as `analysis-eNNNN`, the shard names the training job uses, so re-analysing a checkpoint replaces its
rows. `analyse-model` measures a network trained elsewhere (lab/commands/analyse_model.py); `reanalyse` measures kept
checkpoints again as one job array, skipping those already measured with the same settings (lab/commands/reanalyse.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.settings import AnalysisSettings
from lab.commands.shared import EXIT_BAD_INPUT, parse_settings
from thermoscope import fields as tfields
from thermoscope.fields import ConfigError


def analyse_checkpoint(path: Path, *, device: str = "auto", overrides: dict | None = None, home_root=None,
                       write: bool = True, trust_pickle: bool = False) -> dict[str, list[dict]]:
    from analysis import AnalysisError, analyse_model
    from lab.jobs.rebuild import read_checkpoint, rebuild, settings_for
    from lab.jobs.tasks import pick_device, progress_printer
    from lab.records.analyses import Measurement, file_sha256
    from lab.records.configs import stored_column
    from warehouse import home

    where = home(home_root)
    ckpt = read_checkpoint(path, trust_pickle=trust_pickle)
    settings = settings_for(ckpt, where, overrides)
    dev = pick_device(device)
    model, data = rebuild(ckpt, settings, dev)
    record = Measurement(ckpt.run_id, ckpt.epoch, settings, ckpt.config.ood,
                         stored_column(where, ckpt.run_id, "sweep_id") or "", checkpoint=str(path),
                         checkpoint_sha256=file_sha256(path))
    failure = None
    env = None
    if write:  # what measured it, as for an analysis job's task
        from lab.records.analyses import task_id
        from lab.records.provenance import Environment

        env = Environment(where, ckpt.run_id, record.sweep_id, "analysed", dev,
                          task_id=task_id(ckpt.run_id, ckpt.epoch)).start()
    try:
        rows = analyse_model(model, model.layer_taps(), data, run_id=ckpt.run_id, epoch=ckpt.epoch,
                             temperature=ckpt.config.temperature, settings=settings, device=dev,
                             progress=progress_printer(f"{ckpt.run_id} e{ckpt.epoch}"))
    except AnalysisError as e:  # keep what was measured, then report the one-line reason
        rows, failure = e.rows, e
    finally:
        if env is not None:
            env.end()
    if write:
        record.write(rows, where, failure=failure)
    if failure is not None:
        raise failure
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyse", aliases=["analyze"], help="analyse checkpoint(s) and write their rows")
    a.add_argument("checkpoints", nargs="+", type=Path)
    a.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")
    a.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override an analysis setting (lists: a+b); see `settings`")
    a.add_argument("--home", default=None, help="Thermoscope home (default $THERMOSCOPE_HOME)")
    a.add_argument("--no-write", action="store_true", help="measure and print a summary, write nothing")
    a.add_argument("--trust-pickle", action="store_true",
                   help="load a checkpoint that holds pickled Python objects: unpickling can run code, so only for a "
                        "file you made yourself (default: weights only, such files refused)")
    t = sub.add_parser("theory", help="write the appendix demonstrations' rows (table 'theory')")
    t.add_argument("--home", default=None)
    t.add_argument("--seed", type=int, default=0)
    n = sub.add_parser("init-norms", help="logits norm of freshly initialised models (table 'init_norms')")
    from lab.commands.init_norms import add_arguments

    add_arguments(n)
    sub.add_parser("settings", help="list the analysis settings and their defaults")
    from lab.commands import analyse_model, reanalyse

    commands = {"analyse-model": analyse_model, "reanalyse": reanalyse}
    for name, module in commands.items():
        doc = module.__doc__ or ""
        cmd = sub.add_parser(name, aliases=[name.replace("yse", "yze")], help=doc.split("\n")[0].split(": ", 1)[-1],
                             description=doc.split("\n\n", 1)[-1], formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
    args = parser.parse_args(argv)
    command = {alias: name for name in commands for alias in (name, name.replace("yse", "yze"))}.get(args.command)
    if command:
        return commands[command].run(args)

    if args.command == "settings":
        print("\n".join(tfields.describe(AnalysisSettings)))
        return 0
    if args.command == "theory":
        from analysis.theory import theory_rows
        from warehouse import home, write_shard

        rows = theory_rows(args.seed)
        for exp in sorted({r["experiment"] for r in rows}):
            part = [r for r in rows if r["experiment"] == exp]
            path = write_shard("theory", part, owner=exp, name=f"demo-seed{args.seed}", where=home(args.home))
            print(f"{exp}: {len(part)} rows -> {path}")
        return 0
    if args.command == "init-norms":
        from lab.commands.init_norms import run

        return run(args)
    from analysis.types import AnalysisError
    from lab.jobs.rebuild import NotACheckpoint

    try:
        overrides = parse_settings(args.set)
    except ConfigError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    status = 0
    for path in args.checkpoints:
        if not path.is_file():
            print(f"{path}: no such checkpoint file", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        try:
            rows = analyse_checkpoint(path, device=args.device, overrides=overrides, home_root=args.home,
                                      write=not args.no_write, trust_pickle=args.trust_pickle)
        except (NotACheckpoint, ConfigError) as e:
            print(f"analysis: {e}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        except AnalysisError as e:
            print(f"{path}: {e} (rows measured before it were written)", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        summary = ", ".join(f"{k}: {len(v)}" for k, v in rows.items())
        print(f"{path}: {summary}")
        for r in rows["run_metrics"]:
            if r["metric"] in ("kappa", "rho", "solution_rank"):
                print(f"  {r['metric']:>14} [{r['dataset']}] = {r['value']:.4g}")
    return status
