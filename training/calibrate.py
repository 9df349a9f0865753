"""Temperature calibration (Appendix A.8 and E): pick T so that the network's logits norm at
initialisation divided by T equals a target.

The logits norm is the loop's (mean per-sample L2 norm of z, eval mode, float32) on the same fixed
evaluation batch (the first 512 test samples after the test transform), of the model the config
builds (its seed fixes the init). Since softmax(z/T) only sees z/T, T = ‖z₀‖ / target makes the
scaled initial logits exactly the target's size. The target is a number, or another
architecture's own initial norm at its temperature (VGG-19 calibrated to ResNet-18's norm).

    thermoscope calibrate --arch vgg19 --dataset cifar10 --reference resnet18     (lab/commands/calibrate.py)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.config import RunConfig
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
