"""A packed RunJob writes what a solo RunJob writes, run by run: same shards, same events, same figures
(real tiny runs). Figures are compared with tolerances, also inside the `detail` JSON: the packed and the
solo weights differ in their last bits, and BLAS kernels round differently between CPUs (Intel vs AMD)."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from tests.packing.helpers import TINY_ANALYSIS, assert_rows_match, tiny_configs

SKIP_TABLES = {"jobs", "run_events"}  # per job / per moment: compared by content below, not file by file
# where and when an analysis ran, and the digest of weights equal only up to rounding: they differ by nature
# where and when a job ran, not what it computed: differs between any two jobs
PROVENANCE = {"analyses": {"checkpoint", "checkpoint_sha256", "wall_s", "analysed_at"},
              "run_environments": {"started_at", "ended_at", "job_id"},
              # L-BFGS from nearly equal features may stop an iteration apart; its answer is compared (probe_acc, loss)
              "layer_metrics": {"probe_iterations", "probe_grad_norm"}}


def _shards(where) -> dict[str, pl.DataFrame]:
    return {str(p.relative_to(where.shards)): pl.read_parquet(p) for p in sorted(where.shards.rglob("*.parquet"))
            if p.relative_to(where.shards).parts[0] not in SKIP_TABLES}


def _close(a, b) -> bool:
    """Equal, floats up to rounding; JSON text (the rows' `detail`) parsed and compared the same way."""
    if isinstance(a, str) and isinstance(b, str) and a[:1] in "{[" and b[:1] in "{[":
        try:
            return _close(json.loads(a), json.loads(b))
        except json.JSONDecodeError:
            return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)
    return a == b


@pytest.fixture(scope="module", params=["auto", "grouped"])
def both(request, tmp_path_factory):
    """The same four runs through a solo RunJob (one after another) and through one packed RunJob, whose
    engine is the CPU default ('auto': the runs go solo) or stacked (grouped GEMMs, what a GPU uses)."""
    import torch

    from lab.jobs.run_job import RunJob
    from warehouse import home

    torch.set_num_threads(1)
    cfgs = tiny_configs()
    cfgs.append(cfgs[2].replace(temperature=1e-8, seed=3))  # diverges in epoch 1 (NaN loss)
    values = [c.to_dict() for c in cfgs]
    solo, packed = (home(tmp_path_factory.mktemp(n) / "home") for n in ("solo", "packed"))
    solo_status = RunJob()(values, "sweep-x", str(solo.root), TINY_ANALYSIS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THERMOSCOPE_PACK_ENGINE", request.param)
        packed_status = RunJob(pack=True)(values, "sweep-x", str(packed.root), TINY_ANALYSIS)
    return cfgs, solo, packed, solo_status, packed_status


@pytest.mark.slow
def test_statuses_and_event_sequences_match(both):
    from lab.records.events import run_events

    cfgs, solo, packed, solo_status, packed_status = both
    assert solo_status == packed_status
    assert [packed_status[c.run_id] for c in cfgs] == ["finished", "finished", "finished", "diverged"]
    for c in cfgs:
        s, p = run_events(c.run_id, solo), run_events(c.run_id, packed)
        assert [e["status"] for e in p] == [e["status"] for e in s]
        assert [e["epoch"] for e in p] == [e["epoch"] for e in s]
        assert "packed with 3 other run(s)" in p[0]["message"]
    jobs = pl.read_parquet(list((packed.shards / "jobs").rglob("end-*.parquet")))
    assert sorted(jobs["run_id"].to_list()) == sorted(c.run_id for c in cfgs)
    assert set(jobs["state"].to_list()) == {"COMPLETED"}


def test_every_shard_a_solo_run_writes_is_written_with_the_same_rows(both):
    cfgs, solo, packed, *_ = both
    s, p = _shards(solo), _shards(packed)
    assert sorted(p) == sorted(s)
    assert any(k.startswith("layer_metrics/") for k in s) and any(k.startswith("epochs/") for k in s)
    for name, frame in s.items():
        other = p[name]
        assert other.columns == frame.columns and other.schema == frame.schema, name
        assert other.height == frame.height, name
        if name.startswith("epochs/"):
            assert_rows_match(other.to_dicts(), frame.to_dicts())
            continue
        # analysis rows of nearly equal weights: identifiers equal, figures equal up to rounding
        skip = PROVENANCE.get(name.split("/")[0], set())
        for a, b in zip(other.to_dicts(), frame.to_dicts()):
            bad = {k: (a[k], b[k]) for k in b if k not in skip and not _close(a[k], b[k])}
            assert not bad, (name, bad)
