"""Probe protocols in the warehouse: κ/ρ and probe curves per protocol, never mixed; runs whose converged probes did
not converge are counted, named and left out when asked; rows before v8 read as the paper protocol."""

from __future__ import annotations

import json

import pytest

from tests.warehouse.wh_helpers import write_run
from warehouse import write_shard
from warehouse.ingest import ingest
from warehouse.queries import Queries, read_query
from warehouse.read import query


def probes(where, run_id: str, protocol: str, accs: list[float], converged: list[bool], epoch: int = 3) -> list:
    rows = [dict(run_id=run_id, epoch=epoch, layer_index=i, layer_name=f"hidden{i}", kind="hidden", dataset="shapes",
                 split="test", metric="probe_acc", value=a, probe_protocol=protocol, probe_iterations=10,
                 probe_train_loss=0.1, probe_train_acc=1.0, probe_grad_norm=1e-5 if ok else 0.3, probe_converged=ok,
                 probe_note="" if ok else "stopped at the iteration cap (3)")
            for i, (a, ok) in enumerate(zip(accs, converged))]
    write_shard("layer_metrics", rows, owner=run_id, name=f"probes-{protocol}", where=where)
    bad = {f"hidden{i}": "cap" for i, ok in enumerate(converged) if not ok}
    return [  # the run's summaries, written by the caller in one shard
        dict(run_id=run_id, epoch=epoch, dataset="digits", metric="kappa", value=10.0 * (protocol == "paper") + 40,
             probe_protocol=protocol),
        dict(run_id=run_id, epoch=epoch, dataset="shapes", metric="rho", value=100 * (max(accs) - accs[-1]) / max(accs),
             probe_protocol=protocol),
        dict(run_id=run_id, epoch=epoch, dataset="shapes", metric="probes_converged", value=float(not bad),
             probe_protocol=protocol, detail=json.dumps({"not_converged": bad}))]


@pytest.fixture()
def home_with_protocols(tmp_home):
    for seed in range(2):  # T = 1: every probe converged; T = 10: seed 1's hidden2 hit its cap
        write_run(tmp_home, f"t1s{seed}", seed=seed)
        write_run(tmp_home, f"t10s{seed}", seed=seed, temperature=10.0)
        summaries = {f"t1s{seed}": probes(tmp_home, f"t1s{seed}", "converged", [0.9, 0.8, 0.7], [True] * 3),
                     f"t10s{seed}": probes(tmp_home, f"t10s{seed}", "converged", [0.9, 0.6, 0.5 + seed / 10],
                                           [True, True, seed == 0])}
        for run, rows in summaries.items():
            rows += probes(tmp_home, run, "paper", [0.5, 0.4, 0.3], [False] * 3)
            # the same shard as write_run's κ/ρ: replaced by these, as a re-analysis would
            write_shard("run_metrics", rows, owner=run, name="analysis-e0003", where=tmp_home)
    ingest(tmp_home)
    return tmp_home


def test_kappa_rho_and_probe_curves_come_from_one_protocol(home_with_protocols):
    where, q = home_with_protocols, Queries(read_query)
    conv = q.kappa_rho({}, protocol="converged", where=where)
    paper = q.kappa_rho({}, protocol="paper", where=where)
    assert conv["kappa"].to_list() == [40.0, 40.0] and paper["kappa"].to_list() == [50.0, 50.0]
    assert set(conv["probe_protocol"]) == {"converged"} and set(paper["probe_protocol"]) == {"paper"}
    assert conv.sort("temperature")["not_converged"].to_list() == [0, 1]
    assert paper["not_converged"].to_list() == [2, 2]  # the paper's budget: counted for what it is
    assert q.probe_protocols({}, where=where) == ["converged", "paper"]
    with pytest.raises(ValueError, match="unknown probe protocol 'sgd'"):
        q.kappa_rho({}, protocol="sgd", where=where)
    for use_stats in (True, False):  # layer_stats and the raw rows give the same answer
        c = q.layer_curves({"temperature": 1.0}, "probe_acc", protocol="converged", use_stats=use_stats, where=where)
        p = q.layer_curves({"temperature": 1.0}, "probe_acc", protocol="paper", use_stats=use_stats, where=where)
        assert c["mean"].to_list() == pytest.approx([0.9, 0.8, 0.7]) and c["n"].to_list() == [2, 2, 2]
        assert p["mean"].to_list() == pytest.approx([0.5, 0.4, 0.3])


def test_runs_whose_probes_did_not_converge_are_counted_named_and_left_out_when_asked(home_with_protocols):
    where, q = home_with_protocols, Queries(read_query)
    verdict = q.converged_by_temperature({}, "converged", where=where).sort("temperature")
    assert verdict.select("temperature", "runs", "converged", "not_converged").rows() == [(1.0, 2, 2, 0),
                                                                                         (10.0, 2, 1, 1)]
    assert verdict["layers"][1] == "shapes: hidden2"
    kept = q.layer_curves({"temperature": 10.0}, "probe_acc", protocol="converged", skip_unconverged=True,
                          where=where)
    assert kept["n"].to_list() == [1, 1, 1] and kept["mean"][2] == pytest.approx(0.5)  # only seed 0
    everything = q.layer_curves({"temperature": 10.0}, "probe_acc", protocol="converged", where=where)
    assert everything["n"].to_list() == [2, 2, 2]
    runs = dict(query("SELECT run_id, probes_converged FROM runs", where=where).rows())
    assert runs == {"t1s0": True, "t1s1": True, "t10s0": True, "t10s1": False}
    results = {r["run_id"]: r for r in q.run_results({}, where=where).to_dicts()}
    assert {r["probe_protocol"] for r in results.values()} == {"converged"}  # converged preferred over paper
    assert results["t10s1"]["kappa"] == 40.0 and results["t10s1"]["probes_converged"] is False
