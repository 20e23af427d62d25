"""The numpy reference of a model: initial points, prior draws, log density, predictions.

Backends must agree with this (``specrec check`` and the conformance suite compare against it),
and the evaluator predicts with it, so a prediction never depends on which backend fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from specrec.model.distributions import to_constrained, to_unconstrained
from specrec.model.ir import Model, RandomVariable, RowData
from specrec.model.walk import NUMPY_OPS, evaluate, walk_model


def _bounds(rv: RandomVariable, args: dict[str, Any]) -> tuple[Any, Any]:
    if rv.transform == "interval":
        return args["lower"], args["upper"]
    return None, None


def _full(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), shape).copy()


def _broadcast_args(
    rv: RandomVariable, args: dict[str, Any], shape: tuple[int, ...]
) -> dict[str, Any]:
    """Arguments at the variable's full shape, so a draw is independent for every element."""
    out = {}
    for a in rv.dist.args:
        v = np.asarray(args[a.name], dtype=float)
        out[a.name] = np.broadcast_to(
            v, shape + v.shape[v.ndim - a.event_dims :] if a.event_dims else shape
        )
    return out


def initial_values(model: Model, rng: np.random.Generator, radius: float) -> dict[str, np.ndarray]:
    """A start drawn uniformly within +-radius in the unconstrained space, then constrained.

    Never the saddle U = V = 0 of factor models, and the same start on every backend.
    """

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        z = rng.uniform(-radius, radius, rv.shape)
        low, high = _bounds(rv, args)
        return to_constrained(rv.transform, z, low, high)[0]

    return walk_model(model, NUMPY_OPS, sample, None)


def sample_prior(
    model: Model,
    rng: np.random.Generator,
    fixed: dict[str, Any] | None = None,
    rows: RowData | None = None,
) -> dict[str, np.ndarray]:
    """One joint draw of the latents (``fixed`` ones held at given values) and of the response."""
    fixed = fixed or {}

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        if rv.name in fixed:
            return _full(fixed[rv.name], rv.shape)
        return _full(rv.dist.sample(rng, **_broadcast_args(rv, args, rv.shape)), rv.shape)

    def observe(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        n = len(rows if rows is not None else model.data)
        return np.asarray(rv.dist.sample(rng, **_broadcast_args(rv, args, (n,))), dtype=float)

    return walk_model(model, NUMPY_OPS, sample, observe, rows)


def log_density(
    model: Model, unconstrained: dict[str, np.ndarray]
) -> tuple[float, dict[str, float]]:
    """Log joint density at an unconstrained point, Jacobians included; also per node."""
    parts: dict[str, float] = {}

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        low, high = _bounds(rv, args)
        x, logdet = to_constrained(rv.transform, unconstrained[rv.name], low, high)
        parts[rv.name] = float(np.sum(rv.dist.logpdf(x, **args)) + np.sum(logdet))
        return x

    def observe(rv: RandomVariable, args: dict[str, Any]) -> None:
        parts[rv.name] = float(np.sum(rv.dist.logpdf(model.data.y, **args)))

    walk_model(model, NUMPY_OPS, sample, observe)
    return float(sum(parts.values())), parts


def unconstrain(model: Model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Constrained values -> the unconstrained point (the inverse of ``log_density``'s map)."""
    out: dict[str, np.ndarray] = {}

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        low, high = _bounds(rv, args)
        out[rv.name] = to_unconstrained(rv.transform, values[rv.name], low, high)
        return np.asarray(values[rv.name])

    walk_model(model, NUMPY_OPS, sample, None)
    return out


def likelihood_args(
    model: Model, values: dict[str, np.ndarray], rows: RowData
) -> dict[str, np.ndarray]:
    """The likelihood's arguments on ``rows`` for one posterior draw."""
    return {
        k: np.asarray(evaluate(e, values, rows, NUMPY_OPS))
        for k, e in model.likelihood.args.items()
    }


def derived_values(model: Model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The derived (non-centred) parameters at one point of the latents."""
    return {
        d.name: np.broadcast_to(evaluate(d.expr, values, None, NUMPY_OPS), d.shape).copy()
        for d in model.derived
    }


def derived_draws(model: Model, posterior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Derived parameters for every draw: arrays shaped (chain, draw, *shape), by name."""
    if not model.derived:
        return {}
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    out = {d.name: np.empty((chains, draws, *d.shape)) for d in model.derived}
    for c in range(chains):
        for i in range(draws):
            point = derived_values(model, {n: posterior[n][c, i] for n in names})
            for name, v in point.items():
                out[name][c, i] = v
    return out


def predict_draws(
    model: Model,
    posterior: dict[str, np.ndarray],
    rows: RowData,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Expected response E[y | draw] and, with ``rng``, one simulated y per draw.

    ``posterior`` maps names to arrays shaped (chain, draw, *shape); outputs are (chain, draw, rows).
    """
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    dist = model.likelihood.dist
    assert dist.mean is not None
    mean = np.empty((chains, draws, len(rows)))
    ysim = np.empty_like(mean) if rng is not None else None
    for c in range(chains):
        for d in range(draws):
            args = likelihood_args(model, {n: posterior[n][c, d] for n in names}, rows)
            mean[c, d] = np.broadcast_to(dist.mean(**args), (len(rows),))
            if ysim is not None:
                full = _broadcast_args(model.likelihood, args, (len(rows),))
                ysim[c, d] = dist.sample(rng, **full)
    return mean, ysim
