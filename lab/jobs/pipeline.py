"""A pack of runs, start to end: data once, a model per run, train, analyse every kept checkpoint, rows.

A solo run is a pack of one: it trains through the solo loop (training/loop.py), with DistributedDataParallel
when its job has several GPUs; a pack of several trains through the packed loop (training/packed/loop.py),
which on a CPU itself trains its runs one after another. Either way each run writes the same shards: its
epoch log (`epochs/<run_id>/epochs.parquet`, re-written after every epoch), its checkpoints, its analysis rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from analysis import AnalysisData, AnalysisError, AnalysisSettings, Split, analyse_model
from lab.records.verdict import Verdict, judge
from training import checkpoint as ckpt
from training.augment import augmentation_for
from training.config import RunConfig
from training.data import Bundle, DataBundle, load_dataset
from training.distributed import SINGLE, DistInfo, device_for, setup
from training.loop import Diverged, TrainResult, checkpoint_epochs, train
from training.models import ModelSpec, build_model
from training.packed.loop import train_packed
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


def prepare_runs(cfgs: list[RunConfig], device: torch.device | None = None) -> list[PreparedRun]:
    """Data and OOD data (loaded once: the runs of a pack share them) and one model per run.

    A pack of one joins a DDP process group when the environment describes more than one task (submitit
    with tasks_per_node > 1, or torchrun): each task then uses its own GPU."""
    lead = cfgs[0]
    dist = setup()
    if dist.active and len(cfgs) > 1:
        raise RuntimeError("a pack of several runs cannot use several GPUs per job; pack on one GPU per job "
                           "(--gpus 1) or train these runs solo")
    if dist.active and device is None:
        device = device_for(dist)
    data = load_dataset(lead.dataset, lead.data_dir)
    ood = {name: load_dataset(name, lead.data_dir) for name in lead.ood}
    # the input the model sees: the dataset's images after the recipe's transform (ViT: 224 px)
    spec = ModelSpec(data.num_classes, augmentation_for(lead.arch, data).input_shape(data))
    device = device or pick_device()
    return [PreparedRun(cfg, build_model(cfg, spec), data, ood, device, dist) for cfg in cfgs]


def prepare_run(cfg: RunConfig, device: torch.device | None = None) -> PreparedRun:
    return prepare_runs([cfg], device)[0]


def train_runs(runs: list[PreparedRun], where: Home) -> list[TrainResult | Diverged]:
    """Train the pack; per run its TrainResult, or the Diverged it ended with. Epoch rows as they come."""
    cfgs = [r.cfg for r in runs]
    logs: list[list[dict]] = [[] for _ in runs]

    def on_epoch(r: int, row: dict) -> None:
        # the whole log so far, re-written atomically: a requeued run replaces it, never duplicates
        logs[r].append(dict(row, run_id=cfgs[r].run_id))
        write_shard("epochs", logs[r], owner=cfgs[r].run_id, name="epochs", where=where)

    folders = [where.checkpoint_dir(c.run_id) for c in cfgs]
    if len(runs) == 1:
        run = runs[0]
        try:
            results: list[TrainResult | Diverged] = [train(
                run.cfg, run.model, run.data, checkpoint_dir=folders[0], on_epoch=lambda row: on_epoch(0, row),
                device=run.device, dist=run.dist)]
        except Diverged as exc:
            results = [exc]
    else:
        results = train_packed(cfgs, [r.model for r in runs], runs[0].data, checkpoint_dirs=folders,
                               on_epoch=on_epoch, device=runs[0].device)
    for r, (run, result) in enumerate(zip(runs, results)):
        # resumed: the log up to the checkpoint comes from it, so the shard holds the whole run
        if run.dist.is_main and isinstance(result, TrainResult) and len(logs[r]) != len(result.log):
            write_shard("epochs", [dict(row, run_id=cfgs[r].run_id) for row in result.log], owner=cfgs[r].run_id,
                        name="epochs", where=where)
    return results


def _sizes(b: Bundle) -> tuple[int | None, int | None]:
    """(train, test) sample counts of an in-memory bundle; None for streamed folders (not counted up front)."""
    return (len(b.y_train), len(b.y_test)) if isinstance(b, DataBundle) else (None, None)


def write_datasets(run: PreparedRun, where: Home) -> None:
    """`run_datasets`: what the run's data is (classes and sizes, from the data itself, ID and each OOD set)."""
    rows = [dict(run_id=run.cfg.run_id, dataset=name, role=role, num_classes=b.num_classes, n_train=n_tr, n_test=n_te)
            for role, name, b in (("id", run.cfg.dataset, run.data), *(("ood", n, b) for n, b in run.ood.items()))
            for n_tr, n_te in [_sizes(b)]]
    write_shard("run_datasets", rows, owner=run.cfg.run_id, name="datasets", where=where)


def write_verdict(run: PreparedRun, result: TrainResult | Diverged, where: Home) -> Verdict:
    """Judge whether the run learned (lab/records/verdict.py) and store it as its `learned` row."""
    diverged = isinstance(result, Diverged)
    last = None if diverged or not result.log else result.log[-1]
    verdict = judge(last, run.data.num_classes, run.cfg.loss, diverged=diverged)
    epoch = result.epoch if diverged else result.epochs_done
    write_shard("run_metrics", [verdict.row(run.cfg.run_id, epoch, run.cfg.dataset)], owner=run.cfg.run_id,
                name="verdict", where=where)
    return verdict


def model_inputs(b: Bundle, split: str, cfg: RunConfig, like: Bundle, max_samples: int) -> tuple:
    """(x, y) as the model takes them, without augmentation. OOD data goes through the ID data's
    pipeline (`like`: its test transform and its normalisation), as it would in deployment.
    In-memory data at its stored size is passed whole (the analysis subsamples), also where the model
    resizes its input itself (the ViT: `Augmentation.test_stored`); resized or streamed data is capped at
    `max_samples` to bound memory."""
    aug = augmentation_for(cfg.arch, like)
    if isinstance(b, DataBundle) and b.raw and like.raw:
        x, y = (b.x_train, b.y_train) if split == "train" else (b.x_test, b.y_test)
        if aug.test_stored is not None:
            return aug.test_stored(x, *aug.stats(like)), y
        limit = None if aug.size is None else max_samples
        return aug.test(x[:limit], *aug.stats(like)), y[:limit]
    limit = None if isinstance(b, DataBundle) else max_samples
    return b.inputs(split, limit, cfg.arch)


def analysis_data(run: PreparedRun, settings: AnalysisSettings) -> AnalysisData:
    def splits(b: Bundle) -> tuple[Split, Split]:
        return (Split(*model_inputs(b, "train", run.cfg, run.data, settings.max_samples)),
                Split(*model_inputs(b, "test", run.cfg, run.data, settings.max_samples)))

    id_train, id_test = splits(run.data)
    return AnalysisData(run.data.name, id_train, id_test, {name: splits(b) for name, b in run.ood.items()})


def analyse_run(run: PreparedRun, where: Home, settings: AnalysisSettings) -> None:
    """Analyse every kept checkpoint of the run (epoch 0 included) and write its rows and `analyses` records."""
    if not run.dist.is_main:
        return  # the analysis runs once, on rank 0's device
    from lab.records.analyses import Measurement, file_sha256
    from lab.records.configs import stored_column

    cfg = run.cfg
    data = analysis_data(run, settings)
    folder = where.checkpoint_dir(cfg.run_id)
    sweep_id = stored_column(where, cfg.run_id, "sweep_id") or ""
    for epoch in sorted(checkpoint_epochs(cfg)):
        path = folder / f"epoch{epoch:04d}.pt"
        if not path.exists():
            continue
        run.model.load_state_dict(ckpt.load(path)["model"])
        run.model.to(run.device)
        record = Measurement(cfg.run_id, epoch, settings, cfg.ood, sweep_id, checkpoint=str(path),
                             checkpoint_sha256=file_sha256(path))
        try:
            rows = analyse_model(run.model, run.model.layer_taps(), data, run_id=cfg.run_id, epoch=epoch,
                                 temperature=cfg.temperature, settings=settings, device=run.device)
        except AnalysisError as err:  # keep what was measured before the bad layer, then fail the run
            record.write(err.rows, where, failure=err)
            raise
        record.write(rows, where)
