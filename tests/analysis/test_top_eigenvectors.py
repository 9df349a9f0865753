"""The alignment's top-k eigenvectors: subspace iteration above EIGH_MAX_DIM must give eigh's answer."""

import pytest
import torch

from analysis import alignment


def _gram(spectrum: torch.Tensor, seed: int = 0) -> torch.Tensor:
    d = spectrum.numel()
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q @ torch.diag(spectrum) @ q.T  # eigenvectors q, eigenvalues `spectrum`


@pytest.mark.parametrize("spectrum", [
    torch.arange(1, 301, dtype=torch.float64) ** -1.0,  # well separated: the iteration converges
    torch.logspace(0, -0.01, 300, dtype=torch.float64),  # nearly flat: falls back to the full eigh
], ids=["power-law", "flat"])
def test_iterative_path_matches_eigh(monkeypatch, spectrum):
    monkeypatch.setattr(alignment, "EIGH_MAX_DIM", 100)  # force the iterative path on a small matrix
    gram = _gram(spectrum)
    full_eigh_calls, eigh = [], torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda m: full_eigh_calls.append(m.shape) or eigh(m))
    fast = alignment.top_eigenvectors(gram, 15)
    monkeypatch.undo()
    assert (gram.shape in full_eigh_calls) == (spectrum[14] / spectrum[45] < 1.01)  # fell back iff flat
    _, evecs = torch.linalg.eigh(gram)
    ref = evecs[:, -15:].flip(1)
    assert torch.allclose((fast.T @ ref).abs(), torch.eye(15, dtype=torch.float64), atol=1e-6)


def test_aligned_conv_layer_still_reads_cosine_one(monkeypatch):
    """A representation whose top directions are the weight's own: the diagonal is 1 on both paths."""
    monkeypatch.setattr(alignment, "EIGH_MAX_DIM", 10)
    d, k = 64, 5
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    weight = (basis[:, :k] * torch.tensor([5.0, 4, 3, 2, 1], dtype=torch.float64)).T  # (k, d)
    h = torch.randn(2000, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.01
    h += torch.randn(2000, k, generator=torch.Generator().manual_seed(3), dtype=torch.float64) @ (
        weight * torch.tensor([[2.0], [1.6], [1.2], [0.8], [0.4]], dtype=torch.float64))
    matrix = alignment._gram_alignment(weight, h.T @ h, h.shape[0], k)
    assert torch.allclose(matrix.diagonal(), torch.ones(k, dtype=torch.float64), atol=1e-3)
