"""Is each dataset a sweep needs on disk before a job starts? Torch-free, so the launch form's Check can ask.

For each dataset (in-distribution and OOD) of the runs, under the run's data root: embedded sets are always
there; CIFAR-10/100 and SVHN are looked for in the files training/data/torchvision_sets.py reads, and if
missing the job downloads them (when it has a network); ImageNet folders and folder:PATH sets cannot be
downloaded. The verdict:

- `warning`: missing but the job would download it (online). Launching is allowed: a machine with a network
  fetches it once into the data root.
- `error`: missing and the job cannot get it: not downloadable (ImageNet), or `THERMOSCOPE_OFFLINE=1` in
  this environment (the job inherits it and fails at once). Launching is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from thermoscope import env
from training.config import FOLDER_PREFIX, RunConfig

EMBEDDED = ("digits", "shapes")
# files the loader reads (relative to the data root), and what torchvision downloads [MB, archives as fetched]
DOWNLOADABLE: dict[str, tuple[tuple[str, ...], int]] = {
    "cifar10": (tuple(f"cifar-10-batches-py/{n}" for n in (*(f"data_batch_{i}" for i in range(1, 6)),
                                                            "test_batch")), 170),
    "cifar100": (("cifar-100-python/train", "cifar-100-python/test"), 170),
    "svhn": (("svhn/train_32x32.mat", "svhn/test_32x32.mat"), 245),
}
FOLDERS = ("imagenet100", "imagenet1k")


@dataclass(frozen=True)
class DataNote:
    dataset: str
    level: str  # 'warning' or 'error'
    text: str


def missing_files(dataset: str, root: Path) -> list[Path]:
    """Files of `dataset` absent under `root` (empty: all there, or embedded)."""
    if dataset in EMBEDDED:
        return []
    if dataset in DOWNLOADABLE:
        return [root / rel for rel in DOWNLOADABLE[dataset][0] if not (root / rel).is_file()]
    if dataset in FOLDERS:
        path = root / dataset
        return [] if (path / "train").is_dir() and any((path / n).is_dir() for n in ("val", "test")) else [path]
    if dataset.startswith(FOLDER_PREFIX):
        path = Path(dataset[len(FOLDER_PREFIX):]).expanduser()
        return [] if (path / "train").is_dir() else [path]
    return []


def check_data(configs: list[RunConfig]) -> list[DataNote]:
    """One note per dataset (and data root) the runs need that is not on disk; [] when everything is there."""
    offline = bool(env.OFFLINE.get())
    notes, seen = [], set()
    for cfg in configs:
        root = cfg.data_dir.resolve()
        for name in (cfg.dataset, *cfg.ood):
            if (name, root) in seen:
                continue
            seen.add((name, root))
            missing = missing_files(name, root)
            if missing:
                notes.append(_note(name, root, missing, offline))
    return notes


def _note(name: str, root: Path, missing: list[Path], offline: bool) -> DataNote:
    if name in DOWNLOADABLE:
        folder = missing[0].parent
        size = DOWNLOADABLE[name][1]
        if offline:
            return DataNote(name, "error", f"{name} is not under {root} and THERMOSCOPE_OFFLINE=1 forbids the "
                                           f"download: put the files at {folder} (torchvision's unpacked archive)")
        return DataNote(name, "warning", f"{name} is not under {root}: it will be downloaded (≈{size} MB) when the "
                                         f"job starts; offline, put the files at {folder}")
    if name in FOLDERS:
        return DataNote(name, "error", f"{name} is not under {root} and cannot be downloaded: put its class folders "
                                       f"in {root / name}/train/<wnid>/ and {root / name}/val/<wnid>/")
    return DataNote(name, "error", f"{name}: {missing[0]} has no train/<class>/ folder; put the class folders there")


# ---- paths typed into the dashboard's form -----------------------------------------------------------------
# The form is reachable by whoever reaches the dashboard, so what it says of a path must not tell a private
# folder from a missing one (a path oracle), and it must not read or write outside the folders the owner
# allowed. One rule, one message: a typed path is used only if, with every symlink resolved, it lies under an
# allowed data root and is a readable file (pretrained) or folder (folder:PATH sets); else one line that says
# the same whatever the reason. The command line (the owner typing) keeps its detailed messages.

PATH_KINDS = {"pretrained": "file", "data_root": "root", "dataset": "folder", "ood": "folder"}


def data_roots() -> list[Path]:
    """THERMOSCOPE_DATA_ROOTS, else the home's data folder and $THERMOSCOPE_DATA; symlinks resolved."""
    roots = env.DATA_ROOTS.get() or [str(Path(env.HOME.get()).expanduser() / "data"), env.DATA.get()]
    return [Path(os.path.realpath(Path(r).expanduser())) for r in roots]


def usable_path(text: str, kind: str, roots: list[Path] | None = None) -> bool:
    """May the form use this typed path? `kind`: 'file', 'folder' or 'root' (a data root: may not exist yet,
    a job creates it when it downloads). Symlinks are resolved first, so a link cannot lead out of a root."""
    if not text or "\0" in text:
        return False
    real = Path(os.path.realpath(Path(text).expanduser()))
    if not any(real == root or real.is_relative_to(root) for root in (roots if roots is not None else data_roots())):
        return False
    if kind == "root":
        return not real.exists() or (real.is_dir() and os.access(real, os.R_OK | os.X_OK))
    if kind == "file":
        return real.is_file() and os.access(real, os.R_OK)
    return real.is_dir() and os.access(real, os.R_OK | os.X_OK)


def path_refusal(field: str, roots: list[Path] | None = None) -> str:
    """The one message for any typed path the form cannot use, whatever the reason."""
    shown = ", ".join(str(r) for r in (roots if roots is not None else data_roots()))
    return (f"{field}: cannot use that path; the dashboard takes only existing, readable files and folders under "
            f"the allowed data roots ({shown}; set THERMOSCOPE_DATA_ROOTS to change them), or use the command line")


def typed_paths(field: str, value) -> list[str]:
    """The paths in one config value the form was given: folder:PATH sets, a pretrained file, a data root."""
    if field in ("dataset", "ood"):
        names = value if isinstance(value, tuple) else (value,)
        return [n[len(FOLDER_PREFIX):] for n in names if isinstance(n, str) and n.startswith(FOLDER_PREFIX)]
    if field in ("pretrained", "data_root"):
        return [value] if isinstance(value, str) and value else []
    return []
