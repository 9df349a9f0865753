"""Generated class-folder image sets (`folder:PATH` datasets) whose answer is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_learnable_folders(root: Path, classes: int = 3, train: int = 40, test: int = 20, side: int = 8,
                            seed: int = 0) -> Path:
    """`root/{train,test}/class_k/*.png`: class k is a bright k-th horizontal band on dark noise, so a small
    MLP separates the classes within a few epochs (and a network that stays at chance plainly did not learn)."""
    rng = np.random.default_rng(seed)
    band = max(1, side // classes)
    for split, n in (("train", train), ("test", test)):
        for k in range(classes):
            folder = root / split / f"class_{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 60, (side, side, 3), dtype=np.uint8)
                img[k * band : (k + 1) * band] = rng.integers(200, 256, (band, side, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    return root
