"""What a dataset is to the trainer.

Two shapes of data, one registry:

- `DataBundle`: the split lives in memory as tensors and moves to the device whole. Either float32
  already normalised (the embedded pair: `mean is None`), or raw uint8 (N, C, H, W) with the
  dataset's per-channel `mean`/`std` (CIFAR, SVHN: 50,000 × 3 × 32 × 32 bytes = 150 MB), which the
  fast path crops, flips and normalises per sample on the device (training/augment.py, fast.py).
- `StreamBundle`: the split is too big for memory (ImageNet folders). It holds the class-folder
  roots and a torchvision `ImageFolder` factory; batches come from a DataLoader with CPU
  transforms (timm's for ImageNet). The same loop trains on both (training/fast.py: `make_feed`).

`augment` names the dataset's default train augmentation in training/augment.py's registry
('cifar', 'crop', 'imagenet', 'none'); an architecture may override it (ViT fine-tuning).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from training.config import FOLDER_PREFIX
from training.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, eq=False)
class DataBundle:
    """In-memory splits: x (N, C, H, W) float32 normalised, or uint8 raw with `mean`/`std`; y int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...] | None = None  # per channel, on the [0, 1] scale; None = x already normalised
    std: tuple[float, ...] | None = None
    augment: str = "none"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def raw(self) -> bool:
        return self.mean is not None

    def to(self, device: torch.device | str) -> DataBundle:
        return replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                       x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Model input from stored values: uint8 → [0, 1] → (x − mean) / std; float passes through."""
        if not self.raw:
            return x.float()
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std

    def inputs(self, split: str, limit: int | None = None, arch: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """Model input without augmentation (the test transform of `arch`'s recipe) for 'train' or
        'test': the first `limit` samples."""
        from training.augment import augmentation_for

        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        aug = augmentation_for(arch, self)
        return aug.test(x[:limit], *aug.stats(self)), y[:limit]


@dataclass(frozen=True, eq=False)
class StreamBundle:
    """Class folders read through a DataLoader: `train_dir/<class>/*`, `test_dir/<class>/*`."""

    name: str
    train_dir: Path
    test_dir: Path
    classes: tuple[str, ...]
    image_size: int = 224  # px, the model's input side
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    augment: str = "imagenet"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def raw(self) -> bool:
        return True

    def dataset(self, split: str, transform):
        from torchvision.datasets import ImageFolder

        from training.data.images import read_image

        folder = self.train_dir if split == "train" else self.test_dir
        ds = ImageFolder(str(folder), transform=transform, loader=read_image)
        if tuple(ds.classes) != self.classes:
            raise RuntimeError(f"{folder} has classes {ds.classes[:5]}…, {self.train_dir} has {self.classes[:5]}…; "
                               "give both splits the same class folders")
        return ds

    def to(self, device: torch.device | str) -> StreamBundle:
        return self  # streamed: batches move to the device one at a time

    def inputs(self, split: str, limit: int | None = None, arch: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """Model input without augmentation: an evenly spaced subset of `limit` samples (all classes)."""
        from training.augment import cpu_transform

        ds = self.dataset(split, cpu_transform(self, "test", arch))
        n = len(ds)
        picks = range(n) if limit is None or limit >= n else torch.linspace(0, n - 1, limit).long().tolist()
        xs, ys = zip(*(ds[i] for i in picks))
        return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


Bundle = DataBundle | StreamBundle
DATASETS: Registry = Registry("dataset")


def register_dataset(name: str):
    """Register `loader(root: Path) -> DataBundle | StreamBundle` under `name`."""
    return DATASETS.register(name)


def load_dataset(name: str, root: Path) -> Bundle:
    if name.startswith(FOLDER_PREFIX):
        return DATASETS.get("folder")(Path(name[len(FOLDER_PREFIX):]).expanduser())
    return DATASETS.get(name)(Path(root))
