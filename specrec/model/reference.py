"""The numpy reference of a model: initial points, prior draws, log density, predictions.

Backends must agree with this (``specrec check`` and the conformance suite compare against it),
and the evaluator predicts with it, so a prediction never depends on which backend fitted.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy import special

from specrec.model import mixture
from specrec.model.distributions import to_constrained, to_unconstrained
from specrec.model.ir import Model, RandomVariable, RowData
from specrec.model.walk import NUMPY_OPS, evaluate, walk_model


def _bounds(rv: RandomVariable, args: dict[str, Any]) -> tuple[Any, Any]:
    if rv.transform == "interval":
        return args["lower"], args["upper"]
    return None, None


def _full(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), shape).copy()


def broadcast_args(
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
    x = _full(rv.dist.sample(rng, **broadcast_args(rv, args, rv.shape)), rv.shape)
    return np.sort(x, axis=-1) if rv.constraint == "ordered" else x


def initial_values(
    model: Model, rng: np.random.Generator, radius: float, from_prior: bool = False
) -> dict[str, np.ndarray]:
    """A start drawn uniformly within +-radius in the unconstrained space, then constrained;
    with ``from_prior``, a draw from the prior instead (``inference.init: prior``).

    Never the saddle U = V = 0 of factor models, and the same start on every backend.  A
    mixture's components all start alike from a small radius, and a symmetric start is a
    saddle the optimiser leaves slowly or never; a prior draw separates them.
    """

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        if from_prior:
            return _draw(rv, rng, args)
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
        return np.asarray(rv.dist.sample(rng, **broadcast_args(rv, args, (n,))), dtype=float)

    if model.mixture is None:
        return walk_model(model, NUMPY_OPS, sample, observe, rows)
    values = walk_model(model, NUMPY_OPS, sample, None)
    data = rows if rows is not None else model.data
    args = likelihood_args(model, values, data)
    mix = model.mixture
    log_w = mixture.log_weights(model, values)
    k = model.dims[mix.dim].size
    if mix.per is not None:  # one component per level, shared by its rows
        level_w = np.broadcast_to(log_w, (model.dims[mix.per].size, k))
        chosen = _choose(rng, level_w)[data.index[mix.per]]
    else:
        chosen = _choose(rng, np.broadcast_to(log_w, (len(data), k)))
    values[model.likelihood.name] = sample_component(model, rng, args, chosen)
    return values


def _choose(rng: np.random.Generator, log_w: np.ndarray) -> np.ndarray:
    """One component per row of ``log_w`` (normalised log probabilities, ``(n, K)``)."""
    return choose_cumulative(rng, cumulative_probabilities(log_w))


def cumulative_probabilities(log_w: np.ndarray) -> np.ndarray:
    """Cumulative component probabilities per row, what ``choose_cumulative`` draws from."""
    return np.cumsum(np.exp(log_w - special.logsumexp(log_w, axis=1, keepdims=True)), axis=1)


def choose_cumulative(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One component per row: how many cumulative probabilities lie below a uniform draw.

    Counted a component (a column) at a time: summing booleans along a row of 4 is numpy's
    slowest reduction, some 2 ms per draw of 90,000 rows; the counts are the same integers.
    """
    u = rng.random(cumulative.shape[0])
    count = np.zeros(cumulative.shape[0], dtype=np.intp)
    for j in range(cumulative.shape[1]):
        count += cumulative[:, j] < u
    return np.minimum(count, cumulative.shape[1] - 1)


def sample_component(
    model: Model, rng: np.random.Generator, args: dict[str, Any], chosen: np.ndarray
) -> np.ndarray:
    """A draw of each row's response from its chosen component (args aligned to (rows, K))."""
    n = chosen.shape[0]
    k = model.dims[model.mixture.dim].size  # type: ignore[union-attr]
    rows = np.arange(n)
    picked = {
        name: np.broadcast_to(np.asarray(v, float), (n, k))[rows, chosen]
        for name, v in args.items()
    }
    return np.asarray(model.likelihood.dist.sample(rng, **picked), dtype=float)


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

    walk_model(model, NUMPY_OPS, sample, observe, rows, mixture=_MixtureParts(model, rows, parts))
    return float(sum(parts.values())), parts


class _MixtureParts:
    """The reference's ``MixtureObserver``: per-component densities, the total into ``parts``."""

    def __init__(self, model: Model, rows: RowData, parts: dict[str, float]):
        self.model, self.rows, self.parts = model, rows, parts

    def log_prob(self, rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        return mixture.component_log_prob(self.model, args, self.rows)

    def factor(self, name: str, log_density: Any) -> None:
        self.parts[name] = float(log_density)  # already scaled for a minibatch


def unconstrain(model: Model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Constrained values -> the unconstrained point (the inverse of ``log_density``'s map)."""
    out: dict[str, np.ndarray] = {}

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        low, high = _bounds(rv, args)
        out[rv.name] = to_unconstrained(rv.transform, values[rv.name], low, high)
        return np.asarray(values[rv.name])

    walk_model(model, NUMPY_OPS, sample, None)
    return out


def constrain(model: Model, unconstrained: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An unconstrained point -> the latents' values (the map ``log_density`` applies).

    Backends use it to turn draws of a mean-field guide into values without running their
    model, whose likelihood would be evaluated on every row for every draw.
    """

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        low, high = _bounds(rv, args)
        z = np.asarray(unconstrained[rv.name], dtype=float).reshape(rv.unconstrained_shape)
        return to_constrained(rv.transform, z, low, high)[0]

    values = walk_model(model, NUMPY_OPS, sample, None)
    return {rv.name: np.asarray(values[rv.name]) for rv in model.latents}


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
    chains, draws = next(iter(posterior.values())).shape[:2]
    mean = np.empty((chains, draws, len(rows)))
    ysim = np.empty_like(mean) if rng is not None else None
    _fill_draws(model, posterior, rows, rng, mean, ysim)
    return model.to_data_scale(mean), None if ysim is None else model.to_data_scale(ysim)


def simulate_draws(
    model: Model,
    posterior: dict[str, np.ndarray],
    rows: RowData,
    rng: np.random.Generator,
    out: np.ndarray,
) -> np.ndarray:
    """``predict_draws``' simulated responses alone, the same values from the same stream,
    written into ``out`` (``(chain, draw, rows)``, e.g. a chunk's view of a larger array): the
    replicated groups need no means, and no chunk-sized copies of draws x rows."""
    _fill_draws(model, posterior, rows, rng, None, out)
    scaled = model.to_data_scale(out)  # the same array when the response is unscaled
    if scaled is not out:
        out[...] = scaled
    return out


def _fill_draws(
    model: Model,
    posterior: dict[str, np.ndarray],
    rows: RowData,
    rng: np.random.Generator | None,
    mean: np.ndarray | None,
    ysim: np.ndarray | None,
) -> None:
    """Each draw's expected responses into ``mean`` and simulated ones into ``ysim`` (either
    may be None), model scale; the means draw nothing from ``rng``."""
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    dist = model.likelihood.dist
    assert dist.mean is not None
    last: tuple[bytes, dict, np.ndarray, np.ndarray | None] | None = None
    for c in range(chains):
        for d in range(draws):
            values = {n: posterior[n][c, d] for n in names}
            if model.mixture is not None:  # each component's mean, weighted as the row's level
                # a draw repeated (a point fit's replicated predictive draws) is worked out once
                key = _digest(model, values)
                if last is None or last[0] != key:
                    args = likelihood_args(model, values, rows)
                    w, p = row_probabilities(model, values, rows, weights=mean is not None)
                    average = None
                    if w is not None:
                        average = row_sum(w * np.broadcast_to(dist.mean(**args), w.shape))
                    last = (key, args, p, average)
                _, args, p, average = last
                if mean is not None:
                    mean[c, d] = average
                if ysim is not None and rng is not None:
                    ysim[c, d] = sample_component(model, rng, args, choose_cumulative(rng, p))
                continue
            args = likelihood_args(model, values, rows)
            if mean is not None:
                mean[c, d] = np.broadcast_to(dist.mean(**args), (len(rows),))
            if ysim is not None and rng is not None:
                ysim[c, d] = sample_response(model, rng, args, len(rows))


def sample_response(
    model: Model, rng: np.random.Generator, args: dict[str, np.ndarray], n_rows: int
) -> np.ndarray:
    """One simulated response per row (model scale) from the likelihood's arguments at a draw
    (a model without a mixture; ``predict_draws`` samples a mixture's component first)."""
    full = broadcast_args(model.likelihood, args, (n_rows,))
    return model.likelihood.dist.sample(rng, **full)


def row_log_weights(model: Model, values: dict[str, np.ndarray], rows: RowData) -> np.ndarray:
    """``(rows, K)`` log probability of each mixture component for each row, given the
    training rows (``mixture.row_log_weights``) at one draw.

    A level's responsibilities depend on the draw and the training rows only, so they are
    computed once per draw and kept (``level_log_responsibilities``): the evaluator and
    ``predict`` ask for them again for every chunk of rows they predict.
    """
    mix = model.mixture
    assert mix is not None
    if mix.per is None:
        return mixture.row_log_weights(model, values, rows, {})
    return np.take(level_log_responsibilities(model, values), rows.index[mix.per], axis=0)


def row_probabilities(
    model: Model, values: dict[str, np.ndarray], rows: RowData, weights: bool = True
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(rows, K)`` probability of each mixture component for each row at one draw (None
    without ``weights``), and its cumulative sums (what ``choose_cumulative`` draws a component
    from): ``row_log_weights`` exponentiated and ``cumulative_probabilities`` of it.

    Both are worked out on the levels' table (943 users, not 90,000 ratings, each draw) and
    then gathered to the rows: every operation is row by row, so a row gets the very values
    it would get on its own.
    """
    mix = model.mixture
    assert mix is not None
    k = model.dims[mix.dim].size
    if mix.per is None:  # the prior weights, the same for every row
        table = np.reshape(mixture.log_weights(model, values), (1, k))

        def to_rows(x: np.ndarray) -> np.ndarray:
            return np.broadcast_to(x, (len(rows), k))
    else:
        table = level_log_responsibilities(model, values)
        index = rows.index[mix.per]

        def to_rows(x: np.ndarray) -> np.ndarray:
            return np.take(x, index, axis=0)  # a tenth of the time of fancy indexing

    w = to_rows(np.exp(table)) if weights else None
    return w, to_rows(cumulative_probabilities(table))


def row_sum(x: np.ndarray) -> np.ndarray:
    """``np.sum(x, axis=1)`` of a ``(rows, K)`` array, bit for bit, in a third of the time.

    numpy sums a row of fewer than 8 values one after the other from 0.0, left to right:
    adding the columns in that order gives the same sums, signed zeros included, without its
    per-row loop (tests/model checks this against ``np.sum``).  From 8 values on numpy sums
    pairwise, so its own sum is used.
    """
    if x.ndim != 2 or x.shape[1] >= 8 or x.shape[1] == 0:
        return np.sum(x, axis=1)
    out = 0.0 + x[:, 0]
    for j in range(1, x.shape[1]):
        out += x[:, j]
    return out


#: per training rows (id -> weak reference, responsibilities by draw digest), newest last
_RESPONSIBILITIES: dict[
    int, tuple[weakref.ref, OrderedDict[bytes, tuple[np.ndarray, np.ndarray]]]
] = {}
KEPT_DRAWS = 512


def _digest(model: Model, values: dict[str, np.ndarray]) -> bytes:
    """A key of one draw's values (two draws with the same key are the same draw)."""
    digest = hashlib.sha1()
    for rv in model.latents:
        digest.update(np.ascontiguousarray(values[rv.name], dtype=float).tobytes())
    return digest.digest()


def level_log_responsibilities(model: Model, values: dict[str, np.ndarray]) -> np.ndarray:
    """``(levels, K)`` log responsibilities at one draw, computed once per draw."""
    return _level_terms(model, values)[0]


def level_evidence(model: Model, values: dict[str, np.ndarray]) -> np.ndarray:
    """``(levels,)`` log p(a level's training rows) at one draw, its component summed out
    (kept with the responsibilities: the data log-likelihood is their sum)."""
    return _level_terms(model, values)[1]


def _level_terms(model: Model, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    mix = model.mixture
    assert mix is not None and mix.per is not None
    digest = _digest(model, values)
    key = id(mix.rows)
    hit = _RESPONSIBILITIES.get(key)
    if hit is None or hit[0]() is not mix.rows:
        ref = weakref.ref(mix.rows, lambda _, d=_RESPONSIBILITIES, k=key: d.pop(k, None))
        hit = _RESPONSIBILITIES[key] = (ref, OrderedDict())
    kept = hit[1]
    found = kept.get(digest)
    if found is None:
        train_args = likelihood_args(model, values, mix.rows)
        joint = mixture.level_log_likelihood(model, values, train_args)
        norm = special.logsumexp(joint, axis=1, keepdims=True)
        found = (joint - norm, norm[:, 0])
        kept[digest] = found
        while len(kept) > KEPT_DRAWS:
            kept.popitem(last=False)
    return found


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
        value = _full(rv.dist.sample(rng, **broadcast_args(rv, args, rv.shape)), rv.shape)
        value[old_levels(rv.dims, old_sizes)] = draw[rv.name]
        return value

    values = walk_model(model, NUMPY_OPS, sample, None)
    return {rv.name: values[rv.name] for rv in model.latents}


def mixture_draws(
    model: Model, posterior: dict[str, np.ndarray], assignment: str | None = None
) -> dict[str, np.ndarray]:
    """A mixture's draws with component labels made consistent, and its responsibilities.

    The first draw of the first chain is the pivot; its components are labelled by their mean
    prediction over the training rows (lowest first), and every draw's components are matched
    to the pivot's by their predictions (``mixture.align_to_pivot``).  Every variable over the
    component dim is permuted alike, so "type 0" means the same in every draw and chain and
    per-component summaries and R-hat are meaningful.  For a mixture per level,
    ``<dim>_responsibility`` (chain, draw, level, component) is added.  ``assignment`` names
    sampled component labels (chain, draw, level) in ``posterior`` (Gibbs' ``z``): they are
    relabelled by the same permutation.
    """
    mix = model.mixture
    assert mix is not None
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    dims = {rv.name: rv.dims for rv in model.latents} | {d.name: d.dims for d in model.derived}
    out = {k: np.array(v, dtype=float, copy=True) for k, v in posterior.items()}
    if assignment is not None:
        out[assignment] = np.array(posterior[assignment], dtype=np.int64, copy=True)
    k = model.dims[mix.dim].size
    # predictions on at most 5,000 training rows identify the components well enough
    rows = mix.rows
    if len(rows) > 5000:
        rows = rows.take(np.linspace(0, len(rows) - 1, 5000).round().astype(int))

    def component_means(c: int, d: int) -> np.ndarray:
        args = likelihood_args(model, {n: out[n][c, d] for n in names}, rows)
        return np.broadcast_to(model.likelihood.dist.mean(**args), (len(rows), k))

    first = component_means(0, 0)
    pivot = first[:, mixture.component_order(first)]
    resp_name = model.responsibility_name
    resp = np.empty((chains, draws, model.dims[mix.per].size, k)) if mix.per else None
    for c in range(chains):
        for d in range(draws):
            order = mixture.align_to_pivot(component_means(c, d), pivot)
            if assignment is not None:  # old label order[j] becomes j
                out[assignment][c, d] = np.argsort(order)[out[assignment][c, d]]
            for name, var_dims in dims.items():
                for axis, dim in enumerate(var_dims):
                    if dim == mix.dim:
                        out[name][c, d] = np.take(out[name][c, d], order, axis=axis)
            if resp is not None:
                values = {n: out[n][c, d] for n in names}
                resp[c, d] = np.exp(level_log_responsibilities(model, values))  # kept for later
    if resp is not None and resp_name is not None:
        out[resp_name] = resp
    return out
