"""Paper check reads only the paper's configurations (Queries.kappa_rho(any_of=paper.configurations())): the
same comparison as over every seed group of the warehouse, without aggregating the groups it never shows."""

from __future__ import annotations

import polars as pl
import pytest

from app import paper
from tests.app import factory
from warehouse import home
from warehouse.queries import Queries


def test_paper_scope_gives_the_comparison_of_the_whole_warehouse(tmp_path, monkeypatch):
    monkeypatch.setattr(factory, "OOD", "svhn")  # the paper's ρ for CIFAR is on SVHN
    where = home(tmp_path / "scope")
    # resnet18 / cifar10 / ce at T = 1, 10 is in the paper's Table 2; its MSE runs and the MLP runs are not
    factory.build(where, archs=("resnet18", "mlp"), dataset="cifar10", extra_loss=True)
    q = Queries()
    everything = q.kappa_rho({}, protocol="paper", where=where)
    scoped = q.kappa_rho({}, protocol="paper", any_of=paper.configurations(), where=where)
    assert set(everything["arch"]) == {"resnet18", "mlp"} and set(everything["loss"]) == {"ce", "mse"}
    assert scoped.select("arch", "dataset", "loss").unique().rows() == [("resnet18", "cifar10", "ce")]
    assert scoped.height == 2 < everything.height  # one seed group per temperature, nothing else aggregated
    key = ["model", "slot", "quantity"]
    want, got = paper.compare(everything).sort(key), paper.compare(scoped).sort(key)
    assert got.height == want.height == 6  # κ, ρ and SR at T = 1 and 10
    assert got.drop("config_group").equals(want.drop("config_group"))
    kappa10 = got.filter((pl.col("slot") == "T=10") & (pl.col("quantity") == "κ")).row(0, named=True)
    assert kappa10["measured"] == pytest.approx((factory.kappa(10.0, 0) + factory.kappa(10.0, 1)) / 2)


def test_paper_configurations_cover_every_reported_cell():
    configs = paper.configurations()
    rows = paper.reported()
    for r in rows.iter_rows(named=True):
        match = [c for c in configs if (c["arch"], c["dataset"], c["loss"]) == (r["arch"], r["dataset"], r["loss"])]
        assert len(match) == 1
        assert "temperature" not in match[0] or r["temperature"] in match[0]["temperature"]
    # the MSE rows' 'low logits norm' temperature is found among the runs: no temperature is fixed for them
    assert [c for c in configs if c["loss"] == "mse"] == [{"arch": "resnet34", "dataset": "cifar100", "loss": "mse"}]
