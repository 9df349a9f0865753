"""Checkpoints never run code, launches are bounded, and the CLI says so in one line (issue 22, items 3 and 6).

The hostile file is a real `torch.save` whose pickle, when unpickled, calls `open(MARKER, "w")`: the marker file
appears if and only if something unpickled it. Each way a file reaches a load is tried for real.
"""

from __future__ import annotations

import time

import pytest
import torch

from tests.slurm.slurmhelp import cli, sets


class _Planted:
    """Pickles as `open(marker, 'w')`: unpickling it creates the marker file (what an attacker's code would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def planted(path, marker) -> str:
    torch.save({"weight": torch.zeros(3), "extra": _Planted(marker)}, path)
    return str(path)


def test_pretrained_that_would_run_code_is_refused_by_a_real_local_launch(tmp_path, tmp_home):
    marker = tmp_path / "MARKER"
    evil = planted(tmp_path / "evil.pt", marker)
    done = cli("-m", "training.launch", *sets(epochs=1, pretrained=evil, seed=0), "--executor", "local", "--wait",
               home=tmp_home)
    assert done.returncode == 2, done.stdout + done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "holds pickled Python objects" in line and "state_dict()" in line, line
    assert not marker.exists()
    assert not (tmp_home.root / "jobs").exists() or not any((tmp_home.root / "jobs").iterdir())


def test_the_jobs_own_loads_are_weights_only_even_past_the_launcher(tmp_path, tmp_home):
    """The job's loads hold without the launcher's scan: build_model's pretrained and a planted last.pt."""
    from training.config import make_config
    from training.loop import resume_state
    from training.models import ModelSpec, build_model
    from training.safe_load import UnsafeCheckpoint

    marker = tmp_path / "MARKER"
    swapped = tmp_path / "swapped.pt"
    torch.save({"weight": torch.zeros(3)}, swapped)  # plain weights when the launcher looks...
    cfg = make_config(preset="demo", width=8, depth=1, epochs=1, pretrained=str(swapped))
    planted(swapped, marker)  # ...and a planted pickle by the time the job loads it
    with pytest.raises(UnsafeCheckpoint, match="re-save its weights"):
        build_model(cfg, ModelSpec(10, (1, 8, 8)))
    folder = tmp_path / "ckpt"
    folder.mkdir()
    planted(folder / "last.pt", marker)
    with pytest.raises(UnsafeCheckpoint):
        resume_state(folder, cfg.replace(pretrained=""))
    assert not marker.exists()


@pytest.mark.slow
def test_analyse_model_and_analyse_refuse_it_in_one_line(tmp_path, tmp_home):
    marker = tmp_path / "MARKER"
    evil = planted(tmp_path / "evil.pt", marker)
    model = cli("-m", "analysis", "analyse-model", "--model", "torchvision:resnet18", "--weights", evil,
                "--dataset", "digits", home=tmp_home)
    assert model.returncode == 2, model.stdout + model.stderr
    assert "holds pickled Python objects" in model.stderr and "--trust-pickle" in model.stderr, model.stderr
    assert len(model.stderr.strip().splitlines()) == 1, model.stderr
    ckpt = cli("-m", "analysis", "analyse", evil, "--no-write", home=tmp_home)
    assert ckpt.returncode == 2, ckpt.stdout + ckpt.stderr
    assert "holds pickled Python objects" in ckpt.stderr and "--trust-pickle" in ckpt.stderr, ckpt.stderr
    assert not marker.exists()


def test_a_whole_model_pickle_loads_only_behind_trust_pickle(tmp_path):
    from lab.outside.models import read_state_dict
    from thermoscope.fields import ConfigError

    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.save(net, tmp_path / "whole.pt")
    with pytest.raises(ConfigError, match="holds pickled Python objects.*--trust-pickle"):
        read_state_dict(tmp_path / "whole.pt")
    state = read_state_dict(tmp_path / "whole.pt", trust_pickle=True)
    assert torch.equal(state["0.weight"], net[0].weight)
    # a plain state dict and a safetensors file load as before, without the flag
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    assert torch.equal(read_state_dict(tmp_path / "sd.pt")["0.bias"], net[0].bias)
    from safetensors.torch import save_file

    save_file(net.state_dict(), str(tmp_path / "sd.safetensors"))
    assert torch.equal(read_state_dict(tmp_path / "sd.safetensors")["0.weight"], net[0].weight)


def test_the_pickle_scan_agrees_with_torchs_weights_only_load(tmp_path):
    """The launcher's early look (training/pickle_scan.py) against torch's own weights-only unpickler."""
    import pickle

    from training.pickle_scan import foreign_globals

    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(4, 2)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [1, 2])
    ours = dict(run_id="x", config={"ood": ("shapes",), "temperature": 1.0}, model=net.state_dict(),
                optimizer=opt.state_dict(), scheduler=sched.state_dict(), rng_cpu=torch.get_rng_state(),
                log=[{"epoch": 0, "train_loss": 1.5}])
    cases = {"ours": ours, "bf16": {"w": torch.zeros(2, dtype=torch.bfloat16)}, "model": net,
             "planted": {"a": _Planted(tmp_path / "MARKER")}}
    for name, obj in cases.items():
        for legacy in (False, True):
            path = tmp_path / f"{name}-{legacy}.pt"
            torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
            try:
                torch.load(path, weights_only=True)
                loads = True
            except pickle.UnpicklingError:
                loads = False
            assert (foreign_globals(path) == []) == loads, (name, legacy, foreign_globals(path))
    assert not (tmp_path / "MARKER").exists()


def _big_grid_sets() -> list[str]:
    """10^6 runs: 100 seeds × 100 temperatures × 100 learning rates."""
    return ["--set", "seed=" + ",".join(map(str, range(100))),
            "--set", "temperature=" + ",".join(str(1 + i) for i in range(100)),
            "--set", "lr=" + ",".join(f"{0.001 * (i + 1):g}" for i in range(100))]


def test_a_million_run_grid_is_refused_in_under_a_second_from_the_cli(tmp_home, capsys):
    from lab.commands.launch import launch_main

    start = time.perf_counter()
    code = launch_main([*_big_grid_sets(), "--dry-run", "--executor", "local"])
    took = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and "1,000,000 runs, more than the 1,000" in err and len(err.strip().splitlines()) == 1, err
    assert took < 1.0, took
    done = cli("-m", "training.launch", *_big_grid_sets(), "--dry-run", home=tmp_home, timeout=60)
    assert done.returncode == 2 and "THERMOSCOPE_MAX_RUNS" in done.stderr, done.stderr
    assert not tmp_home.root.exists() or not any(tmp_home.root.rglob("*.parquet"))


def test_the_cap_is_configurable_and_counts_points(monkeypatch):
    from lab.sweeps.spec import Sweep
    from training.config import ConfigError

    sweep = Sweep(base={"preset": "demo"}, grid={"seed": (0, 1, 2)}, points=({"seed": 9},))
    assert sweep.size() == 4
    monkeypatch.setenv("THERMOSCOPE_MAX_RUNS", "3")
    with pytest.raises(ConfigError, match="4 runs, more than the 3"):
        sweep.configs()
    monkeypatch.setenv("THERMOSCOPE_MAX_RUNS", "4")
    assert len(sweep.configs()) == 4


@pytest.mark.parametrize("field, value, bound", [("epochs", 10**9, "1,000,000"), ("width", 10**9, "65,536"),
                                                 ("depth", 1000, "256")])
def test_sizes_beyond_the_bounds_are_one_line(field, value, bound):
    from training.config import ConfigError, make_config, validate

    with pytest.raises(ConfigError, match=f"^{field} must be at most {bound}, got {value}; ") as info:
        validate(make_config(preset="demo", **{field: value}))
    assert "\n" not in str(info.value)
