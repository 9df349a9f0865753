"""A run's name, tags, note and status messages show on the Run detail page as the text typed: markdown in them
renders nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.app import factory
from tests.app.apphelp import no_exceptions, run_page
from warehouse import home, write_shard
from warehouse.ingest import ingest

NAME = "[click me](https://evil.test) **bold**"
TAG = ":red[alarm]"
NOTE = "see [the plan](https://evil.test) and www.evil.test\n$x$ <b>second line</b>"
MESSAGE = "![pixel](https://evil.test/p.png) [retry](https://evil.test) **now**"
HOST = "node[1](https://evil.test)"


def test_labels_render_as_plain_text(tmp_path, monkeypatch):
    where = home(tmp_path / "home")
    rid = factory.build(where)[0]
    # labels as an older version or a tracked run stored them: straight into the run's config shard
    cfg = dict(arch=factory.ARCH, dataset=factory.ID, ood=[factory.OOD], temperature=1.0, seed=0, loss="ce", epochs=2)
    write_shard("run_configs", [dict(cfg, run_id=rid, sweep_id="s", config_json=json.dumps(cfg), code_version="t",
                                     created_at=factory.T0, name=NAME, tags=[TAG], note=NOTE)],
                owner=rid, name="config", where=where)
    # a status event whose host and message came from a job: the status history's table shows them as typed
    write_shard("run_events", [dict(run_id=rid, sweep_id="s", ts=factory.T0 + timedelta(minutes=9), status="finished",
                                    host=HOST, job_id="123_0", requeues=0, epoch=3, message=MESSAGE)],
                owner=rid, name="event-9-finished", where=where)
    ingest(where)
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/12_Run_detail.py", run=rid)
    no_exceptions(at)
    # the note: st.text, which parses no markdown or HTML, line break kept
    assert [e.value for e in at.get("text")] == [f"note: {NOTE}"]
    # name and tags: markdown whose every punctuation mark is escaped, so it shows the characters typed
    shown = [e.value for e in at.markdown if "click me" in e.value]
    assert len(shown) == 1
    label = shown[0]
    assert "](" not in label and "https://" not in label and ":red[" not in label
    assert label.startswith("**") and label.replace("\\", "").strip("*").startswith(NAME)
    assert TAG in label.replace("\\", "")

    (history,) = [t.value for t in at.table if "message" in t.value.columns]
    cells = [str(v) for v in history["message"].tolist() + history["host"].tolist()]
    assert any(MESSAGE in c.replace("\\", "") for c in cells) and any(HOST in c.replace("\\", "") for c in cells)
    assert not any("](" in c or "![" in c or "**" in c for c in cells)  # no link, image or emphasis survives
