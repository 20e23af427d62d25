"""The thinning rule itself (``specrec.evaluate.thinning``), which every reader of draws shares."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from specrec.evaluate.thinning import kept_draws, spread, thin_draws, thin_pooled, thin_variable


def test_spread_keeps_first_last_and_evenly_spaced_positions() -> None:
    assert spread(10, 4).tolist() == [0, 3, 6, 9]
    assert spread(101, 5).tolist() == [0, 25, 50, 75, 100]
    assert spread(7, 100).tolist() == list(range(7))  # fewer items than wanted: all of them
    assert spread(5, 1).tolist() == [0]


@pytest.mark.parametrize("n", [1, 2, 7, 50, 999, 2000])
@pytest.mark.parametrize("at_most", [1, 2, 3, 10, 100, 2000])
def test_spread_is_distinct_sorted_and_at_most_asked(n: int, at_most: int) -> None:
    keep = spread(n, at_most)
    assert len(keep) == min(n, at_most)
    assert np.all(np.diff(keep) > 0) and keep[0] == 0
    if len(keep) > 1:
        assert keep[-1] == n - 1
        gaps = np.diff(keep)
        assert gaps.max() - gaps.min() <= 1  # even: gaps differ by rounding alone


def test_chains_are_thinned_alike_and_all_kept() -> None:
    post = {"a": np.arange(4 * 1000).reshape(4, 1000), "b": np.zeros((4, 1000, 3))}
    out = thin_draws(post, 200)
    assert out["a"].shape == (4, 50) and out["b"].shape == (4, 50, 3)
    keep = kept_draws(4, 1000, 200)
    # every chain keeps the same evenly spread draws, first and last included
    np.testing.assert_array_equal(out["a"], post["a"][:, keep])
    assert keep[0] == 0 and keep[-1] == 999 and np.ptp(np.diff(keep)) <= 1


def test_kept_count_never_exceeds_the_budget_unless_chains_do() -> None:
    for chains in (1, 3, 4, 7):
        for draws in (1, 9, 250):
            for at_most in (7, 100, 2000):
                kept = chains * len(kept_draws(chains, draws, at_most))
                assert kept == min(chains * draws, chains * (at_most // chains))
                assert kept <= at_most
    # more chains than the budget: one draw of each chain, the first
    assert kept_draws(8, 100, 5).tolist() == [0]


def test_a_posterior_within_the_budget_is_returned_as_it_is() -> None:
    post = {"a": np.ones((2, 10))}
    assert thin_draws(post, 20) is post


def test_a_lazily_read_variable_keeps_the_same_draws_as_the_arrays() -> None:
    values = np.random.default_rng(0).normal(size=(3, 400, 2))
    var = xr.DataArray(values, dims=("chain", "draw", "row"))
    np.testing.assert_array_equal(thin_variable(var, 90), thin_draws({"v": values}, 90)["v"])


def test_pooled_draws_are_thinned_as_one_chain_major_sequence() -> None:
    flat = np.arange(100).reshape(2, 50).reshape(-1)
    assert thin_pooled(flat, 5).tolist() == [0, 25, 50, 74, 99]
    assert thin_pooled(flat, 1000).tolist() == flat.tolist()
