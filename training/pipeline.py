"""One run, start to end: build data and model, train, analyse every kept checkpoint, write rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training import checkpoint as ckpt
from training.augment import augmentation_for
from training.config import RunConfig
from training.data import Bundle, DataBundle, load_dataset
from training.distributed import SINGLE, DistInfo, device_for, setup
from training.loop import TrainResult, checkpoint_epochs, train
from training.models import ModelSpec, build_model
from warehouse import Home, write_shard


@dataclass
class PreparedRun:
    cfg: RunConfig
    model: nn.Module
    data: Bundle
    ood: dict[str, Bundle]
    device: torch.device
    dist: DistInfo = SINGLE  # one task per GPU under DDP; rank 0 alone writes rows and checkpoints


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def prepare_run(cfg: RunConfig, where: Home, device: torch.device | None = None) -> PreparedRun:
    """Data, OOD data and the model. Joins a DDP process group when the environment describes more
    than one task (submitit with tasks_per_node > 1, or torchrun): each task then uses its own GPU."""
    dist = setup()
    if dist.active and device is None:
        device = device_for(dist)
    data = load_dataset(cfg.dataset, cfg.data_dir)
    ood = {name: load_dataset(name, cfg.data_dir) for name in cfg.ood}
    # the input the model sees: the dataset's images after the recipe's transform (ViT: 224 px)
    model = build_model(cfg, ModelSpec(data.num_classes, augmentation_for(cfg.arch, data).input_shape(data)))
    return PreparedRun(cfg, model, data, ood, device or pick_device(), dist)


def train_run(run: PreparedRun, where: Home) -> TrainResult:
    cfg = run.cfg
    log: list[dict] = []

    def on_epoch(row: dict) -> None:
        # the whole log so far, re-written atomically: a requeued run replaces it, never duplicates
        log.append(dict(row, run_id=cfg.run_id))
        write_shard("epochs", log, owner=cfg.run_id, name="epochs", where=where)

    result = train(cfg, run.model, run.data, checkpoint_dir=where.checkpoint_dir(cfg.run_id),
                   on_epoch=on_epoch, device=run.device, dist=run.dist)
    if run.dist.is_main and len(log) != len(result.log):  # resumed: write the log from the checkpoint too
        write_shard("epochs", [dict(r, run_id=cfg.run_id) for r in result.log], owner=cfg.run_id,
                    name="epochs", where=where)
    return result


def model_inputs(b: Bundle, split: str, cfg: RunConfig, like: Bundle) -> tuple:
    """(x, y) as the model takes them, without augmentation. OOD data goes through the ID data's
    pipeline (`like`: its test transform and its normalisation), as it would in deployment.
    In-memory data at its stored size is passed whole (the analysis subsamples), also where the model
    resizes its input itself (the ViT: `Augmentation.test_stored`); resized or streamed data is capped at
    cfg.analysis_samples to bound memory."""
    aug = augmentation_for(cfg.arch, like)
    if isinstance(b, DataBundle) and b.raw and like.raw:
        x, y = (b.x_train, b.y_train) if split == "train" else (b.x_test, b.y_test)
        if aug.test_stored is not None:
            return aug.test_stored(x, *aug.stats(like)), y
        limit = None if aug.size is None else cfg.analysis_samples
        return aug.test(x[:limit], *aug.stats(like)), y[:limit]
    limit = None if isinstance(b, DataBundle) else cfg.analysis_samples
    return b.inputs(split, limit, cfg.arch)


def analysis_data(run: PreparedRun):
    from analysis import AnalysisData, Split

    def splits(b: Bundle) -> tuple:
        return (Split(*model_inputs(b, "train", run.cfg, run.data)),
                Split(*model_inputs(b, "test", run.cfg, run.data)))

    id_train, id_test = splits(run.data)
    return AnalysisData(run.data.name, id_train, id_test, {name: splits(b) for name, b in run.ood.items()})


def analysis_settings(cfg: RunConfig):
    from analysis import AnalysisSettings

    return AnalysisSettings(probe_epochs=cfg.probe_epochs, max_samples=cfg.analysis_samples,
                            max_features=cfg.max_features, kappa_threshold=cfg.kappa_threshold)


def analyse_run(run: PreparedRun, where: Home) -> None:
    """Analyse every kept checkpoint of the run (epoch 0 included) and write its rows."""
    from analysis import AnalysisError, analyse_model

    if not run.dist.is_main:
        return  # the analysis runs once, on rank 0's device
    cfg = run.cfg
    data, settings = analysis_data(run), analysis_settings(cfg)
    folder = where.checkpoint_dir(cfg.run_id)
    for epoch in sorted(checkpoint_epochs(cfg)):
        path = folder / f"epoch{epoch:04d}.pt"
        if not path.exists():
            continue
        run.model.load_state_dict(ckpt.load(path)["model"])
        run.model.to(run.device)
        try:
            rows = analyse_model(run.model, run.model.layer_taps(), data, run_id=cfg.run_id, epoch=epoch,
                                 temperature=cfg.temperature, settings=settings, device=run.device)
        except AnalysisError as err:  # keep what was measured before the bad layer, then fail the run
            _write_analysis(err.rows, cfg.run_id, epoch, where)
            raise
        _write_analysis(rows, cfg.run_id, epoch, where)


def _write_analysis(rows: dict[str, list[dict]], run_id: str, epoch: int, where: Home) -> None:
    for table, table_rows in rows.items():
        if table_rows:
            write_shard(table, table_rows, owner=run_id, name=f"analysis-e{epoch:04d}", where=where)
