"""The numpy reference of a mixture likelihood: responsibilities, predictions, relabelling.

The fitted log density of a mixture (``walk.mixture_log_likelihood``) sums the discrete choice
out.  Everything read off a fit afterwards lives here, once for every backend: the posterior
probability of each component for each level (responsibilities), the predictive distribution
of a row (a mixture weighted by its level's responsibilities, from the training rows), and the
ordering of component labels that makes draws from different chains comparable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special
from scipy.optimize import linear_sum_assignment

from specrec.model.ir import Model, RowData
from specrec.model.walk import NUMPY_OPS, evaluate


def component_log_prob(model: Model, args: dict[str, Any], rows: RowData) -> np.ndarray:
    """Each row's log density under each component, ``(rows, K)``, on the model's scale."""
    y = model.to_model_scale(rows.y)[:, None]
    k = model.dims[_mixture(model).dim].size
    return np.broadcast_to(model.likelihood.dist.logpdf(y, **args), (len(rows), k))


def log_weights(model: Model, values: dict[str, np.ndarray]) -> np.ndarray:
    """Normalised log prior weights: ``(K,)``, or ``(levels of per, K)``."""
    return np.asarray(evaluate(_mixture(model).log_weights, values, None, NUMPY_OPS))


def level_log_likelihood(
    model: Model, values: dict[str, np.ndarray], train_args: dict[str, Any]
) -> np.ndarray:
    """``(levels, K)``: log w_k + the summed log density of the level's training rows under k."""
    mix = _mixture(model)
    assert mix.per is not None
    lp = component_log_prob(model, train_args, mix.rows)
    size = model.dims[mix.per].size
    return NUMPY_OPS.segment_sum(lp, mix.rows.index[mix.per], size) + log_weights(model, values)


def row_log_weights(
    model: Model, values: dict[str, np.ndarray], rows: RowData, train_args: dict[str, Any]
) -> np.ndarray:
    """``(rows, K)``: log probability of each component for each row given the training data.

    Per level, these are the level's responsibilities (its training rows' evidence); per row,
    the prior weights (a row being predicted has no evidence of its own).
    """
    mix = _mixture(model)
    k = model.dims[mix.dim].size
    if mix.per is None:
        return np.broadcast_to(log_weights(model, values), (len(rows), k))
    joint = level_log_likelihood(model, values, train_args)
    resp = joint - special.logsumexp(joint, axis=1, keepdims=True)
    return resp[rows.index[mix.per]]


def responsibilities(
    model: Model, values: dict[str, np.ndarray], train_args: dict[str, Any]
) -> np.ndarray:
    """``(levels of per, K)``: posterior component probabilities of each level at one draw."""
    joint = level_log_likelihood(model, values, train_args)
    return np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))


def point_report(model: Model, values: dict[str, np.ndarray]) -> dict[str, float | int]:
    """What a mixture fit is judged by at one point, whichever method made it: the data
    log-likelihood of the training rows with the component summed out (no priors: the number
    EM's reference reports), and the non-empty components (the most probable component of at
    least one level; every row is a level without ``per``)."""
    mix = _mixture(model)
    if mix.per is None:
        args = {
            k: np.asarray(evaluate(e, values, mix.rows, NUMPY_OPS))
            for k, e in model.likelihood.args.items()
        }
        joint = component_log_prob(model, args, mix.rows) + log_weights(model, values)
        norm = special.logsumexp(joint, axis=1)
        seen: Any = slice(None)
    else:  # the reference keeps a level's terms per draw: the evaluator needs them too
        from specrec.model import reference

        joint = reference.level_log_responsibilities(model, values)
        norm = reference.level_evidence(model, values)
        seen = np.unique(mix.rows.index[mix.per])
    k = joint.shape[1]
    top = np.bincount(joint[seen].argmax(1), minlength=k)
    return {"log_likelihood": float(norm.sum()), "nonempty_components": int(np.count_nonzero(top))}


def component_order(mean_by_component: np.ndarray) -> np.ndarray:
    """Components sorted by their mean prediction over the training rows, lowest first
    (``mean_by_component``: ``(rows, K)``): the label order of the pivot draw."""
    return np.argsort(np.mean(mean_by_component, axis=0), kind="stable")


def align_to_pivot(mean_by_component: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """The permutation of one draw's components that best matches the pivot's.

    Labels of a mixture are arbitrary (any permutation has the same density), so chains, and
    draws within a chain, may swap them.  Each draw's components are matched to the pivot
    draw's by their predictions on the training rows (least squares, Hungarian algorithm):
    a component is recognised by what it predicts, which is identified, not by its label.
    ``result[j]`` is the draw's component that takes label ``j``.
    """
    diff = mean_by_component[:, :, None] - pivot[:, None, :]
    cost = np.einsum("nij,nij->ij", diff, diff)
    rows, cols = linear_sum_assignment(cost)
    order = np.empty_like(cols)
    order[cols] = rows
    return order


def _mixture(model: Model):
    if model.mixture is None:
        raise ValueError(f"{model.name} has no mixture likelihood")
    return model.mixture
