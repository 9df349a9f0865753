"""`python -m analysis`: help works; a real checkpoint of the demo MLP is analysed and its rows land in shards."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "analysis", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "analyse" in out.stdout and "theory" in out.stdout


def test_analyse_a_checkpoint_writes_shards(tmp_path, tmp_home, capsys):
    pytest.importorskip("training.pipeline")
    import pyarrow.parquet as pq

    from analysis.__main__ import main
    from training.config import make_config
    from training.pipeline import prepare_run

    cfg = make_config(preset="demo", width=16, depth=2, epochs=1, temperature=3.0)
    run = prepare_run(cfg, tmp_home, torch.device("cpu"))
    ckpt = tmp_path / "epoch0001.pt"
    torch.save({"config": cfg.to_dict(), "model": run.model.state_dict(), "epoch": 1}, ckpt)
    code = main(["analyse", str(ckpt), "--device", "cpu", "--set", "probe_epochs=2", "--set", "alignment_top_k=3",
                 "--set", "max_samples=300"])
    assert code == 0, capsys.readouterr().err
    for table in ("layer_metrics", "run_metrics", "alignment"):
        shard = tmp_home.shards / table / cfg.run_id / "analysis-e0001.parquet"
        rows = pq.read_table(shard).to_pylist()
        assert rows and {r["epoch"] for r in rows} == {1} and {r["run_id"] for r in rows} == {cfg.run_id}
    assert "kappa" in capsys.readouterr().out


def test_bad_checkpoint_and_setting_are_named(tmp_path, tmp_home, capsys):
    from analysis.__main__ import main

    assert main(["analyse", str(tmp_path / "missing.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(SystemExit, match="not a Thermoscope checkpoint"):
        main(["analyse", str(bad)])
    from analysis.__main__ import _settings_from

    with pytest.raises(SystemExit, match="unknown analysis setting"):
        _settings_from(["probe_epoch=3"])
    assert _settings_from(["probe_standardize=true", "kappa_kinds=hidden+logits"]).kappa_kinds == ("hidden", "logits")


def test_theory_command_writes_one_shard_per_experiment(tmp_home):
    from analysis.__main__ import main

    assert main(["theory"]) == 0
    written = sorted(p.parent.name for p in (tmp_home.shards / "theory").rglob("*.parquet"))
    assert written == ["fig21", "prop_i1", "prop_j2", "prop_k1", "prop_k1_sweep"]


def test_init_norms_rows_scale_with_the_normal_sigma(tmp_home):
    pytest.importorskip("training.pipeline")
    import pyarrow.parquet as pq

    from analysis.__main__ import init_norms

    rows = init_norms(["mlp"], "digits", ["default", "normal"], [0.01, 0.1], [0], batch=32)
    by = {(r["init"], r["init_std"]): r["logits_norm"] for r in rows}
    assert len(rows) == 3 and all(v > 0 for v in by.values())
    # a ReLU MLP with zero biases is positively homogeneous: depth + 1 weight layers, each 10x larger
    from training.config import make_config

    layers = make_config(arch="mlp", dataset="digits", ood=()).depth + 1
    assert by[("normal", 0.1)] / by[("normal", 0.01)] == pytest.approx(10.0**layers, rel=1e-3)
    shard = next((tmp_home.shards / "init_norms").rglob("*.parquet"))
    assert pq.read_table(shard).num_rows == 3
