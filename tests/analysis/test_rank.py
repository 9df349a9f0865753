"""numerical_rank equals torch.linalg.matrix_rank's default, on matrices whose rank is known by construction
and on ones built to sit near the threshold; the fast path must agree or fall back."""

import pytest
import torch

from analysis import numerical_rank, rank_tolerance, rank_with_detail, solution_rank


def low_rank(m: int, n: int, r: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, r, generator=g, dtype=torch.float64) @ torch.randn(r, n, generator=g,
                                                                              dtype=torch.float64)).to(dtype)


def with_spectrum(m: int, n: int, sigmas: torch.Tensor, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(m, len(sigmas), generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(n, len(sigmas), generator=g, dtype=torch.float64))
    return ((u * sigmas.double()) @ v.T).to(dtype)


@pytest.mark.parametrize("shape", [(300, 40), (40, 300), (128, 128)])
@pytest.mark.parametrize("r", [1, 7, 25])
def test_chosen_rank_is_found_by_every_method(shape, r):
    a = low_rank(*shape, r, seed=r)
    assert int(torch.linalg.matrix_rank(a)) == r  # the construction does what it claims
    assert rank_with_detail(a, "gram")[1]["fallback"] is False
    for method in ("auto", "gram", "svd"):
        assert numerical_rank(a, method) == r


@pytest.mark.parametrize("seed", range(4))
def test_random_full_rank_matches_matrix_rank(seed):
    a = torch.randn(500, 64, generator=torch.Generator().manual_seed(seed))
    r, detail = rank_with_detail(a, "gram")
    assert r == int(torch.linalg.matrix_rank(a)) == 64
    assert detail["fallback"] is False  # the fast path decided on its own


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(3))
def test_ill_conditioned_matches_matrix_rank(dtype, seed):
    # singular values spread over 16 decades, across both float32 and float64 thresholds
    sig = torch.logspace(0, -16, 60, dtype=torch.float64)
    a = with_spectrum(400, 80, sig, seed, dtype)
    expected = int(torch.linalg.matrix_rank(a))
    assert 0 < expected < 60
    for method in ("auto", "gram", "svd"):
        assert numerical_rank(a, method) == expected


def test_singular_value_at_the_threshold_forces_the_fallback():
    m, n = 300, 50
    tol_rel = max(m, n) * torch.finfo(torch.float32).eps
    sig = torch.tensor([1.0] * 10 + [tol_rel * 1.01, tol_rel * 0.99] + [1e-9] * 3, dtype=torch.float64)
    a = with_spectrum(m, n, sig, seed=5)
    r, detail = rank_with_detail(a, "gram")
    assert detail["fallback"] is True and detail["ambiguous"] >= 1
    assert r == int(torch.linalg.matrix_rank(a))


def test_low_rank_plus_noise_and_identical_rows():
    a = low_rank(200, 60, 5, seed=1) + 1e-3 * torch.randn(200, 60)
    assert numerical_rank(a, "gram") == int(torch.linalg.matrix_rank(a))
    same = torch.randn(1, 30).repeat(100, 1)  # identical representations: rank 1
    assert numerical_rank(same) == 1 == int(torch.linalg.matrix_rank(same))


def test_zero_and_bad_matrices():
    assert numerical_rank(torch.zeros(10, 4)) == 0
    with pytest.raises(ValueError, match="empty"):
        numerical_rank(torch.zeros(0, 4))
    with pytest.raises(ValueError, match="2-D"):
        numerical_rank(torch.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        numerical_rank(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), "gram")


def test_detail_records_the_tolerance_and_dtype():
    a = low_rank(100, 20, 3, seed=2)
    r, d = rank_with_detail(a)
    assert d["dtype"] == "float32" and d["method"] == "gram"
    smax = float(torch.linalg.matrix_norm(a.double(), ord=2))
    assert d["tol"] == pytest.approx(rank_tolerance(smax, (100, 20), torch.float32), rel=1e-6)
    assert solution_rank(a) == r == 3


def test_continuous_spectra_agree_with_matrix_rank_across_seeds():
    # the hard case for the fast path: singular values spread densely through the threshold (real activations)
    agree, decided = 0, 0
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        a = (torch.randn(1200, 150, generator=g) * torch.logspace(0, -6, 150)) @ torch.randn(150, 300, generator=g)
        if seed % 2:
            a = torch.relu(a)
        r, detail = rank_with_detail(a, "gram")
        expected = int(torch.linalg.matrix_rank(a))
        assert numerical_rank(a, "svd") == expected  # one svdvals call, compared as matrix_rank compares
        assert numerical_rank(a.double()) == int(torch.linalg.matrix_rank(a.double()))
        agree += r == expected
        decided += not detail["fallback"]
    assert agree == 12
    assert decided >= 6  # the ambiguity band is narrow enough that the fast path usually decides alone


@pytest.mark.parametrize("shape", [(900, 600), (600, 900)])
def test_gram_over_several_blocks_matches_matrix_rank(shape):
    # 600 > GRAM_BLOCK: the lower-triangle Gram is assembled from three block columns, on both orientations
    from analysis.rank import GRAM_BLOCK, _lower_gram

    assert min(shape) > 2 * GRAM_BLOCK
    a = low_rank(*shape, 400, seed=7)
    b = a.double() if shape[0] >= shape[1] else a.double().T
    full = b.T @ b  # the same float64 dot products up to summation order
    lower = _lower_gram(a if shape[0] >= shape[1] else a.T)
    assert torch.allclose(torch.tril(lower), torch.tril(full), rtol=0, atol=1e-12 * float(full.abs().max()))
    r, detail = rank_with_detail(a, "gram")
    assert r == int(torch.linalg.matrix_rank(a)) == 400 and not detail["fallback"]
    g = torch.Generator().manual_seed(3)
    c = (torch.randn(shape[0], 500, generator=g) * torch.logspace(0, -6, 500)) @ torch.randn(500, shape[1], generator=g)
    assert numerical_rank(c, "gram") == int(torch.linalg.matrix_rank(c))
