"""Checkpoints on disk: atomic writes, resume from the last complete one.

A checkpoint holds the model, optimiser, scheduler and every RNG state the loop uses, so a CPU
run killed at any moment and resumed finishes with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def last_checkpoint(folder: Path) -> Path | None:
    path = folder / "last.pt"
    return path if path.exists() else None


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)
