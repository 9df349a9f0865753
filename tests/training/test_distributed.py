"""DistributedDataParallel for real: 2 processes with gloo on the CPU train the digits MLP and end
where one process with the same global batch ends (up to float summation order)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.distributed import DistInfo, env_info

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]
EPOCHS, WIDTH = 3, 64
# 1,437 training digits = 6 × 239 + 3: the last global batch splits 2/1 over the ranks, so the
# loss weighting that makes DDP's gradient average equal the global mean is exercised
BATCH = 239


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SUBMITIT_EXECUTOR"):
        env.pop(k, None)
    return env


def test_env_info_reads_torchrun_variables(monkeypatch):
    for k in ("SUBMITIT_EXECUTOR", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert env_info() == DistInfo(0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = env_info()
    assert (info.rank, info.world, info.local_rank, info.is_main) == (3, 4, 1, False)


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path):
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(base_env(), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(tmp_path / "ddp"), str(tmp_path / "ddp.pt"),
                                       str(EPOCHS), str(WIDTH), str(BATCH)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert outs[0][0].count("epoch") == EPOCHS + 1 and outs[1][0] == ""  # rank 0 alone logs
    single = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "one"), str(tmp_path / "one.pt"),
                             str(EPOCHS), str(WIDTH), str(BATCH)], env=base_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    ddp, one = (torch.load(tmp_path / f, weights_only=False) for f in ("ddp.pt", "one.pt"))
    for k, v in one["model"].items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    moved = sum(float((v - w).abs().sum()) for v, w in zip(one["model"].values(),
                                                          torch.load(tmp_path / "one" / "epoch0000.pt",
                                                                     weights_only=False)["model"].values()))
    assert moved > 1.0  # the weights did train: equality is not two untouched inits
    for a, b in zip(ddp["log"][1:], one["log"][1:]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4 and a["train_acc"] == b["train_acc"]
        assert a["test_acc"] == b["test_acc"]
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
