"""`python -m training.init_norms`: logits norm of freshly initialised models (Figure 8, Appendix E).

One row per (architecture, initialisation, seed) in the warehouse table `init_norms`. The paper
measures it on real inputs; for architectures whose input the chosen dataset cannot feed (CNNs on
the 8×8 demo digits), a fixed N(0, 1) batch of CIFAR shape is used and named as such
(`dataset = 'noise-3x32x32'`), so no row pretends to be what it is not.
"""

from __future__ import annotations

import argparse
import sys

import torch

from analysis import init_norm_rows
from training.config import ARCHITECTURES, INITS, ConfigError, make_config
from training.data import load_dataset
from training.models import MODELS, ModelSpec, build_model
from warehouse import home, write_shard

NOISE = "noise-3x32x32"
BATCH = 256  # samples in the measuring batch


def measure(arch: str, dataset: str, init: str, init_std: float, seeds: range, **fields) -> list[dict]:
    if dataset == NOISE:
        x = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        num_classes = 10
    else:
        data = load_dataset(dataset, make_config(dataset=dataset).data_dir)
        x, num_classes = data.x_test[:BATCH], data.num_classes
    spec = ModelSpec(num_classes, tuple(x.shape[1:]))

    def build(seed: int):
        return build_model(make_config(arch=arch, dataset="digits" if dataset == NOISE else dataset, init=init,
                                       init_std=init_std, seed=seed, ood=(), **fields), spec)

    return init_norm_rows(build, x, arch=arch, dataset=dataset, init=init, init_std=init_std, seeds=seeds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.init_norms", description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="mlp", help=f"comma-separated architectures ({', '.join(ARCHITECTURES)})")
    p.add_argument("--dataset", default="digits", help=f"input batch: a dataset name or {NOISE}")
    p.add_argument("--init", default="default,kaiming", help=f"comma-separated initialisations ({', '.join(INITS)})")
    p.add_argument("--init-std", type=float, default=0.01, help="sigma for the 'normal' initialisation")
    p.add_argument("--seeds", type=int, default=5, help="initialisations per (arch, init): one point each")
    p.add_argument("--width", type=int, default=None, help="MLP width (default: the config's)")
    p.add_argument("--depth", type=int, default=None, help="MLP depth (default: the config's)")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    fields = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None}
    where = home(args.home)
    try:
        for arch in args.arch.split(","):
            if arch not in MODELS:
                raise ConfigError(f"unknown arch {arch!r}; registered: {', '.join(MODELS.names())}")
            for init in args.init.split(","):
                rows = measure(arch, args.dataset, init, args.init_std, range(args.seeds), **fields)
                write_shard("init_norms", rows, owner="init-norms", where=where,
                            name=f"{arch}-{args.dataset}-{init}-{args.init_std:g}".replace(":", "_").replace("/", "_"))
                norms = ", ".join(f"{r['logits_norm']:.3g}" for r in rows)
                print(f"{arch:<9} {args.dataset:<14} {init:<8} logits norm at init: {norms}")
    except (ConfigError, KeyError) as exc:
        print(f"init_norms: {str(exc).strip(chr(34))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
