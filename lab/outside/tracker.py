"""`Tracker`: the paper's measurements inside your own training loop, written like any Thermoscope run's.

    from lab import Tracker

    with Tracker(model, (x_train, y_train), test_loader, ood={"svhn": (svhn_train, svhn_test)},
                 name="resnet-T10", dataset="cifar10", temperature=10, every=5) as tracker:
        for epoch in range(epochs + 1):
            if epoch:
                train_one_epoch(model)          # your loop, untouched
            tracker.measure(epoch)              # measures on epochs 0, 5, 10, ... (every=5)

Data: a pair of tensors (x, y), a map-style Dataset of (x, y), or a DataLoader; each split is sampled once,
when the tracker is made (at most `settings.max_samples` rows, the analysis's own seeded rule), so every
epoch is measured on the same inputs. Inputs are taken as the loader gives them: give the test-time
transform, not the training augmentation.

Measuring changes nothing about the model or the loop (analysis/guard.py: every module's mode, the
buffers, the gradients, the random generators are restored), and writes what a run of Thermoscope's own
writes: the analysis rows and `analyses` record of the epoch (shards `analysis-eNNNN`, replaced if the epoch
is measured again), the epoch's row in `epochs` (test accuracy, logits norm and ranks on the first 512 test
samples, the loss you pass), status events, a heartbeat, and a sweep manifest with executor 'process', so
`python -m training.launch status` and the Jobs page follow the run live; the other pages show it after
`python -m warehouse ingest`. The run is an outside run (source 'tracked', lab/outside/runs.py); without a
`name` each Tracker is a new run, with one, running the script again replaces that run's rows.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from analysis import AnalysisData, AnalysisSettings, Split, analyse_model, model_taps, untouched
from analysis.capture import sample_subset
from lab.outside.runs import OutsideRun
from lab.records.analyses import Measurement, measuring_spec
from lab.records.configs import RunLabels
from lab.records.events import write_job_rows, write_run_event
from lab.records.heartbeat import Heartbeat
from lab.records.manifest import Manifest, sweep_id_for
from lab.records.provenance import Environment
from thermoscope.status import RunStatus
from warehouse import Home, home, write_shard

EVAL_SAMPLES = 512  # the epoch row's fixed evaluation batch, as the training loop's (training/loop.py)
PROCESS_EXECUTOR = "process"  # the job is the user's own process (slurm/state.py)


def _rows(data: Any, max_samples: int, seed: int) -> Split:
    """A fixed sample of `data` as one Split: tensors (x, y), a map-style Dataset, or any iterable of batches."""
    if isinstance(data, Split):
        x, y = data.x, data.y
    elif isinstance(data, tuple | list) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, torch.utils.data.DataLoader):
        n = len(data)
        picks = sample_subset(n, max_samples, seed)
        items = [data[i] for i in (range(n) if picks is None else picks.tolist())]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        y = torch.as_tensor([int(item[1]) for item in items])
    elif isinstance(data, Iterable):
        xs, ys, got = [], [], 0
        for bx, by in data:
            xs.append(torch.as_tensor(bx))
            ys.append(torch.as_tensor(by))
            got += len(ys[-1])
            if got >= max_samples:
                break
        x, y = torch.cat(xs)[:max_samples], torch.cat(ys)[:max_samples]
    else:
        raise TypeError(f"Tracker data must be (x, y) tensors, a Dataset or a DataLoader, got {type(data).__name__}")
    idx = sample_subset(len(y), max_samples, seed)
    x, y = (x, y) if idx is None else (x[idx], y[idx])
    return Split(x.detach().cpu(), y.detach().cpu().long())


class Tracker:
    def __init__(self, model: nn.Module, train_data: Any, test_data: Any, *, ood: dict[str, tuple[Any, Any]] | None = None,
                 name: str = "", dataset: str = "data", temperature: float = 1.0, every: int = 1,
                 settings: AnalysisSettings | dict | None = None, taps: Sequence[str] = (),
                 exclude_taps: Sequence[str] = (), tap_method: str = "auto", tags: Sequence[str] = (),
                 note: str = "", arch: str = "", home_root: str | None = None) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every!r}")
        self.model, self.every, self.temperature = model, every, float(temperature)
        self.settings = settings if isinstance(settings, AnalysisSettings) else AnalysisSettings.from_dict(settings or {})
        self.include, self.exclude, self.tap_method = tuple(taps), tuple(exclude_taps), tap_method
        s = self.settings
        with untouched(model):  # drawing the fixed samples (a shuffling loader, random transforms) moves no RNG
            self.data = AnalysisData(dataset, _rows(train_data, s.max_samples, s.feature_seed),
                                     _rows(test_data, s.max_samples, s.feature_seed),
                                     {k: (_rows(tr, s.max_samples, s.feature_seed), _rows(te, s.max_samples, s.feature_seed))
                                      for k, (tr, te) in (ood or {}).items()})
        classes = int(max(self.data.id_train.y.max(), self.data.id_test.y.max())) + 1
        model_name = arch or f"{type(model).__module__}.{type(model).__qualname__}"
        self.run = OutsideRun("tracked", model_name, dataset, self.temperature, classes, name or uuid.uuid4().hex,
                              tuple(self.data.ood), RunLabels.typed(name, tuple(tags), note), {"every": every})
        self.where: Home = home(home_root)
        self.sweep_id = sweep_id_for([self.run.run_id])
        self.job_id = f"pid{os.getpid()}.{socket.gethostname()}"
        self._log: list[dict] = []
        self._beat: Heartbeat | None = None
        self._env: Environment | None = None
        self._t0 = time.perf_counter()
        self.measured: list[int] = []

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def _sizes(self) -> dict[str, tuple]:
        def classes(*splits: Split) -> int:
            return int(max(int(s.y.max()) for s in splits)) + 1

        d = self.data
        out = {d.id_name: (classes(d.id_train, d.id_test), d.id_train.y.numel(), d.id_test.y.numel())}
        out.update({k: (classes(tr, te), tr.y.numel(), te.y.numel()) for k, (tr, te) in d.ood.items()})
        return out

    def start(self) -> Tracker:
        """Write the run's rows and manifest and say it is running (measure() calls it the first time)."""
        if self._beat is not None:
            return self
        where = self.where
        self.run.write(where, self.sweep_id, self.settings, self._sizes())
        folder = where.jobs / self.sweep_id
        Manifest(self.sweep_id, PROCESS_EXECUTOR, str(folder), {self.job_id: [self.run_id]}, 0, time.time()).save(where)
        write_run_event(where, self.run_id, self.sweep_id, RunStatus.RUNNING, job_id=self.job_id)
        row = dict(run_id=self.run_id, job_id=self.job_id, executor=PROCESS_EXECUTOR, requeues=0)
        self._beat = Heartbeat(where, self.sweep_id, row).start()
        # the user's own process: its device is where the model's weights are now
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        self._env = Environment(where, self.run_id, self.sweep_id, "tracked", device).start()
        return self

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0

    def measure(self, epoch: int, *, train_loss: float | None = None, train_acc: float | None = None,
                force: bool = False) -> dict[str, list[dict]] | None:
        """Measure the model as it is now, if `epoch` is due (a multiple of `every`) or `force`; returns its rows."""
        if not (force or self.due(epoch)):
            return None
        self.start()
        model = self.model
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with untouched(model):
            example = self.data.id_test.x[:2].to(device)
            taps = model_taps(model, example, method=self.tap_method).select(self.include, self.exclude)
            chosen = {"method": self.tap_method, "include": list(self.include), "exclude": list(self.exclude)}
            record = Measurement(self.run_id, epoch, self.settings, tuple(self.data.ood), self.sweep_id, taps=taps.method,
                                 spec=measuring_spec(self.settings, self.data.ood, taps=chosen))
            try:
                rows = analyse_model(taps.model, list(taps.taps), self.data, run_id=self.run_id, epoch=epoch,
                                     temperature=self.temperature, settings=self.settings, device=device)
            except Exception as err:
                record.write(getattr(err, "rows", {}), self.where, failure=err)
                raise
            record.write(rows, self.where)
            self._epoch_row(epoch, device, train_loss, train_acc)
        write_run_event(self.where, self.run_id, self.sweep_id, RunStatus.RUNNING, epoch=epoch, job_id=self.job_id)
        self.measured.append(epoch)
        return rows

    @torch.no_grad()
    def _epoch_row(self, epoch: int, device, train_loss, train_acc) -> None:
        from analysis.logits import logits_norm, softmax_ranks

        split = self.data.id_test
        x, y = split.x[:EVAL_SAMPLES], split.y[:EVAL_SAMPLES]
        self.model.eval()
        z = self.model(x.to(device)).float().cpu()
        mean, fro = logits_norm(z)
        pre, post = softmax_ranks(z, self.temperature)
        row = dict(run_id=self.run_id, epoch=int(epoch), train_loss=train_loss, train_acc=train_acc,
                   test_acc=float((z.argmax(1) == y).float().mean()), logits_norm=mean, logits_fro_norm=fro,
                   rank_pre_softmax=pre, rank_post_softmax=post, eval_samples=int(len(y)),
                   wall_s=time.perf_counter() - self._t0)
        self._log = [r for r in self._log if r["epoch"] != row["epoch"]] + [row]
        write_shard("epochs", sorted(self._log, key=lambda r: r["epoch"]), owner=self.run_id, name="epochs",
                    where=self.where)

    def close(self, error: BaseException | None = None) -> None:
        """The run's end: finished, or failed (cancelled for Ctrl-C) with the error's traceback."""
        if self._beat is None:
            return
        self._beat.stop()
        if self._env is not None:
            self._env.end()
            self._env = None
        if error is None:
            status, text = RunStatus.FINISHED, ""
        else:
            status = RunStatus.CANCELLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
            text = "".join(traceback.format_exception(error))
        last = self.measured[-1] if self.measured else None
        write_run_event(self.where, self.run_id, self.sweep_id, status, epoch=last, message=text, job_id=self.job_id)
        write_job_rows(self.where, self.sweep_id, f"end-{self.job_id}-{self.run_id}",
                       [dict(run_id=self.run_id, job_id=self.job_id, executor=PROCESS_EXECUTOR,
                             state="COMPLETED" if error is None else "FAILED", traceback=text)])
        self._beat = None

    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)
