"""`python -m analysis analyse-model`: a torchvision ResNet-18 and a timm ViT, built without pretrained weights,
trained a few steps on a generated class-folder set and saved as their users save them, analysed through the
CLI and ingested; their runs show beside any other on the Runs and Rank pages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.images import write_learnable_folders
from tests.lab.reanalysis import duplicates

ROOT = Path(__file__).resolve().parents[2]
SIDE = 32
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision users normalise
CHEAP = ["--set", "probe_epochs=3", "--set", "orthodev_samples=50"]


def cli(where, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, THERMOSCOPE_HOME=str(where.root), OMP_NUM_THREADS="1", THERMOSCOPE_THREADS="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def train_a_few_steps(model: torch.nn.Module, folder: Path, steps: int = 3) -> None:
    """A user's own loop, nothing of Thermoscope: ImageFolder, ToTensor, Normalize, SGD on cross-entropy at T = 2."""
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(folder / "train"), transform=T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)]))
    x, y = torch.stack([ds[i][0] for i in range(len(ds))]), torch.tensor(ds.targets)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x) / 2.0, y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Two outside networks analysed into one home and ingested."""
    import timm
    import torchvision

    from warehouse import home

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("outside")
    id_set = write_learnable_folders(base / "bands", classes=3, train=12, test=8, side=SIDE, seed=0)
    ood_set = write_learnable_folders(base / "other", classes=2, train=12, test=8, side=SIDE, seed=5)
    where = home(base / "home")
    nets = {"torchvision:resnet18": torchvision.models.resnet18(weights=None, num_classes=3),
            "timm:test_vit": timm.create_model("test_vit", pretrained=False, num_classes=3)}
    files = {}
    for spec, model in nets.items():
        torch.manual_seed(0)
        train_a_few_steps(model, id_set)
        files[spec] = base / f"{spec.split(':')[1]}.pth"
        torch.save(model.state_dict(), files[spec])  # exactly as their users save them
    prep = ["--input-size", str(SIDE), "--crop-pct", "1", "--mean", ",".join(map(str, MEAN)),
            "--std", ",".join(map(str, STD))]
    common = ["--dataset", f"folder:{id_set}", "--ood", f"folder:{ood_set}", "--temperature", "2", *prep, *CHEAP]
    listed = {}
    for spec, path in files.items():
        shown = cli(where, "analysis", "analyse-model", "--model", spec, "--weights", str(path), *common,
                    "--list-taps")
        assert shown.returncode == 0, shown.stderr
        listed[spec] = shown.stdout
        aligned = "0" if spec.startswith("torchvision") else "2"  # a ResNet's 3x3 convs are the slow part
        done = cli(where, "analysis", "analyse-model", "--model", spec, "--weights", str(path), *common,
                   "--name", spec.split(":")[1], "--set", f"alignment_top_k={aligned}", "--tag", "outside")
        assert done.returncode == 0, done.stderr
    ingested = cli(where, "warehouse", "ingest")
    assert ingested.returncode == 0, ingested.stderr
    return where, nets, files, listed, common, id_set


def tap_names(listing: str) -> list[str]:
    """The tap names `--list-taps` printed (index, name, kind, ...)."""
    return [line.split()[1] for line in listing.splitlines() if line.startswith("  ") and line.split()[0].isdigit()]


@pytest.mark.slow
def test_every_discovered_layer_has_a_rank_row_and_kappa_rho_and_sr_exist(analysed):
    from warehouse.read import query

    where, nets, files, listed, *_ = analysed
    runs = query("SELECT run_id, arch, source, name, status, temperature, seed, epochs, lr, loss, preset, num_classes, "
                 "tags FROM runs ORDER BY arch", where=where).to_dicts()
    assert [r["arch"] for r in runs] == ["timm:test_vit", "torchvision:resnet18"]
    for run in runs:
        assert run["source"] == "analysed" and run["status"] == "finished" and run["temperature"] == 2.0
        assert run["num_classes"] == 3 and run["tags"] == ["outside"]
        assert all(run[k] is None for k in ("seed", "epochs", "lr", "loss", "preset"))  # unknown: NULL, never guessed
        names = tap_names(listed[run["arch"]])
        ranked = query("SELECT DISTINCT layer_name, kind FROM layer_metrics WHERE run_id = ? AND metric = 'rank'",
                       [run["run_id"]], where=where).to_dicts()
        hidden = {r["layer_name"] for r in ranked if r["kind"] == "hidden"}
        assert hidden | {"logits"} == set(names) and {"logits", "softmax"} <= {r["layer_name"] for r in ranked}
        metrics = query("SELECT metric, dataset FROM run_metrics WHERE run_id = ?", [run["run_id"]], where=where)
        got = set(zip(metrics["metric"], metrics["dataset"]))
        assert {m for m, _ in got} >= {"kappa", "rho", "solution_rank", "logits_norm"}
        assert any(m == "rho" and d.endswith("other") for m, d in got)
    methods = dict(query("SELECT c.arch, a.taps FROM analyses a JOIN run_configs c USING (run_id)", where=where).rows())
    assert methods == {"torchvision:resnet18": "fx", "timm:test_vit": "timm"}
    resnet = tap_names(listed["torchvision:resnet18"])
    assert len(resnet) == 19 and "layer1.0.relu_1" in resnet  # each call of the reused ReLU
    assert tap_names(listed["timm:test_vit"])[0] == "blocks.0"


@pytest.mark.slow  # `analysed` runs analyse-model on two outside networks in subprocesses
def test_the_runs_show_on_the_runs_and_rank_pages(analysed, monkeypatch):
    from tests.app.apphelp import chart_frame, charts, no_exceptions, run_page

    where = analysed[0]
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    at = run_page("pages/1_Runs.py")
    no_exceptions(at)
    assert set(at.dataframe[0].value["arch"]) == {"timm:test_vit", "torchvision:resnet18"}  # a group each
    assert len(at.dataframe[1].value) == 2
    at = run_page("pages/2_Rank.py")
    no_exceptions(at)
    at.selectbox(key="rank-arch").set_value("torchvision:resnet18").run()
    no_exceptions(at)
    layers = chart_frame(charts(at)[0])
    assert {"layer1.0.relu_1", "flatten", "logits"} <= set(layers["layer_name"])
    assert set(layers["temperature"]) == {2.0}


@pytest.mark.slow
def test_the_same_file_again_is_skipped_and_forced_it_replaces_its_rows(analysed):
    from warehouse.read import query

    where, nets, files, listed, common, _ = analysed
    path = str(files["timm:test_vit"])
    args = ["analysis", "analyse-model", "--model", "timm:test_vit", "--weights", path, *common, "--name", "test_vit",
            "--set", "alignment_top_k=2", "--tag", "outside"]
    again = cli(where, *args)
    assert again.returncode == 0 and "already analysed with these settings" in again.stdout
    before = query("SELECT count(*) AS n FROM layer_metrics", where=where)["n"][0]
    forced = cli(where, *args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert cli(where, "warehouse", "ingest").returncode == 0
    assert query("SELECT count(*) AS n FROM layer_metrics", where=where)["n"][0] == before
    assert duplicates(where) == 0


@pytest.mark.slow
def test_weights_that_do_not_fit_are_one_line_and_write_nothing(analysed, tmp_path, monkeypatch, capsys):
    from lab.commands.analyse import main

    where, nets, files, listed, common, _ = analysed
    shards = sorted(p for p in where.shards.rglob("*.parquet"))
    wrong = cli(where, "analysis", "analyse-model", "--model", "torchvision:resnet18", "--weights",
                str(files["torchvision:resnet18"]), "--num-classes", "5", *common)
    assert wrong.returncode == 2
    assert wrong.stderr.count("\n") == 1 and "fc.weight has shape (3, 512)" in wrong.stderr
    assert "--num-classes" in wrong.stderr
    # the other refusals through the same entry point in this process: the CLI's process boundary is checked
    # just above, and each of these in a fresh interpreter would only add a torch import (~3 s of CPU)
    monkeypatch.setenv("THERMOSCOPE_HOME", str(where.root))
    for bad, words in ((["--model", "keras:resnet"], "give timm:NAME"),
                       (["--model", "timm:no_such_net"], "timm has no model"),
                       (["--model", "torchvision:resnet18", "--taps", "nothing*"], "no layer tap matches"),
                       (["--model", "torchvision:resnet18", "--weights", str(tmp_path / "none.pt")], "no such file")):
        args = [*bad, *(["--weights", str(files["torchvision:resnet18"])] if "--weights" not in bad else [])]
        code = main(["analyse-model", *args, *common])
        err = capsys.readouterr().err
        assert code == 2 and words in err and err.count("\n") == 1, err
    assert sorted(p for p in where.shards.rglob("*.parquet")) == shards


FACTORY = '''
from torch import nn


def small_mlp(num_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, num_classes))
'''


@pytest.mark.slow
def test_a_module_factory_on_the_embedded_digits_with_a_training_scripts_checkpoint(tmp_path, tmp_home):
    """A factory from the user's own module, weights saved by a DDP script (`module.` keys under 'model', an 'epoch'),
    measured on the embedded digits with shapes as OOD set."""
    import pyarrow.parquet as pq

    (tmp_path / "mynets.py").write_text(FACTORY)
    sys.path.insert(0, str(tmp_path))
    try:
        from mynets import small_mlp
    finally:
        sys.path.remove(str(tmp_path))
    net = small_mlp()
    torch.save({"model": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 7, "optimizer": {}},
               tmp_path / "ckpt.pt")
    done = cli(tmp_home, "analysis", "analyse-model", "--model", "module:mynets:small_mlp", "--weights",
               str(tmp_path / "ckpt.pt"), "--dataset", "digits", "--ood", "shapes", *CHEAP, "--set",
               "alignment_top_k=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_home.shards / "analyses").iterdir()
    record = pq.read_table(run_dir / "analysis-e0007.parquet").to_pylist()[0]  # the script's own epoch
    assert record["status"] == "finished" and record["taps"] == "fx" and record["ood"] == ["shapes"]
    ranked = {r["layer_name"] for r in pq.read_table(tmp_home.shards / "layer_metrics" / run_dir.name /
                                                       "analysis-e0007.parquet").to_pylist() if r["metric"] == "rank"}
    assert ranked == {"2", "2_pre", "4", "4_pre", "logits", "softmax"}  # nn.Sequential names its ReLUs 2 and 4


def test_state_dicts_are_read_as_training_scripts_save_them(tmp_path):
    from safetensors.torch import save_file

    from lab.outside.models import read_state_dict
    from thermoscope.fields import ConfigError

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    plain = net.state_dict()
    saved = {"plain.pt": plain, "state_dict.pt": {"state_dict": plain, "epoch": 3},
             "ddp.pt": {"model": {f"module.{k}": v for k, v in plain.items()}, "optimizer": {"lr": 0.1}},
             "compiled.pt": {"model_state_dict": {f"_orig_mod.{k}": v for k, v in plain.items()}},
             "whole.pt": net}
    for name, content in saved.items():
        torch.save(content, tmp_path / name)
    save_file(dict(plain), str(tmp_path / "st.safetensors"))
    for name in [*saved, "st.safetensors"]:
        trusted = name == "whole.pt"  # a whole pickled model loads only behind --trust-pickle (docs/safety.md)
        if trusted:
            with pytest.raises(ConfigError, match="holds pickled Python objects"):
                read_state_dict(tmp_path / name)
        got = read_state_dict(tmp_path / name, trust_pickle=trusted)
        assert got.keys() == plain.keys() and all(torch.equal(got[k], plain[k]) for k in plain), name
    torch.save({"epoch": 3, "notes": "no weights here"}, tmp_path / "empty.pt")
    with pytest.raises(ConfigError, match="no state dict in it"):
        read_state_dict(tmp_path / "empty.pt")


def test_preprocessing_comes_from_the_models_pretrained_config_and_flags_override_it():
    import timm
    import torchvision
    from timm.data import resolve_data_config

    from lab.outside.data import preprocessing_for

    vit = timm.create_model("test_vit", pretrained=False)
    cfg = resolve_data_config({}, model=vit)
    own = preprocessing_for("timm", "test_vit", vit, {})
    assert (own.input_size, own.mean, own.std, own.source) == (cfg["input_size"][-1], cfg["mean"], cfg["std"], "timm")
    assert own.crop_pct == pytest.approx(cfg["crop_pct"])
    tv = preprocessing_for("torchvision", "resnet18", torchvision.models.resnet18(), {"input_size": 32})
    assert tv.input_size == 32 and tv.crop_pct == pytest.approx(224 / 256) and tv.source == "torchvision + flags"
    assert tv.mean == pytest.approx(MEAN) and tv.std == pytest.approx(STD)
    none = preprocessing_for("module", "x:y", torch.nn.Linear(2, 2), {})
    assert none.input_size is None and none.mean is None and none.source == "data"  # the data's own, at stored size
