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
    """A checkpoint this code wrote (plain types, tensors and optimizer state: weights_only=True reads it all);
    a file that needs more is refused (training/safe_load.py), so a planted `last.pt` cannot run code."""
    from training.safe_load import load_file

    return load_file(path)
