"""Temperature calibration (Appendix A.8 and E): pick T so that the network's logits norm at
initialisation divided by T equals a target.

The logits norm is the loop's (mean per-sample L2 norm of z, eval mode, float32) on the same fixed
evaluation batch (the first 512 test samples after the test transform), of the model the config
builds (its seed fixes the init). Since softmax(z/T) only sees z/T, T = ‖z₀‖ / target makes the
scaled initial logits exactly the target's size. The target is a number, or another
architecture's own initial norm at its temperature (VGG-19 calibrated to ResNet-18's norm).

    python -m training.calibrate --arch vgg19 --dataset cifar10 --reference resnet18
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from training.config import RunConfig, make_config
from training.data import Bundle, load_dataset
from training.fast import make_feed
from training.loop import EVAL_BATCH, logits_summary


@dataclass(frozen=True)
class Calibration:
    temperature: float  # T such that initial_norm / T == target_norm
    initial_norm: float  # mean per-sample L2 norm of the logits at init
    target_norm: float  # the norm initial_norm / T is made to match
    reference: str = ""  # the architecture whose norm is the target ('' = a given number)


def initial_logits_norm(cfg: RunConfig, data: Bundle | None = None, device: str | torch.device = "cpu") -> float:
    """The config's model at initialisation: its logits norm on the fixed evaluation batch."""
    from training.augment import augmentation_for
    from training.models import ModelSpec, build_model

    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)
    model = build_model(cfg, ModelSpec(data.num_classes, augmentation_for(cfg.arch, data).input_shape(data)))
    model.to(device)
    x_eval = make_feed(data, cfg.arch, torch.device(device)).eval_batch(EVAL_BATCH)
    return logits_summary(model, x_eval, 1.0)["logits_norm"]


def calibrate(cfg: RunConfig, target_norm: float | None = None, reference: str | None = None,
              reference_temperature: float = 1.0, data: Bundle | None = None,
              device: str | torch.device = "cpu") -> Calibration:
    """T for `cfg` so that its initial logits norm / T equals `target_norm`, or equals the
    `reference` architecture's initial norm / `reference_temperature` (same data, seed, init)."""
    if (target_norm is None) == (reference is None):
        raise ValueError("give exactly one of target_norm or reference (an architecture name)")
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir)
    if reference is not None:
        target_norm = initial_logits_norm(cfg.replace(arch=reference, temperature=1.0), data, device) / reference_temperature
    if not target_norm or target_norm <= 0:
        raise ValueError(f"target logits norm must be positive, got {target_norm!r}")
    norm = initial_logits_norm(cfg, data, device)
    return Calibration(norm / target_norm, norm, float(target_norm), reference or "")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Temperature that matches an initial logits norm (Appendix A.8/E)")
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
    cfg = make_config(arch=a.arch, dataset=a.dataset, preset=a.preset, seed=a.seed, init=a.init, ood=())
    c = calibrate(cfg, a.target, a.reference, a.reference_temperature)
    print(f"{a.arch}: initial logits norm {c.initial_norm:.6g}, target {c.target_norm:.6g}"
          f"{f' ({c.reference})' if c.reference else ''} -> temperature {c.temperature:.6g}")


if __name__ == "__main__":
    main()
