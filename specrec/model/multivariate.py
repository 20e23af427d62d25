"""numpy reference of the vector- and matrix-valued pieces: densities, draws and transforms.

The transforms follow NumPyro's definitions element for element (the order of the unconstrained
vector included), and the other backends implement the same maps, so a log density at the same
unconstrained point agrees everywhere (``specrec check``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

# ---- ordered logistic ----------------------------------------------------------------------------


def ordered_logistic_probs(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """P(y = k), k = 0..K-1, from P(y <= k) = sigmoid(cutpoints[k] - eta) (NumPyro's form)."""
    eta = np.asarray(eta, dtype=float)[..., None]
    cum = special.expit(np.asarray(cutpoints, dtype=float) - eta)
    pad = [(0, 0)] * (cum.ndim - 1) + [(1, 1)]
    cum = np.pad(cum, pad, constant_values=(0.0, 1.0))
    return cum[..., 1:] - cum[..., :-1]


def ordered_logistic_logpmf(x: np.ndarray, eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    p = ordered_logistic_probs(eta, cutpoints)
    idx = np.broadcast_to(np.asarray(x, dtype=np.int64), p.shape[:-1])[..., None]
    return np.log(np.take_along_axis(p, idx, axis=-1)[..., 0])


def ordered_logistic_sample(
    rng: np.random.Generator, eta: np.ndarray, cutpoints: np.ndarray
) -> np.ndarray:
    p = ordered_logistic_probs(eta, cutpoints)
    u = rng.random(p.shape[:-1])[..., None]
    return np.minimum((np.cumsum(p, -1) < u).sum(-1), p.shape[-1] - 1).astype(float)


def ordered_logistic_mean(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    p = ordered_logistic_probs(eta, cutpoints)
    return (p * np.arange(p.shape[-1])).sum(-1)


# ---- multivariate normal with a Cholesky factor --------------------------------------------------


def mvnormal_logpdf(x: np.ndarray, mu: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log N(x | mu, chol chol^T) over the last axis."""
    diff = np.asarray(x, dtype=float) - mu
    chol = np.asarray(chol, dtype=float)
    k = diff.shape[-1]
    shape = np.broadcast_shapes(diff.shape[:-1], chol.shape[:-2])
    z = np.linalg.solve(
        np.broadcast_to(chol, (*shape, k, k)), np.broadcast_to(diff, (*shape, k))[..., None]
    )[..., 0]
    logdet = np.log(np.abs(np.diagonal(chol, axis1=-2, axis2=-1))).sum(-1)
    return -0.5 * (z * z).sum(-1) - logdet - 0.5 * k * np.log(2 * np.pi)


def mvnormal_sample(rng: np.random.Generator, mu: np.ndarray, chol: np.ndarray) -> np.ndarray:
    mu, chol = np.asarray(mu, dtype=float), np.asarray(chol, dtype=float)
    shape = np.broadcast_shapes(mu.shape, chol.shape[:-1])
    eps = rng.standard_normal(shape)
    return mu + np.einsum("...ij,...j->...i", chol, eps)


# ---- LKJ prior on the Cholesky factor of a correlation matrix -----------------------------------


def lkj_cholesky_logpdf(x: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """NumPyro's LKJCholesky log density (normalised) of a correlation Cholesky factor."""
    x = np.asarray(x, dtype=float)
    d = x.shape[-1]
    eta = np.asarray(eta, dtype=float)
    i = np.arange(1, d)
    order = 2 * eta[..., None] - ((3 - d) + i)
    diag = x[..., i, i]
    unnorm = (order * np.log(diag)).sum(-1)
    dm1 = d - 1
    alpha = eta + 0.5 * dm1
    norm = (
        0.5 * dm1 * np.log(np.pi)
        + special.multigammaln(alpha - 0.5, dm1)
        - special.gammaln(alpha) * dm1
    )
    return unnorm - norm


def lkj_cholesky_sample(rng: np.random.Generator, eta: np.ndarray, d: int) -> np.ndarray:
    """Onion-method draws: for each row, a Beta-distributed squared norm on a random direction."""
    eta = np.asarray(eta, dtype=float)
    out = np.zeros((*eta.shape, d, d))
    out[..., 0, 0] = 1.0
    beta = eta + 0.5 * (d - 1)
    for i in range(1, d):
        beta = beta - 0.5
        y = rng.beta(i / 2.0, beta)
        u = rng.standard_normal((*eta.shape, i))
        u /= np.linalg.norm(u, axis=-1, keepdims=True)
        out[..., i, :i] = np.sqrt(y)[..., None] * u
        out[..., i, i] = np.sqrt(1 - y)
    return out


def _tril_size(n_free: int) -> int:
    """Matrix size d from the number d(d-1)/2 of strictly lower elements."""
    return round((1 + float(np.sqrt(1 + 8 * n_free))) / 2)


def corr_cholesky_to_constrained(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPyro's CorrCholeskyTransform: tanh, then signed stick-breaking row by row."""
    z = np.asarray(z, dtype=float)
    d = _tril_size(z.shape[-1])
    t = np.tanh(z)
    r = np.zeros((*z.shape[:-1], d, d))
    rows, cols = np.tril_indices(d, -1)
    r[..., rows, cols] = t
    zsq = r**2
    cum = np.cumprod(np.sqrt(1 - zsq), axis=-1)
    shifted = np.concatenate([np.ones((*cum.shape[:-1], 1)), cum[..., :-1]], -1)
    y = (r + np.eye(d)) * shifted
    z1m_cumprod = 1 - np.cumsum(y * y, axis=-1)
    r2, c2 = np.tril_indices(d, -2)
    stick = 0.5 * np.log(z1m_cumprod[..., r2, c2]).sum(-1)
    tanh_logdet = -2 * (z + np.logaddexp(0, -2 * z) - np.log(2.0)).sum(-1)
    return y, stick + tanh_logdet


def corr_cholesky_to_unconstrained(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    d = y.shape[-1]
    z1m_cumprod = 1 - np.cumsum(y * y, axis=-1)
    shifted = np.concatenate([np.ones((*y.shape[:-1], 1)), z1m_cumprod[..., :-1]], -1)
    rows, cols = np.tril_indices(d, -1)
    return np.arctanh(y[..., rows, cols] / np.sqrt(shifted[..., rows, cols]))


# ---- multivariate normal with the Cholesky factor of a precision matrix -------------------------


def mvnormal_precision_logpdf(
    x: np.ndarray, mu: np.ndarray, precision_chol: np.ndarray
) -> np.ndarray:
    """log N(x | mu, (chol chol^T)^-1) over the last axis: chol is the precision's factor."""
    diff = np.asarray(x, dtype=float) - mu
    chol = np.asarray(precision_chol, dtype=float)
    k = diff.shape[-1]
    z = np.einsum("...ji,...j->...i", chol, diff)  # chol^T diff
    logdet = np.log(np.abs(np.diagonal(chol, axis1=-2, axis2=-1))).sum(-1)
    return -0.5 * (z * z).sum(-1) + logdet - 0.5 * k * np.log(2 * np.pi)


def mvnormal_precision_sample(
    rng: np.random.Generator, mu: np.ndarray, precision_chol: np.ndarray
) -> np.ndarray:
    """mu + chol^-T eps: its covariance is (chol chol^T)^-1."""
    mu, chol = np.asarray(mu, dtype=float), np.asarray(precision_chol, dtype=float)
    shape = np.broadcast_shapes(mu.shape, chol.shape[:-1])
    k = shape[-1]
    eps = rng.standard_normal(shape)
    upper = np.broadcast_to(np.swapaxes(chol, -1, -2), (*shape[:-1], k, k))
    return mu + np.linalg.solve(upper, eps[..., None])[..., 0]


# ---- Wishart prior on the Cholesky factor of a (precision) matrix -------------------------------


def wishart_cholesky_logpdf(x: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """log density of L where L L^T ~ Wishart(nu, I), d x d (NumPyro's WishartCholesky, I scale).

    The Wishart density of L L^T times the Jacobian 2^d prod_i L_ii^(d - i + 1) of L -> L L^T:
    sum_i (nu - i) log L_ii - |L|^2 / 2 - (nu/2 - 1) d log 2 - log Gamma_d(nu / 2), i = 1..d
    (Bartlett: L_ii^2 ~ chi2(nu - i + 1), L_ij ~ N(0, 1) below the diagonal).  -inf unless
    nu > d - 1, where the Wishart is defined.
    """
    x = np.asarray(x, dtype=float)
    nu = np.asarray(nu, dtype=float)
    d = x.shape[-1]
    i = np.arange(1, d + 1)
    diag = np.diagonal(x, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (
            ((nu[..., None] - i) * np.log(diag)).sum(-1)
            - 0.5 * (np.tril(x) ** 2).sum((-2, -1))
            - (nu / 2 - 1) * d * np.log(2.0)
            - special.multigammaln(np.maximum(nu, d) / 2, d)
        )
    return np.where(nu > d - 1, out, -np.inf)


def wishart_cholesky_sample(rng: np.random.Generator, nu: np.ndarray, d: int) -> np.ndarray:
    """Bartlett decomposition: sqrt(chi2(nu - i)) on the diagonal (i = 0..d-1), N(0, 1) below."""
    nu = np.asarray(nu, dtype=float)
    out = np.tril(rng.standard_normal((*nu.shape, d, d)), -1)
    i = np.arange(d)
    out[..., i, i] = np.sqrt(rng.chisquare(nu[..., None] - i))
    return out


def lower_cholesky_to_constrained(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPyro's LowerCholeskyTransform: d(d+1)/2 reals, the strictly lower elements (row-major)
    then the log of the diagonal -> a lower-triangular matrix with a positive diagonal."""
    z = np.asarray(z, dtype=float)
    d = _tril_size(z.shape[-1]) - 1  # d(d+1)/2 = (d+1)d/2 free numbers
    y = np.zeros((*z.shape[:-1], d, d))
    rows, cols = np.tril_indices(d, -1)
    y[..., rows, cols] = z[..., : len(rows)]
    i = np.arange(d)
    y[..., i, i] = np.exp(z[..., len(rows) :])
    return y, z[..., len(rows) :].sum(-1)


def lower_cholesky_to_unconstrained(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    rows, cols = np.tril_indices(y.shape[-1], -1)
    diag = np.diagonal(y, axis1=-2, axis2=-1)
    return np.concatenate([y[..., rows, cols], np.log(diag)], -1)


# ---- ordered vectors ------------------------------------------------------------------------------


def ordered_to_constrained(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First element as is, then cumulative sums of exp: increasing along the last axis."""
    z = np.asarray(z, dtype=float)
    y = np.cumsum(np.concatenate([z[..., :1], np.exp(z[..., 1:])], -1), -1)
    return y, z[..., 1:].sum(-1)


def ordered_to_unconstrained(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return np.concatenate([y[..., :1], np.log(np.diff(y, axis=-1))], -1)


# ---- simplex (mixture weights) ---------------------------------------------------------------------


def dirichlet_logpdf(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log Dirichlet(x | a) over the last axis."""
    x, a = np.asarray(x, dtype=float), np.asarray(a, dtype=float)
    norm = special.gammaln(a.sum(-1)) - special.gammaln(a).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return norm + ((a - 1) * np.log(x)).sum(-1)


def dirichlet_sample(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    """Normalised Gamma(a, 1) draws (numpy's ``dirichlet`` takes one vector, not a batch)."""
    g = rng.gamma(np.asarray(a, dtype=float))
    return g / g.sum(-1, keepdims=True)


def _stick_offset(k: int) -> np.ndarray:
    """Shift so that the unconstrained origin maps to equal weights 1/K (NumPyro, torch)."""
    return np.log(k - np.arange(k))


def stick_breaking_to_constrained(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K-1 reals -> K non-negative weights summing to 1; NumPyro's StickBreakingTransform.

    Each z_i, shifted, is the logit of the fraction of the remaining stick that weight i takes.
    """
    z = np.asarray(z, dtype=float)
    x = z - _stick_offset(z.shape[-1])
    frac = special.expit(x)
    remaining = np.cumprod(1 - frac, axis=-1)
    ones = np.ones((*z.shape[:-1], 1))
    y = np.concatenate([frac, ones], -1) * np.concatenate([ones, remaining], -1)
    # |det J| = prod_i y_i (1 - frac_i), and log(1 - frac) = log(frac) - x stays finite
    logdet = (np.log(y[..., :-1]) + np.log(frac) - x).sum(-1)
    return y, logdet


def stick_breaking_to_unconstrained(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    head = y[..., :-1]
    remaining = np.maximum(1 - np.cumsum(head, axis=-1), np.finfo(float).tiny)
    return np.log(head / remaining) + _stick_offset(head.shape[-1])
