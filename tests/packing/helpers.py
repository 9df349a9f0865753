"""Shared bits of the packing tests: tiny demo configs and a solo reference trained by the solo loop."""

from __future__ import annotations

import math

TINY = dict(preset="demo", epochs=3, width=32, depth=3)
TINY_ANALYSIS = dict(probe_epochs=2, max_samples=200)  # analysis settings: what a job is given beside its runs


def tiny_configs(**extra):
    """Three runs that differ in temperature, seed and initialisation, as a temperature study does."""
    from training.config import make_config

    base = dict(TINY, **extra)
    return [make_config(**base, temperature=1.0, seed=0),
            make_config(**base, temperature=100.0, seed=1),
            make_config(**base, temperature=10.0, seed=2, init="normal", init_std=0.05)]


def train_solo(cfg, folder):
    """The solo loop on its own member (as lab.jobs.pipeline.train_runs does for a pack of one): (model, log)."""
    import torch

    from training.data import load_dataset
    from training.loop import train
    from training.models import ModelSpec, build_model

    data = load_dataset(cfg.dataset, cfg.data_dir)
    model = build_model(cfg, ModelSpec(data.num_classes, data.input_shape))
    result = train(cfg, model, data, checkpoint_dir=folder, device=torch.device("cpu"))
    return model, result.log


def assert_rows_match(packed: list[dict], solo: list[dict]) -> None:
    """Same epochs, same keys, same figures up to float32 rounding (wall_s aside: it is a clock)."""
    assert [r["epoch"] for r in packed] == [r["epoch"] for r in solo]
    for p, s in zip(packed, solo):
        assert set(p) == set(s)
        for key in s:
            if key == "wall_s":
                continue
            a, b = p[key], s[key]
            if isinstance(b, float) and math.isnan(b):
                assert math.isnan(a), key
            elif not isinstance(b, float):  # ints (epoch, step, ranks), strings (run id): exactly
                assert a == b, (key, p["epoch"], a, b)
            else:
                assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), (key, p["epoch"], a, b)
