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
    """Arguments at the variable's full batch shape, so each draw is independent.

    ``shape`` is the full shape of the value; its trailing event dims (an MvNormal row, an
    LKJ matrix) are dropped for the batch, and an argument's own event dims are kept.
    """
    batch = shape[: len(shape) - rv.dist.event_dims] if rv.dist.event_dims else shape
    out: dict[str, Any] = {}
    for a in rv.dist.args:
        v = np.asarray(args[a.name], dtype=float)
        out[a.name] = np.broadcast_to(
            v, batch + v.shape[v.ndim - a.event_dims :] if a.event_dims else batch
        )
    if rv.dist.event_dims:
        out["event_shape"] = shape[len(batch) :]
    return out


def _draw(rv: RandomVariable, rng: np.random.Generator, args: dict[str, Any]) -> np.ndarray:
    """One prior draw of a latent; an ``ordered`` one is sorted (the restricted density's law)."""
    x = _full(rv.dist.sample(rng, **_broadcast_args(rv, args, rv.shape)), rv.shape)
    return np.sort(x, axis=-1) if rv.constraint == "ordered" else x


def initial_values(model: Model, rng: np.random.Generator, radius: float) -> dict[str, np.ndarray]:
    """A start drawn uniformly within +-radius in the unconstrained space, then constrained.

    Never the saddle U = V = 0 of factor models, and the same start on every backend.
    """

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        z = rng.uniform(-radius, radius, rv.unconstrained_shape)
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
        return _draw(rv, rng, args)

    def observe(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        n = len(rows if rows is not None else model.data)
        return np.asarray(rv.dist.sample(rng, **_broadcast_args(rv, args, (n,))), dtype=float)

    return walk_model(model, NUMPY_OPS, sample, observe, rows)


def log_density(
    model: Model, unconstrained: dict[str, np.ndarray], batch: np.ndarray | None = None
) -> tuple[float, dict[str, float]]:
    """Log joint density at an unconstrained point, Jacobians included; also per node.

    ``batch`` (a model with ``batch_size``): the row indices of one minibatch; the likelihood
    is evaluated on those rows only and multiplied by ``model.likelihood_scale``, which is the
    estimate every backend's minibatch vi optimises.
    """
    parts: dict[str, float] = {}
    rows, scale = model.data, 1.0
    if batch is not None:
        if model.batch_size is None or len(batch) != model.batch_size:
            raise ValueError(f"a batch of {len(batch)} rows for batch_size {model.batch_size}")
        rows, scale = model.data.take(np.asarray(batch)), model.likelihood_scale

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        low, high = _bounds(rv, args)
        x, logdet = to_constrained(rv.transform, unconstrained[rv.name], low, high)
        parts[rv.name] = float(np.sum(rv.dist.logpdf(x, **args)) + np.sum(logdet))
        return x

    def observe(rv: RandomVariable, args: dict[str, Any]) -> None:
        y = model.to_model_scale(rows.y)
        parts[rv.name] = scale * float(np.sum(rv.dist.logpdf(y, **args)))

    walk_model(model, NUMPY_OPS, sample, observe, rows)
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

    ``posterior`` maps names to arrays shaped (chain, draw, *shape); outputs are (chain, draw, rows),
    on the observed column's scale (a likelihood on a scaled response is mapped back).
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
    return model.to_data_scale(mean), None if ysim is None else model.to_data_scale(ysim)


def sample_new_levels(
    model: Model,
    draw: dict[str, np.ndarray],
    old_sizes: dict[str, int],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One posterior draw extended to levels appended to data dims (``old_sizes``: their sizes
    in the fit), the new levels drawn from their prior given the draw: the population level.

    A data dim is only ever indexed level by level (``U[user]`` in the likelihood, a prior over
    the dim), so the levels are independent given the parameters without that dim, and drawing
    the new ones next to the fitted old ones is a draw from the posterior predictive.
    """
    from specrec.model.levels import old_levels

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        if not any(d in old_sizes for d in rv.dims):
            return np.asarray(draw[rv.name], dtype=float)
        value = _full(rv.dist.sample(rng, **_broadcast_args(rv, args, rv.shape)), rv.shape)
        value[old_levels(rv.dims, old_sizes)] = draw[rv.name]
        return value

    values = walk_model(model, NUMPY_OPS, sample, None)
    return {rv.name: values[rv.name] for rv in model.latents}
