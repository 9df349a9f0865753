"""A run's name, tags and note show on the Run detail page as the text typed: markdown in them renders nothing."""

from __future__ import annotations

import json

from tests.app import factory
from tests.app.apphelp import no_exceptions, run_page
from warehouse import home, write_shard
from warehouse.ingest import ingest

NAME = "[click me](https://evil.test) **bold**"
TAG = ":red[alarm]"
NOTE = "see [the plan](https://evil.test) and www.evil.test\n$x$ <b>second line</b>"


def test_labels_render_as_plain_text(tmp_path, monkeypatch):
    where = home(tmp_path / "home")
    rid = factory.build(where)[0]
    # labels as an older version or a tracked run stored them: straight into the run's config shard
    cfg = dict(arch=factory.ARCH, dataset=factory.ID, ood=[factory.OOD], temperature=1.0, seed=0, loss="ce", epochs=2)
    write_shard("run_configs", [dict(cfg, run_id=rid, sweep_id="s", config_json=json.dumps(cfg), code_version="t",
                                     created_at=factory.T0, name=NAME, tags=[TAG], note=NOTE)],
                owner=rid, name="config", where=where)
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
