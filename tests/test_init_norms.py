"""`python -m training.init_norms`: one row per initialisation, real models, a real warehouse."""

from training.init_norms import main


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
