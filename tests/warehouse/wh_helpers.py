"""Synthetic rows for warehouse tests: small, deterministic, in the schema's shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from tests.conftest import ROOT
from warehouse import Home, write_shard


def config_row(run_id: str, *, arch="mlp", dataset="digits", temperature=1.0, seed=0, epochs=3) -> dict:
    cfg = dict(arch=arch, dataset=dataset, temperature=temperature, seed=seed, epochs=epochs, loss="ce")
    return dict(run_id=run_id, sweep_id="sweep0", arch=arch, dataset=dataset, ood=["shapes"], temperature=temperature,
                seed=seed, loss="ce", preset="demo", epochs=epochs, milestones=[], config_json=json.dumps(cfg, sort_keys=True),
                code_version="abc", created_at=datetime.now(UTC))


def write_run(where: Home, run_id: str, *, temperature=1.0, seed=0, layers=3, epochs=3, status="finished",
              message="") -> None:
    """A whole small run: config, events, epoch log, layer ranks, kappa/rho, an alignment matrix."""
    write_shard("run_configs", [config_row(run_id, temperature=temperature, seed=seed, epochs=epochs)],
                owner=run_id, name="config", where=where)
    for k, st in enumerate(["queued", "running", status]):
        write_shard("run_events", [dict(run_id=run_id, sweep_id="sweep0", ts=datetime(2026, 1, 1, 0, k, tzinfo=UTC),
                                        status=st, host="node1", job_id="" if st == "queued" else "77_1",
                                        epoch=epochs if k == 2 else 0, message=message if k == 2 else "")],
                    owner=run_id, name=f"event-{k}", where=where)
    write_shard("epochs", [dict(run_id=run_id, epoch=e, logits_norm=1.0 + e / temperature, rank_pre_softmax=9,
                                rank_post_softmax=9) for e in range(epochs + 1)], owner=run_id, name="epochs", where=where)
    write_shard("layer_metrics", [dict(run_id=run_id, epoch=epochs, layer_index=i, layer_name=f"hidden{i}", kind="hidden",
                                       dataset="digits", split="test", metric="rank", value=float(10 * i + seed))
                                  for i in range(layers)], owner=run_id, name=f"analysis-e{epochs:04d}", where=where)
    write_shard("run_metrics", [dict(run_id=run_id, epoch=epochs, dataset=d, metric=m, value=v)
                                for d, m, v in [("digits", "kappa", 50.0 + seed), ("shapes", "rho", 10.0 + seed)]],
                owner=run_id, name=f"analysis-e{epochs:04d}", where=where)
    write_shard("alignment", [dict(run_id=run_id, epoch=epochs, layer_index=1, layer_name="hidden1", i=i, j=j,
                                   cosine=1.0 if i == j else 0.0) for i in range(3) for j in range(3)],
                owner=run_id, name=f"analysis-e{epochs:04d}", where=where)


def cli(*args: str, where: Home, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root))
    return subprocess.run([sys.executable, "-m", "warehouse", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
