"""`python -m analysis` (= `thermoscope analyse | theory | init-norms | settings`): measure and write rows.

  python -m analysis analyse CHECKPOINT [CHECKPOINT ...] [--device auto|cpu|cuda] [--set NAME=VALUE ...]
  python -m analysis theory
  python -m analysis init-norms --arch mlp,resnet18 --dataset cifar10 [--init default,kaiming,normal]
                                [--init-std 0.01,0.1] [--seeds 3] [--batch 256]
  python -m analysis settings            # every analysis setting, its default and meaning

`analyse` rebuilds each checkpoint's model and data (lab/rebuild.py) and measures it with the settings its
run was launched with, `--set` on top; rows go to the warehouse shards of $THERMOSCOPE_HOME (or --home) as
`analysis-eNNNN`, the shard names the training job uses, so re-analysing a checkpoint replaces its rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.settings import AnalysisSettings
from thermoscope import fields as tfields
from thermoscope.fields import ConfigError

EXIT_BAD_INPUT = 2


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """['probe_epochs=2', 'analysis.max_samples=500'] → {'probe_epochs': '2', 'max_samples': '500'} (checked)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set wants NAME=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip().removeprefix("analysis.")] = value.strip()
    AnalysisSettings.from_dict(out)  # one line naming the first wrong setting
    return out


def analyse_checkpoint(path: Path, *, device: str = "auto", overrides: dict | None = None, home_root=None,
                       write: bool = True) -> dict[str, list[dict]]:
    import torch

    from analysis import AnalysisError, analyse_model
    from lab.pipeline import write_analysis
    from lab.rebuild import read_checkpoint, rebuild, settings_for
    from warehouse import home

    where = home(home_root)
    ckpt = read_checkpoint(path)
    settings = settings_for(ckpt, where, overrides)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    model, data = rebuild(ckpt, settings, dev)
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {ckpt.run_id} e{ckpt.epoch}: {stage} ({done}/{total})",
              file=sys.stderr)

    failure = None
    try:
        rows = analyse_model(model, model.layer_taps(), data, run_id=ckpt.run_id, epoch=ckpt.epoch,
                             temperature=ckpt.config.temperature, settings=settings, device=dev, progress=progress)
    except AnalysisError as e:  # keep what was measured, then report the one-line reason
        rows, failure = e.rows, e
    if write:
        write_analysis(rows, ckpt.run_id, ckpt.epoch, where)
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
    t = sub.add_parser("theory", help="write the appendix demonstrations' rows (table 'theory')")
    t.add_argument("--home", default=None)
    t.add_argument("--seed", type=int, default=0)
    n = sub.add_parser("init-norms", help="logits norm of freshly initialised models (table 'init_norms')")
    from lab.init_norms import add_arguments

    add_arguments(n)
    sub.add_parser("settings", help="list the analysis settings and their defaults")
    args = parser.parse_args(argv)

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
        from lab.init_norms import run

        return run(args)
    from analysis.types import AnalysisError
    from lab.rebuild import NotACheckpoint

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
                                      write=not args.no_write)
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
