"""The launch form's size estimate and dataset check, against answers known by construction."""

from __future__ import annotations

import math

import pytest

from lab.sweeps.estimate import MEASURED, TRAIN_SIZES, duration, estimate, steps_per_epoch
from training.config import make_config
from training.datafiles import DOWNLOADABLE, check_data


def test_steps_are_runs_times_epochs_times_batches():
    a = make_config(preset="demo", epochs=3)  # digits: 1,438 train samples, batch 128 -> 12 steps
    b = make_config(preset="cifar_resnet", arch="resnet20", dataset="cifar10", epochs=2, batch_size=100)
    assert steps_per_epoch(a) == 12 and steps_per_epoch(b) == 500
    est = estimate([a, b])
    assert (est.runs, est.epochs, est.steps) == (2, 5, 3 * 12 + 2 * 500)
    assert est.samples == 3 * 1438 + 2 * 50_000
    want = (3 * 1438 * MEASURED["mlp"] + 2 * 50_000 * MEASURED["resnet20"]) / 1000
    assert est.cpu_seconds == pytest.approx(want)
    assert f"{est.steps:,} training steps" in est.describe() and "rough" in est.describe()
    # a wider MLP costs width² more per sample
    wide = estimate([make_config(preset="demo", epochs=1, width=512)])
    assert wide.cpu_seconds == pytest.approx(1438 * MEASURED["mlp"] * 4 / 1000)


def test_unknown_sizes_and_costs_are_said_not_guessed(tmp_path):
    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
    folder = estimate([make_config(preset="demo", dataset=f"folder:{tmp_path}")])
    assert folder.steps is None and "steps unknown" in folder.describe()
    vit = estimate([make_config(preset="cifar_resnet", arch="vit_b16")])
    assert vit.cpu_seconds is None and "no cost figure for vit_b16" in vit.describe()
    assert vit.steps == 164 * math.ceil(TRAIN_SIZES["cifar10"] / 128)
    assert [duration(s) for s in (5, 600, 7200, 3 * 86400)] == ["5 s", "10 min", "2.0 h", "3.0 days"]


def test_dataset_check(tmp_path, monkeypatch):
    monkeypatch.delenv("THERMOSCOPE_OFFLINE", raising=False)
    root = tmp_path / "data"
    cfg = make_config(preset="cifar_resnet", dataset="cifar10", ood=("svhn", "shapes"), data_root=str(root))
    notes = {n.dataset: n for n in check_data([cfg, cfg.replace(seed=1)])}  # one note per dataset, not per run
    assert set(notes) == {"cifar10", "svhn"} and all(n.level == "warning" for n in notes.values())
    assert "it will be downloaded (≈170 MB)" in notes["cifar10"].text and str(root / "cifar-10-batches-py") in \
        notes["cifar10"].text
    for rel in DOWNLOADABLE["cifar10"][0]:  # the files the loader reads: then nothing to say about cifar10
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    assert [n.dataset for n in check_data([cfg])] == ["svhn"]
    monkeypatch.setenv("THERMOSCOPE_OFFLINE", "1")
    (offline,) = check_data([cfg])
    assert offline.level == "error" and "THERMOSCOPE_OFFLINE=1" in offline.text
    imagenet = check_data([make_config(preset="imagenet_resnet", arch="resnet50", dataset="imagenet100", ood=(),
                                       data_root=str(root))])
    assert imagenet[0].level == "error" and "cannot be downloaded" in imagenet[0].text
    assert check_data([make_config(preset="demo")]) == []  # embedded
