"""One analysis task: measure one checkpoint and write its rows. The unit an analysis job's array is made of.

Two kinds, one registry (`TASKS`), each a frozen dataclass that travels to the job as a plain dict:

- `CheckpointTask`: a checkpoint Thermoscope kept (`checkpoints/<run_id>/epochNNNN.pt`), measured with the
  full settings and OOD sets decided when it was planned (the run's own, `--set`/`--ood` on top);
- `ModelTask`: a network trained elsewhere (`analyse-model`): model spec, weights file, data, preprocessing,
  tap choice; it becomes an outside run (lab/outside/runs.py) of its own.

Planning needs no data decoded: `checkpoint_task()` reads a kept checkpoint's run from its shards, and
`ModelTask.prepare()` builds the model with its weights and preprocessing; either then tells from the
`analyses` record (`done()`) whether the checkpoint is already measured exactly so. `run()` measures and writes.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.settings import AnalysisSettings
from lab.records.analyses import Measurement, already_measured, file_sha256, measuring_spec, task_id
from thermoscope.fields import ConfigError
from thermoscope.status import RunStatus
from training.registry import Registry
from warehouse import Home

TASKS: Registry = Registry("analysis task kind")


def progress_printer(label: str) -> Callable[[str, int, int], None]:
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {label}: {stage} ({done}/{total})", file=sys.stderr, flush=True)

    return progress


def pick_device(device: str = "auto"):
    import torch

    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)


def to_dict(task) -> dict[str, Any]:
    return {"kind": task.kind, **{f.name: getattr(task, f.name) for f in dataclasses.fields(task)}}


def from_dict(values: dict[str, Any]):
    values = dict(values)
    cls = TASKS.get(values.pop("kind"))
    return cls(**values)


def _measure(record: Measurement, model, taps, data, temperature: float, where: Home, device, progress) -> dict:
    """analyse_model, its rows and `analyses` record written whatever happens (a failure keeps what was measured),
    and the task's environment record (what measured it), started before and ended after."""
    from analysis import AnalysisError, analyse_model
    from lab.records.provenance import Environment

    env = Environment(where, record.run_id, record.sweep_id, "analysed", device,
                      task_id=task_id(record.run_id, record.epoch)).start()
    try:
        rows = analyse_model(model, list(taps), data, run_id=record.run_id, epoch=record.epoch,
                             temperature=temperature, settings=record.settings, device=device, progress=progress)
    except AnalysisError as err:
        record.write(err.rows, where, failure=err)
        raise
    finally:
        env.end()
    record.write(rows, where)
    return rows


# ---- a checkpoint Thermoscope kept --------------------------------------------------------------------

@TASKS.register("checkpoint")
@dataclass(frozen=True)
class CheckpointTask:
    kind = "checkpoint"
    path: str
    run_id: str
    epoch: int
    settings: dict[str, Any]  # every analysis setting, decided at planning
    ood: tuple[str, ...]

    @property
    def task_id(self) -> str:
        return task_id(self.run_id, self.epoch)

    @property
    def spec(self) -> dict[str, Any]:
        return measuring_spec(AnalysisSettings.from_dict(self.settings), self.ood)

    @property
    def task(self) -> CheckpointTask:
        return self

    def describe(self) -> str:
        return f"run {self.run_id} epoch {self.epoch}"

    def done(self, where: Home) -> bool:
        return already_measured(where, self.run_id, self.epoch, self.spec)

    def run(self, where: Home, sweep_id: str, device="auto", progress=None) -> dict[str, list[dict]]:
        from lab.jobs.rebuild import read_checkpoint, rebuild

        ckpt = read_checkpoint(Path(self.path))
        settings = AnalysisSettings.from_dict(self.settings)
        dev = pick_device(device) if isinstance(device, str) else device
        model, data = rebuild(ckpt, settings, dev, ood=self.ood)
        record = Measurement(self.run_id, self.epoch, settings, self.ood, sweep_id, checkpoint=self.path,
                             checkpoint_sha256=file_sha256(Path(self.path)))
        return _measure(record, model, model.layer_taps(), data, ckpt.config.temperature, where, dev,
                        progress or progress_printer(self.describe()))


def checkpoint_task(path: Path, where: Home, overrides: dict[str, Any], ood: tuple[str, ...] | None) -> CheckpointTask:
    """The task for one kept checkpoint: its run's stored settings with `overrides` on top, `ood` or the run's own.

    A checkpoint inside the home (`checkpoints/<run_id>/epochNNNN.pt`) is planned from its run's shards without
    reading the weights; any other file is read once."""
    import json
    import re

    from lab.jobs.rebuild import read_checkpoint
    from lab.records.configs import stored_column, stored_settings

    match = re.fullmatch(r"epoch(\d+)\.pt", path.name)
    config = stored_column(where, path.parent.name, "config_json") if match else None
    if match and config and path.parent.parent == where.checkpoints:
        run_id, epoch = path.parent.name, int(match.group(1))
        own_ood, legacy = tuple(json.loads(config).get("ood") or ()), {}
    else:
        ckpt = read_checkpoint(path)
        run_id, epoch, own_ood, legacy = ckpt.run_id, ckpt.epoch, ckpt.config.ood, ckpt.settings
    settings = AnalysisSettings.from_dict({**legacy, **stored_settings(where, run_id), **overrides})
    return CheckpointTask(str(path), run_id, epoch, settings.to_dict(), tuple(own_ood if ood is None else ood))


# ---- a network trained elsewhere -------------------------------------------------------------------------

@TASKS.register("outside")
@dataclass(frozen=True)
class ModelTask:
    kind = "outside"
    model: str  # timm:NAME | torchvision:NAME | module:PKG.MOD:FACTORY
    weights: str
    dataset: str
    ood: tuple[str, ...] = ()
    temperature: float = 1.0
    num_classes: int | None = None  # None: the saved classifier's
    epoch: int | None = None  # None: the file's own 'epoch' entry, else 0
    name: str = ""
    tags: tuple[str, ...] = ()
    note: str = ""
    preprocess: dict[str, Any] = field(default_factory=dict)  # flags given: input_size, crop_pct, mean, std, ...
    taps_method: str = "auto"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # analysis settings given (the rest: defaults)
    data_root: str = ""
    trust_pickle: bool = False  # only from the owner's `analyse-model --trust-pickle` (training/safe_load.py)

    def prepare(self) -> Prepared:
        """Model with its weights, preprocessing, run identity and measuring spec; no data decoded yet."""
        from lab.outside.data import preprocessing_for
        from lab.outside.models import (
            ModelSpec,
            build,
            checkpoint_epoch,
            classes_in,
            load_weights,
            read_state_dict,
        )
        from lab.outside.runs import OutsideRun
        from lab.records.configs import RunLabels

        spec = ModelSpec.parse(self.model)
        path = Path(self.weights).expanduser()
        state = read_state_dict(path, trust_pickle=self.trust_pickle)
        classes = self.num_classes or classes_in(state)
        if not classes:
            raise ConfigError(f"--weights {path}: no classifier weight to count classes from; give --num-classes")
        model = build(spec, classes)
        load_weights(model, state, path)
        prep = preprocessing_for(spec.source, spec.name, model, self.preprocess)
        settings = AnalysisSettings.from_dict(self.settings)
        digest = file_sha256(path)
        epoch = self.epoch if self.epoch is not None else (checkpoint_epoch(path, trust_pickle=self.trust_pickle) or 0)
        taps = {"method": self.taps_method, "include": list(self.include), "exclude": list(self.exclude)}
        run = OutsideRun("analysed", str(spec), self.dataset, self.temperature, classes, self.name or digest,
                         self.ood, RunLabels.typed(self.name, tuple(self.tags), self.note),
                         {"weights": str(path.resolve()), "weights_sha256": digest, "preprocessing": prep.to_dict(),
                          "taps": taps})
        measuring = measuring_spec(settings, self.ood, preprocessing=prep.to_dict(), taps=taps)
        return Prepared(self, model, path, digest, prep, settings, run, epoch, measuring)

    def run(self, where: Home, sweep_id: str, device="auto", progress=None, prepared: Prepared | None = None
            ) -> dict[str, list[dict]]:
        from analysis import model_taps
        from lab.outside.data import load
        from lab.records.events import write_run_event

        p = prepared or self.prepare()
        dev = pick_device(device) if isinstance(device, str) else device
        rid = p.run.run_id
        loaded = load(self.dataset, self.ood, p.preprocessing, p.settings.max_samples, p.settings.feature_seed,
                      Path(self.data_root or "."))
        # data and taps first: a wrong folder, preprocessing or tap filter is one line with nothing written
        taps = model_taps(p.model.to(dev), loaded.data.id_test.x[:2].to(dev), method=self.taps_method).select(
            self.include, self.exclude)
        p.run.write(where, sweep_id, p.settings, loaded.sizes)
        write_run_event(where, rid, sweep_id, RunStatus.RUNNING, epoch=p.epoch)
        record = Measurement(rid, p.epoch, p.settings, self.ood, sweep_id, spec=p.spec, taps=taps.method,
                             checkpoint=str(p.path), checkpoint_sha256=p.digest)
        try:
            rows = _measure(record, taps.model, taps.taps, loaded.data, self.temperature, where, dev,
                            progress or progress_printer(f"{self.model} {p.path.name}"))
        except Exception as exc:
            write_run_event(where, rid, sweep_id, RunStatus.FAILED, epoch=p.epoch,
                            message=(str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise
        write_run_event(where, rid, sweep_id, RunStatus.FINISHED, epoch=p.epoch)
        return rows


@dataclass
class Prepared:
    task: ModelTask
    model: Any
    path: Path
    digest: str
    preprocessing: Any
    settings: AnalysisSettings
    run: Any  # OutsideRun
    epoch: int
    spec: dict[str, Any]

    @property
    def task_id(self) -> str:
        return task_id(self.run.run_id, self.epoch)

    def describe(self) -> str:
        return f"{self.task.model} {self.path.name} -> run {self.run.run_id} epoch {self.epoch}"

    def done(self, where: Home) -> bool:
        return already_measured(where, self.run.run_id, self.epoch, self.spec)
