"""EM for the Netflix seed's mixture of user types: the reference a mixture spec is checked by.

The seed fits K user types (a mean rating per item and a spread per type) to a sparse rating
matrix by expectation-maximisation; ``specs/netflix_mixture.yaml`` is the same model with its
type summed out, and its ``map`` fit must reach the log-likelihood EM reaches.  Written
independently of specrec's model code (plain numpy over the observed cells), so that it is a
reference rather than a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logsumexp


@dataclass(frozen=True)
class EMFit:
    log_likelihood: float
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, items)
    sds: np.ndarray  # (K,)
    iterations: int


@dataclass(frozen=True)
class Priors:
    """The mixture spec's priors, so that EM maximises what ``map`` (and specrec's ``em``)
    maximise: the log density of the values themselves (no Jacobian) plus the log-likelihood.

    Dirichlet(a) on the weights, Normal(m0, s0) on every type mean, InverseGamma(alpha, beta)
    on every type's spread (the standard deviation, as the spec writes it).  The seed floors
    the variance instead; the inverse-gamma keeps the spread off 0 in the same way.
    """

    a: float
    m0: float
    s0: float
    alpha: float
    beta: float

    def log_density(self, weights: np.ndarray, means: np.ndarray, sds: np.ndarray) -> float:
        k = len(weights)
        a = np.full(k, self.a)
        dirichlet = stats.dirichlet.logpdf(np.maximum(weights, 1e-300), a)
        normal = stats.norm.logpdf(means, self.m0, self.s0).sum()
        inv_gamma = stats.invgamma.logpdf(sds, self.alpha, scale=self.beta).sum()
        return float(dirichlet + normal + inv_gamma)


def mixture_log_likelihood(
    users: np.ndarray,
    items: np.ndarray,
    y: np.ndarray,
    n_users: int,
    weights: np.ndarray,
    means: np.ndarray,
    sds: np.ndarray,
) -> float:
    """log p(ratings) with each user's type summed out (the objective EM maximises)."""
    diff = y[:, None] - means[:, items].T
    lp = -0.5 * (np.log(2 * np.pi * sds**2)[None] + diff**2 / sds[None] ** 2)
    joint = np.log(weights) + np.zeros((n_users, len(weights)))
    np.add.at(joint, users, lp)
    return float(logsumexp(joint, 1).sum())


def gaussian_mixture_em(
    users: np.ndarray,
    items: np.ndarray,
    y: np.ndarray,
    n_users: int,
    n_items: int,
    k: int,
    rng: np.random.Generator | None,
    iters: int = 500,
    tol: float = 1e-10,
    priors: Priors | None = None,
    start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> EMFit:
    """One EM run from a random start (means drawn around the ratings' mean, as the seed), or
    from ``start`` (weights, means, sds).

    Without ``priors``: maximum likelihood, the seed's EM.  With them, the M-step is the mode
    of the expected complete-data log posterior (the objective of specrec's ``map``): weights
    ``(n_k + a - 1) / (N + K (a - 1))``; each mean precision-weighted between the prior mean
    and the type's weighted ratings; each spread the positive root of the stationary equation
    ``(alpha + 1 + n) s^2 - beta s - S = 0`` of ``log InvGamma(s) - n log s - S / (2 s^2)``.
    It stops when the objective (log-likelihood, plus the log prior with ``priors``) rose by
    less than ``tol`` times its magnitude.
    """
    if start is None:
        assert rng is not None
        w = np.full(k, 1.0 / k)
        mu = rng.normal(y.mean(), y.std(), (k, n_items))
        var = np.full(k, y.var())
    else:
        w, mu, sd = (np.array(x, dtype=float) for x in start)
        var = sd**2
    obj_old = -np.inf
    done = 0
    for done in range(1, iters + 1):  # noqa: B007 (the count is returned)
        diff = y[:, None] - mu[:, items].T
        lp = -0.5 * (np.log(2 * np.pi * var)[None] + diff**2 / var[None])
        joint = np.log(w) + np.zeros((n_users, k))
        np.add.at(joint, users, lp)
        ll = float(logsumexp(joint, 1).sum())
        obj = ll if priors is None else ll + priors.log_density(w, mu, np.sqrt(var))
        if obj - obj_old < tol * abs(obj):
            break
        obj_old = obj
        r = np.exp(joint - logsumexp(joint, 1, keepdims=True))  # E step: responsibilities
        rr = r[users]
        if priors is None:  # M step
            w = r.mean(0)
            for j in range(k):
                num = np.bincount(items, rr[:, j] * y, n_items)
                den = np.bincount(items, rr[:, j], n_items)
                mu[j] = np.where(den > 1e-9, num / np.maximum(den, 1e-12), mu[j])
            var = (rr * (y[:, None] - mu[:, items].T) ** 2).sum(0) / rr.sum(0)
            continue
        w = (r.sum(0) + priors.a - 1) / (n_users + k * (priors.a - 1))
        w = np.maximum(w, np.finfo(float).tiny)
        tau0 = 1.0 / priors.s0**2
        for j in range(k):
            num = np.bincount(items, rr[:, j] * y, n_items) / var[j]
            den = np.bincount(items, rr[:, j], n_items) / var[j]
            mu[j] = (num + tau0 * priors.m0) / (den + tau0)
        n = rr.sum(0)
        big_s = (rr * (y[:, None] - mu[:, items].T) ** 2).sum(0)
        c2 = priors.alpha + 1 + n
        var = ((priors.beta + np.sqrt(priors.beta**2 + 4 * c2 * big_s)) / (2 * c2)) ** 2
    return EMFit(ll, w, mu, np.sqrt(var), done)


def best_of(
    users: np.ndarray,
    items: np.ndarray,
    y: np.ndarray,
    n_users: int,
    n_items: int,
    k: int,
    starts: int = 5,
) -> EMFit:
    """The best of ``starts`` EM runs (seeds 0..starts-1), as the seed keeps the best of 5."""
    fits = [
        gaussian_mixture_em(users, items, y, n_users, n_items, k, np.random.default_rng(s))
        for s in range(starts)
    ]
    return max(fits, key=lambda f: f.log_likelihood)
