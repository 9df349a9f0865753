"""RunConfig: the paper's defaults, strict validation with one-line messages, stable run ids."""

import math

import pytest

from training.config import ARCHITECTURES, PRESETS, ConfigError, RunConfig, coerce, make_config


def test_defaults_are_table4_resnet_recipe():
    cfg = RunConfig()
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.epochs, cfg.batch_size, cfg.milestones) == (
        0.1, 0.9, 1e-4, 164, 128, (82, 123))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_build_valid_configs(preset):
    cfg = make_config(preset=preset)
    for key, value in PRESETS[preset].items():
        assert getattr(cfg, key) == value


def test_run_id_is_stable_and_depends_on_every_field():
    a = make_config(preset="demo", temperature=10, seed=1)
    assert a.run_id == make_config(preset="demo", temperature=10.0, seed=1).run_id
    assert a.run_id != a.replace(seed=2).run_id
    assert a.run_id != a.replace(temperature=100.0).run_id
    assert len(a.run_id) == 16


@pytest.mark.parametrize(
    "values, fragment",
    [
        (dict(arch="resnet99"), "unknown arch 'resnet99'; choose one of mlp"),
        (dict(dataset="mnist"), "unknown dataset 'mnist'"),
        (dict(temperature=0), "temperature must be a positive finite number"),
        (dict(temperature=-1), "temperature must be a positive finite number"),
        (dict(temperature=math.inf), "temperature must be a positive finite number"),
        (dict(temperature=math.nan), "temperature must be a positive finite number"),
        (dict(dataset="folder:/no/such/dir"), "does not exist"),
        (dict(loss="hinge"), "unknown loss"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(colour="red"), "unknown config field 'colour'"),
        (dict(epochs="ten"), "field 'epochs' wants int"),
    ],
)
def test_bad_values_get_one_line_errors(values, fragment):
    with pytest.raises(ConfigError) as info:
        make_config(**values)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_arch_lists_every_valid_name():
    with pytest.raises(ConfigError) as info:
        make_config(arch="nope")
    assert all(name in str(info.value) for name in ARCHITECTURES)


def test_coerce_from_command_line_strings():
    assert coerce("temperature", "10") == 10.0
    assert coerce("seed", "3") == 3
    assert coerce("layernorm", "true") is True
    assert coerce("ood", "svhn+cifar100") == ("svhn", "cifar100")
    assert coerce("milestones", "80+120") == (80, 120)
    with pytest.raises(ConfigError):
        coerce("seed", 1.5)
