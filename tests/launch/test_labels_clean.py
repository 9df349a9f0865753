"""Run names, tags and notes go in clean: no control characters, a length cap refused with one line."""

from __future__ import annotations

import pytest

from lab.records.configs import RunLabels
from tests.slurm.slurmhelp import cli, sets
from thermoscope.text import NAME_MAX, NOTE_MAX, TAG_MAX, TAGS_MAX, strip_controls
from training.config import ConfigError


def test_control_and_format_characters_are_stripped():
    labels = RunLabels.typed("\x1b[31mred\x1b[0m run\x00", ["ok\x07", "\u202eevil\u202c", "a\tb", "\x85"],
                             "line one\r\nline two\rthree\x1b]0;title\x07\x7f\u200b")
    assert labels == RunLabels("[31mred[0m run", ("ok", "evil", "a b"), "line one\nline two\nthree]0;title")
    assert not any(ord(c) < 32 and c != "\n" for c in labels.name + "".join(labels.tags) + labels.note)
    # a name is one line; a note keeps its line breaks; ordinary text and emoji are left alone
    assert strip_controls("a\nb") == "a b" and strip_controls("a\u2028b", keep_newlines=True) == "a\nb"
    assert strip_controls("Größe · 温度 🌡️ é") == "Größe · 温度 🌡️ é"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(name="n" * (NAME_MAX + 1)), f"the name has {NAME_MAX + 1:,} characters; at most {NAME_MAX:,}"),
    (dict(tags=["t" * (TAG_MAX + 1)]), f"at most {TAG_MAX:,} are stored"),
    (dict(tags=[f"t{i}" for i in range(TAGS_MAX + 1)]), f"at most {TAGS_MAX} are stored"),
    (dict(note="x" * 100_000), f"the note has 100,000 characters; at most {NOTE_MAX:,}"),
])
def test_a_label_past_its_cap_is_refused_with_one_line(kwargs, fragment):
    with pytest.raises(ConfigError) as caught:
        RunLabels.typed(**kwargs)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_labels_at_their_caps_are_kept_whole():
    labels = RunLabels.typed("n" * NAME_MAX, [f"{i:0{TAG_MAX}d}" for i in range(TAGS_MAX)], "x" * NOTE_MAX)
    assert len(labels.name) == NAME_MAX and len(labels.tags) == TAGS_MAX and len(labels.note) == NOTE_MAX


def test_the_cli_refuses_a_long_note_and_writes_nothing(tmp_home):
    done = cli("-m", "training.launch", *sets(epochs=1), "--executor", "local", "--note", "x" * (NOTE_MAX + 1),
               home=tmp_home)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stdout + done.stderr
    assert "the note has 2,001 characters" in done.stderr
    assert not tmp_home.root.exists() or not any(tmp_home.shards.rglob("*.parquet"))
