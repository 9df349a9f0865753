"""The embedded offline pair: handwritten digits (ID) and generated shapes (OOD), both 1×8×8.

- `digits`: scikit-learn's bundled UCI handwritten digits (1,797 images, 10 classes, intensities
  0–16), split 80/20 with a fixed seed.
- `shapes`: 10 classes of procedurally drawn strokes and figures (bars, diagonals, squares,
  crosses, rings, checkers) at random positions, sizes and intensities with pixel noise,
  generated deterministically (seed fixed) on the same 8×8 grid and 0–16 scale. They share the
  input space with the digits but not the concepts: a genuinely different set with its own labels,
  so OOD linear probes have something to learn.

Both are normalised with the digits' mean and std, as an OOD set is fed through the ID pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.data.registry import DataBundle, register_dataset

_SPLIT_SEED = 0
_SHAPES_SEED = 1234
_SHAPES_TRAIN, _SHAPES_TEST = 1500, 500


def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2):
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _stats() -> tuple[float, float]:
    x, y = _digits_raw()
    x_train = _split(x, y)[0]
    return float(x_train.mean()), float(x_train.std())


def _bundle(name: str, x_tr, y_tr, x_te, y_te) -> DataBundle:
    mean, std = _stats()

    def norm(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((a - mean) / std).float().unsqueeze(1)  # (N, 1, 8, 8)

    return DataBundle(name, norm(x_tr), torch.from_numpy(y_tr), norm(x_te), torch.from_numpy(y_te), 10)


@register_dataset("digits")
def digits(root: Path) -> DataBundle:
    return _bundle("digits", *_split(*_digits_raw()))


def _draw(label: int, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((8, 8), np.float32)
    a, b = rng.integers(0, 3, size=2)  # offset
    n = int(rng.integers(4, 7))  # size
    if label == 0:  # horizontal bar
        img[rng.integers(0, 8), a : a + n] = 1
    elif label == 1:  # vertical bar
        img[a : a + n, rng.integers(0, 8)] = 1
    elif label == 2:  # diagonal
        for k in range(n):
            img[a + k, b + k] = 1
    elif label == 3:  # anti-diagonal
        for k in range(n):
            img[a + k, 7 - b - k] = 1
    elif label == 4:  # square outline
        s = min(n, 8 - max(a, b))
        img[a, b : b + s] = img[a + s - 1, b : b + s] = 1
        img[a : a + s, b] = img[a : a + s, b + s - 1] = 1
    elif label == 5:  # filled block
        s = min(n - 1, 8 - max(a, b))
        img[a : a + s, b : b + s] = 1
    elif label == 6:  # plus
        c, r = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        img[r, max(c - 2, 0) : c + 3] = 1
        img[max(r - 2, 0) : r + 3, c] = 1
    elif label == 7:  # X
        s = min(n, 8 - max(a, b))
        for k in range(s):
            img[a + k, b + k] = img[a + k, b + s - 1 - k] = 1
    elif label == 8:  # ring
        yy, xx = np.mgrid[0:8, 0:8]
        cy, cx, r = 3.5 + rng.uniform(-1, 1), 3.5 + rng.uniform(-1, 1), rng.uniform(2.0, 3.2)
        img[np.abs(np.hypot(yy - cy, xx - cx) - r) < 0.6] = 1
    else:  # checkerboard patch
        yy, xx = np.mgrid[0:8, 0:8]
        img[(yy + xx + a) % 2 == 0] = 1
        img[: b, :] = 0
    img *= rng.uniform(8, 16)
    img += rng.normal(0, 1.0, img.shape)
    return np.clip(img, 0, 16)


def generate_shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = np.stack([_draw(int(label), rng) for label in y])
    return x.astype(np.float32), y.astype(np.int64)


@register_dataset("shapes")
def shapes(root: Path) -> DataBundle:
    x_tr, y_tr = generate_shapes(_SHAPES_TRAIN, _SHAPES_SEED)
    x_te, y_te = generate_shapes(_SHAPES_TEST, _SHAPES_SEED + 1)
    return _bundle("shapes", x_tr, y_tr, x_te, y_te)
