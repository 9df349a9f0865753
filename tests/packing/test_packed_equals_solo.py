"""Packed training is the solo loop, run by run: weights, per-epoch rows and checkpoints (CPU, tiny MLP)."""

from __future__ import annotations

import pytest
import torch

from tests.packing.helpers import assert_rows_match, tiny_configs, train_solo


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


ENGINES = ["grouped", "vmap", "loop", "solo"]  # solo: the CPU default (stack.resolve_engine)


def _train_packed(cfgs, root, engine="auto"):
    from training.data import load_dataset
    from training.models import ModelSpec, build_model
    from training.packed.loop import train_packed

    data = load_dataset(cfgs[0].dataset, cfgs[0].data_dir)
    members = [build_model(c, ModelSpec(data.num_classes, data.input_shape)) for c in cfgs]
    rows = [[] for _ in cfgs]
    results = train_packed(cfgs, members, data, checkpoint_dirs=[root / c.run_id for c in cfgs],
                           on_epoch=lambda r, row: rows[r].append(row), engine=engine)
    return members, rows, results


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("extra", [{}, {"loss": "mse", "layernorm": True, "weight_decay": 1e-3}],
                         ids=["ce-demo", "mse-layernorm-wd"])
def test_packed_runs_equal_solo_runs(tmp_path, extra, engine):
    cfgs = tiny_configs(**extra)
    members, rows, results = _train_packed(cfgs, tmp_path / "packed", engine)
    for r, cfg in enumerate(cfgs):
        model, log = train_solo(cfg, tmp_path / "solo" / cfg.run_id)
        assert_rows_match(rows[r], log)
        assert_rows_match(results[r].log, log)
        for (name, a), (_, b) in zip(members[r].state_dict().items(), model.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"run {r} {name}")
        # the kept checkpoints are the solo ones, in the solo format
        for name in ("epoch0000.pt", "epoch0003.pt", "last.pt"):
            packed = torch.load(tmp_path / "packed" / cfg.run_id / name, weights_only=False)
            solo = torch.load(tmp_path / "solo" / cfg.run_id / name, weights_only=False)
            assert set(packed) == set(solo) and packed["run_id"] == cfg.run_id and packed["epoch"] == solo["epoch"]
            for key in packed["model"]:
                torch.testing.assert_close(packed["model"][key], solo["model"][key], rtol=1e-4, atol=1e-5)
    # the runs really differ from each other (a pack that trained one run three times would pass above otherwise)
    assert not torch.allclose(members[0].head.weight, members[1].head.weight)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_diverging_run_ends_as_its_solo_run_and_its_pack_mates_go_on(tmp_path, engine):
    from training.loop import Diverged

    cfgs = tiny_configs()
    cfgs.insert(1, cfgs[2].replace(temperature=1e-8, seed=7))  # NaN loss in epoch 1
    members, rows, results = _train_packed(cfgs, tmp_path / "packed", engine)
    assert isinstance(results[1], Diverged) and results[1].epoch == 1
    with pytest.raises(Diverged, match="epoch 1") as solo_end:
        train_solo(cfgs[1], tmp_path / "solo" / cfgs[1].run_id)
    assert str(results[1]) == str(solo_end.value)
    assert [r["epoch"] for r in rows[1]] == [0]  # the init row only, as the solo run leaves it
    for r in (0, 2, 3):  # the runs after the dropped one too: the stack's rows were re-indexed right
        model, log = train_solo(cfgs[r], tmp_path / "solo" / cfgs[r].run_id)
        assert_rows_match(rows[r], log)
        for (name, a), (_, b) in zip(members[r].state_dict().items(), model.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"run {r} {name}")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_packed_checkpoint_resumes_solo_and_a_solo_one_resumes_packed(tmp_path, engine):
    """last.pt is solo-format, momentum buffers included: kill after epoch 2 of 3, finish the other way."""
    from training.packed.loop import train_packed

    cfgs = tiny_configs()
    short = [c.replace(epochs=2) for c in cfgs]
    # run 0: packed for 2 epochs, then resumed solo; runs 1, 2: solo for 2 epochs, then resumed packed
    _train_packed(short[:1], tmp_path, engine)
    for c in short[1:]:
        train_solo(c, tmp_path / c.run_id)
    for c_short, c in zip(short, cfgs):  # same run, longer: rename its folder to the full run's id
        (tmp_path / c_short.run_id).rename(tmp_path / c.run_id)
        state = torch.load(tmp_path / c.run_id / "last.pt", weights_only=False)
        state["run_id"] = c.run_id
        torch.save(state, tmp_path / c.run_id / "last.pt")
    resumed_solo, _ = train_solo(cfgs[0], tmp_path / cfgs[0].run_id)
    from training.data import load_dataset
    from training.models import ModelSpec, build_model

    data = load_dataset(cfgs[0].dataset, cfgs[0].data_dir)
    members = [build_model(c, ModelSpec(data.num_classes, data.input_shape)) for c in cfgs[1:]]
    results = train_packed(cfgs[1:], members, data, checkpoint_dirs=[tmp_path / c.run_id for c in cfgs[1:]],
                           engine=engine)
    assert [r.resumed_from for r in results] == [2, 2]
    for model, cfg in zip([resumed_solo, *members], cfgs):
        straight, _ = train_solo(cfg, tmp_path / "straight" / cfg.run_id)
        for (name, a), (_, b) in zip(model.state_dict().items(), straight.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"{cfg.temperature} {name}")
