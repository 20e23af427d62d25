"""Each closed-form conditional against brute force: the joint density normalised over the site.

A full conditional is the joint density as a function of one site, normalised.  So for any
two values ``a``, ``b`` of the site (the others held fixed), ``log q(a) - log q(b)`` must equal
``log p(a, rest) - log p(b, rest)`` computed by the numpy reference; and for a scalar site the
closed form must match the joint normalised numerically on a grid.  The grid check runs on the
first and last element of every closed-form site but the Wishart (a 3-dimensional factor even at
D = 2; it has the pairwise check), each element given the rest of its block.  The models
(``models.TEXTS``) cover every pair the analysis accepts: Normal and MvNormal (precision and
covariance form) rows with Normal and MvNormal children, Normal hyperprior means, Gamma on a
Normal precision (written as a scale, with a constant factor, per user), InverseGamma on a
likelihood's and on a prior's variance, Gamma-Poisson, Gamma-Exponential, Beta-Bernoulli and
Normal-Wishart.  A conditional whose precision is off by a factor of 2 fails the same checks
(the negative control).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from specrec.conjugacy import analyse
from specrec.conjugacy import conditionals as cond
from specrec.conjugacy.probe import NUMPY
from specrec.model.ir import Model, RandomVariable
from specrec.model.reference import initial_values
from specrec.model.walk import NUMPY_OPS, walk_model

from .models import TEXTS, model

CONJUGATE = [n for n in TEXTS if n != "no_closed_form"]


def joint(m: Model, values: dict[str, np.ndarray]) -> float:
    """log p(latents, y) in the constrained space (no Jacobians: a density over values)."""
    total = [0.0]

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        total[0] += float(np.sum(rv.dist.logpdf(values[rv.name], **args)))
        return values[rv.name]

    def observe(rv: RandomVariable, args: dict[str, Any]) -> None:
        total[0] += float(np.sum(rv.dist.logpdf(m.to_model_scale(m.data.y), **args)))

    walk_model(m, NUMPY_OPS, sample, observe)
    return total[0]


def log_q(m: Model, p: cond.Plan, values: dict, x: np.ndarray, precision_factor: float = 1.0):
    """The closed-form conditional's log density at site value ``x``."""
    kind, rv = p.update.kind, p.rv
    if kind in ("normal", "mvnormal"):
        prec, h = cond.gaussian_params(NUMPY, m, p, values)
        prec = prec * precision_factor
        mean = np.linalg.solve(prec, h[..., None])[..., 0]
        xs = x.reshape(p.g, p.d)
        return sum(
            stats.multivariate_normal.logpdf(xs[i], mean[i], np.linalg.inv(prec[i]))
            for i in range(p.g)
        )
    if kind == "wishart":
        nu, inv_scale = cond.wishart_params(NUMPY, m, p, values)
        d = rv.shape[-1]
        lam = x @ x.T
        jac = np.sum((d - np.arange(d)) * np.log(np.diag(x)))
        return stats.wishart.logpdf(lam, df=nu, scale=np.linalg.inv(inv_scale)) + jac
    a, b = cond.scalar_params(NUMPY, m, p, values)
    x = x.reshape(-1)
    if kind == "gamma":
        return stats.gamma.logpdf(x, a, scale=1 / (b * precision_factor)).sum()
    if kind == "inverse_gamma":
        return stats.invgamma.logpdf(x, a, scale=b).sum()
    return stats.beta.logpdf(x, a, b).sum()


def random_site(rv: RandomVariable, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind in ("normal", "mvnormal"):
        return rng.normal(0, 1.5, rv.shape)
    if kind == "wishart":
        d = rv.shape[-1]
        return np.tril(rng.normal(size=(d, d)), -1) + np.diag(rng.uniform(0.4, 2.5, d))
    if kind == "beta":
        return rng.uniform(0.05, 0.95, rv.shape)
    return rng.uniform(0.2, 3.0, rv.shape)


def mismatch(m: Model, p: cond.Plan, precision_factor: float = 1.0) -> float:
    """Largest error of log q differences against joint differences over random pairs."""
    rng = np.random.default_rng(1)
    values = initial_values(m, rng, 1.0)
    xs = [random_site(p.rv, p.update.kind, rng) for _ in range(5)]
    lq = [log_q(m, p, values, x, precision_factor) for x in xs]
    lj = [joint(m, {**values, p.rv.name: x}) for x in xs]
    return max(abs((lq[i] - lq[0]) - (lj[i] - lj[0])) for i in range(1, len(xs)))


def plans(name: str) -> tuple[Model, list[cond.Plan]]:
    m = model(name)
    return m, [cond.plan(m, u) for u in analyse(m) if u.conjugate]


@pytest.mark.parametrize("name", CONJUGATE)
def test_every_conditional_is_the_normalised_joint(name):
    m, ps = plans(name)
    assert ps
    for p in ps:
        assert mismatch(m, p) < 1e-6, p.update


@pytest.mark.parametrize("name", ["gaussian_gamma", "normal_wishart"])
def test_a_precision_off_by_two_is_caught(name):
    m, ps = plans(name)
    gaussian = [p for p in ps if p.update.kind in ("normal", "mvnormal")]
    assert all(mismatch(m, p, precision_factor=2.0) > 1e-2 for p in gaussian)


def test_gamma_precision_matches_the_joint_on_a_grid():
    m, ps = plans("gaussian_gamma")
    (p,) = [p for p in ps if p.update.param == "tau"]
    values = initial_values(m, np.random.default_rng(2), 1.0)
    grid = np.linspace(1e-4, 15, 6001)
    lj = np.array([joint(m, {**values, "tau": np.asarray(t)}) for t in grid])
    dens = np.exp(lj - lj.max())
    dens /= integrate.trapezoid(dens, grid)
    a, b = cond.scalar_params(NUMPY, m, p, values)
    closed = stats.gamma.pdf(grid, a[0], scale=1 / b[0])
    assert np.max(np.abs(dens - closed)) < 1e-3 * closed.max()
    wrong = stats.gamma.pdf(grid, a[0], scale=1 / (2 * b[0]))
    assert np.max(np.abs(dens - wrong)) > 0.1 * closed.max()


def test_draws_follow_the_closed_form():
    """The draw functions sample the distribution whose parameters they compute."""
    m, ps = plans("inverse_gamma")
    (p,) = [p for p in ps if p.update.param == "v"]
    values = initial_values(m, np.random.default_rng(3), 1.0)
    a, b = cond.scalar_params(NUMPY, m, p, values)
    random = cond.NumpyRandom(np.random.default_rng(4))
    draws = np.array([cond.draw(NUMPY, random, m, p, values) for _ in range(4000)])
    assert stats.kstest(draws, stats.invgamma(a[0], scale=b[0]).cdf).pvalue > 1e-3


def element_conditional(m: Model, p: cond.Plan, values: dict, flat: int, wrong: bool = False):
    """The closed form's density of one site element given the rest (the other elements of its
    block included): a frozen scipy distribution.  ``wrong``: precision or rate doubled."""
    kind = p.update.kind
    x = np.asarray(values[p.rv.name], float).reshape(p.g, p.d)
    if kind in ("normal", "mvnormal"):
        prec, h = cond.gaussian_params(NUMPY, m, p, values)
        g, k = divmod(flat, p.d)
        pg, mean = prec[g], np.linalg.solve(prec[g], h[g])
        others = np.arange(p.d) != k
        cm = mean[k] - pg[k, others] @ (x[g, others] - mean[others]) / pg[k, k]
        return stats.norm(cm, 1 / np.sqrt(pg[k, k] * (2.0 if wrong else 1.0)))
    a, b = cond.scalar_params(NUMPY, m, p, values)
    a, b = a[flat], b[flat]
    if kind == "gamma":
        return stats.gamma(a, scale=1 / (b * (2.0 if wrong else 1.0)))
    if kind == "inverse_gamma":
        return stats.invgamma(a, scale=b * (2.0 if wrong else 1.0))
    return stats.beta(a * (2.0 if wrong else 1.0), b)


SCALAR_SITES = [
    (name, u.param, flat)
    for name in CONJUGATE
    for u in analyse(model(name))
    if u.conjugate and u.kind != "wishart"
    for flat in sorted({0, int(np.prod(model(name).latent(u.param).shape, dtype=int)) - 1})
]


@pytest.mark.parametrize(("name", "param", "flat"), SCALAR_SITES)
def test_each_element_conditional_is_the_joint_normalised_on_a_grid(name, param, flat):
    """Brute force: the joint as a function of one element, normalised numerically on a grid,
    is the closed form's conditional of that element; the closed form with its precision (or
    rate, or first Beta shape) doubled is not."""
    m, ps = plans(name)
    (p,) = [p for p in ps if p.update.param == param]
    values = initial_values(m, np.random.default_rng(5), 1.0)
    q = element_conditional(m, p, values, flat)
    lo, hi = q.ppf(1e-7), q.ppf(1 - 1e-7)
    grid = np.linspace(lo, hi, 2001)
    site = np.asarray(values[param], float)
    lj = []
    for t in grid:
        x = site.copy().reshape(-1)
        x[flat] = t
        lj.append(joint(m, {**values, param: x.reshape(site.shape)}))
    dens = np.exp(np.array(lj) - max(lj))
    dens /= integrate.trapezoid(dens, grid)
    closed = q.pdf(grid)
    assert np.max(np.abs(dens - closed)) < 2e-3 * closed.max(), p.update
    wrong = element_conditional(m, p, values, flat, wrong=True).pdf(grid)
    assert np.max(np.abs(dens - wrong)) > 0.05 * closed.max(), p.update
