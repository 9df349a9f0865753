"""The data an outside network is measured on, fed the way that network was fed.

Class folders (`folder:PATH`, with train/<class>/* and test/<class>/* or val/<class>/*) go through a
`Preprocessing`: resize the shorter side, centre-crop the model's input size, scale to [0, 1], normalise.
Its values come, in this order of precedence, from the flags (`--input-size`, `--crop-pct`, `--mean`,
`--std`, `--interpolation`), the model's own pretrained config (timm's data config; for torchvision, its
weights' transforms), or the data itself (stored size, per-channel statistics of the ID train split).
OOD sets go through the ID set's preprocessing, as they would in deployment. Registered datasets (the
embedded digits/shapes, CIFAR, SVHN) are fed exactly as Thermoscope feeds its own runs.

Each split is capped at `max_samples` by the analysis's own seeded subset rule before any image is decoded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from thermoscope.fields import ConfigError
from training.config import FOLDER_PREFIX
from training.registry import Registry

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    input_size: int | None = None  # px, the square the model sees (None: the images' stored size)
    crop_pct: float = 1.0  # the shorter side is resized to input_size / crop_pct before the centre crop
    mean: tuple[float, ...] | None = None  # per channel on the [0, 1] scale (None: the ID train split's own)
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    source: str = "data"  # where the values came from: 'timm', 'torchvision', 'flags', 'data'

    def __post_init__(self) -> None:
        if self.input_size is not None and self.input_size < 1:
            raise ConfigError(f"--input-size must be a positive number of pixels, got {self.input_size}")
        if not (math.isfinite(self.crop_pct) and 0 < self.crop_pct <= 1):
            raise ConfigError(f"--crop-pct must be in (0, 1], got {self.crop_pct}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"--interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and (not value or (name == "std" and min(value) <= 0)):
                raise ConfigError(f"--{name} wants one positive number per channel, e.g. 0.5,0.5,0.5; got {value}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def transform(self, mean: tuple[float, ...], std: tuple[float, ...]):
        import torchvision.transforms as T

        steps = []
        if self.input_size is not None:
            mode = getattr(T.InterpolationMode, self.interpolation.upper())
            steps += [T.Resize(int(math.floor(self.input_size / self.crop_pct)), interpolation=mode),
                      T.CenterCrop(self.input_size)]
        return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


# the model's own pretrained preprocessing, per model source (none for module: factories)
PRETRAINED: Registry = Registry("preprocessing source")


@PRETRAINED.register("timm")
def _timm_config(model, name: str) -> Preprocessing | None:
    from timm.data import resolve_data_config

    cfg = resolve_data_config({}, model=model)
    return Preprocessing(int(cfg["input_size"][-1]), float(cfg.get("crop_pct") or 1.0), tuple(cfg["mean"]),
                         tuple(cfg["std"]), str(cfg.get("interpolation") or "bilinear"), "timm")


@PRETRAINED.register("torchvision")
def _torchvision_config(model, name: str) -> Preprocessing | None:
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None
    tf = weights.DEFAULT.transforms()  # an ImageClassification preset: its numbers, no download
    crop, resize = int(tf.crop_size[0]), int(tf.resize_size[0])
    return Preprocessing(crop, crop / resize, tuple(tf.mean), tuple(tf.std), tf.interpolation.value, "torchvision")


@PRETRAINED.register("module")
def _no_config(model, name: str) -> Preprocessing | None:
    return None


def preprocessing_for(source: str, name: str, model, flags: dict[str, Any]) -> Preprocessing:
    """The model's pretrained preprocessing (or the data's own), with the given flags on top."""
    base = PRETRAINED.get(source)(model, name) or Preprocessing()
    given = {k: v for k, v in flags.items() if v is not None}
    return replace(base, **given, source="flags" if given and base.source == "data" else
                   base.source + (" + flags" if given else ""))


def parse_floats(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.replace("+", ",").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{flag} wants numbers separated by commas, e.g. 0.485,0.456,0.406; got {text!r}") from None


# ---- loading -----------------------------------------------------------------------------------------

def _subset(n: int, max_samples: int, seed: int) -> list[int]:
    from analysis.capture import sample_subset

    idx = sample_subset(n, max_samples, seed)
    return list(range(n)) if idx is None else idx.tolist()


def _folder_splits(path: Path):
    from torchvision.datasets import ImageFolder

    from training.data.folders import split_dirs

    train_dir, test_dir = split_dirs(path)
    train, test = ImageFolder(str(train_dir)), ImageFolder(str(test_dir))
    if train.classes != test.classes:
        raise ConfigError(f"{path}: train and test hold different class folders; give both the same classes")
    return train, test


def _channel_stats(ds, picks: list[int]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import torch
    import torchvision.transforms.functional as TF

    x = torch.stack([TF.to_tensor(ds[i][0].convert("RGB")) for i in picks[:2000]])
    return tuple(float(v) for v in x.mean(dim=(0, 2, 3))), tuple(max(float(v), 1e-3) for v in x.std(dim=(0, 2, 3)))


def _decode(ds, picks: list[int], transform):
    import torch

    xs, ys = [], []
    for i in picks:
        image, label = ds[i]
        xs.append(transform(image.convert("RGB")))
        ys.append(label)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


@dataclass
class LoadedData:
    data: Any  # AnalysisData
    num_classes: int  # classes of the ID data
    sizes: dict[str, tuple]  # dataset -> (classes, train samples, test samples) as found (None: streamed)
    preprocessing: Preprocessing


def load(dataset: str, ood: tuple[str, ...], prep: Preprocessing, max_samples: int, seed: int,
         data_root: Path) -> LoadedData:
    """AnalysisData for `dataset` and each OOD set; folder sets through `prep` (its missing statistics from the ID
    train split), registered sets as Thermoscope feeds them."""
    from analysis import AnalysisData, Split

    sizes: dict[str, tuple] = {}
    splits: dict[str, tuple[Split, Split]] = {}
    stats: tuple | None = None
    for name in (dataset, *ood):
        if name.startswith(FOLDER_PREFIX):
            path = Path(name[len(FOLDER_PREFIX):]).expanduser()
            if not path.is_dir():
                raise ConfigError(f"dataset folder {path} does not exist; give folder:PATH with train/<class>/* and "
                                  "test/<class>/*")
            try:
                train, test = _folder_splits(path)
            except FileNotFoundError as exc:
                raise ConfigError(str(exc)) from None
            tr, te = _subset(len(train), max_samples, seed), _subset(len(test), max_samples, seed)
            if stats is None:  # the ID set comes first: OOD sets are normalised like it
                own = _channel_stats(train, tr) if prep.mean is None or prep.std is None else (prep.mean, prep.std)
                stats = (prep.mean or own[0], prep.std or own[1])
                prep = replace(prep, mean=stats[0], std=stats[1])
            tf = prep.transform(*stats)
            splits[name] = (Split(*_decode(train, tr, tf)), Split(*_decode(test, te, tf)))
            sizes[name] = (len(train.classes), len(train), len(test))
        else:
            from training.config import DATASETS
            from training.data import DataBundle, load_dataset

            if name not in DATASETS:
                raise ConfigError(f"unknown dataset {name!r}; give folder:PATH or one of {', '.join(DATASETS)}")
            b = load_dataset(name, data_root)
            in_memory = isinstance(b, DataBundle)  # whole: the analysis takes its own seeded subset
            limit = None if in_memory else max_samples
            splits[name] = (Split(*b.inputs("train", limit)), Split(*b.inputs("test", limit)))
            sizes[name] = (b.num_classes, *((len(b.y_train), len(b.y_test)) if in_memory else (None, None)))
    id_train, id_test = splits.pop(dataset)
    return LoadedData(AnalysisData(dataset, id_train, id_test, splits), sizes[dataset][0], sizes, prep)
