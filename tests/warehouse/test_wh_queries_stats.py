"""The dashboard's aggregate queries on a real ingested DuckDB file: honest std, positive bands, split fields."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tests.warehouse.wh_helpers import write_run
from warehouse import write_shard
from warehouse.ingest import ingest
from warehouse.queries import Queries, band_kind


@pytest.fixture(scope="module")
def stats_home(tmp_path_factory):
    """T=1: seeds 0 and 1 whose logits norm is 1 and 100 at every epoch (mean 50.5, std 70.0), train loss NaN at
    epoch 0; T=10: one seed. A second T=1 group trained for 5 epochs (the split field)."""
    from warehouse import home

    where = home(tmp_path_factory.mktemp("stats") / "home")
    for rid, t, seed, norm in (("a0", 1.0, 0, 1.0), ("a1", 1.0, 1, 100.0), ("b0", 10.0, 0, 7.0)):
        write_run(where, rid, temperature=t, seed=seed)
        write_shard("epochs", [dict(run_id=rid, epoch=e, logits_norm=norm, train_loss=math.nan if e == 0 else 1.0 / e,
                                    test_acc=0.9 + 0.05 * seed, rank_pre_softmax=9, rank_post_softmax=9)
                               for e in range(4)], owner=rid, name="epochs", where=where)
    write_run(where, "c0", temperature=1.0, seed=0, epochs=5)
    ingest(where)
    return where


def test_band_of_a_norm_stays_positive_and_std_is_null_for_one_seed(stats_home):
    frame = Queries().epoch_curves({"epochs": 3}, ("logits_norm", "train_loss", "test_acc"), where=stats_home)
    pair = frame.filter((pl.col("temperature") == 1.0) & (pl.col("quantity") == "logits_norm") & (pl.col("epoch") == 2))
    row = pair.row(0, named=True)
    assert (row["mean"], row["n"]) == (pytest.approx(50.5), 2)
    assert row["std"] == pytest.approx(99 / math.sqrt(2))
    assert 0 < row["lo"] < row["mean"] and row["hi"] == pytest.approx(50.5 + 99 / math.sqrt(2))
    one = frame.filter(pl.col("temperature") == 10.0)
    assert set(one["n"]) == {1} and one["std"].is_null().all() and one["lo"].is_null().all()
    # NaN (train loss before training) is left out, not averaged into a NaN mean
    assert frame.filter((pl.col("quantity") == "train_loss") & (pl.col("epoch") == 0)).is_empty()
    # accuracy bands are clipped to [0, 1]: 0.9 and 0.95 -> hi 0.925 + 0.035
    acc = frame.filter((pl.col("quantity") == "test_acc") & (pl.col("temperature") == 1.0)).row(0, named=True)
    assert acc["hi"] == pytest.approx(0.925 + 0.05 / math.sqrt(2)) and acc["hi"] <= 1.0
    assert (frame["lo"].drop_nulls() > 0).all()


def test_split_by_carries_the_field_and_keeps_groups_apart(stats_home):
    q = Queries()
    frame = q.epoch_curves({}, ("logits_norm",), split_by="epochs", where=stats_home)
    assert set(frame["epochs"]) == {3, 5}
    per = frame.filter(pl.col("epoch") == 1).group_by("temperature", "epochs").agg(pl.col("n").sum()).sort(pl.all())
    assert per.rows() == [(1.0, 3, 2), (1.0, 5, 1), (10.0, 3, 1)]
    layers = q.layer_curves({}, "rank", split_by="epochs", where=stats_home)
    raw = q.layer_curves({}, "rank", split_by="epochs", use_stats=False, where=stats_home)
    cols = ["temperature", "epochs", "layer_index", "mean", "n"]
    assert layers.select(cols).sort(cols).equals(raw.select(cols).sort(cols))
    assert layers.filter(pl.col("n") == 1)["std"].is_null().all()
    kr = q.kappa_rho({}, split_by="epochs", where=stats_home)
    assert set(kr["epochs"]) == {3, 5} and kr.filter(pl.col("n") == 1)["kappa_std"].is_null().all()
    with pytest.raises(ValueError, match="not a config field"):
        q.epoch_curves({}, split_by="nonsense", where=stats_home)
    with pytest.raises(ValueError, match="seed"):
        q.layer_curves({}, "rank", split_by="seed", where=stats_home)


def test_layer_curves_every_epoch_and_summaries_at_an_epoch(stats_home):
    q = Queries()
    assert set(q.layer_curves({}, "rank", epoch="all", where=stats_home)["epoch"]) == {3, 5}
    assert set(q.layer_curves({}, "rank", where=stats_home)["epoch"]) == {3, 5}  # each group's last
    at3 = q.summary_by_temperature({}, ["kappa"], epoch=3, split_by="epochs", where=stats_home)
    assert set(at3["epochs"]) == {3} and set(at3["epoch"]) == {3}
    row = at3.filter(pl.col("temperature") == 1.0).row(0, named=True)
    assert (row["mean"], row["n"], row["std"]) == (50.5, 2, pytest.approx(math.sqrt(0.5)))
    assert q.summary_by_temperature({}, ["kappa"], epoch=4, where=stats_home).is_empty()


def test_band_kinds():
    assert band_kind("rank") == band_kind("logits_norm") == band_kind("train_loss") == "positive"
    assert band_kind("probe_acc") == band_kind("auroc_msp") == band_kind("test_acc") == "fraction"
    assert band_kind("kappa") == band_kind("rho") == "linear"
