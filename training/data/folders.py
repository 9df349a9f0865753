"""Class-folder datasets: ImageNet-1k, ImageNet-100 and any `folder:PATH`.

Layout: `PATH/train/<class>/*` and `PATH/test/<class>/*` (`val` accepted for `test`). ImageNet
lives at `$THERMOSCOPE_DATA/imagenet1k` and `$THERMOSCOPE_DATA/imagenet100` in that layout (the
official val set sorted into class folders); it cannot be downloaded automatically (licence), so a
missing folder is an error naming where to put it.

Large images stream through a DataLoader with timm's ImageNet transforms (`StreamBundle`). A
folder of small images (≤ 64 px, ≤ 100,000 files) is decoded once into a uint8 `DataBundle` and
takes the fast on-device path with the CIFAR augmentation and its own per-channel statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.data.images import read_image
from training.data.registry import DataBundle, StreamBundle, register_dataset

SMALL_SIDE = 64  # px: images up to this side are held in memory as tensors
SMALL_COUNT = 100_000  # files: ... if there are at most this many
IMAGENET_SIZE = 224  # px


def split_dirs(path: Path) -> tuple[Path, Path]:
    train = path / "train"
    test = next((path / n for n in ("test", "val") if (path / n).is_dir()), None)
    if not train.is_dir() or test is None:
        raise FileNotFoundError(f"{path} needs train/<class>/* and test/<class>/* (or val/<class>/*); "
                                "put the class folders there")
    return train, test


def _classes(folder: Path) -> tuple[str, ...]:
    classes = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir()))
    if not classes:
        raise FileNotFoundError(f"{folder} has no class folders; put one folder of images per class there")
    return classes


def _decode(folder: Path, classes: tuple[str, ...], side: int) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(folder), loader=read_image)
    if tuple(ds.classes) != classes:
        raise RuntimeError(f"{folder} has classes {ds.classes[:5]}…, expected {classes[:5]}…; give both splits the same class folders")
    x = np.empty((len(ds), 3, side, side), np.uint8)
    for i, (path, _) in enumerate(ds.samples):
        img = ds.loader(path)
        if img.size != (side, side):
            img = img.resize((side, side))
        x[i] = np.asarray(img).transpose(2, 0, 1)
    return torch.from_numpy(x), torch.tensor(ds.targets, dtype=torch.long)


def folder_bundle(name: str, path: Path) -> DataBundle | StreamBundle:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    train, test = split_dirs(path)
    classes = _classes(train)
    files = [p for p in train.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS]
    if not files:
        raise FileNotFoundError(f"{train} has no images; put images under {train}/<class>/")
    side = max(read_image(str(files[0])).size)
    if side > SMALL_SIDE or len(files) > SMALL_COUNT:
        return StreamBundle(name, train, test, classes, image_size=IMAGENET_SIZE)
    x_tr, y_tr = _decode(train, classes, side)
    x_te, y_te = _decode(test, classes, side)
    scaled = x_tr.float().div_(255)
    mean = tuple(float(v) for v in scaled.mean(dim=(0, 2, 3)))
    std = tuple(max(float(v), 1e-3) for v in scaled.std(dim=(0, 2, 3)))
    return DataBundle(name, x_tr, y_tr, x_te, y_te, len(classes), mean=mean, std=std, augment="cifar")


@register_dataset("folder")
def folder(path: Path) -> DataBundle | StreamBundle:
    if not path.is_dir():
        raise FileNotFoundError(f"dataset folder {path} does not exist; give a folder with train/<class>/* and test/<class>/*")
    return folder_bundle(f"folder:{path}", path)


def _imagenet(name: str, root: Path, expected: int) -> StreamBundle:
    path = root / name
    if not path.is_dir():
        raise FileNotFoundError(f"{name} not found; put its class folders in {path}/train/<wnid>/ and {path}/val/<wnid>/ "
                                "(it cannot be downloaded automatically)")
    train, test = split_dirs(path)
    classes = _classes(train)
    if len(classes) != expected:
        raise RuntimeError(f"{path}/train has {len(classes)} class folders, {name} has {expected}; fix the folder")
    return StreamBundle(name, train, test, classes, image_size=IMAGENET_SIZE)


@register_dataset("imagenet1k")
def imagenet1k(root: Path) -> StreamBundle:
    return _imagenet("imagenet1k", root, 1000)


@register_dataset("imagenet100")
def imagenet100(root: Path) -> StreamBundle:
    return _imagenet("imagenet100", root, 100)
