"""CIFAR-10, CIFAR-100 and SVHN as uint8 tensors (the fast path), each with its own normalisation.

Files are read by this module from torchvision's on-disk formats (the CIFAR python pickles, SVHN's
.mat files) so a test can write a small file in the same format. When they are missing,
torchvision's dataset class downloads them into `root` (`download=True`); with no network (or
`THERMOSCOPE_OFFLINE=1`, which skips the attempt) the error names the directory to put them in.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from thermoscope import env

from training.data.registry import DataBundle, register_dataset

# per-channel mean/std of each training set on the [0, 1] scale (the values the literature uses)
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
SVHN_STATS = ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970))


def ensure_files(root: Path, needed: list[Path], download, what: str, hint: str = "") -> None:
    """Download with torchvision when a file is missing; one-line error naming the folder if that fails."""
    if all(p.exists() for p in needed):
        return
    try:
        if env.OFFLINE.get():  # compute nodes without a network: fail at once
            raise ConnectionError("THERMOSCOPE_OFFLINE=1")
        root.mkdir(parents=True, exist_ok=True)
        download(str(root))
    except Exception as exc:  # no network, a proxy, a checksum: all end the same way for the user
        raise FileNotFoundError(
            f"{what} not found in {root} and the download failed ({type(exc).__name__}: {str(exc)[:80]}); "
            f"put {hint or ', '.join(p.name for p in needed)} in {root} (or set THERMOSCOPE_DATA / data_root)") from None
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{what}: {', '.join(missing)} still missing in {root} after download; put them there")


def _read_cifar(folder: Path, files: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for name in files:
        with open(folder / name, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(entry[label_key])
    return torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.long)


def _cifar(name: str, root: Path, folder_name: str, train_files: list[str], test_file: str, label_key: str,
           classes: int, stats, tv_class: str) -> DataBundle:
    import torchvision.datasets as tvd

    folder = root / folder_name
    ensure_files(root, [folder / f for f in (*train_files, test_file)],
                 lambda r: getattr(tvd, tv_class)(r, train=True, download=True), name,
                 hint=f"{folder_name}/ (the unpacked torchvision archive)")
    x_tr, y_tr = _read_cifar(folder, train_files, label_key)
    x_te, y_te = _read_cifar(folder, [test_file], label_key)
    return DataBundle(name, x_tr, y_tr, x_te, y_te, classes, mean=stats[0], std=stats[1], augment="cifar")


@register_dataset("cifar10")
def cifar10(root: Path) -> DataBundle:
    return _cifar("cifar10", root, "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                  "labels", 10, CIFAR10_STATS, "CIFAR10")


@register_dataset("cifar100")
def cifar100(root: Path) -> DataBundle:
    return _cifar("cifar100", root, "cifar-100-python", ["train"], "test", "fine_labels", 100, CIFAR100_STATS,
                  "CIFAR100")


def _read_svhn(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.io import loadmat

    mat = loadmat(str(path))
    x = np.transpose(mat["X"], (3, 2, 0, 1)).astype(np.uint8)  # (32, 32, 3, N) -> (N, 3, 32, 32)
    y = mat["y"].astype(np.int64).reshape(-1) % 10  # SVHN stores digit 0 as label 10
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


@register_dataset("svhn")
def svhn(root: Path) -> DataBundle:
    import torchvision.datasets as tvd

    folder = root / "svhn"
    files = [folder / "train_32x32.mat", folder / "test_32x32.mat"]

    def download(_: str) -> None:
        for split in ("train", "test"):
            tvd.SVHN(str(folder), split=split, download=True)

    ensure_files(folder, files, download, "svhn")
    x_tr, y_tr = _read_svhn(files[0])
    x_te, y_te = _read_svhn(files[1])
    # no horizontal flip: a mirrored digit is another glyph
    return DataBundle("svhn", x_tr, y_tr, x_te, y_te, 10, mean=SVHN_STATS[0], std=SVHN_STATS[1], augment="crop")
