"""The report's launch commands (app/reproduce.py): configs made by the launcher's own code, commands read back
the way the launcher reads `--set`, and the run ids they plan compared with the configs' own ids."""

from __future__ import annotations

import json
import shlex

from app.reproduce import commands, planned_ids, set_text
from training.config import make_config


def stored(configs, analysis: dict | None = None) -> list[tuple[str, str, str]]:
    return [(c.run_id, c.to_json(), json.dumps(analysis or {})) for c in configs]


def test_a_full_grid_is_one_command_that_plans_exactly_its_runs():
    configs = [make_config(preset="demo", temperature=t, seed=s, epochs=3) for t in (1.0, 10.0, 100.0) for s in (0, 1)]
    [cmd] = commands(stored(configs, {"probe_epochs": 3, "alignment_top_k": 0}))
    assert cmd.exact and set(cmd.run_ids) == {c.run_id for c in configs}
    assert cmd.text == ("python -m training.launch --set preset=demo --set arch=mlp --set dataset=digits "
                        "--set ood=shapes --set temperature=1,10,100 --set seed=0,1 --set epochs=3 "
                        "--set analysis.probe_epochs=3 --set analysis.alignment_top_k=0")


def test_points_that_are_no_grid_become_several_exact_commands():
    # a grid over T x seed, plus two single points with other fields (as [[points]] make them)
    configs = [make_config(preset="demo", temperature=t, seed=s) for t in (1.0, 10.0) for s in (0, 1)]
    configs += [make_config(preset="demo", temperature=50.0, seed=0, init="kaiming", layernorm=True),
                make_config(preset="demo", temperature=1.0, seed=0, lr=1e-5, ood=(), milestones=(3, 7))]
    cmds = commands(stored(configs))
    assert all(c.exact for c in cmds) and len(cmds) == 3
    assert sorted(r for c in cmds for r in c.run_ids) == sorted(c.run_id for c in configs)
    texts = " | ".join(c.text for c in cmds)
    assert "--set init=kaiming" in texts and "--set layernorm=true" in texts
    assert "--set lr=1e-05" in texts and "--set ood= " in texts and "--set milestones=3+7" in texts


def test_commands_read_back_as_the_launcher_reads_them():
    configs = [make_config(preset="cifar_resnet", arch="resnet18", dataset="cifar10", ood=("svhn", "cifar100"),
                           temperature=t, seed=0, init_std=0.07, weight_decay=5e-4) for t in (0.5, 1e3)]
    [cmd] = commands(stored(configs))
    args = shlex.split(cmd.text)[3:]
    assert planned_ids(args) == {c.run_id for c in configs}
    assert "ood=svhn+cifar100" in args and "temperature=0.5,1000" in args


def test_a_stored_id_the_code_does_not_give_is_reported_not_hidden():
    cfg = make_config(preset="demo", temperature=1.0, seed=0)
    [cmd] = commands([("0123456789abcdef", cfg.to_json(), "{}")])  # an id made by other code
    assert not cmd.exact and cmd.run_ids == (cfg.run_id,)


def test_values_are_written_so_that_they_read_back_exactly():
    assert [set_text(v) for v in (1.0, 0.1, 1e-5, 1 / 3, True, (), ("a", "b"), 7)] == [
        "1", "0.1", "1e-05", "0.3333333333333333", "true", "", "a+b", "7"]
