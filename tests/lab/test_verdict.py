"""Did the run learn? The rule on rows whose answer is known, then for real: a run that learns and one kept at
chance by a huge temperature on a tiny init, through the launcher, `status` and the warehouse."""

from __future__ import annotations

import math

import pytest

from lab.records.verdict import chance_loss, judge
from tests.images import write_learnable_folders
from tests.slurm.slurmhelp import cli


@pytest.mark.parametrize("loss, c, expected", [("ce", 5, math.log(5)), ("mse", 4, 0.75)])
def test_chance_loss_is_the_uniform_predictions_loss(loss, c, expected):
    assert chance_loss(loss, c) == pytest.approx(expected)


def test_the_rule_on_rows_of_known_outcome():
    at_chance = dict(epoch=60, test_acc=0.2, train_loss=math.log(5))  # the plateau, six digits of ln 5
    assert not judge(at_chance, 5, "ce").learned
    learned = dict(epoch=60, test_acc=0.50, train_loss=1.2)
    v = judge(learned, 10, "ce")
    assert v.learned and v.detail["acc_bar"] == pytest.approx(0.19) and v.detail["num_classes"] == 10
    assert not judge(dict(epoch=3, test_acc=0.9, train_loss=0.99 * math.log(10)), 10, "ce").learned  # loss at chance
    assert not judge(learned, 10, "ce", diverged=True).learned
    assert not judge(dict(epoch=0, test_acc=0.5, train_loss=math.nan), 10, "ce").learned  # nothing trained yet


@pytest.mark.slow
def test_a_run_at_chance_is_flagged_by_status_and_in_the_warehouse(tmp_path, tmp_home):
    from warehouse.read import query

    data = write_learnable_folders(tmp_path / "bands", classes=3)
    common = ["--set", "preset=demo", "--set", f"dataset=folder:{data}", "--set", "ood=", "--set", "width=32",
              "--set", "depth=2", "--set", "epochs=12", "--set", "batch_size=16", "--set", "analysis.probe_epochs=2",
              "--set", "analysis.alignment_top_k=0"]
    learns = cli("-m", "training.launch", *common, "--set", "init=kaiming", "--set", "temperature=1",
                 "--executor", "local", "--wait", home=tmp_home)
    assert learns.returncode == 0, learns.stdout[-3000:] + learns.stderr[-3000:]
    assert "did not learn" not in learns.stdout
    # T = 10,000 on a N(0, 0.001²) init: z/T is ~0, the softmax uniform, the gradients vanish: chance throughout
    stuck = cli("-m", "training.launch", *common, "--set", "init=normal", "--set", "init_std=0.001",
                "--set", "temperature=10000", "--executor", "local", "--wait", home=tmp_home)
    assert stuck.returncode == 0, stuck.stdout[-3000:] + stuck.stderr[-3000:]
    warning = [line for line in stuck.stdout.splitlines() if "did not learn" in line]
    assert len(warning) == 1 and "init=kaiming" in warning[0], stuck.stdout
    runs = query("SELECT temperature, status, num_classes, learned FROM runs ORDER BY temperature", where=tmp_home)
    assert runs.rows() == [(1.0, "finished", 3, True), (10000.0, "finished", 3, False)]
    data_rows = query("SELECT role, num_classes, n_train, n_test FROM run_datasets", where=tmp_home)
    assert set(data_rows.rows()) == {("id", 3, 120, 60)}  # from the folders themselves
