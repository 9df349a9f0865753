"""Final results per run (Queries.run_results) and per group (Queries.group_results) on a real warehouse.

The trained runs come from tests/app/factory.py, whose formulas give every final number; two outside runs are
added the way lab/outside/runs.py and lab/outside/tracker.py write them: an analysed network (no seed, no training log,
a name, tags and a note) and a tracked one whose only logged epoch is 0 (NaN loss, as the loop logs it).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import polars as pl
import pytest

from tests.app import factory
from warehouse import home, write_shard
from warehouse.ingest import ingest
from warehouse.queries import Queries

OUTSIDE_SWEEP = "20261130-120000-outside"
ANALYSED, TRACKED = "out0analysed0000", "out0tracked00000"


def add_outside_runs(where) -> None:
    """Two runs Thermoscope did not train, in a sweep of their own; then ingest."""
    for rid, source, name, tags, note, t in ((ANALYSED, "analysed", "hub resnet", ["baseline", "hub"],
                                              "weights from the model hub", 2.0),
                                             (TRACKED, "tracked", "my loop", [], "", 5.0)):
        cfg = dict(source=source, arch="custom_net", dataset=factory.ID, ood=[factory.OOD, "noise"], temperature=t)
        write_shard("run_configs", [dict(run_id=rid, sweep_id=OUTSIDE_SWEEP, arch="custom_net", dataset=factory.ID,
                                         ood=[factory.OOD, "noise"], temperature=t, source=source, name=name,
                                         tags=tags, note=note, config_json=json.dumps(cfg, sort_keys=True),
                                         code_version="test", created_at=factory.T0 + timedelta(days=1))],
                    owner=rid, name="config", where=where)
        write_shard("run_events", [dict(run_id=rid, sweep_id=OUTSIDE_SWEEP, ts=factory.T0 + timedelta(days=1),
                                        status="finished", host="laptop", job_id="", requeues=0, epoch=0,
                                        message="")], owner=rid, name="event-finished", where=where)
    # the analysed network: summaries only; rho and AUROC on two OOD sets
    rows = [("kappa", factory.ID, 42.0), ("solution_rank", factory.ID, 7.0), ("rho", factory.OOD, 20.0),
            ("rho", "noise", 30.0), ("auroc_msp", factory.OOD, 0.61), ("auroc_energy", "noise", 0.93),
            ("auroc_msp", "noise", 0.90), ("learned", factory.ID, 1.0)]
    write_shard("run_metrics", [dict(run_id=ANALYSED, epoch=0, dataset=d, metric=m, value=v, detail="{}")
                                for m, d, v in rows], owner=ANALYSED, name="summary", where=where)
    # the tracked run logged epoch 0 only: no loss yet (NaN), an accuracy and a norm
    write_shard("epochs", [dict(run_id=TRACKED, epoch=0, step=0, train_loss=math.nan, train_acc=math.nan,
                                test_acc=0.25, lr=0.1, logits_norm=3.5, logits_fro_norm=1.0, rank_pre_softmax=9,
                                rank_post_softmax=9, eval_samples=64, wall_s=0.0)],
                owner=TRACKED, name="epochs", where=where)
    ingest(where)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    where = home(tmp_path_factory.mktemp("results-home"))
    ids = factory.build(where, extra_loss=True)
    add_outside_runs(where)
    return where, ids


def by_id(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["run_id"]: r for r in frame.iter_rows(named=True)}


def test_final_results_of_trained_runs_match_what_the_jobs_wrote(wh):
    where, ids = wh
    rows = by_id(Queries().run_results(where=where))
    assert len(rows) == len(ids) + 2
    for loss in ("ce", "mse"):
        for t in factory.TEMPS:
            for seed in factory.SEEDS:
                r = rows[factory.run_id(factory.ARCH, t, seed, loss)]
                assert r["final_epoch"] == factory.EPOCHS[-1]
                assert r["test_acc"] == pytest.approx(0.6 + 0.1 * 2 - 0.001 * t)
                assert r["train_acc"] == pytest.approx(0.7)
                assert r["train_loss"] == pytest.approx(1 / 3)
                assert r["logits_norm"] == pytest.approx(30 / t)
                assert r["solution_rank"] == pytest.approx(9 - (t > 5))
                assert r["kappa"] == pytest.approx(factory.kappa(t, seed) + factory.LOSS_BUMP[loss])
                assert r["rho"] == pytest.approx(factory.rho(t, seed))
                # the factory's AUROCs: msp 0.7 + T/100, energy 0.75, neco 0.8 + seed/100
                assert r["best_auroc"] == pytest.approx(max(0.7 + t / 100, 0.75, 0.8 + seed / 100))
                if seed == 1:
                    assert r["best_auroc_by"] == f"neco on {factory.OOD}"
                assert (r["status"], r["seed"], r["loss"], r["ood"]) == ("finished", seed, loss, factory.OOD)


def test_outside_runs_have_nulls_where_they_have_no_number(wh):
    where, _ = wh
    rows = by_id(Queries().run_results(where=where))
    a, t = rows[ANALYSED], rows[TRACKED]
    # an analysed network: no training log at all, no seed; its summaries are its own
    assert a["seed"] is None and a["source"] == "analysed"
    assert (a["name"], a["tags"], a["note"]) == ("hub resnet", "baseline, hub", "weights from the model hub")
    for col in ("final_epoch", "test_acc", "train_acc", "train_loss", "logits_norm"):
        assert a[col] is None, col
    assert a["kappa"] == pytest.approx(42.0) and a["solution_rank"] == pytest.approx(7.0)
    assert a["rho"] == pytest.approx(25.0)  # mean over its two OOD sets
    assert a["best_auroc"] == pytest.approx(0.93) and a["best_auroc_by"] == "energy on noise"
    assert a["learned"] is True and a["ood"] == f"{factory.OOD}+noise"
    # a tracked run at epoch 0: NaN loss is no loss (NULL), the logged accuracy and norm are kept
    assert t["final_epoch"] == 0 and t["train_loss"] is None and t["train_acc"] is None
    assert t["test_acc"] == pytest.approx(0.25) and t["logits_norm"] == pytest.approx(3.5)
    for col in ("kappa", "rho", "solution_rank", "best_auroc", "learned"):
        assert t[col] is None, col
    assert (t["name"], t["tags"], t["note"]) == ("my loop", "", "")


def test_filters_and_run_ids_narrow_in_sql(wh):
    where, ids = wh
    q = Queries()
    hot = q.run_results({"temperature": 10.0, "loss": "ce"}, where=where)
    assert sorted(hot["run_id"].to_list()) == sorted(factory.run_id(factory.ARCH, 10.0, s) for s in factory.SEEDS)
    assert sorted(q.run_results({"sweep_id": OUTSIDE_SWEEP}, where=where)["run_id"].to_list()) == sorted(
        [ANALYSED, TRACKED])
    two = q.run_results(run_ids=[ids[0], ANALYSED, "no-such-run"], where=where)
    assert sorted(two["run_id"].to_list()) == sorted([ids[0], ANALYSED])


def test_group_mean_std_and_n_std_only_from_two_runs(wh):
    where, _ = wh
    results = Queries().run_results(where=where)
    groups = Queries.group_results(results, ["arch", "loss", "temperature"])
    ce10 = groups.filter((pl.col("arch") == factory.ARCH) & (pl.col("loss") == "ce") & (pl.col("temperature") == 10.0))
    assert ce10.height == 1 and ce10["N"][0] == 2
    kappas = [factory.kappa(10.0, s) for s in factory.SEEDS]
    assert ce10["kappa_mean"][0] == pytest.approx(sum(kappas) / 2)
    assert ce10["kappa_std"][0] == pytest.approx(factory.expected_std(kappas))
    assert ce10["kappa_n"][0] == 2
    assert ce10["test_acc_std"][0] == pytest.approx(0.0, abs=1e-12)  # equal across seeds: a real zero, n = 2
    # one run per group: a mean and n = 1, never a std of 0
    one = groups.filter(pl.col("arch") == "custom_net").sort("temperature")
    assert one["N"].to_list() == [1, 1]
    for col in ("kappa", "test_acc", "logits_norm"):
        assert one[f"{col}_std"].null_count() == 2, col
    assert one["kappa_n"].to_list() == [1, 0] and one["kappa_mean"][0] == pytest.approx(42.0)
    assert one["train_loss_n"].to_list() == [0, 0] and one["train_loss_mean"].null_count() == 2
    # n counts the runs that have the number: the two outside runs together have one test accuracy
    both = Queries.group_results(results.filter(pl.col("arch") == "custom_net"), ["arch"])
    assert (both["N"][0], both["test_acc_n"][0], both["test_acc_std"][0]) == (2, 1, None)
    assert both["rho_mean"][0] == pytest.approx(25.0)
