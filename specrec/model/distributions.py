"""The one table of distributions: parameters, constraints, support, and a numpy reference.

Everything else reads this table: spec validation (argument names, literal values outside a
constraint, a likelihood whose support cannot hold the data), the JSON Schema, the docs, the
numpy reference used for simulation, prediction and the cross-backend parity check, and each
backend's translation table (which must name exactly these parameters).  Names and
parameterisations follow PyMC, the vocabulary most users of this field already know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from specrec.lazy import lazy_module
from specrec.model import multivariate as mv

# scipy.stats costs about a second to import; validating a spec needs the table, not the
# densities, so the modules load at the first density evaluated.
special = lazy_module("scipy.special")
stats = lazy_module("scipy.stats")


@dataclass(frozen=True)
class Constraint:
    """A set of values.  ``kind`` is one of the names below; ``interval`` reads bounds from params."""

    kind: str
    description: str

    def mask(
        self, value: np.ndarray, low: float | None = None, high: float | None = None
    ) -> np.ndarray:
        """Elementwise: which values lie in the set."""
        v = np.asarray(value, dtype=float)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(v)
            if self.kind in ("positive",):
                ok &= v > 0
            elif self.kind == "nonnegative":
                ok &= v >= 0
            elif self.kind == "unit_interval":
                ok &= (v > 0) & (v < 1)
            elif self.kind == "interval":
                ok &= (v > low) & (v < high)
            elif self.kind in ("nonnegative_integer", "categorical"):
                ok &= (v >= 0) & (v == np.round(v))
            elif self.kind == "binary":
                ok &= (v == 0) | (v == 1)
            elif self.kind == "simplex":
                ok &= v >= 0
            elif self.kind == "dof":
                ok &= v > 0  # the bound d - 1 depends on the matrix size: the density checks it
            elif self.kind in ("ordered", "corr_cholesky", "lower_cholesky"):
                pass  # a property of a whole vector/matrix, checked by the density itself
            elif self.kind != "real":
                raise ValueError(self.kind)
        return ok

    def check(self, value: np.ndarray, low: float | None = None, high: float | None = None) -> bool:
        return bool(np.all(self.mask(value, low, high)))


REAL = Constraint("real", "any real number")
POSITIVE = Constraint("positive", "a number > 0")
UNIT_INTERVAL = Constraint("unit_interval", "a number in (0, 1)")
INTERVAL = Constraint("interval", "a number between lower and upper")
NONNEGATIVE_INTEGER = Constraint("nonnegative_integer", "a whole number >= 0")
BINARY = Constraint("binary", "0 or 1")
CATEGORICAL = Constraint("categorical", "a category index 0..K-1")
SIMPLEX = Constraint("simplex", "non-negative weights over a dim (normalised)")
ORDERED = Constraint("ordered", "a vector increasing along its last dim")
CORR_CHOLESKY = Constraint(
    "corr_cholesky", "the lower Cholesky factor of a correlation matrix (rows of unit length)"
)
NONNEGATIVE = Constraint("nonnegative", "a number >= 0")
LOWER_CHOLESKY = Constraint(
    "lower_cholesky", "a lower-triangular matrix with a positive diagonal (a Cholesky factor)"
)
DOF = Constraint("dof", "degrees of freedom: a number > d - 1 for a d x d matrix")

#: How a latent variable with this support is mapped to the unconstrained space.  Every backend
#: must use the same map, so that log densities (Jacobians included) agree at the same point.
TRANSFORMS = {
    "real": "identity",
    "positive": "log",
    "unit_interval": "logit",
    "interval": "interval",
    # --- multivariate, mixtures, ordinal ---
    "ordered": "ordered",
    "corr_cholesky": "corr_cholesky",
    "simplex": "stick_breaking",
    "lower_cholesky": "lower_cholesky",
}


@dataclass(frozen=True)
class Arg:
    name: str
    constraint: Constraint
    doc: str
    event_dims: int = 0  # 1 for a vector argument over a dim (Categorical's p)


@dataclass(frozen=True)
class Distribution:
    name: str
    args: tuple[Arg, ...]
    support: Constraint
    doc: str
    logpdf: Callable[..., np.ndarray]
    sample: Callable[..., np.ndarray]  # (rng, **args) -> draws, broadcast over the args
    mean: Callable[..., np.ndarray] | None  # None: no finite mean, so no point prediction
    #: trailing dims of one draw (MvNormal: 1, a vector; LKJCholesky: 2, a matrix).  Its
    #: ``sample`` then takes ``event_shape`` too, as a matrix size is not always in the args.
    event_dims: int = 0

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def discrete(self) -> bool:
        return self.support.kind in ("nonnegative_integer", "binary", "categorical")

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.arg_names)})"


#: The mean of a multivariate normal; a constant number is broadcast over the event dim.
MEAN_VECTOR = Arg(
    "mu", REAL, "mean vector over the event dim (a constant number: the same in each)", event_dims=1
)


def _shape(*xs: np.ndarray) -> tuple[int, ...]:
    return np.broadcast_shapes(*(np.shape(x) for x in xs))


def _categorical_logpmf(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    logp = np.log(p) - np.log(p.sum(-1, keepdims=True))
    idx = np.asarray(x, dtype=np.int64)[..., None]
    return np.take_along_axis(logp, idx, axis=-1)[..., 0]


def _categorical_sample(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    p = p / p.sum(-1, keepdims=True)
    u = rng.random(p.shape[:-1])[..., None]
    return (np.cumsum(p, -1) < u).sum(-1).astype(float)


_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _normal_logpdf(x: Any, mu: Any, sigma: Any) -> np.ndarray:
    """``stats.norm.logpdf`` in closed form: the evaluator scores every draw of every rating
    with it, and scipy's argument checks cost as much as the arithmetic.  A scale that is not
    positive gives NaN, as scipy's does."""
    sigma = np.asarray(sigma, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.asarray(x, dtype=float) - mu) / sigma
        out = -0.5 * z * z - np.log(sigma) - _HALF_LOG_2PI
    return out if np.all(sigma > 0) else np.where(sigma > 0, out, np.nan)


def _table() -> dict[str, Distribution]:
    d = [
        Distribution(
            "Normal",
            (Arg("mu", REAL, "mean"), Arg("sigma", POSITIVE, "standard deviation")),
            REAL,
            "Gaussian",
            _normal_logpdf,
            lambda rng, mu, sigma: rng.normal(mu, sigma, _shape(mu, sigma)),
            lambda mu, sigma: mu + 0 * sigma,
        ),
        Distribution(
            "HalfNormal",
            (Arg("sigma", POSITIVE, "scale"),),
            POSITIVE,
            "|Normal(0, sigma)|",
            lambda x, sigma: stats.halfnorm.logpdf(x, scale=sigma),
            lambda rng, sigma: np.abs(rng.normal(0.0, sigma, np.shape(sigma))),
            lambda sigma: sigma * np.sqrt(2 / np.pi),
        ),
        Distribution(
            "HalfCauchy",
            (Arg("beta", POSITIVE, "scale"),),
            POSITIVE,
            "|Cauchy(0, beta)|; heavy tailed, no mean",
            lambda x, beta: stats.halfcauchy.logpdf(x, scale=beta),
            lambda rng, beta: np.abs(beta * rng.standard_cauchy(np.shape(beta))),
            None,
        ),
        Distribution(
            "Exponential",
            (Arg("lam", POSITIVE, "rate"),),
            POSITIVE,
            "exponential with rate lam",
            lambda x, lam: stats.expon.logpdf(x, scale=1 / np.asarray(lam, float)),
            lambda rng, lam: rng.exponential(1 / np.asarray(lam, float), np.shape(lam)),
            lambda lam: 1 / np.asarray(lam, float),
        ),
        Distribution(
            "Gamma",
            (Arg("alpha", POSITIVE, "shape"), Arg("beta", POSITIVE, "rate")),
            POSITIVE,
            "gamma with shape alpha and rate beta",
            lambda x, alpha, beta: stats.gamma.logpdf(
                x, a=alpha, scale=1 / np.asarray(beta, float)
            ),
            lambda rng, alpha, beta: rng.gamma(
                alpha, 1 / np.asarray(beta, float), _shape(alpha, beta)
            ),
            lambda alpha, beta: np.asarray(alpha, float) / beta,
        ),
        Distribution(
            "InverseGamma",
            (Arg("alpha", POSITIVE, "shape"), Arg("beta", POSITIVE, "scale")),
            POSITIVE,
            "inverse gamma with shape alpha and scale beta",
            lambda x, alpha, beta: stats.invgamma.logpdf(x, a=alpha, scale=beta),
            lambda rng, alpha, beta: beta / rng.gamma(alpha, 1.0, _shape(alpha, beta)),
            lambda alpha, beta: np.where(
                np.asarray(alpha) > 1, beta / (np.asarray(alpha) - 1.0), np.inf
            ),
        ),
        Distribution(
            "LogNormal",
            (Arg("mu", REAL, "mean of log"), Arg("sigma", POSITIVE, "sd of log")),
            POSITIVE,
            "exp(Normal(mu, sigma))",
            lambda x, mu, sigma: stats.lognorm.logpdf(x, s=sigma, scale=np.exp(mu)),
            lambda rng, mu, sigma: np.exp(rng.normal(mu, sigma, _shape(mu, sigma))),
            lambda mu, sigma: np.exp(mu + np.asarray(sigma) ** 2 / 2),
        ),
        Distribution(
            "StudentT",
            (
                Arg("nu", POSITIVE, "degrees of freedom"),
                Arg("mu", REAL, "location"),
                Arg("sigma", POSITIVE, "scale"),
            ),
            REAL,
            "Student's t",
            lambda x, nu, mu, sigma: stats.t.logpdf(x, df=nu, loc=mu, scale=sigma),
            lambda rng, nu, mu, sigma: mu + sigma * rng.standard_t(nu, _shape(nu, mu, sigma)),
            lambda nu, mu, sigma: mu + 0 * (nu + sigma),
        ),
        Distribution(
            "Beta",
            (Arg("alpha", POSITIVE, "first shape"), Arg("beta", POSITIVE, "second shape")),
            UNIT_INTERVAL,
            "beta on (0, 1)",
            lambda x, alpha, beta: stats.beta.logpdf(x, alpha, beta),
            lambda rng, alpha, beta: rng.beta(alpha, beta, _shape(alpha, beta)),
            lambda alpha, beta: np.asarray(alpha, float) / (np.asarray(alpha) + beta),
        ),
        Distribution(
            "Uniform",
            (Arg("lower", REAL, "lower bound"), Arg("upper", REAL, "upper bound")),
            INTERVAL,
            "uniform on (lower, upper)",
            lambda x, lower, upper: stats.uniform.logpdf(
                x, loc=lower, scale=np.asarray(upper) - lower
            ),
            lambda rng, lower, upper: rng.uniform(lower, upper, _shape(lower, upper)),
            lambda lower, upper: (np.asarray(lower, float) + upper) / 2,
        ),
        Distribution(
            "Poisson",
            (Arg("mu", POSITIVE, "rate (mean)"),),
            NONNEGATIVE_INTEGER,
            "Poisson counts",
            lambda x, mu: stats.poisson.logpmf(x, mu),
            lambda rng, mu: rng.poisson(mu, np.shape(mu)).astype(float),
            lambda mu: np.asarray(mu, float),
        ),
        Distribution(
            "NegativeBinomial",
            (
                Arg("mu", POSITIVE, "mean"),
                Arg("alpha", POSITIVE, "dispersion (larger is closer to Poisson)"),
            ),
            NONNEGATIVE_INTEGER,
            "negative binomial with mean mu and variance mu + mu^2/alpha",
            lambda x, mu, alpha: stats.nbinom.logpmf(
                x, alpha, np.asarray(alpha) / (np.asarray(mu) + alpha)
            ),
            lambda rng, mu, alpha: rng.poisson(
                rng.gamma(alpha, np.asarray(mu, float) / alpha, _shape(mu, alpha))
            ).astype(float),
            lambda mu, alpha: np.asarray(mu, float) + 0 * alpha,
        ),
        Distribution(
            "Bernoulli",
            (Arg("p", UNIT_INTERVAL, "probability of 1"),),
            BINARY,
            "0/1 outcome",
            lambda x, p: stats.bernoulli.logpmf(x, p),
            lambda rng, p: (rng.random(np.shape(p)) < p).astype(float),
            lambda p: np.asarray(p, float),
        ),
        Distribution(
            "Categorical",
            (Arg("p", SIMPLEX, "weights over the categories (a dim)", event_dims=1),),
            CATEGORICAL,
            "one of K categories 0..K-1",
            _categorical_logpmf,
            _categorical_sample,
            lambda p: (
                np.asarray(p) / np.sum(p, -1, keepdims=True) * np.arange(np.shape(p)[-1])
            ).sum(-1),
        ),
        # --- multivariate, mixtures, ordinal ---
        Distribution(
            "OrderedLogistic",
            (
                Arg("eta", REAL, "latent score (higher: higher categories)"),
                Arg("cutpoints", REAL, "increasing cutpoints over a dim of K-1", event_dims=1),
            ),
            CATEGORICAL,
            "one of K ordered categories 0..K-1, P(y <= k) = sigmoid(cutpoints[k] - eta)",
            mv.ordered_logistic_logpmf,
            mv.ordered_logistic_sample,
            mv.ordered_logistic_mean,
        ),
        Distribution(
            "MvNormal",
            (
                MEAN_VECTOR,
                Arg(
                    "chol",
                    REAL,
                    "lower Cholesky factor of the covariance, over (event dim, a dim of the "
                    "same size)",
                    event_dims=2,
                ),
            ),
            REAL,
            "multivariate normal over the parameter's last dim, covariance chol chol^T",
            mv.mvnormal_logpdf,
            lambda rng, mu, chol, event_shape: mv.mvnormal_sample(rng, mu, chol),
            lambda mu, chol: np.asarray(mu, float),
            event_dims=1,
        ),
        Distribution(
            "LKJCholesky",
            (Arg("eta", POSITIVE, "concentration (1: uniform over correlation matrices)"),),
            CORR_CHOLESKY,
            "Cholesky factor of an LKJ-distributed correlation matrix over two dims of one size",
            mv.lkj_cholesky_logpdf,
            lambda rng, eta, event_shape: mv.lkj_cholesky_sample(rng, eta, event_shape[-1]),
            None,
            event_dims=2,
        ),
        Distribution(
            "Dirichlet",
            (Arg("a", POSITIVE, "concentration over the categories (a dim)", event_dims=1),),
            SIMPLEX,
            "weights over the parameter's last dim, non-negative and summing to 1 (mixture "
            "weights); a scalar a is the same concentration for every category",
            mv.dirichlet_logpdf,
            lambda rng, a, event_shape: mv.dirichlet_sample(
                rng, np.broadcast_to(a, np.broadcast_shapes(np.shape(a), event_shape))
            ),
            lambda a: np.asarray(a, float) / np.sum(a, -1, keepdims=True),
            event_dims=1,
        ),
        *_normal_wishart(),
        # --- aggregates, count/positive likelihoods, covariates ---
        *_zero_inflated_and_hurdle(),
    ]
    return {x.name: x for x in d}


def _normal_wishart() -> list[Distribution]:
    """A Wishart prior on a precision matrix and a normal given that precision (Normal-Wishart BPMF).

    Both work on Cholesky factors, as the LKJ pair does: ``L ~ WishartCholesky(nu)`` is the
    factor of a Wishart(nu, I) precision, ``s * L`` (``diag(s) L``) that of a Wishart(nu,
    diag(s)^2) one, and ``MvNormalPrecision(mu, sqrt(b) * L)`` has precision ``b L L^T``.
    """
    return [
        Distribution(
            "MvNormalPrecision",
            (
                MEAN_VECTOR,
                Arg(
                    "precision_chol",
                    REAL,
                    "lower Cholesky factor of the precision (inverse covariance), over (event "
                    "dim, a dim of the same size)",
                    event_dims=2,
                ),
            ),
            REAL,
            "multivariate normal over the parameter's last dim with precision matrix "
            "precision_chol precision_chol^T, i.e. covariance (precision_chol "
            "precision_chol^T)^-1; with WishartCholesky, the Normal-Wishart prior of BPMF",
            mv.mvnormal_precision_logpdf,
            lambda rng, mu, precision_chol, event_shape: mv.mvnormal_precision_sample(
                rng, mu, precision_chol
            ),
            lambda mu, precision_chol: np.asarray(mu, float),
            event_dims=1,
        ),
        Distribution(
            "WishartCholesky",
            (Arg("nu", DOF, "degrees of freedom (nu = d, the matrix size: BPMF's vague choice)"),),
            LOWER_CHOLESKY,
            "lower Cholesky factor L of a Wishart(nu, I) matrix L L^T over two dims of one size "
            "d (as a precision: BPMF's Lambda); s * L, with s > 0 over the first dim, is the "
            "factor of a Wishart(nu, diag(s)^2) matrix",
            mv.wishart_cholesky_logpdf,
            lambda rng, nu, event_shape: mv.wishart_cholesky_sample(rng, nu, event_shape[-1]),
            None,
            event_dims=2,
        ),
    ]


def _zero_inflated(psi, base_logpdf, x, *base):
    """log p(x) of "0 with probability 1 - psi, else a draw from base" (base may give 0 too)."""
    x = np.asarray(x, dtype=float)
    psi = np.asarray(psi, dtype=float)
    with np.errstate(divide="ignore"):
        at_zero = np.logaddexp(np.log1p(-psi), np.log(psi) + base_logpdf(np.zeros_like(x), *base))
    return np.where(x == 0, at_zero, np.log(psi) + base_logpdf(x, *base))


def _hurdle(psi, base_logpdf, x, *base):
    """log p(x) of "0 with probability 1 - psi, else a draw from a positive base"."""
    x = np.asarray(x, dtype=float)
    psi = np.asarray(psi, dtype=float)
    safe = np.where(x > 0, x, 1.0)
    return np.where(x == 0, np.log1p(-psi), np.log(psi) + base_logpdf(safe, *base))


def _gate(rng: np.random.Generator, psi, draw: np.ndarray) -> np.ndarray:
    """Keep each base draw with probability psi, else 0."""
    return np.where(rng.random(np.shape(draw)) < psi, draw, 0.0)


def _nb_logpmf(x, mu, alpha):
    return stats.nbinom.logpmf(x, alpha, np.asarray(alpha) / (np.asarray(mu) + alpha))


def _nb_sample(rng, mu, alpha):
    lam = rng.gamma(alpha, np.asarray(mu, float) / alpha, _shape(mu, alpha))
    return rng.poisson(lam).astype(float)


def _lognormal_logpdf(x, mu, sigma):
    return stats.lognorm.logpdf(x, s=sigma, scale=np.exp(mu))


def _gamma_logpdf(x, alpha, beta):
    return stats.gamma.logpdf(x, a=alpha, scale=1 / np.asarray(beta, float))


def _zero_inflated_and_hurdle() -> list[Distribution]:
    """Count and positive responses with extra zeros (watch minutes, plays, purchases).

    ``psi`` is the probability of the base component, as in PyMC: zero-inflated forms add zeros
    to a count distribution that can itself be 0; hurdle forms put all zeros in the gate and a
    positive continuous distribution above it (so the support is ``>= 0``).
    """
    psi = Arg("psi", UNIT_INTERVAL, "probability of the base (non-gated) component")
    rate = Arg("mu", POSITIVE, "mean of the base component")
    return [
        Distribution(
            "ZeroInflatedPoisson",
            (psi, rate),
            NONNEGATIVE_INTEGER,
            "0 with probability 1 - psi, else Poisson(mu)",
            lambda x, psi, mu: _zero_inflated(psi, stats.poisson.logpmf, x, mu),
            lambda rng, psi, mu: _gate(rng, psi, rng.poisson(mu, _shape(psi, mu)).astype(float)),
            lambda psi, mu: np.asarray(psi, float) * mu,
        ),
        Distribution(
            "ZeroInflatedNegativeBinomial",
            (psi, rate, Arg("alpha", POSITIVE, "dispersion of the base NegativeBinomial")),
            NONNEGATIVE_INTEGER,
            "0 with probability 1 - psi, else NegativeBinomial(mu, alpha)",
            lambda x, psi, mu, alpha: _zero_inflated(psi, _nb_logpmf, x, mu, alpha),
            lambda rng, psi, mu, alpha: _gate(
                rng, psi, _nb_sample(rng, *np.broadcast_arrays(mu + 0 * psi, alpha))
            ),
            lambda psi, mu, alpha: np.asarray(psi, float) * mu + 0 * alpha,
        ),
        Distribution(
            "HurdleLogNormal",
            (psi, Arg("mu", REAL, "mean of log"), Arg("sigma", POSITIVE, "sd of log")),
            NONNEGATIVE,
            "0 with probability 1 - psi, else LogNormal(mu, sigma)",
            lambda x, psi, mu, sigma: _hurdle(psi, _lognormal_logpdf, x, mu, sigma),
            lambda rng, psi, mu, sigma: _gate(
                rng, psi, np.exp(rng.normal(mu, sigma, _shape(psi, mu, sigma)))
            ),
            lambda psi, mu, sigma: np.asarray(psi, float) * np.exp(mu + np.asarray(sigma) ** 2 / 2),
        ),
        Distribution(
            "HurdleGamma",
            (psi, Arg("alpha", POSITIVE, "shape"), Arg("beta", POSITIVE, "rate")),
            NONNEGATIVE,
            "0 with probability 1 - psi, else Gamma(alpha, beta)",
            lambda x, psi, alpha, beta: _hurdle(psi, _gamma_logpdf, x, alpha, beta),
            lambda rng, psi, alpha, beta: _gate(
                rng, psi, rng.gamma(alpha, 1 / np.asarray(beta, float), _shape(psi, alpha, beta))
            ),
            lambda psi, alpha, beta: np.asarray(psi, float) * alpha / beta,
        ),
    ]


DISTRIBUTIONS: dict[str, Distribution] = _table()


# ---- unconstrained <-> constrained maps of the transforms above (the numpy reference) -----------


def to_constrained(kind: str, z: np.ndarray, low=None, high=None) -> tuple[np.ndarray, np.ndarray]:
    """Map unconstrained ``z`` into the support; return (value, log|dvalue/dz|) elementwise."""
    z = np.asarray(z, dtype=float)
    if kind == "identity":
        return z, np.zeros_like(z)
    if kind == "log":
        return np.exp(z), z
    if kind == "logit":
        return special.expit(z), -np.logaddexp(0, z) - np.logaddexp(0, -z)
    if kind == "interval":
        s = special.expit(z)
        width = np.asarray(high, float) - low
        return low + width * s, np.log(width) - np.logaddexp(0, z) - np.logaddexp(0, -z)
    if kind == "ordered":
        return mv.ordered_to_constrained(z)
    if kind == "corr_cholesky":
        return mv.corr_cholesky_to_constrained(z)
    if kind == "stick_breaking":
        return mv.stick_breaking_to_constrained(z)
    if kind == "lower_cholesky":
        return mv.lower_cholesky_to_constrained(z)
    raise ValueError(f"unknown transform {kind}")


def to_unconstrained(kind: str, x: np.ndarray, low=None, high=None) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if kind == "identity":
        return x
    if kind == "log":
        return np.log(x)
    if kind == "logit":
        return special.logit(x)
    if kind == "interval":
        return special.logit((x - low) / (np.asarray(high, float) - low))
    if kind == "ordered":
        return mv.ordered_to_unconstrained(x)
    if kind == "corr_cholesky":
        return mv.corr_cholesky_to_unconstrained(x)
    if kind == "stick_breaking":
        return mv.stick_breaking_to_unconstrained(x)
    if kind == "lower_cholesky":
        return mv.lower_cholesky_to_unconstrained(x)
    raise ValueError(f"unknown transform {kind}")


def unconstrained_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the unconstrained value: a d x d correlation factor has d(d-1)/2 free numbers,
    a d x d Cholesky factor d(d+1)/2."""
    if kind == "corr_cholesky":
        d = shape[-1]
        return (*shape[:-2], d * (d - 1) // 2)
    if kind == "stick_breaking":
        return (*shape[:-1], shape[-1] - 1)
    if kind == "lower_cholesky":
        d = shape[-1]
        return (*shape[:-2], d * (d + 1) // 2)
    return shape
