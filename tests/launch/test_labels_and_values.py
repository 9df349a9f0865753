"""Run names, tags and notes reach the warehouse from the CLI; value lists with gaps are refused."""

from __future__ import annotations

import pytest

from lab.records.configs import RunLabels
from lab.sweeps.spec import parse_set
from tests.slurm.slurmhelp import cli, foreign_checkpoint, sets
from training.config import ConfigError


@pytest.mark.parametrize("raw", ["1,,10", "1,10,", ",1", " , "])
def test_values_with_gaps_or_trailing_commas_are_refused(raw):
    with pytest.raises(ConfigError, match="empty value between commas|has no values"):
        parse_set(f"temperature={raw}")
    assert parse_set("temperature= 1, 10 ,100") == ("temperature", (1.0, 10.0, 100.0))


def test_labels_as_typed():
    assert RunLabels.typed(" a run ", ["x, y", "y", " ", "z"], " n ") == RunLabels("a run", ("x", "y", "z"), "n")
    assert RunLabels.typed(tags="smoke, ui,,") == RunLabels("", ("smoke", "ui"), "")


@pytest.mark.slow
def test_name_tags_and_note_are_stored_with_every_launched_run(tmp_home, tmp_path):
    # runs that fail at once (a checkpoint of another model): the labels are stored at submission anyway
    done = cli("-m", "training.launch", *sets(epochs=1, seed="0,1", pretrained=foreign_checkpoint(tmp_path / "o.pt")),
               "--executor", "local", "--wait", "--name", "labelled", "--tag", "a", "--tag", "b,c",
               "--note", "why I ran it", home=tmp_home)
    assert done.returncode == 1, done.stdout + done.stderr  # the runs failed, as built
    from warehouse.read import query

    rows = query("SELECT name, tags, note FROM run_configs", where=tmp_home)
    assert len(rows) == 2
    assert rows["name"].to_list() == ["labelled"] * 2 and rows["note"].to_list() == ["why I ran it"] * 2
    assert [list(t) for t in rows["tags"].to_list()] == [["a", "b", "c"]] * 2
