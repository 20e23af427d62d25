"""The numpy reference of vector/matrix values: densities against scipy, transforms' Jacobians
against finite differences, draws with the right laws.  Backends are checked against these."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from specrec.model import multivariate as mv
from specrec.model.distributions import DISTRIBUTIONS, to_constrained, to_unconstrained


def _log_abs_det(f, z: np.ndarray) -> float:
    """log|det J| of z -> (free coordinates of f(z)) by central differences."""
    h = 1e-6
    cols = []
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = h
        cols.append((f(z + e) - f(z - e)) / (2 * h))
    return float(np.linalg.slogdet(np.stack(cols, 1))[1])


@pytest.mark.parametrize("kind", ["ordered", "corr_cholesky", "lower_cholesky"])
def test_transform_round_trip_and_jacobian(kind: str) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 0.8, 6)  # 6 free numbers: an ordered 6-vector, a 4 x 4 or a 3 x 3 factor
    x, logdet = to_constrained(kind, z)
    np.testing.assert_allclose(to_unconstrained(kind, x), z, atol=1e-10)
    if kind == "ordered":
        assert np.all(np.diff(x) > 0)
        free = lambda v: to_constrained(kind, v)[0]  # noqa: E731
    elif kind == "lower_cholesky":
        assert x.shape == (3, 3) and np.allclose(np.triu(x, 1), 0) and np.all(np.diag(x) > 0)
        rows, cols = np.tril_indices(3)
        free = lambda v: to_constrained(kind, v)[0][rows, cols]  # noqa: E731
    else:
        np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0)  # unit rows
        assert np.allclose(np.triu(x, 1), 0) and np.all(np.diag(x) > 0)
        rows, cols = np.tril_indices(4, -1)
        free = lambda v: to_constrained(kind, v)[0][rows, cols]  # noqa: E731
    assert float(logdet) == pytest.approx(_log_abs_det(free, z), abs=1e-6)


def test_mvnormal_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    chol = np.linalg.cholesky(a @ a.T + np.eye(3))
    mu = rng.normal(size=3)
    x = rng.normal(size=(5, 3))
    want = stats.multivariate_normal(mu, chol @ chol.T).logpdf(x)
    np.testing.assert_allclose(mv.mvnormal_logpdf(x, mu, chol), want, rtol=1e-10)
    draws = mv.mvnormal_sample(rng, np.broadcast_to(mu, (20000, 3)), chol)
    np.testing.assert_allclose(np.cov(draws.T), chol @ chol.T, atol=0.1)


def test_lkj_cholesky_d2_is_a_scaled_beta_on_the_correlation() -> None:
    """For d = 2, r = L[1, 0] has density (1 - r^2)^(eta - 1) / norm, i.e. (r+1)/2 ~ Beta(eta, eta);
    the density of L differs from that of r by the Jacobian |dL/dr| = 1 (L = [[1,0],[r,.]])."""
    eta = 2.5
    for r in (-0.7, 0.1, 0.6):
        chol = np.array([[1.0, 0.0], [r, np.sqrt(1 - r * r)]])
        want = stats.beta(eta, eta).logpdf((r + 1) / 2) - np.log(2)
        # LKJCholesky is a density over the free element of L; d r / d L[1,0] = 1
        assert mv.lkj_cholesky_logpdf(chol, eta) == pytest.approx(want, abs=1e-10)


def test_lkj_draws_are_correlation_factors() -> None:
    draws = mv.lkj_cholesky_sample(np.random.default_rng(2), np.full(200, 2.0), 4)
    np.testing.assert_allclose(np.linalg.norm(draws, axis=-1), 1.0)
    corr = draws @ np.swapaxes(draws, -1, -2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0)
    # eta = 2 in d = 4: the marginal of an off-diagonal is Beta(eta - 1 + d/2, same) on (-1, 1)
    off = corr[:, 1, 0]
    assert abs(off.mean()) < 0.1 and 0.15 < off.std() < 0.5


def test_wishart_cholesky_is_the_wishart_of_l_lt_times_its_jacobian() -> None:
    """p(L) = Wishart(L L^T | nu, I) * |d(L L^T)/dL| = ... * 2^d prod_i L_ii^(d - i + 1)."""
    rng = np.random.default_rng(4)
    d = 3
    for nu in (3.0, 4.5, 10.0):
        chol = to_constrained("lower_cholesky", rng.normal(0, 0.5, 6))[0]
        wishart = stats.wishart(df=nu, scale=np.eye(d)).logpdf(chol @ chol.T)
        jac = d * np.log(2) + np.sum((d - np.arange(d)) * np.log(np.diag(chol)))
        got = DISTRIBUTIONS["WishartCholesky"].logpdf(chol, nu)
        assert got == pytest.approx(wishart + jac, abs=1e-10)
    assert mv.wishart_cholesky_logpdf(chol, 2.0) == -np.inf  # not a Wishart for nu <= d - 1


def test_wishart_cholesky_draws_have_mean_nu_identity() -> None:
    draws = mv.wishart_cholesky_sample(np.random.default_rng(5), np.full(40000, 5.0), 3)
    assert np.allclose(np.triu(draws, 1), 0) and np.all(np.diagonal(draws, 0, -2, -1) > 0)
    np.testing.assert_allclose(
        (draws @ np.swapaxes(draws, -1, -2)).mean(0), 5 * np.eye(3), atol=0.1
    )


def test_mvnormal_precision_matches_scipy_with_the_inverse_covariance() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(size=(3, 3))
    prec_chol = np.linalg.cholesky(a @ a.T + np.eye(3))
    cov = np.linalg.inv(prec_chol @ prec_chol.T)
    mu = rng.normal(size=3)
    x = rng.normal(size=(5, 3))
    want = stats.multivariate_normal(mu, cov).logpdf(x)
    np.testing.assert_allclose(
        DISTRIBUTIONS["MvNormalPrecision"].logpdf(x, mu, prec_chol), want, rtol=1e-10
    )
    draws = mv.mvnormal_precision_sample(rng, np.broadcast_to(mu, (40000, 3)), prec_chol)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.02)
    np.testing.assert_allclose(draws.mean(0), mu, atol=0.02)


def test_ordered_logistic_probabilities_and_mean() -> None:
    cut = np.array([-1.0, 0.0, 1.5])
    eta = np.array([-3.0, 0.2, 4.0])
    p = mv.ordered_logistic_probs(eta, cut)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert np.all(np.diff(mv.ordered_logistic_mean(eta, cut)) > 0)  # higher score, higher stars
    dist = DISTRIBUTIONS["OrderedLogistic"]
    np.testing.assert_allclose(
        dist.logpdf(np.array([0, 2, 3]), eta, cut), np.log(p[[0, 1, 2], [0, 2, 3]])
    )
    y = dist.sample(np.random.default_rng(3), np.full(20000, 0.2), cut)
    np.testing.assert_allclose(np.bincount(y.astype(int), minlength=4) / 20000, p[1], atol=0.02)
