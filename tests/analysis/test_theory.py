"""The appendix's propositions hold on the demonstrations' outputs (and the rows fit the 'theory' table)."""

import math

import pytest
import torch

from analysis.theory import (
    fig21,
    j2_quantities,
    prop_i1,
    prop_k1_c0,
    prop_k1_matrix,
    random_column_stochastic,
    simplex_etf,
    theory_rows,
)
from warehouse.schema import TABLES


@pytest.mark.parametrize("c", [2, 3, 10, 50])
def test_prop_i1_collapsed_network_has_solution_rank_c_minus_1(c):
    assert prop_i1(c)["solution_rank"] == c - 1
    m = simplex_etf(c, c + 3).double()
    g = m @ m.T
    off = g[~torch.eye(c, dtype=torch.bool)]
    torch.testing.assert_close(off, torch.full_like(off, -1.0 / (c - 1)))  # the ETF really is one


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_prop_j2_bound_holds_on_random_column_stochastic_matrices(n, scale):
    for seed in range(5):
        s = random_column_stochastic(n, scale, seed)
        torch.testing.assert_close(s.sum(0), torch.ones(n, dtype=s.dtype))
        q = j2_quantities(s)
        assert q["sigma1"] <= q["sigma1_bound"] + 1e-12
        assert q["sigma_n"] >= q["sigma_n_bound"] - 1e-12
        assert q["gap"] <= q["bound"] + 1e-12


def test_prop_j2_tight_cases():
    n = 6
    q = j2_quantities(torch.eye(n, dtype=torch.float64))  # σ1 = √(1 + r) with r = 0
    assert q["sigma1"] == pytest.approx(q["sigma1_bound"]) == pytest.approx(1.0)
    e1 = torch.zeros(n, n, dtype=torch.float64)
    e1[0] = 1.0  # every column the same one-hot: r = n − 1, gap = √n = bound
    q = j2_quantities(e1)
    assert q["gap"] == pytest.approx(q["bound"]) == pytest.approx(math.sqrt(n))


def test_fig21_inner_products_split_by_argmax():
    temps = torch.logspace(-2, 2, 21, dtype=torch.float64).tolist()
    res = fig21(temps)
    for q in res:
        assert q["gap"] <= q["bound"] + 1e-12
        assert q["inner_same_argmax"] >= q["inner_diff_argmax"] - 1e-12
    cold, hot = res[0], res[-1]
    assert cold["inner_diff_argmax"] < 1e-6 and cold["inner_same_argmax"] > 1 - 1e-6  # one-hot columns
    assert hot["inner_same_argmax"] == pytest.approx(0.2, abs=1e-3)  # uniform columns: ⟨s_i, s_j⟩ = 1/n
    assert hot["inner_diff_argmax"] == pytest.approx(0.2, abs=1e-3)
    assert max(q["rank"] for q in res) > cold["rank"]  # between the extremes the rank rises


@pytest.mark.parametrize("n", [8, 16, 32])
def test_prop_k1_full_rank_from_a_finite_c0(n):
    b = prop_k1_matrix(n)
    assert int(torch.linalg.matrix_rank(b)) == 2
    res = prop_k1_c0(n)
    assert res["c0"] is not None and not res["at_grid_start"]
    k0 = res["grid"].index(res["c0"])
    assert all(r == n for r in res["ranks"][k0:])  # full rank at every c from c0 on
    assert res["ranks"][k0 - 1] < n  # and not just below it
    assert bool((b.argmax(1) == torch.arange(n)).all())  # each row's largest cosine is its own (1)
    s = torch.softmax(1e9 * b, dim=1)
    torch.testing.assert_close(s, torch.eye(n, dtype=s.dtype), atol=1e-6, rtol=0)  # tends to the identity


def test_theory_rows_fit_the_table():
    rows = theory_rows()
    cols = set(TABLES["theory"].column_names)
    assert rows and all(set(r) == cols for r in rows)
    assert {r["experiment"] for r in rows} == {"prop_i1", "prop_j2", "fig21", "prop_k1", "prop_k1_sweep"}
    by = {(r["experiment"], r["param"], r["metric"]): r["value"] for r in rows}
    for c in (3, 5, 10, 20, 100):
        assert by[("prop_i1", c, "solution_rank")] == by[("prop_i1", c, "expected")] == c - 1
    j2 = [r for r in rows if r["experiment"] == "prop_j2"]
    for t in {r["param"] for r in j2}:
        assert by[("prop_j2", t, "gap")] <= by[("prop_j2", t, "bound")] + 1e-12
