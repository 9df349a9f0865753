"""`python -m analysis`: analyse checkpoints and write their rows; write the theory demos' rows.

  python -m analysis analyse CHECKPOINT [CHECKPOINT ...] [--device auto|cpu|cuda] [--set FIELD=VALUE ...]
  python -m analysis theory
  python -m analysis init-norms --arch mlp,resnet18 --dataset cifar10 [--init default,kaiming,normal]
                                [--init-std 0.01,0.1] [--seeds 0,1,2] [--batch 256]
  python -m analysis settings            # every AnalysisSettings field and its default

A checkpoint is a torch.save'd dict {'config': RunConfig.to_dict(), 'model': state_dict, 'epoch': int} (what the
training loop keeps as epochNNNN.pt). Model and data come from the training package (imported only here, lazily);
rows go to the warehouse shards of $THERMOSCOPE_HOME (or --home) as `analysis-eNNNN`, the same shard names the
training job uses, so re-analysing a checkpoint replaces its rows instead of duplicating them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

EXIT_BAD_INPUT = 2


def _settings_from(pairs: list[str], cfg=None):
    from analysis.types import AnalysisSettings

    base = {}
    if cfg is not None:  # the run's own analysis fields first
        base = dict(probe_epochs=cfg.probe_epochs, max_samples=cfg.analysis_samples, max_features=cfg.max_features,
                    kappa_threshold=cfg.kappa_threshold)
    types = {f.name: f.type for f in dataclasses.fields(AnalysisSettings)}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set wants FIELD=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        if key not in types:
            raise SystemExit(f"unknown analysis setting {key!r}; see `python -m analysis settings`")
        default = getattr(AnalysisSettings(), key)
        base[key] = _parse(key, value, default)
    return AnalysisSettings(**base)


def _parse(key: str, value: str, default):
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int) or (default is None and key == "neco_dim"):
            return None if value.lower() == "none" else int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(v for v in value.split("+") if v)
    except ValueError:
        pass
    else:
        return value
    raise SystemExit(f"setting {key!r} wants a value like {default!r}, got {value!r}")


def _config(raw: dict):
    from training.config import FIELD_NAMES, RunConfig, coerce

    unknown = sorted(set(raw) - set(FIELD_NAMES))
    if unknown:
        print(f"note: checkpoint config has fields this code does not know, ignored: {', '.join(unknown)}",
              file=sys.stderr)
    return RunConfig(**{k: coerce(k, v) for k, v in raw.items() if k in FIELD_NAMES})


def _model_and_data(cfg, where, device):
    """Build the run's model and analysis data with the training package (lazily imported)."""
    import training.data as tdata

    if hasattr(tdata, "load_analysis_data"):
        from training.models import build_model

        data = tdata.load_analysis_data(cfg)
        try:
            model = build_model(cfg)
        except TypeError:  # build_model(cfg, spec)
            from training.models import ModelSpec

            classes = int(max(int(data.id_train.y.max()), int(data.id_test.y.max()))) + 1
            model = build_model(cfg, ModelSpec(classes, tuple(data.id_train.x.shape[1:])))
        return model, data
    from training.pipeline import analysis_data, prepare_run

    run = prepare_run(cfg, where, device)
    return run.model, analysis_data(run)


def analyse_checkpoint(path: Path, *, device: str = "auto", overrides: list[str] | None = None, home_root=None,
                       write: bool = True) -> dict[str, list[dict]]:
    import torch

    from analysis.run import analyse_model
    from analysis.types import AnalysisError
    from warehouse import home, write_shard

    where = home(home_root)
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise SystemExit(f"{path}: not a Thermoscope checkpoint (a dict with 'config', 'model', 'epoch')")
    cfg = _config(state["config"])
    epoch = int(state.get("epoch", 0))
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    model, data = _model_and_data(cfg, where, dev)
    model.load_state_dict(state["model"])
    model.to(dev)
    settings = _settings_from(overrides or [], cfg)
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {cfg.run_id} e{epoch}: {stage} ({done}/{total})", file=sys.stderr)

    failure = None
    try:
        rows = analyse_model(model, model.layer_taps(), data, run_id=cfg.run_id, epoch=epoch,
                             temperature=cfg.temperature, settings=settings, device=dev, progress=progress)
    except AnalysisError as e:  # keep what was measured, then report the one-line reason
        rows, failure = e.rows, e
    if write:
        for table, table_rows in rows.items():
            if table_rows:
                write_shard(table, table_rows, owner=cfg.run_id, name=f"analysis-e{epoch:04d}", where=where)
    if failure is not None:
        raise failure
    return rows


def init_norms(*args, **kwargs) -> list[dict]:
    """Logits norm at initialisation: `training.init_norms.init_norms` (models and inputs are training's)."""
    from training.init_norms import init_norms as measure

    return measure(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyse", aliases=["analyze"], help="analyse checkpoint(s) and write their rows")
    a.add_argument("checkpoints", nargs="+", type=Path)
    a.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")
    a.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override an AnalysisSettings field (tuples: a+b); see `settings`")
    a.add_argument("--home", default=None, help="Thermoscope home (default $THERMOSCOPE_HOME)")
    a.add_argument("--no-write", action="store_true", help="measure and print a summary, write nothing")
    t = sub.add_parser("theory", help="write the appendix demonstrations' rows (table 'theory')")
    t.add_argument("--home", default=None)
    t.add_argument("--seed", type=int, default=0)
    n = sub.add_parser("init-norms", help="logits norm of freshly initialised models (table 'init_norms')")
    n.add_argument("--arch", required=True, help="comma-separated architecture names")
    n.add_argument("--dataset", required=True)
    n.add_argument("--init", default="default,kaiming,normal", help="comma-separated initialisations")
    n.add_argument("--init-std", default="0.01", help="comma-separated sigmas for 'normal'")
    n.add_argument("--seeds", default="0,1,2")
    n.add_argument("--batch", type=int, default=256, help="test images the norm is measured on")
    n.add_argument("--home", default=None)
    sub.add_parser("settings", help="list the analysis settings and their defaults")
    args = parser.parse_args(argv)

    if args.command == "settings":
        from analysis.types import AnalysisSettings

        for f in dataclasses.fields(AnalysisSettings):
            print(f"{f.name} = {getattr(AnalysisSettings(), f.name)!r}")
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
        def split(v: str) -> list[str]:
            return [p for p in v.split(",") if p]

        rows = init_norms(split(args.arch), args.dataset, split(args.init), [float(v) for v in split(args.init_std)],
                          [int(v) for v in split(args.seeds)], batch=args.batch, home_root=args.home)
        for r in rows:
            print(f"{r['arch']:>10} {r['init']:>8} std={r['init_std']:<6g} seed={r['seed']}: "
                  f"logits norm {r['logits_norm']:.4g}")
        return 0
    from analysis.types import AnalysisError

    status = 0
    for path in args.checkpoints:
        if not path.is_file():
            print(f"{path}: no such checkpoint file", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        try:
            rows = analyse_checkpoint(path, device=args.device, overrides=args.set, home_root=args.home,
                                      write=not args.no_write)
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


if __name__ == "__main__":
    sys.exit(main())
