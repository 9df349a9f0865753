"""A run whose analysis meets NaN activations fails with a one-line reason naming run and layer, and
loses nothing already measured (issue 4)."""

import pyarrow.parquet as pq
import pytest
import torch

from analysis import AnalysisError, AnalysisSettings
from lab.jobs.pipeline import analyse_run, prepare_run, train_runs
from training import checkpoint as ckpt
from training.config import make_config


def test_nan_in_the_head_keeps_the_hidden_layers_rows(tmp_home):
    torch.set_num_threads(1)
    cfg = make_config(preset="demo", epochs=1, width=16, depth=3)
    settings = AnalysisSettings(probe_epochs=1, max_samples=200)
    run = prepare_run(cfg, device=torch.device("cpu"))
    train_runs([run], tmp_home)
    last = tmp_home.checkpoint_dir(cfg.run_id) / "epoch0001.pt"
    state = ckpt.load(last)
    state["model"]["head.weight"].fill_(float("nan"))  # the logits become NaN; hidden layers stay finite
    ckpt.save_atomic(state, last)

    with pytest.raises(AnalysisError) as info:
        analyse_run(run, tmp_home, settings)
    message = str(info.value)
    assert cfg.run_id in message and "logits" in message and "\n" not in message

    # the checkpoint analysed before the broken one keeps its rows; whatever the broken one measured
    # before the bad layer (err.rows) is written too
    kept = pq.read_table(tmp_home.shards / "layer_metrics" / cfg.run_id / "analysis-e0000.parquet").to_pylist()
    assert {r["layer_name"] for r in kept if r["metric"] == "rank"} >= {"hidden1", "hidden2", "hidden3", "logits"}
    partial = tmp_home.shards / "layer_metrics" / cfg.run_id / "analysis-e0001.parquet"
    assert pq.read_table(partial).num_rows == len(info.value.rows.get("layer_metrics", []))
    # and the epoch's analyses record says it failed, and why, so a re-analysis does not skip it
    (record,) = pq.read_table(tmp_home.shards / "analyses" / cfg.run_id / "analysis-e0001.parquet").to_pylist()
    assert record["status"] == "failed" and "NaN/inf" in record["message"]
