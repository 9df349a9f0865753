"""`python -m analysis analyse-model`: measure a network trained elsewhere, from its weights file.

    python -m analysis analyse-model --model timm:resnet18 --weights resnet18.pth --dataset folder:/data/pets \\
        [--ood folder:/data/cars …] [--num-classes C] [--temperature T] [--epoch N] [--name NAME] \\
        [--input-size S --crop-pct P --mean M --std S --interpolation I] [--taps GLOB …] [--list-taps] \\
        [--set NAME=V …] [--executor local|slurm|auto … --dry-run --force --wait]

Without --executor it measures in this process, one weights file after another; with one, each weights
file is a task of one job array (lab/sweeps/analysis_sweep.py). Rows land under an outside run (source
'analysed', lab/outside/runs.py); a file already measured with the same settings is skipped unless --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.commands.shared import EXIT_BAD_INPUT, parse_settings
from thermoscope.fields import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from lab.commands.shared import add_slurm_flags
    from slurm import EXECUTORS

    p.add_argument("--model", required=True, help="timm:NAME, torchvision:NAME or module:PKG.MOD:FACTORY")
    p.add_argument("--weights", required=True, action="append", type=Path, metavar="FILE",
                   help="a state dict as torch.save(model.state_dict()) writes it (repeatable: one task each)")
    p.add_argument("--dataset", required=True, help="folder:PATH (train/<class>/*, test/<class>/*) or a registered set")
    p.add_argument("--ood", action="append", default=[], help="an out-of-distribution set (repeatable, or a+b)")
    p.add_argument("--num-classes", type=int, default=None, help="classes of the model (default: its saved classifier's)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="the T the network was trained with, softmax(z/T) (default 1: plain cross-entropy)")
    p.add_argument("--epoch", action="append", type=int, default=[],
                   help="training epoch of each weights file, in order (default: the file's own 'epoch', else 0)")
    p.add_argument("--name", default="", help="the run's name; files given one name are epochs of one run")
    p.add_argument("--tag", action="append", default=[], help="a label for the run (repeatable)")
    p.add_argument("--note", default="", help="free text about the run")
    g = p.add_argument_group("preprocessing (default: the model's pretrained config, else the data's own)")
    g.add_argument("--input-size", type=int, help="side of the square input [px]")
    g.add_argument("--crop-pct", type=float, help="centre crop share: resize to input-size / crop-pct first")
    g.add_argument("--mean", help="per-channel mean on the [0, 1] scale, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", help="per-channel std, e.g. 0.229,0.224,0.225")
    g.add_argument("--interpolation", help="bilinear, bicubic or nearest")
    t = p.add_argument_group("layer taps")
    t.add_argument("--taps", action="append", default=[], metavar="GLOB", help="keep the taps matching (repeatable)")
    t.add_argument("--exclude-taps", action="append", default=[], metavar="GLOB", help="drop the taps matching")
    t.add_argument("--tap-method", default="auto", help="auto, declared, timm, fx or hooks (analysis/discover.py)")
    t.add_argument("--list-taps", action="store_true", help="print the taps and their shapes, measure nothing")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an analysis setting")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")
    p.add_argument("--data-root", default="", help="where registered datasets are read ($THERMOSCOPE_DATA)")
    p.add_argument("--home", default=None, help="Thermoscope home (default $THERMOSCOPE_HOME)")
    p.add_argument("--force", action="store_true", help="measure files already measured with these settings again")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a weights file that holds pickled Python objects (a whole model): unpickling can run "
                        "code, so only for a file you made yourself (default: weights only, such files refused)")
    x = p.add_argument_group("as a job array (default: in this process)")
    x.add_argument("--executor", choices=EXECUTORS, default=None, help="submit one task per weights file")
    x.add_argument("--dry-run", action="store_true", help="print what would be measured and skipped; write nothing")
    x.add_argument("--wait", action="store_true", help="wait for the job array, then ingest")
    x.add_argument("--tasks-per-job", type=int, default=0, help="tasks measured one after another per job")
    add_slurm_flags(x)


def tasks_from(args: argparse.Namespace) -> list:
    from lab.jobs.tasks import ModelTask
    from lab.outside.data import Preprocessing, parse_floats

    if args.epoch and len(args.epoch) != len(args.weights):
        raise ConfigError(f"--epoch was given {len(args.epoch)} time(s) for {len(args.weights)} weights file(s); "
                          "give one per file, in order, or none")
    flags = dict(input_size=args.input_size, crop_pct=args.crop_pct, mean=parse_floats(args.mean, "--mean"),
                 std=parse_floats(args.std, "--std"), interpolation=args.interpolation)
    Preprocessing(**{k: v for k, v in flags.items() if v is not None})  # one line for a wrong value, before any work
    ood = tuple(part for item in args.ood for part in item.split("+") if part)
    settings = parse_settings(args.set)
    return [ModelTask(args.model, str(w), args.dataset, ood, args.temperature, args.num_classes,
                      args.epoch[i] if args.epoch else None, args.name, tuple(args.tag), args.note,
                      {k: v for k, v in flags.items() if v is not None}, args.tap_method, tuple(args.taps),
                      tuple(args.exclude_taps), settings, args.data_root, args.trust_pickle)
            for i, w in enumerate(args.weights)]


def _list_taps(p, device: str) -> None:
    from analysis import model_taps
    from lab.jobs.tasks import pick_device
    from lab.outside.data import load

    task = p.task
    dev = pick_device(device)
    loaded = load(task.dataset, (), p.preprocessing, 2, p.settings.feature_seed, Path(task.data_root or "."))
    example = loaded.data.id_test.x[:2].to(dev)
    taps = model_taps(p.model.to(dev), example, method=task.taps_method).select(task.include, task.exclude)
    print(f"{task.model} {p.path.name} (input {tuple(example.shape[1:])}, {loaded.preprocessing.source} preprocessing):")
    print("\n".join(taps.describe(example)))


def run(args: argparse.Namespace) -> int:
    from lab.sweeps.analysis_sweep import plan_tasks
    from warehouse import home

    where = home(args.home)
    try:
        prepared = [t.prepare() for t in tasks_from(args)]
        ids = [p.task_id for p in prepared]
        if len(set(ids)) < len(ids):
            raise ConfigError("two weights files map to the same run and epoch; give --epoch per file (or no --name)")
        if args.list_taps:
            for p in prepared:
                _list_taps(p, args.device)
            return 0
        if args.executor is not None or args.dry_run:  # a dry run only prints the plan, wherever it would run
            from lab.commands.reanalyse import submit_and_report

            return submit_and_report(prepared, args, where, "analyse-model")
        planned = plan_tasks(prepared, where, force=args.force)
    except (ValueError, RuntimeError) as exc:  # ConfigError, TapError; a model that cannot take the input
        print(f"analyse-model: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from lab.records.manifest import sweep_id_for

    for p, why in planned.skipped:
        print(f"skip  {p.describe()}: {why}")
    sweep_id = sweep_id_for([p.task_id for p in planned.todo])
    status = 0
    for p in planned.todo:
        try:
            rows = p.task.run(where, sweep_id, args.device, prepared=p)
        except (ValueError, RuntimeError) as exc:  # ConfigError, TapError, AnalysisError, a failing forward pass
            print(f"analyse-model: {p.describe()}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        print(f"{p.describe()}: " + ", ".join(f"{k}: {len(v)}" for k, v in rows.items()))
        for r in rows["run_metrics"]:
            if r["metric"] in ("kappa", "rho", "solution_rank"):
                print(f"  {r['metric']:>14} [{r['dataset']}] = {r['value']:.4g}")
    return status

