"""Reading checkpoint files without running code: every load in Thermoscope goes through `load_file`.

`torch.load(..., weights_only=False)` unpickles arbitrary Python objects, and a pickle can name any
callable to run while it loads (its `__reduce__`): a checkpoint written by someone else, or downloaded,
would run code as whoever loads it. So files are read with `weights_only=True` (tensors, dicts, lists,
numbers, strings, the optimizer's and scheduler's plain state: exactly what Thermoscope's own checkpoints
hold), and `.safetensors` files with safetensors (which has no code path at all).

A file that needs more, typically a whole pickled model (`torch.save(model, PATH)`), is refused with one
line saying how to re-save it as weights. The owner of such a file may load it anyway with an explicit
`--trust-pickle` on the command line (`analyse-model`, `analyse CHECKPOINT`); nothing the dashboard or a
launched sweep reads can ask for that.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from thermoscope.fields import ConfigError

RESAVE = ("re-save its weights where you trust the file: torch.save(model.state_dict(), PATH) (or "
          "safetensors.torch.save_file(model.state_dict(), PATH.safetensors))")


class UnsafeCheckpoint(ConfigError):
    """A checkpoint that only loads by unpickling arbitrary Python objects (it could run code)."""


def refusal(path: str | Path, flag: bool = False) -> str:
    """The one line said of a file that needs full unpickling; `flag`: the command offers --trust-pickle."""
    trust = "; or pass --trust-pickle if you made this file yourself" if flag else ""
    return (f"{path}: holds pickled Python objects (e.g. a whole model), not only weights, and loading it could "
            f"run code; {RESAVE}{trust}")


def load_file(path: str | Path, *, trust_pickle: bool = False, offer_flag: bool = False) -> Any:
    """The object in a checkpoint file, on the CPU: a `.safetensors` file's tensors, or a torch.save file read
    with weights_only=True. UnsafeCheckpoint (one line) for a file that needs full unpickling, unless
    `trust_pickle` (only ever set by a flag the owner typed). Other read errors propagate."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as load_safetensors

        return load_safetensors(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trust_pickle:
            raise UnsafeCheckpoint(refusal(path, offer_flag)) from None
    return torch.load(path, map_location="cpu", weights_only=False)  # the owner said so, on the command line
