"""Pointwise log-likelihood of observed ratings per posterior draw, from the numpy reference.

The density is the likelihood's own entry in the distributions table (``dist.logpdf``), so a
Student-t, Poisson or Bernoulli model is scored by its own family, never by a Gaussian stand-in.
Test log predictive density and PSIS-LOO both start from this array.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import logsumexp

from specrec.evaluate.threads import ordered_map
from specrec.model import mixture
from specrec.model.ir import Model, RowData
from specrec.model.reference import (
    level_evidence,
    likelihood_args,
    row_log_weights,
    sample_response,
)


def pointwise_log_likelihood(
    model: Model, posterior: dict[str, np.ndarray], rows: RowData, out: np.ndarray | None = None
) -> np.ndarray:
    """``log p(y_i | theta_s)`` for every draw ``s`` and row ``i``: shape ``(chain, draw, rows)``.

    ``posterior`` maps each latent name to ``(chain, draw, *shape)``, as for ``predict_draws``.
    A likelihood on ``(y - shift) / scale`` is a density of ``y`` through the change of
    variables (``- log|scale|`` for a continuous family), so models on rescaled ratings are
    compared on the ratings' own scale.  ``out`` (e.g. a chunk's view of a larger array) is
    written in place of a new array.
    """
    return _log_likelihood(model, posterior, rows, None, out)[0]


def log_likelihood_and_replicated(
    model: Model,
    posterior: dict[str, np.ndarray],
    rows: RowData,
    rng: np.random.Generator,
    out: np.ndarray | None = None,
    y_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``pointwise_log_likelihood`` and one replicated rating per draw and row (data scale),
    from one evaluation of the likelihood's arguments per draw: on a large data set those
    arguments are most of the cost of either.  A model without a mixture only.  ``out`` and
    ``y_out`` are written in place when given (no chunk-sized copies of draws x rows)."""
    assert model.mixture is None
    log_lik, y_rep = _log_likelihood(model, posterior, rows, rng, out, y_out)
    assert y_rep is not None
    scaled = model.to_data_scale(y_rep)  # the same array when the response is unscaled
    if scaled is not y_rep:
        y_rep[...] = scaled
    return log_lik, y_rep


def _log_likelihood(
    model: Model,
    posterior: dict[str, np.ndarray],
    rows: RowData,
    rng: np.random.Generator | None,
    out: np.ndarray | None = None,
    y_rep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    dist = model.likelihood.dist
    y = model.to_model_scale(rows.y)
    jacobian = 0.0 if dist.discrete else float(np.log(abs(model.response_scale)))
    shape = (chains, draws, len(rows))
    out = np.empty(shape) if out is None else out
    if rng is not None and y_rep is None:
        y_rep = np.empty(shape)
    assert out.shape == shape and (y_rep is None or y_rep.shape == shape)

    def one(cd: tuple[int, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        values = {n: posterior[n][cd[0], cd[1]] for n in names}
        args = likelihood_args(model, values, rows)
        if model.mixture is None:
            log_p = dist.logpdf(y, **args)
        else:  # a mixture weighted as the row's level: its responsibilities, from training
            log_w = row_log_weights(model, values, rows)
            log_p = logsumexp(log_w + mixture.component_log_prob(model, args, rows), axis=1)
        return log_p, args

    # draws on every core; the replicated ratings are drawn here, in draw order, from the one
    # generator, so they are those of a serial loop
    order = list(itertools.product(range(chains), range(draws)))
    for (c, d), (log_p, args) in zip(order, ordered_map(one, order), strict=True):
        np.subtract(log_p, jacobian, out=out[c, d])  # log_p may be one value for every row
        if y_rep is not None and rng is not None:
            y_rep[c, d] = sample_response(model, rng, args, len(rows))
    return out, y_rep


def level_log_likelihood(model: Model, posterior: dict[str, np.ndarray]) -> np.ndarray:
    """``log p(rows of level l | theta_s)`` for a mixture per level: ``(chain, draw, levels)``.

    The rows of a user whose type is summed out are not independent given the parameters, so
    PSIS-LOO of such a model leaves out one level (all its training rows) at a time.  Levels
    with no training rows are dropped.
    """
    mix = model.mixture
    assert mix is not None and mix.per is not None
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    seen = np.unique(mix.rows.index[mix.per])
    out = np.empty((chains, draws, seen.size))
    for c in range(chains):
        for d in range(draws):
            # the evidence kept with the draw's responsibilities (computed once per draw)
            out[c, d] = level_evidence(model, {n: posterior[n][c, d] for n in names})[seen]
    if not model.likelihood.dist.discrete:
        counts = np.bincount(mix.rows.index[mix.per], minlength=model.dims[mix.per].size)
        out -= counts[seen] * float(np.log(abs(model.response_scale)))
    return out
