"""`thermoscope init-norms` (= `python -m analysis init-norms`): logits norm of freshly initialised models
(Figure 8, Appendix E).

One row per (architecture, initialisation, sigma, seed) in the warehouse table `init_norms`, measured on
test images as the model sees them (the run's own test pipeline and normalisation; a ViT resizes them to 224 px itself). For
architectures whose input the chosen dataset cannot feed (CNNs on the 8×8 demo digits), a fixed N(0, 1)
batch of CIFAR shape is used and named as such (`dataset = 'noise-3x32x32'`), so no row pretends to be
what it is not.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from training.config import ARCHITECTURES, INITS, ConfigError, make_config
from warehouse import home, write_shard

NOISE = "noise-3x32x32"
BATCH = 256  # samples in the measuring batch


def _inputs(arch: str, dataset: str, batch: int, fields: dict[str, Any]):
    """(the measuring batch, the ModelSpec that reads it)."""
    import torch

    from analysis import AnalysisSettings
    from training.models import ModelSpec

    if dataset == NOISE:
        x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        return x, ModelSpec(10, tuple(x.shape[1:]))
    from lab.jobs.pipeline import analysis_data, prepare_run
    from training.augment import augmentation_for

    run = prepare_run(make_config(arch=arch, dataset=dataset, ood=(), **fields), torch.device("cpu"))
    x = analysis_data(run, AnalysisSettings()).id_test.x[:batch]
    return x, ModelSpec(run.data.num_classes, augmentation_for(arch, run.data).input_shape(run.data))


def init_norms(archs: list[str], dataset: str, inits: list[str], stds: list[float], seeds: list[int], *,
               batch: int = BATCH, home_root=None, write: bool = True, **fields: Any) -> list[dict]:
    """Rows for 'init_norms'; 'normal' is measured at every sigma in `stds`, other inits at the config's.

    `fields` are extra config fields for the models (e.g. width, depth of the MLP). With `write`, the rows go
    to one shard named after the measurement, so measuring the same thing again replaces it.
    """
    from analysis import init_norm_rows
    from training.models import MODELS, build_model

    rows: list[dict] = []
    for arch in archs:
        if arch not in MODELS:
            raise ConfigError(f"unknown arch {arch!r}; registered: {', '.join(MODELS.names())}")
        x, spec = _inputs(arch, dataset, batch, fields)
        base = make_config(arch=arch, dataset="digits" if dataset == NOISE else dataset, ood=(), **fields)
        for init in inits:
            for std in (stds if init == "normal" else [base.init_std]):
                def build(seed: int, init=init, std=std, base=base, spec=spec):
                    return build_model(base.replace(init=init, init_std=std, seed=seed), spec)

                rows += init_norm_rows(build, x, arch=arch, dataset=dataset, init=init, init_std=std, seeds=seeds)
    if write and rows:
        what = repr((sorted(archs), dataset, sorted(inits), sorted(stds), sorted(fields.items())))
        name = f"{dataset}-{'-'.join(archs)}"[:80].replace(":", "_").replace("/", "_")
        write_shard("init_norms", rows, owner="init-norms", where=home(home_root),
                    name=f"{name}-{hashlib.sha256(what.encode()).hexdigest()[:8]}")
    return rows


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def add_arguments(p) -> None:
    p.add_argument("--arch", default="mlp", help=f"comma-separated architectures ({', '.join(ARCHITECTURES)})")
    p.add_argument("--dataset", default="digits", help=f"input batch: a dataset name or {NOISE}")
    p.add_argument("--init", default="default,kaiming", help=f"comma-separated initialisations ({', '.join(INITS)})")
    p.add_argument("--init-std", default="0.01", help="comma-separated sigmas for the 'normal' initialisation")
    p.add_argument("--seeds", type=int, default=5, help="initialisations per (arch, init): seeds 0..N-1, one point each")
    p.add_argument("--batch", type=int, default=BATCH, help="samples the norm is measured on")
    p.add_argument("--width", type=int, default=None, help="MLP width (default: the config's)")
    p.add_argument("--depth", type=int, default=None, help="MLP depth (default: the config's)")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")


def run(args) -> int:
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    fields = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None}
    try:
        rows = init_norms(_split(args.arch), args.dataset, _split(args.init),
                          [float(v) for v in _split(args.init_std)], list(range(args.seeds)),
                          batch=args.batch, home_root=args.home, **fields)
    except (ConfigError, KeyError, ValueError) as exc:
        print(f"init-norms: {str(exc).strip(chr(34))}", file=sys.stderr)
        return 2
    for key in dict.fromkeys((r["arch"], r["init"], r["init_std"]) for r in rows):
        norms = ", ".join(f"{r['logits_norm']:.3g}" for r in rows if (r["arch"], r["init"], r["init_std"]) == key)
        print(f"{key[0]:<9} {args.dataset:<14} {key[1]:<{max(map(len, INITS))}} σ={key[2]:<6g} logits norm at init: {norms}")
    return 0
