"""The input pipeline the loop reads batches from, and the GPU speed switches.

- `TensorFeed` (the fast path): an in-memory `DataBundle` lives on the device (CIFAR as uint8:
  150 MB); each step gathers its batch there and crops/flips/normalises it per sample on the
  device (training/augment.py), in channels_last layout when asked. No CPU work, no copies.
- `LoaderFeed`: a `StreamBundle` (ImageNet folders) through a DataLoader with CPU workers running
  timm's transforms.

Both draw the epoch's sample order from a generator seeded by (seed, epoch) and augmentation from
another, so a run resumed at an epoch boundary sees exactly the batches an uninterrupted run
would. Under DistributedDataParallel every rank draws the same global batch and keeps its own
contiguous share (`torch.tensor_split`), so the union over ranks is the single-process batch (for
in-memory data the augmentation draws match too; streamed data's workers draw per rank).

Speed switches (`Speed.for_device`): on CUDA channels_last and bf16 autocast are on by default;
torch.compile is opt-in (`THERMOSCOPE_COMPILE=1`: a first compile takes minutes, worth it only
for long runs). Environment overrides: `THERMOSCOPE_AMP=off|bf16`, `THERMOSCOPE_CHANNELS_LAST=0|1`.
On the CPU all three are off (bf16 on CPU is slower and changes the numerics the tests compare).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from thermoscope import env
from training.augment import Augmentation, augmentation_for
from training.data.registry import DataBundle, StreamBundle

Batch = tuple[torch.Tensor, torch.Tensor, int]  # (x local, y local, size of the global batch)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """The seed of one epoch's random stream (0: sample order, 1: augmentation)."""
    return seed * 1_000_003 + epoch + stream * 7_919_000_003


@dataclass(frozen=True)
class Speed:
    channels_last: bool = False
    amp: bool = False  # bf16 autocast for forward/backward (weights and optimizer stay float32)
    compile: bool = False

    @classmethod
    def for_device(cls, device: torch.device) -> Speed:
        cuda = torch.device(device).type == "cuda"

        def setting(var: env.EnvVar, default: bool) -> bool:
            value = var.get()
            return default if value is None else value

        return cls(channels_last=setting(env.CHANNELS_LAST, cuda), amp=cuda and setting(env.AMP, True),
                   compile=cuda and env.COMPILE.get())

    def autocast(self, device: torch.device):
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=self.amp)


def _shard(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    return idx if world == 1 else torch.tensor_split(idx, world)[rank]


class TensorFeed:
    def __init__(self, bundle: DataBundle, aug: Augmentation, device: torch.device, channels_last: bool = False):
        self.data = bundle.to(device)
        self.aug = aug
        self.mean, self.std = aug.stats(bundle) if bundle.raw else (None, None)
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.n_train = len(bundle.y_train)
        self.n_test = len(bundle.y_test)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        # the on-device crop yields NHWC strides; make the layout the one asked for, so a model in
        # NCHW never silently runs channels_last kernels (and the benchmark compares like with like)
        if x.dim() != 4:
            return x
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def train_batches(self, epoch: int, seed: int, batch_size: int, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        order = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        order = order.to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(epoch_seed(seed, epoch, 1))
        for i in range(0, self.n_train, batch_size):
            idx = order[i : i + batch_size]
            # augment the whole global batch, then keep this rank's share: the draws per sample are
            # then the same as in a single-process run (augmentation is cheap next to the model)
            x = self.aug.train(self.data.x_train[idx], self.mean, self.std, gen)
            mine = _shard(torch.arange(len(idx), device=self.device), rank, world)
            yield self._layout(x[mine]), self.data.y_train[idx][mine], len(idx)

    def test_batches(self, batch_size: int = 1024) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, self.n_test, batch_size):
            x = self.aug.test(self.data.x_test[i : i + batch_size], self.mean, self.std)
            yield self._layout(x), self.data.y_test[i : i + batch_size]

    def eval_batch(self, n: int) -> torch.Tensor:
        """The fixed evaluation batch: the first n test samples, test transform."""
        return self._layout(self.aug.test(self.data.x_test[:n], self.mean, self.std))


class LoaderFeed:
    def __init__(self, bundle: StreamBundle, aug: Augmentation, device: torch.device, channels_last: bool = False,
                 workers: int | None = None, arch: str = ""):
        self.bundle, self.aug, self.arch = bundle, aug, arch
        self.device = torch.device(device)
        self.channels_last = channels_last
        if workers is None:
            workers = env.WORKERS.get()
        self.workers = workers if workers is not None else min(8, os.cpu_count() or 1)
        self.train_set = bundle.dataset("train", aug.cpu(bundle, "train"))
        self.test_set = bundle.dataset("test", aug.cpu(bundle, "test"))
        self.n_train, self.n_test = len(self.train_set), len(self.test_set)
        self._eval: torch.Tensor | None = None

    def _move(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _loader(self, dataset, batches: list[list[int]], seed: int):
        from torch.utils.data import DataLoader

        # timm's crops draw from Python's `random`: seeded here for workers=0, by DataLoader per worker
        random.seed(seed)
        return DataLoader(dataset, batch_sampler=batches, num_workers=self.workers,
                          pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(seed),
                          persistent_workers=False)

    def train_batches(self, epoch: int, seed: int, batch_size: int, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        order = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        batches = [order[i : i + batch_size] for i in range(0, self.n_train, batch_size)]
        local = [_shard(b, rank, world).tolist() for b in batches]
        aug_seed = epoch_seed(seed, epoch, 1) + rank
        loader = self._loader(self.train_set, local, aug_seed)
        # with workers=0 the transforms draw from this process's torch RNG: fork it, seeded by (seed, epoch)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(aug_seed)
            for (x, y), full in zip(loader, batches):
                yield self._move(x), y.to(self.device, non_blocking=True), len(full)

    def test_batches(self, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = [list(range(i, min(i + batch_size, self.n_test))) for i in range(0, self.n_test, batch_size)]
        for x, y in self._loader(self.test_set, batches, 0):
            yield self._move(x), y.to(self.device, non_blocking=True)

    def eval_batch(self, n: int) -> torch.Tensor:
        """The fixed evaluation batch: n evenly spaced test samples (folders are sorted by class)."""
        if self._eval is None:
            self._eval = self.bundle.inputs("test", n, self.arch)[0]
        return self._move(self._eval)


def make_feed(bundle: DataBundle | StreamBundle, arch: str, device: torch.device, channels_last: bool = False):
    aug = augmentation_for(arch, bundle)
    if isinstance(bundle, StreamBundle):
        return LoaderFeed(bundle, aug, device, channels_last, arch=arch)
    return TensorFeed(bundle, aug, device, channels_last)
