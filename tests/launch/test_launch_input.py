"""Bad input never submits: sweep files and flags are checked first, with one line naming the field.

These run `python -m training.launch` for real (a subprocess, as a user would) against a fresh
home and check both the message and that nothing was written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.images import write_learnable_folders
from tests.slurm.slurmhelp import cli, sets


def one_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 1, f"want one line, got:\n{done.stderr}"
    assert lines[0].startswith("launch: ")
    return lines[0]


def nothing_written(where) -> None:
    assert not (where.root / "shards").exists(), "a rejected sweep wrote shards"
    assert not (where.root / "jobs").exists() or not any((where.root / "jobs").iterdir())


def write(tmp_path, text: str):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, names", [
    ('[base]\npreset = "demo"\ntemprature = 3\n[grid]\nseed = [0]\n', ["[base]", "temprature"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\nwidht = [8]\n', ["[grid]", "widht"]),
    ('[base]\npreset = "demo"\n[grid]\ntemperature = ["hot", "cold"]\n', ["temperature", "hot"]),
    ('[base]\npreset = "demo"\nepochs = "many"\n[grid]\nseed = [0]\n', ["epochs", "many"]),
    ('[base]\npreset = "demo"\n[grid]\ntemperature = []\n', ["temperature", "no values"]),
    ('[base]\npreset = "demo"\n[grid]\n', ["no runs"]),
    ('[base]\npreset = "demo"\n[[points]]\nseed = 1\nlosss = "ce"\n', ["points", "losss"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\n[slurm]\npartion = "gpu"\n', ["[slurm]", "partion"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\n[slurm]\ncpus_per_task = "eight"\n', ["cpus_per_task", "eight"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\n[slurm]\npartition = "gpu\\nrm -rf /"\n',
     ["partition", "control characters"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\n[slurm]\nadditional = { "x\\ny" = 1 }\n', ["flag"]),
    ('[base]\npreset = "demo"\n[grid]\nseed = [0]\n[extra]\na = 1\n', ["unknown section", "extra"]),
    ('[base\n', ["not valid TOML"]),
])
def test_bad_sweep_file_is_one_line_naming_the_field_and_submits_nothing(tmp_path, tmp_home, text, names):
    done = cli("-m", "training.launch", write(tmp_path, text), "--executor", "local", home=tmp_home)
    line = one_line(done)
    for name in names:
        assert name in line, line
    nothing_written(tmp_home)


@pytest.mark.parametrize("args, names", [
    (["--set", "temperature=1,x"], ["temperature", "'x'"]),
    (["--set", "colour=red"], ["colour"]),
    (["--set", "seed="], ["seed", "no values"]),
    (["--set", "seed"], ["FIELD=V1,V2"]),
    (["--set", "arch=resnet9000", "--set", "seed=0"], ["arch", "resnet9000"]),
    (["--set", "seed=0", "--cpus", "0"], ["cpus_per_task"]),
    (["--set", "seed=0", "--cpus", "two"], ["--cpus", "two"]),
    (["--set", "seed=0", "--sbatch", "output=/tmp/x"], ["output", "launcher"]),
    (["--set", "seed=0", "--executor", "cloud"], ["--executor", "cloud"]),
])
def test_bad_flags_are_one_line_and_submit_nothing(tmp_home, args, names):
    done = cli("-m", "training.launch", "--set", "preset=demo", *args, "--executor", "local", home=tmp_home)
    line = one_line(done)
    for name in names:
        assert name in line, line
    nothing_written(tmp_home)


def _latin1_sweep(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[base]\npreset = "demo"\n# température\n[grid]\nseed = [0]\n'.encode("latin-1"))
    return [str(path)], [str(path), "not UTF-8", "save it as UTF-8"]


def _directory_sweep(tmp_path):
    return [str(tmp_path)], [str(tmp_path), "is a directory"]


def _single_class_folder(tmp_path):
    data = write_learnable_folders(tmp_path / "one", classes=1, train=4, test=2)
    return ["--set", "preset=demo", "--set", f"dataset=folder:{data}", "--set", "ood="], \
        [str(data), "1 class folder", "class_0", "at least 2"]


def _passwd_checkpoint(tmp_path):
    return ["--set", "preset=demo", "--set", "pretrained=/etc/passwd"], ["pretrained", "/etc/passwd", "torch.save"]


def _huge_seed(tmp_path):
    return ["--set", "preset=demo", "--set", "seed=99999999999999999999"], ["seed", "2^63"]


def _subnormal_temperature(tmp_path):
    return ["--set", "preset=demo", "--set", "temperature=1e-320"], ["temperature", "1e-320", "float32"]


@pytest.mark.parametrize("build", [_latin1_sweep, _directory_sweep, _single_class_folder, _passwd_checkpoint,
                                   _huge_seed, _subnormal_temperature])
@pytest.mark.parametrize("dry_run", [True, False])
def test_bad_input_of_the_issue_list_is_one_line_before_anything_is_submitted(tmp_path, tmp_home, build, dry_run):
    """Each of these once escaped as a traceback or only failed in the job; --dry-run refuses them alike."""
    args, names = build(tmp_path)
    done = cli("-m", "training.launch", *args, "--executor", "local", *(["--dry-run"] if dry_run else []),
               home=tmp_home)
    line = one_line(done)
    for name in names:
        assert name in line, line
    nothing_written(tmp_home)


def test_a_tiny_temperature_that_float32_holds_is_still_accepted(tmp_home):
    """1e-8 is how tests make a run diverge on purpose (NaN loss in epoch 1): it stays a valid temperature."""
    done = cli("-m", "training.launch", "--set", "preset=demo", "--set", "temperature=1e-8", "--executor", "local",
               "--dry-run", home=tmp_home)
    assert done.returncode == 0, done.stderr
    assert "1 run(s) to submit" in done.stdout


def test_no_file_and_no_set_is_an_error_not_a_default_run(tmp_home):
    line = one_line(cli("-m", "training.launch", "--executor", "local", home=tmp_home))
    assert "no runs" in line
    nothing_written(tmp_home)


def test_status_of_an_unknown_sweep_is_one_line(tmp_home):
    line = one_line(cli("-m", "training.launch", "status", "20990101-000000-abcdef", home=tmp_home))
    assert "20990101-000000-abcdef" in line
    line = one_line(cli("-m", "training.launch", "cancel", "../../etc", home=tmp_home))
    assert "no sweep" in line


def test_dry_run_lists_the_grid_and_writes_nothing(tmp_home):
    done = cli("-m", "training.launch", *sets(temperature="1,10,100", seed="0,1"), "--executor", "local",
               "--dry-run", home=tmp_home)
    assert done.returncode == 0, done.stderr
    would = [ln for ln in done.stdout.splitlines() if ln.startswith("would run")]
    assert len(would) == 6
    for t in (1, 10, 100):
        for s in (0, 1):
            assert sum(f"T={t} seed={s} " in ln for ln in would) == 1, done.stdout
    assert "6 run(s) to submit, 0 skipped" in done.stdout
    nothing_written(tmp_home)


def test_dry_run_names_every_field_that_varies_so_no_two_lines_read_alike(tmp_home):
    done = cli("-m", "training.launch", "sweeps/init-scale.toml", "--executor", "local", "--dry-run", home=tmp_home)
    assert done.returncode == 0, done.stderr
    would = [ln.split("  ", 2)[2] for ln in done.stdout.splitlines() if ln.startswith("would run")]
    assert len(would) == len(set(would)) == 36  # init_std / layernorm / init shown: every run reads differently
    assert sum("init=normal init_std=0.3 layernorm=True" in ln for ln in would) == 3
    plain = cli("-m", "training.launch", *sets(temperature="1,10"), "--executor", "local", "--dry-run", home=tmp_home)
    assert "init=" not in plain.stdout  # nothing varies beyond the usual fields: the usual line
    nothing_written(tmp_home)


def test_example_sweep_files_are_valid_and_have_the_papers_grids():
    from lab.sweeps.spec import load_sweep
    from slurm import SlurmOptions

    grids = {"demo": 6, "cifar": 24, "cifar-vgg": 24, "imagenet": 24, "cifar100": 24, "init-scale": 36, "mse": 9}
    assert {p.stem for p in Path("sweeps").glob("*.toml")} == set(grids)  # a new file gets checked here too
    for name, runs in grids.items():
        sweep = load_sweep(f"sweeps/{name}.toml")
        assert len(sweep.configs()) == runs, name
        SlurmOptions.from_dict(sweep.slurm)
        if name not in ("demo", "init-scale"):  # paper-scale grids: the init that reproduces Figure 8
            assert {c.init for c in sweep.configs()} == {"torchvision"}, name
    c100 = load_sweep("sweeps/cifar100.toml").configs()
    assert {(c.arch, c.temperature) for c in c100} >= {("resnet34", 200.0)} and {c.dataset for c in c100} == {"cifar100"}
    init_scale = load_sweep("sweeps/init-scale.toml").configs()
    assert {c.init_std for c in init_scale if c.init == "normal"} == {0.003, 0.01, 0.03, 0.1, 0.3}
    assert {c.layernorm for c in init_scale} == {False, True} and {c.temperature for c in init_scale} == {1.0}
    assert {c.loss for c in load_sweep("sweeps/mse.toml").configs()} == {"mse"}
    # the demo starts from a small logits norm (README: where T = 100 still learns, and collapses)
    assert {(c.init, c.init_std) for c in load_sweep("sweeps/demo.toml").configs()} == {("normal", 0.07)}
    cifar = load_sweep("sweeps/cifar.toml").configs()
    assert {(c.arch, c.temperature) for c in cifar} >= {("resnet18", 1.0), ("resnet20", 1000.0)}
    assert {c.milestones for c in cifar} == {(82, 123)}  # Table 4's CIFAR ResNet recipe
    imagenet = load_sweep("sweeps/imagenet.toml").configs()
    assert {c.dataset for c in imagenet} == {"imagenet1k"} and {c.batch_size for c in imagenet} == {1024}


def test_importing_the_launcher_does_not_import_torch():
    code = ("import sys, lab.sweeps.launch, lab.commands.main, lab.sweeps.plan, lab.records.reconcile, lab.jobs.run_job, app.sidebar, training.config, "
            "analysis.settings; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
