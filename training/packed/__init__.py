"""Packed training: many small runs of one shape trained at once as one stacked model (issue #8).

Torch-free at import (the launcher and the app import it): `pack_groups` plans packs from configs,
`PackJob` is what a job runs for one pack. The torch parts live in `stack` (the stacked engines),
`loop` (the packed epoch loop) and `pipeline` (data once, rows per run).
"""

from training.packed.group import BATCHNORM_ARCHS, PER_RUN_FIELDS, PackError, compatibility_key, pack_groups
from training.packed.job import PackJob

__all__ = ["BATCHNORM_ARCHS", "PER_RUN_FIELDS", "PackError", "PackJob", "compatibility_key", "pack_groups"]
