"""specrec Model -> a PyMC model.  Names map; semantics come from the core's walk.

Only two things live here: ``PytensorOps`` (the array operations the shared walk needs, on
pytensor tensors) and the table from specrec's distribution names to PyMC's.  specrec's names
and parameterisations already follow PyMC, so every entry is PyMC's own class; the table exists
so that ``unsupported`` can say what is missing, and so that each latent's unconstrained map is
chosen from the core's ``TRANSFORMS`` rather than left to PyMC's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions import transforms

from specrec.model.ir import Model, RandomVariable
from specrec.model.walk import walk_model
from specrec_pymc.multivariate import (
    StickBreakingTransform,
    lkj_cholesky,
    mvnormal_precision,
    wishart_cholesky,
)


class PytensorOps:
    """``ArrayOps`` over pytensor tensors (the walk uses Python operators for arithmetic)."""

    def const(self, value: np.ndarray) -> pt.TensorVariable:
        return pt.as_tensor_variable(np.asarray(value))

    def gather(self, x: Any, index: Any, axis: int) -> pt.TensorVariable:
        return pt.take(x, index, axis=axis)

    def sum(self, x: Any, axis: int) -> pt.TensorVariable:
        return pt.sum(x, axis=axis)

    def dimshuffle(self, x: Any, pattern: tuple[int | str, ...]) -> pt.TensorVariable:
        return pt.as_tensor_variable(x).dimshuffle(*pattern)

    exp = staticmethod(pt.exp)
    log = staticmethod(pt.log)
    log1p = staticmethod(pt.log1p)
    sqrt = staticmethod(pt.sqrt)
    abs = staticmethod(pt.abs)
    sigmoid = staticmethod(pt.sigmoid)
    softplus = staticmethod(pt.softplus)

    @staticmethod
    def logsumexp(x: Any, axis: int) -> pt.TensorVariable:
        return pm.math.logsumexp(x, axis=axis, keepdims=False)

    def segment_sum(self, x: Any, segment_ids: Any, num_segments: int) -> pt.TensorVariable:
        x = pt.as_tensor_variable(x)
        zeros = pt.zeros((num_segments, *(x.shape[i] for i in range(1, x.ndim))), dtype=x.dtype)
        return pt.inc_subtensor(zeros[pt.as_tensor_variable(segment_ids).astype("int64")], x)


OPS = PytensorOps()


def _categorical(name: str, p: Any, **kw: Any) -> Any:
    # specrec's p is unnormalised weights over a trailing dim; PyMC wants probabilities.
    return pm.Categorical(name, p=p / pt.sum(p, axis=-1, keepdims=True), **kw)


#: specrec distribution name -> PyMC constructor ``(name, **specrec_args, **pymc_kwargs)``.
DISTRIBUTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(pm, name)
    for name in (
        "Normal",
        "HalfNormal",
        "HalfCauchy",
        "Exponential",
        "Gamma",
        "InverseGamma",
        "LogNormal",
        "StudentT",
        "Beta",
        "Uniform",
        "Poisson",
        "NegativeBinomial",
        "Bernoulli",
        # --- aggregates, count/positive likelihoods, covariates ---
        "ZeroInflatedPoisson",
        "ZeroInflatedNegativeBinomial",
        "HurdleLogNormal",
        "HurdleGamma",
    )
} | {"Categorical": _categorical}
# --- multivariate, mixtures, ordinal ---
DISTRIBUTIONS |= {
    # compute_p=False: no extra Deterministic of the category probabilities in the trace
    "OrderedLogistic": lambda name, eta, cutpoints, **kw: pm.OrderedLogistic(
        name, eta=eta, cutpoints=cutpoints, compute_p=False, **kw
    ),
    "MvNormal": lambda name, mu, chol, **kw: pm.MvNormal(name, mu=mu, chol=chol, **kw),
    "LKJCholesky": lkj_cholesky,
    "Dirichlet": lambda name, a, **kw: pm.Dirichlet(name, a=a, **kw),
    "MvNormalPrecision": mvnormal_precision,
    "WishartCholesky": wishart_cholesky,
}


def _uniform_bounds(rng: Any, size: Any, lower: Any, upper: Any) -> tuple[Any, Any]:
    return lower, upper


#: The core's transform names (``specrec.model.distributions.TRANSFORMS``) -> PyMC transforms.
#: PyMC's defaults happen to be the same maps (log, logodds, interval over the Uniform's own
#: bounds), but they are passed explicitly so a change of default in PyMC cannot silently
#: change the unconstrained space the log-density parity and the init rely on.
TRANSFORMS: dict[str, Any] = {
    "identity": None,
    "log": transforms.log,
    "logit": transforms.logodds,
    "interval": transforms.Interval(bounds_fn=_uniform_bounds),
    # --- multivariate, mixtures, ordinal ---
    "ordered": transforms.ordered,
    "corr_cholesky": None,  # sized per variable: ``lkj_cholesky`` sets its own
    "stick_breaking": StickBreakingTransform(),
    "lower_cholesky": None,  # sized per variable: ``wishart_cholesky`` sets its own
}


def build_model(model: Model) -> pm.Model:
    """A fresh ``pm.Model`` for ``model``: latents with their dims, likelihood on the training rows.

    The row indices and columns are baked in as constants: specrec refits a model rather than
    swapping data into it, so ``pm.Data`` would add nothing but a shared-variable indirection.
    """
    rows = model.data
    row_arrays = {f"index:{k}": OPS.const(np.asarray(v, np.int64)) for k, v in rows.index.items()}
    row_arrays |= {
        f"column:{k}": OPS.const(np.asarray(v, np.float64)) for k, v in rows.columns.items()
    }
    y: Any = model.to_model_scale(rows.y)
    if model.likelihood.dist.discrete:
        y = y.astype(np.int64)
    total: dict[str, int] = {}
    if model.batch_size is not None:
        # pm.Minibatch draws the same random rows (with replacement) from every array; PyMC
        # scales the observed log density by total_size / batch_size = model.likelihood_scale.
        keys = list(row_arrays)
        y, *parts = pm.Minibatch(y, *(row_arrays[k] for k in keys), batch_size=model.batch_size)
        row_arrays = dict(zip(keys, parts, strict=True))
        total["total_size"] = len(rows)

    def sample(rv: RandomVariable, args: dict[str, Any]) -> Any:
        return DISTRIBUTIONS[rv.distribution](
            rv.name,
            **args,
            dims=rv.dims or None,
            shape=rv.shape,
            default_transform=TRANSFORMS[rv.transform],
        )

    def observe(rv: RandomVariable, args: dict[str, Any]) -> Any:
        return DISTRIBUTIONS[rv.distribution](rv.name, **args, observed=y, **total)

    with pm.Model(coords=model.coords()) as pm_model:
        walk_model(model, OPS, sample, observe, row_arrays=row_arrays, mixture=_Mixture(y))
    return pm_model


def _unregistered(name: str, args: dict[str, Any]) -> Any:
    """The distribution outside any model (``.dist``), to take a log density of other values."""
    ctor = DISTRIBUTIONS[name]
    if isinstance(ctor, type):
        return ctor.dist(**args)
    if name == "Categorical":
        p = args["p"]
        return pm.Categorical.dist(p=p / pt.sum(p, axis=-1, keepdims=True))
    if name == "OrderedLogistic":
        return pm.OrderedLogistic.dist(eta=args["eta"], cutpoints=args["cutpoints"])
    raise NotImplementedError(f"{name} as a mixture component")


class _Mixture:
    """A mixture likelihood: per-component log densities, summed out by the core, as a
    ``pm.Potential`` (PyMC's ``NormalMixture`` mixes per row; a type per user it cannot)."""

    def __init__(self, y: Any):
        self.y = pt.as_tensor_variable(y)

    def log_prob(self, rv: RandomVariable, args: dict[str, Any]) -> Any:
        return pm.logp(_unregistered(rv.distribution, args), self.y[:, None])

    def factor(self, name: str, log_density: Any) -> None:
        pm.Potential(name, log_density)


def value_names(pm_model: pm.Model, model: Model) -> dict[str, str]:
    """specrec latent name -> the name of PyMC's unconstrained value variable (``sigma_log__``)."""
    return {rv.name: pm_model.rvs_to_values[pm_model[rv.name]].name for rv in model.latents}
