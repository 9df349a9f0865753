"""`thermoscope calibrate`: the temperature that matches an initial logits norm (Appendix A.8 and E).

    thermoscope calibrate --arch vgg19 --dataset cifar10 --reference resnet18
    thermoscope calibrate --arch resnet18 --dataset cifar10 --target 0.5

The measurement is training/calibrate.py's; this is its command.
"""

from __future__ import annotations

import argparse
import sys

from training.config import ConfigError, make_config


def main(argv: list[str] | None = None) -> int:
    from training.calibrate import calibrate

    p = argparse.ArgumentParser(prog="thermoscope calibrate", description="Temperature that matches an initial logits norm (Appendix A.8/E)")
    p.add_argument("--arch", required=True)
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--preset", default="cifar_resnet")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="default")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", type=float, help="logits norm to match")
    group.add_argument("--reference", help="architecture whose initial logits norm to match")
    p.add_argument("--reference-temperature", type=float, default=1.0)
    a = p.parse_args(argv)
    try:
        cfg = make_config(arch=a.arch, dataset=a.dataset, preset=a.preset, seed=a.seed, init=a.init, ood=())
        c = calibrate(cfg, a.target, a.reference, a.reference_temperature)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"calibrate: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"{a.arch}: initial logits norm {c.initial_norm:.6g}, target {c.target_norm:.6g}"
          f"{f' ({c.reference})' if c.reference else ''} -> temperature {c.temperature:.6g}")
    return 0
