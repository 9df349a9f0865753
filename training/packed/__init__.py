"""Packed training: many small runs of one shape trained at once as one stacked model.

Torch-free at import (the launcher and the app import it): `pack_groups` plans packs from configs.
The torch parts live in `stack` (the stacked engines) and `loop` (the packed epoch loop, which shares
the solo loop's optimizer, checkpoint format, resume and divergence rule: training/loop.py). The job
that runs a pack is the one that runs a solo run (lab/jobs/run_job.py: a solo run is a pack of one).
"""

from training.packed.group import BATCHNORM_ARCHS, PER_RUN_FIELDS, PackError, compatibility_key, pack_groups

__all__ = ["BATCHNORM_ARCHS", "PER_RUN_FIELDS", "PackError", "compatibility_key", "pack_groups"]
