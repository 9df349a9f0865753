"""A corrupt image in a `folder:` set fails its run before training, in one line naming the file."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.images import write_learnable_folders
from tests.slurm.slurmhelp import cli


@pytest.mark.slow
def test_a_truncated_jpeg_fails_the_run_naming_the_file_before_any_epoch(tmp_path, tmp_home):
    data = write_learnable_folders(tmp_path / "bands", classes=2, train=6, test=4)
    bad = data / "train" / "class_1" / "broken.jpg"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])  # cut in the middle of the scan data
    done = cli("-m", "training.launch", "--set", "preset=demo", "--set", f"dataset=folder:{data}", "--set", "ood=",
               "--set", "width=16", "--set", "depth=2", "--set", "epochs=1", "--executor", "local", "--wait",
               home=tmp_home)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    named = [line for line in done.stdout.splitlines() if str(bad) in line]
    assert len(named) == 1 and "failed" in named[0] and "replace or remove the file" in named[0], done.stdout
    # it failed while reading the data: no epoch was logged, nothing was trained
    assert not (tmp_home.shards / "epochs").exists()
