"""`thermoscope init-norms`: one row per initialisation, real models, a real warehouse."""

from lab.commands.main import main as thermoscope


def main(argv: list[str]) -> int:
    return thermoscope(["init-norms", *argv])


def test_one_row_per_seed_and_init_and_scale_follows_sigma(tmp_home):
    assert main(["--arch", "mlp", "--width", "16", "--depth", "3", "--init", "kaiming,normal",
                 "--init-std", "0.01", "--seeds", "3", "--home", str(tmp_home.root)]) == 0
    from warehouse.ingest import ingest
    from warehouse.read import query

    ingest(tmp_home)
    rows = query("SELECT init, seed, logits_norm FROM init_norms ORDER BY init, seed", where=tmp_home)
    assert rows.height == 6
    kaiming = rows.filter(rows["init"] == "kaiming")["logits_norm"].to_list()
    normal = rows.filter(rows["init"] == "normal")["logits_norm"].to_list()
    # four layers of N(0, 0.01²) weights shrink the signal by ~(0.01·√16)⁴ ≈ 2.6e-6 against Kaiming's ~1
    assert max(normal) < 1e-3 * min(kaiming)
    assert len(set(kaiming)) == 3  # each seed is its own initialisation


def test_unknown_arch_is_one_line(tmp_home, capsys):
    assert main(["--arch", "resnet99", "--home", str(tmp_home.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown arch 'resnet99'" in err and "\n" not in err


def test_torchvision_init_is_measured_and_refused_where_it_has_no_rule(tmp_home, capsys):
    from lab.commands.init_norms import init_norms

    rows = init_norms(["resnet20"], "noise-3x32x32", ["default", "torchvision"], [0.01], [0, 1], batch=8, write=False)
    assert [(r["init"], r["seed"]) for r in rows] == [("default", 0), ("default", 1), ("torchvision", 0), ("torchvision", 1)]
    assert all(r["logits_norm"] > 0 for r in rows)
    assert main(["--arch", "mlp", "--width", "16", "--depth", "2", "--dataset", "noise-3x32x32", "--init", "torchvision",
                 "--seeds", "1", "--home", str(tmp_home.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "init 'torchvision' does not apply to mlp" in err and "\n" not in err
