"""How big a sweep is and roughly how long it takes: runs × epochs × steps per epoch, and a time from a
per-architecture cost figure. Torch-free (the launch form's Check uses it); `python -m lab.sweeps.estimate --measure`
re-measures the figures on this machine (that part loads torch).

Steps per epoch are exact: ceil(train samples / batch size), the loop's batching (training/fast.py), from
the dataset's train size below. The time is rough and says so: a training step's cost per sample for each
architecture at its dataset's input size, measured on one CPU thread of the shared 2-core machine this
project is developed on (see MEASURED), times the sweep's samples. It leaves out data loading, evaluation
and the analysis of each kept checkpoint (about a minute per run on a CPU for the demo), GPUs (tens to
hundreds of times faster) and other jobs sharing the cores. Treat it as an order of magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from training.config import FOLDER_PREFIX, RunConfig

# Train-split sizes [samples]: digits is sklearn's 1,797 minus the 20 % test split (training/data/embedded.py);
# shapes is generated (1,500); the others are the published splits; ImageNet-100 is the usual 100-class
# subset (about 1,300 images per class).
TRAIN_SIZES: dict[str, int] = {"digits": 1438, "shapes": 1500, "cifar10": 50_000, "cifar100": 50_000,
                               "svhn": 73_257, "imagenet100": 126_689, "imagenet1k": 1_281_167}

# Milliseconds per training sample (forward + backward + SGD step, one CPU thread). Where they come from:
# - mlp: the demo sweep (6 runs × 120 epochs × 1,438 samples) takes about 1 minute on 2 idle cores
#   (sweeps/demo.toml), analysis included: ≈ 0.1 ms per sample per core, for width 256 × depth 8 on 8×8
#   input; other MLPs are scaled by width² × depth.
# - resnet18, vgg19: train steps measured on an idle core on 2026-11-29 (batch 8: 159 ms and 1.1 s).
# - resnet20: 26 ms against resnet18's 164 ms, both measured by `python -m lab.sweeps.estimate --measure` on
#   2026-12-02 on the same machine under load (load average 8 on 2 cores), scaled to resnet18's idle figure.
# - resnet34, resnet50, vgg19_bn: resnet18's / vgg19's figure scaled by their FLOPs (not measured).
# - vit_b16: no figure (a 224 px ViT-B on a CPU is not a use this tool is tuned for): no time is given.
MEASURED: dict[str, float] = {"mlp": 0.1, "resnet20": 3.2, "resnet18": 20.0, "resnet34": 40.0,
                              "resnet50": 46.0, "vgg19": 137.0, "vgg19_bn": 145.0}
MEASURED_SOURCE = ("rough: CPU step times per architecture measured on this project's 2-core machine, "
                   "see lab/sweeps/estimate.py; analysis not included; a GPU is far faster")
MLP_REFERENCE = (256, 8)  # (width, depth) of MEASURED["mlp"]


@dataclass(frozen=True)
class Estimate:
    runs: int
    epochs: int  # summed over runs
    steps: int | None  # training steps summed over runs (None: a dataset of unknown size)
    samples: int | None
    cpu_seconds: float | None  # one CPU thread per run, all runs one after another
    unknown: tuple[str, ...] = ()  # datasets whose train size is not known (folder:PATH)
    uncosted: tuple[str, ...] = ()  # architectures without a cost figure

    def describe(self, parallel: int = 1) -> str:
        """One line: '6 runs × 120 epochs = 720 epochs, 8,640 steps of batch 128 (...); about 4 min on ...'."""
        text = f"{self.runs} run(s), {self.epochs:,} epochs in all"
        if self.steps is None:
            return text + f"; steps unknown ({', '.join(self.unknown)}: train size not known before the job reads it)"
        text += f", {self.steps:,} training steps ({self.samples:,} samples)"
        if self.cpu_seconds is None:
            return text + f"; no time estimate: no cost figure for {', '.join(self.uncosted)}"
        wall = self.cpu_seconds / max(1, parallel)
        return text + f"; roughly {duration(wall)} of training on {parallel} CPU core(s) ({MEASURED_SOURCE})"


def steps_per_epoch(cfg: RunConfig) -> int | None:
    size = train_size(cfg.dataset)
    return None if size is None else math.ceil(size / cfg.batch_size)


def train_size(dataset: str) -> int | None:
    return None if dataset.startswith(FOLDER_PREFIX) else TRAIN_SIZES.get(dataset)


def ms_per_sample(cfg: RunConfig) -> float | None:
    cost = MEASURED.get(cfg.arch)
    if cost is None:
        return None
    if cfg.arch == "mlp":  # the hidden layers dominate: width² × depth
        width, depth = MLP_REFERENCE
        cost *= (cfg.width / width) ** 2 * (cfg.depth / depth)
    return cost


def estimate(configs: list[RunConfig]) -> Estimate:
    """Size and rough CPU time of training these runs (what is submitted, not what is skipped)."""
    epochs = sum(c.epochs for c in configs)
    unknown = tuple(dict.fromkeys(c.dataset for c in configs if train_size(c.dataset) is None))
    if unknown:
        return Estimate(len(configs), epochs, None, None, None, unknown)
    steps = sum(c.epochs * (steps_per_epoch(c) or 0) for c in configs)
    samples = sum(c.epochs * (train_size(c.dataset) or 0) for c in configs)
    costs = [ms_per_sample(c) for c in configs]
    uncosted = tuple(dict.fromkeys(c.arch for c, ms in zip(configs, costs) if ms is None))
    seconds = None if uncosted else sum(
        c.epochs * (train_size(c.dataset) or 0) * ms / 1000 for c, ms in zip(configs, costs))
    return Estimate(len(configs), epochs, steps, samples, seconds, uncosted=uncosted)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def measure(arch: str, batch: int = 32, steps: int = 5) -> float:
    """Milliseconds per sample of one training step of `arch` at its usual input size, on this CPU."""
    import time

    import torch

    from training.config import make_config
    from training.models import ModelSpec, build_model

    torch.set_num_threads(1)
    cfg = make_config(preset="demo", arch=arch, dataset="digits" if arch == "mlp" else "cifar10",
                      init="default" if arch == "vit_b16" else "normal")
    side, channels = (8, 1) if arch == "mlp" else (224 if arch == "vit_b16" else 32, 3)
    model = build_model(cfg, ModelSpec(10, (channels, side, side)))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(batch, channels, side, side), torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps / batch * 1000


if __name__ == "__main__":
    import sys

    if "--measure" not in sys.argv:
        sys.exit("usage: python -m lab.sweeps.estimate --measure [ARCH ...]  (prints ms per training sample on this CPU)")
    for name in [a for a in sys.argv[1:] if a != "--measure"] or [*MEASURED, "vit_b16"]:
        batch = 4 if name == "vit_b16" else 32
        print(f"{name:10s} {measure(name, batch=batch, steps=2 if name == 'vit_b16' else 5):10.3f} ms/sample",
              flush=True)
