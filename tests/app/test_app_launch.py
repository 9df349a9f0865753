"""The sidebar launch form: CLI validation and messages, plan counts, and a real local sweep whose runs appear."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.app.apphelp import fill_form, no_exceptions, press, run_page
from tests.localjobs import wait_local
from warehouse import write_shard


def _top(at):
    """The launch box's first block (the messages, above the form) and the block after it (the form)."""
    blocks = list(at.sidebar.expander[0].children.values())
    assert blocks[1].type == "form", [b.type for b in blocks]
    return blocks[0]


def test_form_messages_are_at_the_top_in_the_forms_words(tmp_home):
    at = run_page("pages/11_Jobs.py")
    press(fill_form(at, **{"lf-temps": "1,,10"}), "Check")
    assert [e.value for e in _top(at).error] == [
        "launch: temperatures: '1,,10' has an empty value between commas; give values like 1,10,100"]
    press(fill_form(at, **{"lf-temps": "1,10,"}), "Check")
    assert "temperatures: '1,10,' has an empty value between commas" in _top(at).error[0].value
    press(fill_form(at, **{"lf-temps": "1,-3"}), "Check")
    assert _top(at).error[0].value == "launch: temperatures: temperature must be a positive finite number, got -3.0"
    press(fill_form(at, **{"lf-temps": "1,10", "lf-seeds": "0,1.5"}), "Check")
    assert _top(at).error[0].value.startswith("launch: seeds: "), _top(at).error[0].value
    press(fill_form(at, **{"lf-seeds": "0,1,2", "lf-extra": "colour=red"}), "Check")
    assert "more fields: line 'colour=red': unknown config field 'colour'" in _top(at).error[0].value
    assert not any("--set" in e.value for e in at.sidebar.error)
    press(fill_form(at, **{"lf-extra": "epochs=1"}), "Check")
    assert _top(at).info[0].value == "6 run(s) to submit, 0 already exist"


def test_check_shows_the_size_and_a_missing_dataset(tmp_home, tmp_path, monkeypatch):
    monkeypatch.setenv("THERMOSCOPE_DATA", str(tmp_path / "data"))
    at = run_page("pages/11_Jobs.py")
    press(at, "Check")  # the defaults: the demo sweep, 6 runs × 120 epochs × ceil(1438 / 128) = 12 steps
    top = _top(at)
    assert top.info[0].value == "6 run(s) to submit, 0 already exist"
    assert "6 run(s), 720 epochs in all, 8,640 training steps" in top.caption[0].value
    assert "roughly" in top.caption[0].value and "rough" in top.caption[0].value
    assert not top.warning and not top.error  # digits and shapes are embedded
    press(fill_form(at, **{"lf-dataset": "cifar10", "lf-extra": "epochs=2\nood="}), "Check")
    top = _top(at)
    assert "12 epochs in all, 4,692 training steps" in top.caption[0].value  # 6 × 2 × ceil(50,000 / 128)
    root = (tmp_path / "data").resolve()
    assert [w.value for w in top.warning] == [
        f"data: cifar10 is not under {root}: it will be downloaded (≈170 MB) when the job starts; offline, put "
        f"the files at {root / 'cifar-10-batches-py'}"]
    monkeypatch.setenv("THERMOSCOPE_OFFLINE", "1")
    press(at, "Launch")  # offline, the job could not get the data: refused here, nothing submitted
    top = _top(at)
    assert "THERMOSCOPE_OFFLINE=1 forbids the download" in top.error[0].value
    assert top.error[-1].value.startswith("launch: not submitted")
    assert not tmp_home.jobs.exists()


def test_the_forms_defaults_are_the_demo_sweep():
    from app.sidebar import FormValues, build_sweep
    from lab.sweeps.spec import load_sweep
    from tests.conftest import ROOT

    demo = [c.run_id for c in load_sweep(ROOT / "sweeps" / "demo.toml").configs()]
    assert len(demo) == 6
    assert [c.run_id for c in build_sweep(FormValues()).configs()] == demo


@pytest.mark.slow
def test_sidebar_launch_runs_a_real_local_sweep(tmp_home, monkeypatch):
    from app import sidebar
    from lab.sweeps import launch as launcher
    from lab.sweeps import plan as planner

    plans = []  # every plan one Launch click makes: the Check's, then the launcher's re-plan of its claimed runs

    def counted(real):
        def plan(*args, **kwargs):
            plans.append(real.__module__)
            return real(*args, **kwargs)
        return plan

    monkeypatch.setattr(planner, "plan", counted(planner.plan))  # the form's check imports it when called
    monkeypatch.setattr(launcher, "plan", counted(launcher.plan))
    at = run_page("pages/11_Jobs.py")
    fill_form(at, **{"lf-executor": "local", "lf-temps": "1,10", "lf-seeds": "0",
                 "lf-extra": "epochs=1\nwidth=16\ndepth=2\nanalysis.probe_epochs=1",
                 "lf-name": "first try", "lf-tags": "smoke, ui", "lf-note": "from the form"})
    press(at, "Launch")
    assert len(plans) == 2, plans  # one plan per click, plus the re-plan after taking the claims
    assert _top(at).success, [e.value for e in at.sidebar.error]
    sweep_id = _top(at).success[0].value.split()[1].rstrip(":")
    manifest = json.loads((tmp_home.jobs / sweep_id / "sweep.json").read_text())
    run_ids = [r for runs in manifest["jobs"].values() for r in runs]
    assert len(run_ids) == 2
    wait_local(sidebar.launched_jobs()[sweep_id], 600, "the 2-run sweep took over 10 minutes")
    at.run()  # the live section reads the shards: both runs ended
    assert "2/2 runs ended · 100 % of planned epochs" in at.get("progress")[0].proto.text
    # no ingest typed: each job loaded its own shards into the warehouse when it ended
    from warehouse.read import query

    labels = query("SELECT name, tags, note FROM run_configs", where=tmp_home)
    assert labels["name"].to_list() == ["first try"] * 2 and labels["note"].to_list() == ["from the form"] * 2
    assert [list(t) for t in labels["tags"].to_list()] == [["smoke", "ui"]] * 2
    runs = run_page("pages/1_Runs.py").dataframe[1].value
    shown = set(runs["detail"].str.replace("/Run_detail?run=", "", regex=False))
    assert shown == set(run_ids)
    statuses = set(runs["status"])
    assert statuses == {"✅ finished"}, statuses  # trained and analysed end to end
    # training itself ran: every run logged its epochs
    detail = run_page("pages/12_Run_detail.py", run=run_ids[0])
    no_exceptions(detail)
    assert detail.get("vega_lite_chart"), "the run's epoch log should be charted"
    print("statuses of the launched runs:", statuses)
    # the same form again: plan() now finds the finished runs and submits only the others
    press(at, "Check")
    finished = sum(s == "✅ finished" for s in runs["status"])
    assert _top(at).info[0].value.startswith(f"{2 - finished} run(s) to submit, {finished} already exist")


def test_jobs_page_shows_a_failure_traceback(tmp_home):
    sweep = "20261129-040000-feed00"
    folder = tmp_home.jobs / sweep
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(dict(sweep_id=sweep, executor="local", folder=str(folder),
                                                       jobs={"4242": ["r" * 16, "s" * 16]})))
    now = datetime.now(UTC)
    for rid, status, msg in (("r" * 16, "failed", "Traceback (most recent call last):\nValueError: loss is nan"),
                             ("s" * 16, "running", "")):
        write_shard("run_events", [dict(run_id=rid, sweep_id=sweep, ts=now, status=status, host="h", job_id="4242",
                                        requeues=0, epoch=1, message=msg)], owner=rid, name=f"event-1-{status}",
                    where=tmp_home)
    at = run_page("pages/11_Jobs.py")
    no_exceptions(at)
    assert "ValueError: loss is nan" in "\n".join(c.value for c in at.code)
    assert "1/2 runs ended" in at.get("progress")[0].proto.text
    cancel = next(b for b in at.button if b.label == "Cancel this sweep")
    cancel.click().run()
    assert at.warning[0].value.startswith(f"cancelled sweep {sweep}: 1 cancelled, 1 failed"), at.warning[0].value
    at.run()
    assert "2/2 runs ended" in at.get("progress")[0].proto.text
