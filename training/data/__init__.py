"""Dataset registry: `@register_dataset(name)`; `load_dataset(name, root)` returns a `DataBundle`
(in-memory tensors) or a `StreamBundle` (class folders through a DataLoader)."""

from training.data import embedded, folders, torchvision_sets  # noqa: F401,E402  (registers by import)
from training.data.registry import DATASETS, Bundle, DataBundle, StreamBundle, load_dataset, register_dataset

__all__ = ["DATASETS", "Bundle", "DataBundle", "StreamBundle", "load_dataset", "register_dataset"]
