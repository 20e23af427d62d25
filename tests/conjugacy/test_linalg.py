"""The conditionals' own batched Cholesky and triangular solves, against numpy's LAPACK."""

from __future__ import annotations

import numpy as np
import pytest

from specrec.conjugacy import linalg


def _spd(rng: np.random.Generator, batch: int, d: int) -> np.ndarray:
    a = rng.normal(size=(batch, d, d))
    return a @ a.swapaxes(-1, -2) + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 7])
def test_factor_solves_and_inverse_match_lapack(d):
    rng = np.random.default_rng(d)
    a = _spd(rng, 5, d)
    b = rng.normal(size=(5, d, 3))
    c = linalg.cholesky(np, a)
    np.testing.assert_allclose(c, np.linalg.cholesky(a), atol=1e-10)
    np.testing.assert_allclose(linalg.solve_lower(np, c, b), np.linalg.solve(c, b), atol=1e-9)
    upper = np.linalg.solve(c.swapaxes(-1, -2), b)
    np.testing.assert_allclose(linalg.solve_upper_t(np, c, b), upper, atol=1e-9)
    np.testing.assert_allclose(linalg.spd_inverse(np, a), np.linalg.inv(a), rtol=1e-8, atol=1e-8)


def test_a_matrix_that_is_not_positive_definite_gives_nan_not_an_exception():
    a = np.array([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.0], [0.0, 3.0]]])
    with np.errstate(invalid="ignore"):
        c = linalg.cholesky(np, a)
    assert np.isnan(c[0]).any()
    np.testing.assert_allclose(c[1], np.diag(np.sqrt([2.0, 3.0])))
