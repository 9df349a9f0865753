"""Helpers for the re-analysis tests (local and Slurm): a tiny trained sweep, and what a re-analysis must leave."""

from __future__ import annotations

from lab.records.events import latest_events
from lab.records.manifest import load_manifest
from tests.slurm.slurmhelp import cli, sets

LOCAL = ["--executor", "local"]


def train_tiny_sweep(where) -> str:
    """Two tiny demo runs (T = 1, 10), checkpoints kept at epochs 0 and 2, measured with max_samples=200."""
    done = cli("-m", "training.launch", *sets(temperature="1,10"), *LOCAL, "--wait", home=where)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout.split("sweep ", 1)[1].split(":", 1)[0]


def duplicates(where) -> int:
    from warehouse.read import query

    return query("SELECT count(*) AS n FROM (SELECT run_id, epoch, layer_name, kind, dataset, split, metric, "
                 "probe_protocol, count(*) AS k FROM layer_metrics GROUP BY ALL HAVING k > 1)", where=where)["n"][0]


def reanalysed(where, sweep_id: str, *args: str):
    return cli("-m", "analysis", "reanalyse", sweep_id, *args, home=where)


def check_replaced(where, sweep_id: str, out) -> None:
    """After `reanalyse --set max_samples=100 --wait`: rows at the new cap, one per number, the tasks and runs fine."""
    from warehouse.read import query

    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    analysis_sweep = out.stdout.split("analysis sweep ", 1)[1].split(":", 1)[0]
    assert "4 finished" in out.stdout  # the status lines of the job array
    tasks = load_manifest(where, analysis_sweep).run_ids
    assert len(tasks) == 4 and all(s["status"] == "finished" for s in latest_events(tasks, where).values())
    assert duplicates(where) == 0
    caps = query("SELECT DISTINCT n_samples FROM layer_metrics WHERE metric = 'probe_acc' AND split = 'test'",
                 where=where)["n_samples"].to_list()
    assert caps == [100]  # every probe row is the new measurement's (the test splits hold more than 100)
    records = query("SELECT sweep_id, status, json_extract(settings_json, '$.max_samples')::INT AS cap FROM analyses",
                    where=where).to_dicts()
    assert len(records) == 4 and all(r == {"sweep_id": analysis_sweep, "status": "finished", "cap": 100}
                                     for r in records)
    runs = query("SELECT sweep_id, status FROM runs", where=where).to_dicts()
    assert runs == [{"sweep_id": sweep_id, "status": "finished"}] * 2  # the runs keep their own status and sweep
