"""The Jobs page as a live monitor, with real local sweeps: one that finished, one whose run failed before
training; progress, expanded failures, links to the sweep's pages, Ingest now, and reaped local jobs."""

from __future__ import annotations

import time

import psutil
import pytest

from lab.records.events import latest_statuses
from tests.app.apphelp import no_exceptions, run_page, texts
from tests.slurm.slurmhelp import foreign_checkpoint
from thermoscope.status import TERMINAL
from warehouse import write_shard

TINY = "epochs=1\nwidth=16\ndepth=2\nanalysis.probe_epochs=1\nanalysis.max_samples=200"


def _submit(tmp_home, **values):
    from app.sidebar import FormValues, submit

    result = submit(FormValues(executor="local", seeds="0", **values), where=tmp_home)
    assert result.jobs, "nothing was submitted"
    return result


def _wait_ended(tmp_home, result, timeout=400):
    """Until every run reported its end in the shards and the job processes exited (left as zombies: nobody
    in this test has waited for them; the page must)."""
    deadline = time.monotonic() + timeout
    ids = [c.run_id for c in result.runs]
    procs = [psutil.Process(job._process.pid) for job in result.jobs]
    while True:
        ended = all(latest_statuses(ids, tmp_home).get(r) in TERMINAL for r in ids)
        exited = all(p.status() == psutil.STATUS_ZOMBIE for p in procs)
        if ended and exited:
            return procs
        assert time.monotonic() < deadline, "a 1-epoch local sweep took too long"
        time.sleep(0.2)


def _expander(at, sweep_id):
    return next(e for e in at.expander if sweep_id in e.label)


@pytest.mark.slow
def test_jobs_page_monitors_a_finished_and_a_failed_local_sweep(tmp_home, tmp_path, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_JOB_INGEST", "0")  # so that Ingest now has something to load
    ok = _submit(tmp_home, temperatures="10", extra=TINY, name="monitor ok")
    allowed = tmp_home.root / "data"  # the form takes paths only under the data roots (default: the home's data/)
    allowed.mkdir(parents=True)
    bad = _submit(tmp_home, temperatures="1", extra=TINY + f"\npretrained={foreign_checkpoint(allowed / 'x.pt')}")
    procs = _wait_ended(tmp_home, ok) + _wait_ended(tmp_home, bad)

    at = run_page("pages/11_Jobs.py")
    no_exceptions(at)
    for p in procs:  # the page collected the finished jobs: no zombie children left
        assert not p.is_running(), p
    bars = {p.proto.text for p in at.get("progress")}
    assert "1/1 runs ended · 100 % of planned epochs" in bars, bars
    assert "1/1 runs ended (1 failed) · 0 % of planned epochs" in bars, bars  # never trained: not 100 %
    failed = _expander(at, bad.sweep_id)
    assert failed.proto.expanded, "a failed sweep is open"
    assert failed.error[0].value == f"run {bad.runs[0].run_id} failed (T=1, seed 0)"
    assert "Traceback" in failed.code[0].value
    done = _expander(at, ok.sweep_id)
    assert not done.proto.expanded
    assert f"(/Runs?sweep={ok.sweep_id})" in done.markdown[0].value
    assert f"(/?sweep={ok.sweep_id})" in done.markdown[0].value
    row = done.dataframe[0].value.iloc[0]
    assert (row["name"], row["T"], row["seed"], row["epoch"], row["epochs"]) == ("monitor ok", 10.0, 0, 1, 1)
    assert 0.0 <= row["test_acc"] <= 1.0 and row["train_loss"] > 0
    assert "Nothing ingested yet" in texts(at)

    next(b for b in at.button if b.label == "Ingest now").click().run()
    no_exceptions(at)
    assert at.success[0].value.startswith("ingested "), at.success[0].value
    assert "Sweeps in the warehouse" in texts(at)
    shown = set(at.dataframe[-1].value["sweep_id"])
    assert shown == {ok.sweep_id, bad.sweep_id}


def test_eta_and_progress_from_the_shards(tmp_home):
    """A run at epoch 3 of 10 whose epochs took 10 s each: ETA 70 s, 30 % of planned epochs."""
    import json

    from app import jobs
    from lab.records.events import write_run_event

    sweep = "20261202-000000-abc123"
    folder = tmp_home.jobs / sweep
    folder.mkdir(parents=True)
    manifest = folder / "sweep.json"
    manifest.write_text(json.dumps(dict(sweep_id=sweep, executor="local", folder=str(folder),
                                        jobs={"1": ["a" * 16], "2": ["b" * 16]})))
    for rid, epochs in (("a" * 16, 10), ("b" * 16, 5)):
        write_shard("run_configs", [dict(run_id=rid, sweep_id=sweep, epochs=epochs, temperature=2.0, seed=1,
                                         name="")], owner=rid, name="config", where=tmp_home)
    write_shard("epochs", [dict(run_id="a" * 16, epoch=e, wall_s=10.0 * e + 1, train_loss=1.0 / (e + 1),
                                test_acc=0.1 * e) for e in range(4)], owner="a" * 16, name="epochs", where=tmp_home)
    write_run_event(tmp_home, "a" * 16, sweep, "running")
    write_run_event(tmp_home, "b" * 16, sweep, "failed", message="boom")  # failed before any epoch
    state = jobs.sweep_state(manifest, tmp_home)
    assert state.progress == pytest.approx(3 / 15)
    assert state.summary() == "1/2 runs ended (1 failed) · 20 % of planned epochs"
    table = jobs.run_table(state, tmp_home)
    a = table.filter(table["run_id"] == "a" * 16).row(0, named=True)
    assert (a["epoch"], a["epochs"], a["eta"], a["T"], a["seed"]) == (3, 10, "70 s", 2.0, 1)
    assert a["train_loss"] == pytest.approx(0.25) and a["test_acc"] == pytest.approx(0.3)
    b = table.filter(table["run_id"] == "b" * 16).row(0, named=True)
    assert (b["epoch"], b["eta"], b["message"]) == (None, "", "boom")


def test_jobs_is_one_click_away_on_every_page(tmp_home):
    """Streamlit folds its page list after 10 pages; the sidebar's first element links to Jobs instead."""
    at = run_page("Home.py")
    no_exceptions(at)
    first = next(iter(at.sidebar.children.values()))
    assert first.proto.page == "Jobs" and "Jobs" in first.proto.label, first.proto
    # a page run on its own (no app page list): the same link as markdown
    alone = run_page("pages/2_Rank.py")
    assert "(/Jobs)" in next(iter(alone.sidebar.children.values())).value
