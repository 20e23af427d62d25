"""The vectorised Pareto smoothing and PSIS-LOO equal ArviZ's own, rating by rating."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from specrec.evaluate import psis
from specrec.evaluate.loo import psis_loo


def _log_lik(draws: int, rows: int, seed: int) -> np.ndarray:
    """Ratings with light and heavy tails, plus the rows ArviZ's per-rating code treats apart."""
    rng = np.random.default_rng(seed)
    ll = rng.normal(-1, 1, (draws, rows)) * rng.gamma(1, 1, rows)
    ll -= 0.1 * rng.standard_t(2, (draws, rows)) ** 2  # some large Pareto k
    ll[:, 0] = -1.0  # every draw tied: no tail above the cutoff
    ll[: draws // 10, 1] = 3.0  # ties across the tail cutoff
    ll[:, 2] = np.round(ll[:, 2], 1)  # ties inside the tail
    ll[:, 3] = -800 + rng.normal(0, 400, draws)  # a cutoff below the smallest float
    return ll


def _arviz_loo(ll: np.ndarray, reff: float):
    import arviz as az
    import xarray as xr

    data = az.InferenceData(log_likelihood=xr.Dataset({"y": (("chain", "draw", "row"), ll)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.loo(data, pointwise=True, reff=reff)


@pytest.mark.parametrize(
    ("draws", "rows", "reff"), [(200, 400, 1.0), (1000, 60, 0.6), (30, 50, 1.0), (20, 20, 1.0)]
)
def test_pareto_k_and_smoothed_weights_equal_arviz(draws: int, rows: int, reff: float):
    import arviz as az

    ll = _log_lik(draws, rows, seed=draws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_lw, want_k = (np.asarray(a) for a in az.psislw(-ll.T, reff))
    got_lw, got_k = psis.psislw(-ll.T, reff)
    np.testing.assert_allclose(got_k, want_k, rtol=1e-10, atol=1e-12)
    # a tie inside the tail may swap which of the tied draws gets which smoothed weight: the
    # weights as a set (and so every LOO term) agree, element by element they need not
    np.testing.assert_allclose(np.sort(got_lw), np.sort(want_lw), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        psis.logsumexp_rows(got_lw + ll.T), psis.logsumexp_rows(want_lw + ll.T), rtol=1e-10
    )


def test_blocks_of_ratings_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch):
    ll = _log_lik(200, 300, seed=7)
    whole_lw, whole_k = psis.psislw(-ll.T)
    monkeypatch.setattr(psis, "BLOCK_ROWS", 7)
    parts_lw, parts_k = psis.psislw(-ll.T)
    np.testing.assert_array_equal(parts_k, whole_k)
    np.testing.assert_array_equal(parts_lw, whole_lw)


def test_loo_terms_on_threads_equal_the_serial_whole_array_arithmetic(
    monkeypatch: pytest.MonkeyPatch,
):
    """LOO's per-rating terms, computed block by block on two threads, are to the last bit
    those of psislw on the whole array followed by two log-sum-exps (the serial code)."""
    ll = _log_lik(200, 300, seed=11).T  # (rows, draws), a transposed view as LOO passes it
    lw, want_k = psis.psislw(-ll)
    want_elpd, want_lppd = psis.logsumexp_rows(lw + ll), psis.logsumexp_rows(ll)
    monkeypatch.setattr(psis, "BLOCK_ROWS", 7)
    monkeypatch.setattr(psis, "threads", lambda: 2)
    elpd, lppd, k = psis.loo_terms(ll)
    np.testing.assert_array_equal(k, want_k)
    np.testing.assert_array_equal(elpd, want_elpd)
    np.testing.assert_array_equal(lppd, want_lppd)


@pytest.mark.parametrize("reff", [1.0, 0.5])
def test_psis_loo_equals_arviz_loo(reff: float):
    ll = _log_lik(400, 250, seed=3).reshape(2, 200, 250)
    got = psis_loo(ll, reff)
    want = _arviz_loo(ll, reff)
    assert got["elpd_loo"] == pytest.approx(float(want["elpd_loo"]), rel=1e-10)
    assert got["se"] == pytest.approx(float(want["se"]), rel=1e-10)
    assert got["p_loo"] == pytest.approx(float(want["p_loo"]), rel=1e-8)
    assert got["good_k"] == pytest.approx(float(want["good_k"]))
    k = np.asarray(want["pareto_k"])
    assert got["pareto_k_max"] == pytest.approx(float(np.nanmax(k)))
    assert got["n_pareto_k_above_good"] == int(np.sum(k > float(want["good_k"])))
    assert got["n_pareto_k_above_good"] > 0  # the heavy tails make some ratings unreliable


def test_psislw_rejects_a_flat_array():
    with pytest.raises(ValueError, match="rows, samples"):
        psis.psislw(np.zeros(10))
