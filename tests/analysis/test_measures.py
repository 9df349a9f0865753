"""Each measurement on an input whose answer is known by construction."""

import math

import pytest
import torch

from analysis import (
    alignment_matrix,
    auroc,
    fpr_at_tpr,
    kappa,
    kappa_detail,
    linear_probe_accuracies,
    logits_norm,
    nc1,
    nc2,
    nc3,
    nc4,
    neural_collapse,
    orthodev_classmean,
    orthodev_sample,
    rho,
    rho_detail,
    softmax_ranks,
    solution_rank,
    train_probes,
)
from analysis.theory import simplex_etf

# ---- probes -------------------------------------------------------------------------------------------------

def separable(n: int, d: int, classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g) * 0.3
    x[torch.arange(n), y] += 5.0  # class c has a large value on feature c: linearly separable with margin
    perm = torch.randperm(n, generator=g)
    return x[perm], y[perm]


def test_probe_reaches_100_percent_on_separable_data():
    xtr, ytr = separable(600, 12, 4, 0)
    xte, yte = separable(300, 12, 4, 1)
    noise = torch.randn(600, 12), torch.randn(300, 12)  # a layer carrying no label information
    accs = linear_probe_accuracies([xtr, noise[0]], ytr, [xte, noise[1]], yte, epochs=60, lr=1e-2, batch=128)
    assert accs[0] == 1.0
    assert accs[1] < 0.5  # chance is 0.25: a probe cannot find labels that are not there


def test_probes_together_equal_probes_one_at_a_time():
    xa, y = separable(500, 10, 3, 2)
    xb = torch.randn(500, 7)
    kw = dict(epochs=5, lr=1e-2, batch=64, seed=3)
    together = train_probes([xa, xb], y, 3, order="step", **kw)
    in_turn = train_probes([xa, xb], y, 3, order="layer", **kw)
    alone = [train_probes([x], y, 3, **kw)[0] for x in (xa, xb)]
    for t, i, a in zip(together, in_turn, alone):  # disjoint parameters + elementwise Adam: the same optimisation
        for other in (i, a):
            torch.testing.assert_close(t.weight, other.weight, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(t.bias, other.bias, rtol=1e-5, atol=1e-6)
        assert float(t.weight.abs().max()) > 0  # it did train


def test_probe_standardisation_uses_train_statistics():
    x, y = separable(400, 8, 2, 4)
    shifted = x * 1e-3 + 100.0  # tiny signal on a huge offset
    p = train_probes([shifted], y, 2, epochs=30, batch=100, lr=1e-2, standardize=True)[0]
    torch.testing.assert_close(p.mean, shifted.mean(0))
    assert p.accuracy(shifted, y) == 1.0


def test_probe_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="one row per label"):
        train_probes([torch.zeros(5, 2)], torch.zeros(4, dtype=torch.long), 2)


# ---- kappa / rho -----------------------------------------------------------------------------------------------

def test_kappa_on_hand_made_curves():
    assert kappa([0.1, 0.2, 0.3, 0.9]) == 100.0  # only the last layer reaches 0.95 · best
    assert kappa([0.9, 0.9, 0.9, 0.9]) == 25.0
    d = kappa_detail([0.50, 0.80, 0.86, 0.90, 0.88], tau=0.95)  # threshold 0.855 -> third layer
    assert (d["k"], d["D"], d["value"]) == (3, 5, 60.0)
    assert kappa([0.50, 0.80, 0.86, 0.90, 0.88], tau=0.5) == 20.0
    with pytest.raises(ValueError):
        kappa([])
    with pytest.raises(ValueError):
        kappa([0.5], tau=0.0)


def test_rho_on_hand_made_curves():
    assert rho([0.2, 0.6, 0.5, 0.3]) == pytest.approx(50.0)  # (0.6 - 0.3) / 0.6
    assert rho([0.1, 0.2, 0.4]) == 0.0  # best at the last hidden layer: no drop
    assert rho_detail([0.2, 0.6, 0.5, 0.3])["best_position"] == 1
    assert math.isnan(rho([0.0, 0.0]))


# ---- OrthoDev -----------------------------------------------------------------------------------------------------

def test_orthodev_is_zero_for_orthogonal_data():
    q, _ = torch.linalg.qr(torch.randn(20, 8, dtype=torch.float64))
    h = (q.T * 3.0).float()  # 8 orthogonal rows of equal norm in 20 dims
    assert orthodev_sample(h) == pytest.approx(0.0, abs=1e-6)
    y = torch.arange(8)
    assert orthodev_classmean(h, y, center=False) == pytest.approx(0.0, abs=1e-6)
    # identical rows are as far from orthogonal as it gets: ||11^T/n - I/n||_F = sqrt(n(n-1))/n
    same = torch.ones(8, 5)
    assert orthodev_sample(same) == pytest.approx(math.sqrt(8 * 7) / 8)


def test_orthodev_classmean_floor_is_the_simplex_etf():
    c = 6
    h = simplex_etf(c, 10).float().repeat_interleave(3, 0)
    y = torch.arange(c).repeat_interleave(3)
    assert orthodev_classmean(h, y) == pytest.approx(math.sqrt(c / (c - 1)) / c, rel=1e-5)


# ---- neural collapse ------------------------------------------------------------------------------------------

def test_simplex_etf_is_fully_collapsed():
    c = 5
    means = simplex_etf(c, 12) * 4.0
    y = torch.arange(c).repeat(6)
    h = means[y].float()
    assert nc2(h, y) == pytest.approx(0.0, abs=1e-6)
    assert nc3(h, y, means.float()) == pytest.approx(0.0, abs=1e-6)  # classifier = means
    assert nc4(h, y, y) == 0.0  # NCC agrees with a network that predicts the labels
    assert solution_rank(h @ means.float().T) == c - 1  # Prop. I.1 on the logits
    h_noisy = h + 0.1 * torch.randn_like(h)
    assert nc1(h, y + 0) < 1e-10 < nc1(h_noisy, y)  # within-class spread is what NC1 measures


def test_nc_values_on_hand_made_geometry():
    # two classes on a line at ±1 with within-class spread ±s: NC1 = tr(Σ_W Σ_B⁺)/C = (s² / 1) / 2
    s = 0.5
    h = torch.tensor([[1 + s], [1 - s], [-1 + s], [-1 - s]])
    y = torch.tensor([0, 0, 1, 1])
    assert nc1(h, y) == pytest.approx(s**2 / 2)
    # predictions opposite to the nearest class mean everywhere: NC4 = 1
    assert nc4(h, y, 1 - y) == 1.0
    # a right angle between centred means instead of 180°: NC2 > 0
    h2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    assert nc2(h2, torch.tensor([0, 1, 2])) > 0.05
    out = neural_collapse(h, y, weight=torch.tensor([[1.0], [-1.0]]), predictions=y)
    assert set(out) == {"nc1", "nc2", "nc3", "nc4"} and out["nc3"] == pytest.approx(0.0, abs=1e-9)


# ---- alignment --------------------------------------------------------------------------------------------------

def test_alignment_is_one_on_the_diagonal_for_shared_singular_vectors():
    d, k = 20, 5
    v, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
    sig = torch.tensor([10.0, 8.0, 6.0, 4.0, 2.0], dtype=torch.float64)
    u1, _ = torch.linalg.qr(torch.randn(30, k, dtype=torch.float64))
    u2, _ = torch.linalg.qr(torch.randn(400, k, dtype=torch.float64))
    w = (u1 * sig) @ v[:, :k].T  # weight whose right singular vectors are v_0..v_4
    h = (u2 * sig * 3) @ v[:, :k].T  # representation with the same right singular vectors, same order
    a = alignment_matrix(w.float(), h.float(), top_k=k)
    torch.testing.assert_close(a.diagonal(), torch.ones(k, dtype=a.dtype), atol=1e-4, rtol=0)
    assert float((a - torch.diag(a.diagonal())).abs().max()) < 1e-3
    # a representation living in the orthogonal complement: no alignment at all
    h_perp = torch.randn(400, d - k, dtype=torch.float64) @ v[:, k:].T
    assert float(alignment_matrix(w, h_perp, top_k=k).max()) < 1e-6


def test_layer_alignment_on_a_conv_uses_the_unfolded_patches():
    from analysis import layer_alignment

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 4, 3, padding=1)
    model = torch.nn.Sequential(conv, torch.nn.ReLU())
    x = torch.randn(30, 2, 6, 6)
    a = layer_alignment(model, conv, x, top_k=15, patches_per_image=8)
    assert a.shape == (4, 4)  # k = min(15, out=4, in·k·k=18)
    assert float(a.max()) <= 1.0 + 1e-9 and float(a.min()) >= 0.0
    grouped = torch.nn.Conv2d(2, 4, 3, groups=2)
    assert layer_alignment(torch.nn.Sequential(grouped), grouped, x) is None


def test_conv_alignment_is_one_where_the_patches_share_the_kernels_singular_vectors():
    from analysis import layer_alignment

    # a 1×1 conv reads one pixel's channel vector per patch: build pixels in the kernel's own row space
    c_in, k = 6, 3
    v, _ = torch.linalg.qr(torch.randn(c_in, c_in, dtype=torch.float64))
    sig = torch.tensor([9.0, 5.0, 2.0], dtype=torch.float64)
    conv = torch.nn.Conv2d(c_in, k, 1, bias=False)
    u1, _ = torch.linalg.qr(torch.randn(k, k, dtype=torch.float64))
    conv.weight.data = ((u1 * sig) @ v[:, :k].T).float().reshape(k, c_in, 1, 1)
    pixels = (torch.randn(40 * 25, k, dtype=torch.float64) * sig) @ v[:, :k].T  # same directions, same order
    x = pixels.float().reshape(40, 5, 5, c_in).permute(0, 3, 1, 2).contiguous()
    a = layer_alignment(torch.nn.Sequential(conv), conv, x, top_k=k, patches_per_image=25)
    torch.testing.assert_close(a.diagonal(), torch.ones(k, dtype=a.dtype), atol=2e-2, rtol=0)


def test_layers_alignment_in_one_pass_equals_one_layer_at_a_time():
    from analysis.alignment import layer_alignment, layers_alignment

    torch.manual_seed(0)
    conv1, conv2 = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, stride=2)
    grouped, lin = torch.nn.Conv2d(8, 8, 1, groups=2), torch.nn.Linear(8 * 3 * 3, 5)
    model = torch.nn.Sequential(conv1, torch.nn.ReLU(), conv2, torch.nn.ReLU(), grouped, torch.nn.Flatten(), lin)
    x = torch.randn(50, 3, 7, 7)
    together = layers_alignment(model, [conv1, conv2, grouped, lin], x, top_k=4, batch_size=16)
    alone = [layer_alignment(model, m, x, top_k=4, batch_size=16) for m in (conv1, conv2, grouped, lin)]
    assert together[2] is None and alone[2] is None  # grouped conv: not readable
    for a, b in zip(together, alone):
        if a is not None:
            assert torch.equal(a, b)


# ---- OOD detection ----------------------------------------------------------------------------------------------

def test_auroc_and_fpr_on_known_scores():
    id_s, ood_s = torch.tensor([5.0, 6, 7, 8]), torch.tensor([1.0, 2, 3])
    assert auroc(id_s, ood_s) == 1.0 and fpr_at_tpr(id_s, ood_s) == 0.0
    assert auroc(ood_s, id_s) == 0.0 and fpr_at_tpr(ood_s, id_s) == 1.0
    assert auroc(torch.ones(5), torch.ones(7)) == 0.5  # ties count one half
    # interleaved: pairs (id > ood) = 3 + 2 + 1 = 6 of 9 (Mann–Whitney by hand)
    assert auroc(torch.tensor([2.0, 4, 6]), torch.tensor([1.0, 3, 5])) == pytest.approx(6 / 9)
    # 20 ID scores 1..20: 95% TPR keeps the top 19 (threshold 2); OOD at 0, 1.5, 2, 30 -> 2 of 4 accepted
    assert fpr_at_tpr(torch.arange(1.0, 21), torch.tensor([0.0, 1.5, 2.0, 30.0])) == 0.5
    with pytest.raises(ValueError):
        auroc(torch.tensor([]), torch.tensor([1.0]))


def test_detection_prefers_confident_id_logits():
    from analysis import detection_metrics

    g = torch.Generator().manual_seed(0)
    id_logits = torch.randn(200, 5, generator=g) + 8 * torch.nn.functional.one_hot(torch.arange(200) % 5, 5)
    ood_logits = torch.randn(150, 5, generator=g) * 0.1  # flat: low MSP, low energy
    res = detection_metrics(id_logits, ood_logits, temperature=1.0)
    assert res["auroc_msp_T"][0] == 1.0 and res["fpr95_energy"][0] == 0.0
    assert "auroc_neco" not in res  # no features given


# ---- logits --------------------------------------------------------------------------------------------------------

def test_logits_norm_and_softmax_ranks():
    z = torch.tensor([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])
    mean, fro = logits_norm(z)
    assert mean == pytest.approx((5 + 0 + 10) / 3) and fro == pytest.approx(math.sqrt(25 + 100))
    logits = torch.randn(50, 4) @ torch.randn(4, 4)
    pre, post = softmax_ranks(logits * 1e-12, temperature=1.0)  # tiny logits: softmax is uniform, rank 1
    assert post == 1 and pre == 4


def test_init_norm_rows_fit_the_schema():
    from analysis import init_norm_rows
    from warehouse.schema import TABLES

    rows = init_norm_rows(lambda seed: torch.nn.Linear(3, 2), torch.randn(8, 3), arch="lin", dataset="toy",
                          init="default", init_std=0.01, seeds=(0, 1))
    assert len(rows) == 2 and all(set(r) == set(TABLES["init_norms"].column_names) for r in rows)
    assert all(r["logits_norm"] > 0 for r in rows)


def test_written_out_gradient_equals_autograd():
    from analysis.probes import ce_grad

    x, y = torch.randn(64, 9, dtype=torch.float64), torch.randint(4, (64,))
    w = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w, b), y).backward()
    gw, gb = ce_grad(x, y, w.detach(), b.detach())
    torch.testing.assert_close(gw, w.grad)
    torch.testing.assert_close(gb, b.grad)
