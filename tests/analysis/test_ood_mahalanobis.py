"""Mahalanobis OOD score (Lee et al. 2018, tied covariance, pseudo-inverse on the numerical range): answers known
by construction."""

import math

import pytest
import torch

from analysis import MahalanobisFit, detection_metrics


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blobs(n_per: int, means: torch.Tensor, seed: int, spread: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(means.shape[0]).repeat_interleave(n_per)
    h = means[y] + spread * torch.randn(y.numel(), means.shape[1], generator=_gen(seed), dtype=means.dtype)
    return h, y


def test_score_is_the_closed_form_on_a_hand_built_covariance():
    # per class the deviations ±a·e1, ±b·e2: scatter 2a²e1e1ᵀ + 2b²e2e2ᵀ each, N = 8 -> Σ = diag(a²/2, b²/2)
    a, b = 2.0, 1.0
    mu = torch.tensor([[0.0, 0.0], [6.0, 3.0]], dtype=torch.float64)
    dev = torch.tensor([[a, 0], [-a, 0], [0, b], [0, -b]], dtype=torch.float64)
    h = torch.cat([mu[0] + dev, mu[1] + dev])
    y = torch.tensor([0] * 4 + [1] * 4)
    fit = MahalanobisFit(h, y)
    assert fit.num_classes == 2 and fit.kept_rank == 2
    pts = torch.tensor([[0.0, 0.0], [1.0, 1.0], [6.0, 3.0], [3.0, 1.5], [-4.0, 2.0], [10.0, -1.0]],
                       dtype=torch.float64)
    scale = torch.tensor([1 / math.sqrt(a * a / 2), 1 / math.sqrt(b * b / 2)], dtype=torch.float64)
    expected_d2 = torch.cdist(pts * scale, mu * scale) ** 2  # Σ^{-1/2} = diag(scale): Euclidean after scaling
    assert torch.allclose(fit.distances(pts), expected_d2, rtol=1e-10, atol=1e-10)
    assert torch.allclose(fit.score(pts), -expected_d2.min(1).values, rtol=1e-10, atol=1e-10)
    # one point by hand: (1, 1) to class 0 = 1²/2 + 1²/0.5 = 2.5
    assert float(fit.score(pts[1:2])) == pytest.approx(-2.5)
    assert float(fit.score(pts[:1])) == pytest.approx(0.0, abs=1e-12)


def test_score_is_invariant_under_an_invertible_affine_map():
    means = torch.randn(3, 5, generator=_gen(0), dtype=torch.float64) * 3
    h, y = _blobs(20, means, seed=1)
    t, _ = _blobs(7, means, seed=2, spread=2.0)
    a = torch.randn(5, 5, generator=_gen(3), dtype=torch.float64) + 3 * torch.eye(5, dtype=torch.float64)
    assert abs(float(torch.linalg.det(a))) > 1e-3
    shift = torch.randn(5, generator=_gen(4), dtype=torch.float64)
    before = MahalanobisFit(h, y).score(t)
    after = MahalanobisFit(h @ a.T + shift, y).score(t @ a.T + shift)
    assert MahalanobisFit(h, y).kept_rank == 5
    assert torch.allclose(before, after, rtol=1e-8, atol=1e-9)


def test_far_ood_is_perfectly_separated():
    means = torch.eye(4, dtype=torch.float64) * 5
    h_train, y_train = _blobs(25, means, seed=5, spread=0.5)
    h_id, y_id = _blobs(10, means, seed=6, spread=0.5)
    h_ood = 100.0 + torch.randn(30, 4, generator=_gen(7), dtype=torch.float64)  # far from every class mean
    logits_id = torch.randn(h_id.shape[0], 4, generator=_gen(8))
    logits_ood = torch.randn(h_ood.shape[0], 4, generator=_gen(9))
    res = detection_metrics(logits_id, logits_ood, temperature=1.0, id_train_features=h_train, id_features=h_id,
                            ood_features=h_ood, id_train_labels=y_train)
    value, detail = res["auroc_mahalanobis"]
    assert value == 1.0 and res["fpr95_mahalanobis"][0] == 0.0
    assert detail["num_classes"] == 4 and detail["kept_rank"] == 4
    for key in ("rule", "rcond_eigenvalues", "tol_singular_value", "kept_rank", "num_classes", "dtype"):
        assert key in detail
    assert res["fpr95_mahalanobis"][1]["tpr"] == 0.95
    # without labels: the score is absent and the other scores are unchanged
    no_labels = detection_metrics(logits_id, logits_ood, temperature=1.0, id_train_features=h_train,
                                  id_features=h_id, ood_features=h_ood)
    assert "auroc_mahalanobis" not in no_labels and "auroc_neco" in no_labels
    assert {k: v[0] for k, v in no_labels.items()} == {k: v[0] for k, v in res.items() if "mahalanobis" not in k}


@pytest.mark.parametrize("n_per, d, r, dtype", [(40, 20, 3, torch.float64), (40, 20, 3, torch.float32),
                                                 (8, 50, 4, torch.float64)])  # the last: fewer samples than d
def test_collapsed_features_keep_the_constructed_rank(n_per, d, r, dtype):
    # features h = z·B live in an r-dim subspace of R^d (B: r×d, full row rank); z has full-rank class spread
    zmeans = torch.randn(3, r, generator=_gen(10), dtype=torch.float64) * 3
    z_train, y = _blobs(n_per, zmeans, seed=11)
    z_test, _ = _blobs(5, zmeans, seed=12, spread=2.0)
    basis = torch.randn(r, d, generator=_gen(13), dtype=torch.float64)
    h_train, h_test = (z_train @ basis).to(dtype), (z_test @ basis).to(dtype)
    fit = MahalanobisFit(h_train, y)
    assert fit.kept_rank == r and fit.num_classes == 3 and fit.dtype == str(dtype).replace("torch.", "")
    assert fit.rcond == pytest.approx((max(h_train.shape) * torch.finfo(dtype).eps) ** 2)
    # pinv Mahalanobis on z·B equals the full-rank Mahalanobis on z (B is injective on row vectors)
    reference = MahalanobisFit(z_train, y).score(z_test)
    tol = 1e-8 if dtype == torch.float64 else 1e-3
    assert torch.allclose(fit.score(h_test), reference, rtol=tol, atol=tol)
    # directions outside the ID-train subspace contribute nothing (pseudo-inverse): move the test points there
    null = torch.linalg.svd(basis).Vh[r:]  # rows orthogonal to B's row space
    moved = h_test.double() + 10.0 * null[0]
    assert torch.allclose(fit.score(moved), reference, rtol=tol, atol=tol)


def _raises(match: str, fn, *args) -> None:
    with pytest.raises(ValueError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)


def test_bad_input_raises_a_one_line_message():
    h = torch.randn(10, 3, generator=_gen(20))
    two = torch.arange(10) % 2
    _raises("at least two classes", MahalanobisFit, h, torch.zeros(10, dtype=torch.long))
    _raises("one label per ID-train feature row", MahalanobisFit, h, torch.arange(9) % 2)
    _raises("integer class labels", MahalanobisFit, h, two.float())
    bad = h.clone()
    bad[3, 1] = float("nan")
    _raises("ID-train features hold NaN/inf", MahalanobisFit, bad, two)
    fit = MahalanobisFit(h, two)
    _raises("scored features hold NaN/inf", fit.score, bad)
    _raises("fitted on 3 features", fit.score, torch.randn(4, 5))
    # every sample on its class mean (a dead network's features): Σ = 0, so Σ⁺ = 0 and every distance is 0;
    # recorded as kept rank 0 and scored as chance, not an error that would stop the checkpoint's analysis
    on_means = torch.tensor([[1.0, 0], [1.0, 0], [0, 2.0], [0, 2.0]])
    flat = MahalanobisFit(on_means, torch.tensor([0, 0, 1, 1]))
    assert flat.kept_rank == 0 and torch.equal(flat.score(torch.randn(5, 2)), torch.zeros(5, dtype=torch.float64))
    res = detection_metrics(torch.randn(4, 2), torch.randn(3, 2), temperature=1.0, id_train_features=on_means,
                            id_features=on_means, ood_features=torch.randn(3, 2), id_train_labels=torch.tensor([0, 0, 1, 1]))
    assert res["auroc_mahalanobis"][0] == 0.5 and res["auroc_mahalanobis"][1]["kept_rank"] == 0
    # through detection_metrics too (the path analyse_model takes)
    z = torch.randn(10, 2, generator=_gen(21))
    _raises("at least two classes", lambda: detection_metrics(z, z, temperature=1.0, id_train_features=h,
                                                               id_features=h, ood_features=h,
                                                               id_train_labels=torch.ones(10, dtype=torch.long)))
