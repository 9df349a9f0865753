"""The loop for real on the embedded digits: seeds determine a CPU run, checkpoints, a SIGKILLed
process resumes to the uninterrupted result, divergence, calibration, and both input paths."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lab.jobs.pipeline import prepare_run
from training.calibrate import calibrate, initial_logits_norm
from training.config import make_config
from training.data import load_dataset
from training.loop import Diverged, train
from training.models import ModelSpec, build_model

torch.set_num_threads(1)
WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]


def run(cfg, ckpt_dir):
    data = load_dataset(cfg.dataset, cfg.data_dir)
    model = build_model(cfg, ModelSpec(data.num_classes, data.input_shape))
    return model, train(cfg, model, data, checkpoint_dir=ckpt_dir)


def without_wall(log):
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in log]


def same_floats(a, b):
    return all((x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


def assert_same_log(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(without_wall(a), without_wall(b)):
        assert ra.keys() == rb.keys() and same_floats(list(ra.values()), list(rb.values())), (ra, rb)


def test_seed_fully_determines_a_cpu_run(tmp_path):
    cfg = make_config(preset="demo", epochs=2, width=32, depth=3, seed=3)
    m1, r1 = run(cfg, tmp_path / "a")
    m2, r2 = run(cfg, tmp_path / "b")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert_same_log(r1.log, r2.log)
    m3, _ = run(cfg.replace(seed=4), tmp_path / "c")
    assert not torch.equal(m1.head.weight, m3.head.weight)


def test_log_and_checkpoints(tmp_path):
    cfg = make_config(preset="demo", epochs=3, width=32, depth=3, checkpoint_epochs=(2, 9))
    _, r = run(cfg, tmp_path)
    assert [row["epoch"] for row in r.log] == [0, 1, 2, 3]
    for key in ("train_loss", "train_acc", "test_acc", "lr", "logits_norm", "rank_pre_softmax", "rank_post_softmax",
                "wall_s"):
        assert all(key in row for row in r.log)
    assert math.isnan(r.log[0]["train_loss"]) and r.log[-1]["train_acc"] > 0.2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch0000.pt", "epoch0002.pt", "epoch0003.pt", "last.pt"]


def test_huge_lr_diverges_with_epoch_and_reason(tmp_path):
    cfg = make_config(preset="demo", epochs=5, width=32, depth=3, lr=1e12)
    with pytest.raises(Diverged) as err:
        run(cfg, tmp_path)
    assert err.value.epoch == 1 and "loss became" in str(err.value) and "lower the lr" in str(err.value)


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path):
    epochs, width = 12, 256  # killed right after epoch 3: 9 epochs resumed, the reference trains all 12
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    ckpt = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(WORKER), str(ckpt), str(tmp_path / "x.pt"), str(epochs), str(width)],
                            stdout=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.strip() == "epoch 3":
            break
    os.kill(proc.pid, signal.SIGKILL)  # epoch 3 logged: its checkpoint write, or epoch 4, is under way
    proc.wait()
    killed_at = torch.load(ckpt / "last.pt", weights_only=False)["epoch"]
    assert 2 <= killed_at < epochs, "the worker finished before the kill; make its run longer"
    done = subprocess.run([sys.executable, str(WORKER), str(ckpt), str(tmp_path / "resumed.pt"), str(epochs), str(width)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=False)
    assert resumed["resumed_from"] == killed_at
    straight = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "straight"), str(tmp_path / "s.pt"),
                               str(epochs), str(width)], capture_output=True, text=True, env=env, timeout=600)
    assert straight.returncode == 0, straight.stderr
    reference = torch.load(tmp_path / "s.pt", weights_only=False)
    for k, v in reference["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert [r["epoch"] for r in resumed["log"]] == list(range(epochs + 1))
    assert_same_log(resumed["log"], reference["log"])
    assert (ckpt / "epoch0002.pt").exists() and (ckpt / f"epoch{epochs:04d}.pt").exists()


def test_calibration_hits_a_number_and_another_architecture_within_1_percent():
    cfg = make_config(preset="demo", arch="vgg19", init="kaiming", ood=())  # Kaiming: VGG-19 starts below ResNet-20
    data = load_dataset("digits", cfg.data_dir)
    c = calibrate(cfg, target_norm=3.0, data=data)
    assert abs(initial_logits_norm(cfg, data) / c.temperature - 3.0) / 3.0 < 0.01
    c = calibrate(cfg, reference="resnet20", data=data)
    ref = initial_logits_norm(cfg.replace(arch="resnet20"), data)
    assert c.target_norm == pytest.approx(ref) and c.initial_norm < ref  # VGG-19 starts with smaller logits
    assert abs(initial_logits_norm(cfg, data) / c.temperature - ref) / ref < 0.01


def write_folder(root, side, n_train=6, n_test=2):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


@pytest.mark.parametrize("side", [12, 80])  # in-memory with on-device crops / streamed at 224 px
@pytest.mark.slow
def test_pipeline_trains_a_resnet_on_both_input_paths(tmp_path, tmp_home, side):
    write_folder(tmp_path / "set", side)
    cfg = make_config(arch="resnet20", dataset=f"folder:{tmp_path / 'set'}", ood=(), epochs=1, batch_size=4)
    prepared = prepare_run(cfg, device=torch.device("cpu"))
    assert prepared.model.layer_taps()[0].module is prepared.model.act1
    result = train(cfg, prepared.model, prepared.data, checkpoint_dir=tmp_path / "ck")
    assert [r["epoch"] for r in result.log] == [0, 1] and math.isfinite(result.log[-1]["train_loss"])
    assert result.log[-1]["eval_samples"] == 4 and result.log[-1]["step"] == 3


def test_resnet_taps_feed_the_real_analysis(tmp_path, tmp_home):
    """Train ResNet-20 one epoch on a tiny class folder, analyse it, and find every tap's rows."""
    import polars as pl

    from analysis import AnalysisSettings
    from lab.jobs.pipeline import analyse_run, train_runs

    write_folder(tmp_path / "set", 12)
    cfg = make_config(arch="resnet20", dataset=f"folder:{tmp_path / 'set'}", ood=(f"folder:{tmp_path / 'set'}",),
                      epochs=1, batch_size=4)
    prepared = prepare_run(cfg, device=torch.device("cpu"))
    train_runs([prepared], tmp_home)
    analyse_run(prepared, tmp_home, AnalysisSettings(probe_epochs=2))
    files = sorted((tmp_home.root / "shards" / "layer_metrics" / cfg.run_id).glob("analysis-e*.parquet"))
    assert [f.stem for f in files] == ["analysis-e0000", "analysis-e0001"]
    names = set(pl.read_parquet(files[-1])["layer_name"].to_list())
    assert {t.name for t in prepared.model.layer_taps()} <= names
    assert {"stem_pre", "layer3.2.out_pre"} <= names  # pre-activations (BatchNorm outputs) too


def test_speed_switches_stay_off_on_the_cpu(monkeypatch):
    from training.fast import Speed

    monkeypatch.setenv("THERMOSCOPE_COMPILE", "1")
    monkeypatch.setenv("THERMOSCOPE_AMP", "bf16")
    cpu = Speed.for_device(torch.device("cpu"))
    assert (cpu.amp, cpu.compile, cpu.channels_last) == (False, False, False)
    monkeypatch.setenv("THERMOSCOPE_CHANNELS_LAST", "1")
    assert Speed.for_device(torch.device("cpu")).channels_last  # layout may be asked for explicitly
