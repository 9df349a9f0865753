"""`python -m analysis` (lab/commands/analyse.py): help works; a real checkpoint of the demo MLP is analysed and its
rows land in shards, with the settings its run was launched with unless `--set` says otherwise."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "analysis", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "analyse" in out.stdout and "theory" in out.stdout


def test_analyse_a_checkpoint_writes_shards(tmp_path, tmp_home, capsys):
    import pyarrow.parquet as pq

    from lab.commands.analyse import main
    from lab.jobs.pipeline import prepare_run
    from training.config import make_config

    cfg = make_config(preset="demo", width=16, depth=2, epochs=1, temperature=3.0)
    run = prepare_run(cfg, torch.device("cpu"))
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
    from lab.commands.analyse import main, parse_settings
    from thermoscope.fields import ConfigError

    assert main(["analyse", str(tmp_path / "missing.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    assert main(["analyse", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a Thermoscope checkpoint" in err and "\n" not in err
    assert main(["analyse", str(bad), "--set", "probe_epoch=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown analysis setting(s) 'probe_epoch'" in err and "\n" not in err
    with pytest.raises(ConfigError, match="analysis.max_samples"):
        parse_settings(["max_samples=0"])
    assert parse_settings(["probe_standardize=true", "analysis.kappa_kinds=hidden+logits"]) == {
        "probe_standardize": "true", "kappa_kinds": "hidden+logits"}


def test_theory_command_writes_one_shard_per_experiment(tmp_home):
    from lab.commands.analyse import main

    assert main(["theory"]) == 0
    written = sorted(p.parent.name for p in (tmp_home.shards / "theory").rglob("*.parquet"))
    assert written == ["fig21", "prop_i1", "prop_j2", "prop_k1", "prop_k1_sweep"]


def test_init_norms_rows_scale_with_the_normal_sigma(tmp_home):
    import pyarrow.parquet as pq

    from lab.commands.init_norms import init_norms

    rows = init_norms(["mlp"], "digits", ["default", "normal"], [0.01, 0.1], [0], batch=32)
    by = {(r["init"], r["init_std"]): r["logits_norm"] for r in rows}
    assert len(rows) == 3 and all(v > 0 for v in by.values())
    # a ReLU MLP with zero biases is positively homogeneous: depth + 1 weight layers, each 10x larger
    from training.config import make_config

    layers = make_config(arch="mlp", dataset="digits", ood=()).depth + 1
    assert by[("normal", 0.1)] / by[("normal", 0.01)] == pytest.approx(10.0**layers, rel=1e-3)
    shard = next((tmp_home.shards / "init_norms").rglob("*.parquet"))
    assert pq.read_table(shard).num_rows == 3


def test_reanalysis_uses_the_settings_stored_with_the_run_and_set_overrides_them(tmp_path, tmp_home):
    import json

    import pyarrow.parquet as pq

    from analysis import AnalysisSettings
    from lab.commands.analyse import main
    from lab.jobs.pipeline import prepare_run
    from lab.records.configs import config_row
    from training.config import make_config
    from warehouse import write_shard

    cfg = make_config(preset="demo", width=8, depth=2, epochs=1)
    launched = AnalysisSettings(probe_protocol="paper", probe_epochs=2, max_samples=120, alignment_top_k=0)
    write_shard("run_configs", [config_row(cfg, "sweep-s", "", launched)], owner=cfg.run_id, name="config",
                where=tmp_home)
    run = prepare_run(cfg, torch.device("cpu"))
    ckpt = tmp_path / "epoch0000.pt"
    torch.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "model": run.model.state_dict(), "epoch": 0}, ckpt)

    def probe_details() -> set[tuple[int, int]]:
        rows = pq.read_table(tmp_home.shards / "layer_metrics" / cfg.run_id / "analysis-e0000.parquet").to_pylist()
        return {(json.loads(r["detail"])["epochs"], r["n_samples"]) for r in rows if r["metric"] == "probe_acc"
                and r["dataset"] == "digits"}

    assert main(["analyse", str(ckpt), "--device", "cpu"]) == 0
    assert probe_details() == {(2, 120)}  # the run's own settings
    # alignment_top_k=0 was kept too: an empty shard, which replaces whatever an earlier analysis aligned
    assert pq.read_table(tmp_home.shards / "alignment" / cfg.run_id / "analysis-e0000.parquet").num_rows == 0
    assert main(["analyse", str(ckpt), "--device", "cpu", "--set", "probe_epochs=1"]) == 0
    assert probe_details() == {(1, 120)}  # --set on top; the same shard, replaced
    assert main(["analyse", str(ckpt), "--device", "cpu", "--set", "analysis.probe_protocol=both"]) == 0
    rows = pq.read_table(tmp_home.shards / "layer_metrics" / cfg.run_id / "analysis-e0000.parquet").to_pylist()
    assert {r["probe_protocol"] for r in rows if r["metric"] == "probe_acc"} == {"converged", "paper"}
