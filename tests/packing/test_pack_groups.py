"""pack_groups: torch-free planning of packs from a sweep's configs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from training.config import make_config


def test_only_temperature_seed_and_init_may_differ_inside_a_pack():
    from training.packed import pack_groups

    grid = [make_config(preset="demo", temperature=t, seed=s, init=i)
            for t in (1.0, 10.0, 100.0) for s in (0, 1) for i in ("kaiming", "normal")]
    wide = [make_config(preset="demo", temperature=t, width=512) for t in (1.0, 10.0)]
    other_lr = [make_config(preset="demo", temperature=1.0, lr=0.01)]
    packs = pack_groups(grid + wide + other_lr, 5)
    assert [len(p) for p in packs] == [5, 5, 2, 2, 1]
    assert [c for p in packs[:3] for c in p] == grid  # the sweep's order is kept
    assert packs[3] == wide and packs[4] == other_lr
    assert [len(p) for p in pack_groups(grid, 1)] == [1] * 12
    assert pack_groups(grid, 100) == [grid]


@pytest.mark.parametrize("n", [0, -3, 1.5, True])
def test_a_bad_pack_size_is_one_clear_line(n):
    from training.packed import PackError, pack_groups

    with pytest.raises(PackError, match="positive number of runs per pack"):
        pack_groups([make_config(preset="demo")], n)


def test_batchnorm_architectures_are_refused_when_asked_to():
    from training.packed import PackError, pack_groups

    cfgs = [make_config(arch="resnet18", temperature=t) for t in (1.0, 10.0)]
    assert len(pack_groups(cfgs, 2)) == 1  # the vmap engine keeps BatchNorm statistics per run
    with pytest.raises(PackError, match="cannot pack resnet18: BatchNorm"):
        pack_groups(cfgs, 2, allow_batchnorm=False)


def test_the_package_imports_without_torch():
    code = ("import sys; import training.packed as p; from training.packed import pack_groups; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
