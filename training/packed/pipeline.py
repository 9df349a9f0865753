"""A pack, start to end of training: data loaded once, one member per run, each run's epoch rows written
to the same shard (`epochs/<run_id>/epochs.parquet`) the solo `pipeline.train_run` writes."""

from __future__ import annotations

import torch

from training.config import RunConfig
from training.data import load_dataset
from training.loop import Diverged, TrainResult
from training.models import ModelSpec, build_model
from training.packed.loop import train_packed
from training.pipeline import PreparedRun, pick_device
from warehouse import Home, write_shard


def prepare_pack(cfgs: list[RunConfig], device: torch.device | None = None) -> list[PreparedRun]:
    """One PreparedRun per config sharing one copy of the data; each model built by `build_model(cfg)`."""
    lead = cfgs[0]
    data = load_dataset(lead.dataset, lead.data_dir)
    ood = {name: load_dataset(name, lead.data_dir) for name in lead.ood}
    spec = ModelSpec(data.num_classes, data.input_shape)
    device = device or pick_device()
    return [PreparedRun(cfg, build_model(cfg, spec), data, ood, device) for cfg in cfgs]


def train_pack(runs: list[PreparedRun], where: Home) -> list[TrainResult | Diverged]:
    cfgs = [r.cfg for r in runs]
    logs: list[list[dict]] = [[] for _ in runs]

    def on_epoch(r: int, row: dict) -> None:
        # the whole log so far, re-written atomically (as train_run does): a requeue replaces, never duplicates
        logs[r].append(dict(row, run_id=cfgs[r].run_id))
        write_shard("epochs", logs[r], owner=cfgs[r].run_id, name="epochs", where=where)

    results = train_packed(cfgs, [r.model for r in runs], runs[0].data,
                           checkpoint_dirs=[where.checkpoint_dir(c.run_id) for c in cfgs],
                           on_epoch=on_epoch, device=runs[0].device)
    for r, (cfg, result) in enumerate(zip(cfgs, results)):
        if isinstance(result, TrainResult) and len(logs[r]) != len(result.log):  # resumed: the earlier rows too
            write_shard("epochs", [dict(row, run_id=cfg.run_id) for row in result.log], owner=cfg.run_id,
                        name="epochs", where=where)
    return results
