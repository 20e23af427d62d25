"""Pointwise log-likelihood of observed ratings per posterior draw, from the numpy reference.

The density is the likelihood's own entry in the distributions table (``dist.logpdf``), so a
Student-t, Poisson or Bernoulli model is scored by its own family, never by a Gaussian stand-in.
Test log predictive density and PSIS-LOO both start from this array.
"""

from __future__ import annotations

import numpy as np

from specrec.model.ir import Model, RowData
from specrec.model.reference import likelihood_args


def pointwise_log_likelihood(
    model: Model, posterior: dict[str, np.ndarray], rows: RowData
) -> np.ndarray:
    """``log p(y_i | theta_s)`` for every draw ``s`` and row ``i``: shape ``(chain, draw, rows)``.

    ``posterior`` maps each latent name to ``(chain, draw, *shape)``, as for ``predict_draws``.
    A likelihood on ``(y - shift) / scale`` is a density of ``y`` through the change of
    variables (``- log|scale|`` for a continuous family), so models on rescaled ratings are
    compared on the ratings' own scale.
    """
    names = [rv.name for rv in model.latents]
    chains, draws = posterior[names[0]].shape[:2]
    dist = model.likelihood.dist
    y = model.to_model_scale(rows.y)
    jacobian = 0.0 if dist.discrete else float(np.log(abs(model.response_scale)))
    out = np.empty((chains, draws, len(rows)))
    for c in range(chains):
        for d in range(draws):
            args = likelihood_args(model, {n: posterior[n][c, d] for n in names}, rows)
            out[c, d] = np.broadcast_to(dist.logpdf(y, **args) - jacobian, (len(rows),))
    return out
