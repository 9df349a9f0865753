"""The sidebar launch form: CLI validation and messages, plan counts, and a real local sweep whose runs appear."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from tests.app.apphelp import no_exceptions, run_page
from warehouse import write_shard


def _form(at, **values):
    for key, value in values.items():
        widget = at.selectbox(key=key) if key in ("lf-executor", "lf-preset", "lf-arch", "lf-dataset", "lf-loss") \
            else at.text_area(key=key) if key == "lf-extra" else at.text_input(key=key)
        widget.set_value(value)
    return at


def _press(at, label):
    next(b for b in at.button if b.label == label).click().run()
    no_exceptions(at)
    return at


def test_form_uses_the_cli_validation(tmp_home):
    from lab.sweep import Sweep
    from training.config import ConfigError

    at = run_page("pages/11_Jobs.py")
    _press(_form(at, **{"lf-temps": "1,-3"}), "Check")
    try:
        Sweep(base={"preset": "demo"}).with_overrides(["temperature=1,-3", "seed=0,1,2"]).configs()
    except ConfigError as exc:
        expected = f"launch: {exc}"
    assert [e.value for e in at.sidebar.error] == [expected]
    _press(_form(at, **{"lf-temps": "1,10", "lf-extra": "colour=red"}), "Check")
    assert "unknown config field 'colour'" in at.sidebar.error[0].value
    _press(_form(at, **{"lf-extra": "epochs=1", "lf-seeds": "0,1,2"}), "Check")
    assert at.sidebar.info[0].value == "6 run(s) to submit, 0 already exist"


@pytest.mark.slow
def test_sidebar_launch_runs_a_real_local_sweep(tmp_home):
    from app import sidebar
    from warehouse.ingest import ingest

    at = run_page("pages/11_Jobs.py")
    _form(at, **{"lf-executor": "local", "lf-temps": "1,10", "lf-seeds": "0",
                 "lf-extra": "epochs=1\nwidth=16\ndepth=2\nanalysis.probe_epochs=1"})
    _press(at, "Launch")
    assert at.sidebar.success, [e.value for e in at.sidebar.error]
    sweep_id = at.sidebar.success[0].value.split()[1].rstrip(":")
    manifest = json.loads((tmp_home.jobs / sweep_id / "sweep.json").read_text())
    run_ids = [r for runs in manifest["jobs"].values() for r in runs]
    assert len(run_ids) == 2
    deadline = time.monotonic() + 600
    for job in sidebar.launched_jobs()[sweep_id]:
        while not job.done():
            assert time.monotonic() < deadline, "the 2-run sweep took over 10 minutes"
            time.sleep(1)
    at.run()  # the live section reads the shards: both runs ended
    assert "2/2 runs ended" in at.get("progress")[0].proto.text
    ingest(tmp_home)
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
    _press(at, "Check")
    finished = sum(s == "✅ finished" for s in runs["status"])
    assert at.sidebar.info[0].value.startswith(f"{2 - finished} run(s) to submit, {finished} already exist")


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
