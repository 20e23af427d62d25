"""Independent checks of the numpy reference densities that had none: Dirichlet and
OrderedLogistic against scipy, the stick-breaking Jacobian against finite differences, and LKJ
above d = 2 against its definition (density of the correlation matrix proportional to
det(C)^(eta - 1), times the Jacobian of L -> C) and against 1 (its normaliser, by importance
sampling over the unconstrained space).  Every backend is checked against these references, so
an error here would pass the cross-backend checks unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from specrec.model import multivariate as mv
from specrec.model.distributions import DISTRIBUTIONS, to_constrained


def _jacobian(f, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d z by central differences (f: R^n -> R^m), shape (m, n)."""
    cols = []
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = h
        cols.append((f(z + e) - f(z - e)) / (2 * h))
    return np.stack(cols, 1)


@pytest.mark.parametrize("a", [[1.0, 1.0, 1.0], [0.5, 2.0, 3.5, 1.2], [7.0, 0.3]])
def test_dirichlet_matches_scipy(a: list[float]) -> None:
    rng = np.random.default_rng(len(a))
    alpha = np.array(a)
    x = rng.dirichlet(alpha, size=6)
    want = np.array([stats.dirichlet(alpha).logpdf(row) for row in x])
    np.testing.assert_allclose(mv.dirichlet_logpdf(x, alpha), want, rtol=1e-10)
    np.testing.assert_allclose(DISTRIBUTIONS["Dirichlet"].logpdf(x, alpha), want, rtol=1e-10)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_stick_breaking_jacobian_matches_finite_differences(k: int) -> None:
    """The density of K-1 reals is that of the simplex's first K-1 weights times |det J|."""
    rng = np.random.default_rng(k)
    for _ in range(3):
        z = rng.normal(0, 1.5, k - 1)
        y, logdet = mv.stick_breaking_to_constrained(z)
        assert np.all(y > 0) and y.sum() == pytest.approx(1.0)
        jac = _jacobian(lambda v: mv.stick_breaking_to_constrained(v)[0][:-1], z)
        assert float(logdet) == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)
        np.testing.assert_allclose(mv.stick_breaking_to_unconstrained(y), z, atol=1e-10)
    y0, _ = mv.stick_breaking_to_constrained(np.zeros(k - 1))
    np.testing.assert_allclose(y0, 1.0 / k)  # the origin is equal weights
    # through the distributions table, as a backend sees it
    y, logdet = to_constrained("stick_breaking", z)
    assert float(logdet) == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)


def test_ordered_logistic_matches_scipy_logistic_cdf_differences() -> None:
    cut = np.array([-1.3, -0.2, 0.4, 2.0])
    eta = np.array([-30.0, -2.0, 0.0, 0.3, 1.7, 30.0])
    cdf = stats.logistic.cdf(cut[None, :] - eta[:, None])
    cdf = np.concatenate([np.zeros((len(eta), 1)), cdf, np.ones((len(eta), 1))], 1)
    want = np.diff(cdf, axis=1)  # P(y = k) = F(c_k - eta) - F(c_{k-1} - eta)
    dist = DISTRIBUTIONS["OrderedLogistic"]
    for k in range(len(cut) + 1):
        got = dist.logpdf(np.full(len(eta), k), eta, cut)
        ok = want[:, k] > 1e-300
        np.testing.assert_allclose(np.exp(got[ok]), want[ok, k], rtol=1e-7, atol=1e-15)
    # the mean is sum k P(y = k)
    np.testing.assert_allclose(mv.ordered_logistic_mean(eta, cut), want @ np.arange(5))


def _chol_from_rows(w: np.ndarray, d: int) -> np.ndarray:
    """L from its strictly lower elements, row by row; each diagonal makes its row unit."""
    chol = np.zeros((d, d))
    chol[0, 0] = 1.0
    rows, cols = np.tril_indices(d, -1)
    chol[rows, cols] = w
    for i in range(1, d):
        chol[i, i] = np.sqrt(1 - chol[i, :i] @ chol[i, :i])
    return chol


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("eta", [0.7, 1.0, 2.5])
def test_lkj_cholesky_is_the_lkj_correlation_density_times_the_jacobian(d: int, eta: float) -> None:
    """LKJ(eta): p(C) proportional to det(C)^(eta - 1) over the off-diagonal elements of C.
    The density of L over its strictly lower elements is p(C(L)) |dC/dL|, with the Jacobian
    taken here by finite differences, so differences between two factors cancel the normaliser.
    """
    rng = np.random.default_rng(d)
    rows, cols = np.tril_indices(d, -1)

    def c_free(w: np.ndarray) -> np.ndarray:
        chol = _chol_from_rows(w, d)
        return (chol @ chol.T)[rows, cols]

    def log_target(w: np.ndarray) -> float:
        chol = _chol_from_rows(w, d)
        det = np.linalg.slogdet(chol @ chol.T)[1]
        return (eta - 1) * det + np.linalg.slogdet(_jacobian(c_free, w))[1]

    draws = mv.lkj_cholesky_sample(rng, np.full(4, eta), d)
    got = [mv.lkj_cholesky_logpdf(chol, eta) for chol in draws]
    want = [log_target(chol[rows, cols]) for chol in draws]
    np.testing.assert_allclose(np.diff(got), np.diff(want), atol=1e-5)


@pytest.mark.parametrize("d", [3, 4])
def test_lkj_cholesky_integrates_to_one(d: int) -> None:
    """The normaliser, independently of the closed form: over the unconstrained z (the
    finite-difference-checked CorrCholesky transform), E_q[p(L(z)) |J| / q(z)] = 1."""
    eta = 1.8
    rng = np.random.default_rng(10 + d)
    n_free = d * (d - 1) // 2
    n = 200_000
    scale = 0.9
    z = rng.normal(0, scale, (n, n_free))
    chol, logdet = mv.corr_cholesky_to_constrained(z)
    log_p = mv.lkj_cholesky_logpdf(chol, eta) + logdet
    log_q = stats.norm(0, scale).logpdf(z).sum(-1)
    w = np.exp(log_p - log_q)
    mean, se = w.mean(), w.std() / np.sqrt(n)
    assert se < 0.01, se  # the proposal covers the density well enough to tell
    assert abs(mean - 1.0) < 4 * se + 1e-3, (mean, se)
    # and the marginal of one correlation is Beta(a, a) on (-1, 1), a = eta - 1 + d / 2
    a = eta - 1 + d / 2
    r = (chol @ np.swapaxes(chol, -1, -2))[:, 1, 0]
    var = float((w * r**2).sum() / w.sum())
    assert var == pytest.approx(1 / (2 * a + 1), rel=0.03)
