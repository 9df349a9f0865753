"""`lab.Tracker` in a plain PyTorch loop (not Thermoscope's): rows for every measured epoch, followed live like a
sweep, and the trained model bit-identical to the same loop without the tracker."""

from __future__ import annotations

import socket

import pytest
import torch
from torch import nn

from tests.images import write_learnable_folders

SETTINGS = {"probe_epochs": 2, "alignment_top_k": 2, "orthodev_samples": 50}
EPOCHS = 3


class SmallCNN(nn.Module):
    """BatchNorm (running statistics to keep) and Dropout (random draws to keep) in a user's own model."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8 * 8 * 8, classes)

    def forward(self, x):
        return self.head(self.drop(self.features(x)))


def folders(root):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    tf = T.ToTensor()
    data = write_learnable_folders(root / "bands", classes=3, train=16, test=8, side=8)
    other = write_learnable_folders(root / "other", classes=2, train=12, test=6, side=8, seed=4)
    return ({split: ImageFolder(str(data / split), transform=tf) for split in ("train", "test")},
            {split: ImageFolder(str(other / split), transform=tf) for split in ("train", "test")})


def train(sets, ood, tracker_args: dict | None, home_root=None):
    """A plain loop: shuffling DataLoader, SGD with momentum, dropout; with a Tracker measuring every epoch."""
    from lab import Tracker

    torch.manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = torch.utils.data.DataLoader(sets["train"], batch_size=8, shuffle=True)
    tracker = None
    if tracker_args is not None:
        tracker = Tracker(model, sets["train"], torch.utils.data.DataLoader(sets["test"], batch_size=5),
                          ood={"other": (ood["train"], ood["test"])}, home_root=home_root, settings=SETTINGS,
                          **tracker_args)
        tracker.start()
    seen = []
    for epoch in range(EPOCHS + 1):
        losses = []
        if epoch:
            model.train()
            for x, y in loader:
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        if tracker is not None:
            tracker.measure(epoch, train_loss=sum(losses) / len(losses) if losses else None)
            seen.append(live_status(tracker))
    if tracker is not None:
        tracker.close()
    return model, tracker, seen


def live_status(tracker) -> str:
    """What `status` says of the run right now (reconciled with the executor: here, the process itself)."""
    from lab.records.manifest import load_manifest
    from lab.records.reconcile import assess

    return str(assess(load_manifest(tracker.where, tracker.sweep_id), tracker.where).status_of(tracker.run_id))


def test_a_tracked_loop_trains_bit_identically_and_writes_every_measured_epoch(tmp_path, tmp_home):
    import pyarrow.parquet as pq

    from warehouse.ingest import ingest
    from warehouse.read import query

    sets, ood = folders(tmp_path)
    plain, _, _ = train(sets, ood, None)
    tracked, tracker, seen = train(sets, ood, {"name": "cnn-T1", "dataset": "bands"}, str(tmp_home.root))
    for (k, a), (_, b) in zip(plain.state_dict().items(), tracked.state_dict().items(), strict=True):
        assert torch.equal(a, b), k  # weights and BatchNorm buffers (running mean, var, batch count)
    assert seen == ["running"] * (EPOCHS + 1)  # followed live: the process is alive, nothing reconciled away

    rid = tracker.run_id
    for epoch in range(EPOCHS + 1):
        rows = pq.read_table(tmp_home.shards / "layer_metrics" / rid / f"analysis-e{epoch:04d}.parquet").to_pylist()
        assert {r["metric"] for r in rows} >= {"rank", "probe_acc"} and {r["epoch"] for r in rows} == {epoch}
    log = pq.read_table(tmp_home.shards / "epochs" / rid / "epochs.parquet").to_pylist()
    assert [r["epoch"] for r in log] == list(range(EPOCHS + 1)) and log[0]["train_loss"] is None
    assert all(0.0 <= r["test_acc"] <= 1.0 and r["eval_samples"] == 24 for r in log)
    ingest(tmp_home)
    run = query("SELECT source, status, arch, dataset, name, last_epoch, num_classes FROM runs", where=tmp_home).row(
        0, named=True)
    assert run == {"source": "tracked", "status": "finished", "arch": f"{SmallCNN.__module__}.SmallCNN",
                   "dataset": "bands", "name": "cnn-T1", "last_epoch": EPOCHS, "num_classes": 3}
    kinds = query("SELECT DISTINCT layer_name FROM layer_metrics WHERE metric = 'rank'", where=tmp_home)["layer_name"]
    assert set(kinds) == {"features.2", "features.2_pre", "drop", "logits", "softmax"}  # the ReLU, the head's input
    rho = query("SELECT count(*) AS n FROM run_metrics WHERE metric = 'rho' AND dataset = 'other'", where=tmp_home)
    assert rho["n"][0] == EPOCHS + 1


def test_every_n_epochs_and_an_error_in_the_loop_ends_the_run_failed(tmp_path, tmp_home):
    from lab import Tracker
    from lab.records.events import latest_events

    sets, ood = folders(tmp_path)
    model = SmallCNN()
    with pytest.raises(RuntimeError, match="loss went NaN"):
        with Tracker(model, sets["train"], sets["test"], every=2, settings=SETTINGS, home_root=str(tmp_home.root)) as t:
            measured = [e for e in range(4) if t.measure(e) is not None]
            raise RuntimeError("loss went NaN")
    assert measured == [0, 2] and t.measured == [0, 2]
    last = latest_events([t.run_id], tmp_home)[t.run_id]
    assert last["status"] == "failed" and "loss went NaN" in last["message"] and last["epoch"] == 2


def test_a_tracked_process_that_died_is_reconciled_failed():
    from slurm.state import process_states

    host = socket.gethostname()
    states = process_states([f"pid999999999.{host}", "pid1.elsewhere"], not_before=0.0)
    assert states[f"pid999999999.{host}"].ended  # gone: the run never said it ended
    assert not states["pid1.elsewhere"].ended  # another host: cannot be seen from here


def test_the_lightning_callback_measures_epoch_zero_and_each_epoch(tmp_path, tmp_home):
    """Only where PyTorch Lightning is installed: Thermoscope does not depend on it."""
    pl = pytest.importorskip("lightning.pytorch", reason="PyTorch Lightning is an optional dependency, not installed")
    from lab.outside.lightning import ThermoscopeCallback
    from lab.records.events import latest_events

    sets, ood = folders(tmp_path)

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = SmallCNN()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            loss = nn.functional.cross_entropy(self(batch[0]), batch[1])
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    callback = ThermoscopeCallback(sets["train"], sets["test"], name="lit", settings=SETTINGS,
                                   home_root=str(tmp_home.root))
    trainer = pl.Trainer(max_epochs=2, callbacks=[callback], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), torch.utils.data.DataLoader(sets["train"], batch_size=8))
    tracker = callback.tracker
    assert tracker.measured == [0, 1, 2]
    assert latest_events([tracker.run_id], tmp_home)[tracker.run_id]["status"] == "finished"
