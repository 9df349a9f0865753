"""Training-throughput benchmark: the fast input path against a plain reference loop.

    .venv/bin/python bench/bench_training.py [--quick] [--steps N] [--batch 128] [--compile]

Both sides train the same ResNet-18 (CIFAR stem) with the same SGD step at batch 128 on the same
device in this run, on SYNTHETIC CIFAR-shaped data (uniform random uint8 images and labels: the
throughput does not depend on the pixels, and no dataset is needed):

- fast: training/fast.py's TensorFeed — uint8 data resident on the device, per-sample random crop
  (pad 4) + flip + normalise on the device; on CUDA channels_last and bf16 autocast (and
  torch.compile with --compile or THERMOSCOPE_COMPILE=1); off on the CPU, as in the loop.
- reference: a torchvision-style plain loop — DataLoader over a TensorDataset of the uint8 images
  with per-sample CPU transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, float, Normalize),
  float32, default memory format, each batch copied to the device.

Both are warmed up, then timed in alternating rounds (medians), so a shared machine's load drift
hits both alike. Prints images/s for each, then the ratio fast / reference last (goal: ≥ 3 on a GPU, ≥ 1 on a CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import torch
import torch.nn.functional as F

from training.augment import AUGMENTATIONS
from training.config import make_config
from training.data.registry import DataBundle
from training.data.torchvision_sets import CIFAR10_STATS
from training.fast import Speed, TensorFeed
from training.models import ModelSpec, build_model


class TransformedTensors(torch.utils.data.Dataset):
    """A TensorDataset whose images go through per-sample CPU transforms (the plain recipe)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), self.y[i]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def new_model(device: torch.device, speed: Speed):
    cfg = make_config(arch="resnet18", dataset="cifar10", ood=())
    model = build_model(cfg, ModelSpec(10, (3, 32, 32))).to(device)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    net = torch.compile(model) if speed.compile else model
    return net, opt


def timed(batches, step, device: torch.device, warmup: int, steps: int, batch: int) -> float:
    """images/s over `steps` steps after `warmup` steps (input pipeline time included)."""
    for _ in range(warmup):
        step(*next(batches))
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    sync(device)
    return steps * batch / (time.perf_counter() - t0) if steps else 0.0


def make_step(net, opt, speed: Speed, device: torch.device):
    net.train()

    def step(x, y, *_):
        with speed.autocast(device):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def forever(make):
    epoch = 0
    while True:
        epoch += 1
        yield from make(epoch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small CPU smoke: few steps, small data")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--rounds", type=int, default=None, help="alternating timed rounds per side (median reported)")
    p.add_argument("--workers", type=int, default=None, help="reference DataLoader workers")
    a = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("THERMOSCOPE_THREADS", "1")))
    steps = a.steps or (2 if a.quick else (100 if device.type == "cuda" else 4))
    a.rounds = a.rounds or (1 if a.quick else 3)
    warmup = 1 if a.quick else (20 if device.type == "cuda" else 2)
    n = a.batch * 8 if a.quick else max(a.batch * 16, 4096)  # epochs repeat; the size only bounds memory
    workers = a.workers if a.workers is not None else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)  # synthetic CIFAR-shaped data
    y = torch.randint(0, 10, (n,), generator=g)
    mean, std = CIFAR10_STATS

    # reference: DataLoader + per-sample CPU transforms, float32, default memory format
    import torchvision.transforms.v2 as T

    ref_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                        T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(TransformedTensors(x, y, ref_tf), batch_size=a.batch, shuffle=True,
                                         num_workers=workers, drop_last=True, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    plain = Speed()
    net, opt = new_model(device, plain)
    ref_step = make_step(net, opt, plain, device)
    ref_batches = ((xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)) for xb, yb in forever(lambda e: loader))

    # fast: tensor-resident uint8 data, on-device per-sample augmentation, channels_last + bf16 on CUDA
    speed = Speed.for_device(device)
    if a.compile:
        speed = Speed(speed.channels_last, speed.amp, compile=True)
    bundle = DataBundle("synthetic", x, y, x[:256], y[:256], 10, mean=mean, std=std, augment="cifar")
    feed = TensorFeed(bundle, AUGMENTATIONS.get("cifar"), device, speed.channels_last)
    net, opt = new_model(device, speed)
    fast_step = make_step(net, opt, speed, device)
    fast_batches = forever(lambda e: feed.train_batches(e, 0, a.batch))

    # warm up both, then alternate timed rounds so drift in a shared machine's load hits both alike
    timed(ref_batches, ref_step, device, warmup, 0, a.batch)
    timed(fast_batches, fast_step, device, warmup + (3 if speed.compile else 0), 0, a.batch)
    # CPU steps take seconds and a shared machine's load swings within one: alternate single steps there
    chunk = steps if device.type == "cuda" else 1
    refs, fasts = [], []
    for _ in range(a.rounds * steps // chunk):
        refs.append(timed(ref_batches, ref_step, device, 0, chunk, a.batch))
        fasts.append(timed(fast_batches, fast_step, device, 0, chunk, a.batch))
    ref, fast = statistics.median(refs), statistics.median(fasts)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"date {datetime.now(UTC).isoformat(timespec='seconds')}  device {device.type} ({name}), torch {torch.__version__}"
          f", threads {torch.get_num_threads()}")
    print("data: synthetic CIFAR-shaped uint8 (no dataset needed; throughput does not depend on pixels)")
    print(f"ResNet-18 CIFAR stem, batch {a.batch}, {a.rounds * steps} timed steps per side after {warmup} warm-up, "
          f"alternating every {chunk} step(s); median images/s")
    print(f"reference (DataLoader, {workers} workers, CPU transforms, fp32, NCHW): {ref:10.1f} images/s")
    print(f"fast (device-resident uint8, on-device crop/flip, channels_last={speed.channels_last}, "
          f"bf16={speed.amp}, compile={speed.compile}): {fast:10.1f} images/s")
    print(f"ratio fast / reference: {fast / ref:.2f}x")


if __name__ == "__main__":
    main()
