"""Evenly thinning posterior draws: which draws are kept when at most N are wanted.

One rule, so every reader of a fit (predictions, ``specrec predict``, the backend agreement
check, the predictive-check figures, a mixture's report, SBC's ranks) picks the same draws
from the same fit.  ``spread(n, at_most)`` keeps ``min(n, at_most)`` of ``n`` positions,
evenly spaced from the first to the last (rounded to the nearest position).

Draws kept in their ``(chain, draw)`` shape are thinned chain by chain: the same
``max(1, at_most // chains)`` draw positions of every chain (``kept_draws``), so every chain
is still represented and chain-wise diagnostics can still be computed.  When chains outnumber
``at_most`` that is one draw per chain, more than ``at_most`` in all.  Draws pooled over
chains (chain-major, as ``reshape(chains * draws, ...)`` lays them out) are thinned as one
sequence (``spread(chains * draws, at_most)``), so exactly ``at_most`` are kept.
"""

from __future__ import annotations

import numpy as np


def spread(n: int, at_most: int) -> np.ndarray:
    """Positions of at most ``at_most`` of ``n`` items, evenly spaced, first and last included.

    Sorted and distinct: the spacing is at least one position, so no two round alike.
    """
    count = max(0, min(n, at_most))
    return np.unique(np.linspace(0, n - 1, count).round().astype(int))


def per_chain(chains: int, at_most: int) -> int:
    """Draws kept per chain when ``(chain, draw)`` draws are thinned to about ``at_most``."""
    return max(1, at_most // chains)


def kept_draws(chains: int, draws: int, at_most: int) -> np.ndarray:
    """The draw positions kept in every chain: all of them when ``chains * draws`` fit."""
    return spread(draws, per_chain(chains, at_most))


def thin_draws(post: dict[str, np.ndarray], max_draws: int) -> dict[str, np.ndarray]:
    """Each ``(chain, draw, ...)`` array thinned to the ``kept_draws`` positions.

    Returned as given, without a copy, when nothing would be dropped.
    """
    chains, draws = next(iter(post.values())).shape[:2]
    if chains * draws <= max_draws:
        return post
    keep = kept_draws(chains, draws, max_draws)
    return {k: v[:, keep] for k, v in post.items()}


def thin_variable(values, max_draws: int) -> np.ndarray:
    """A lazily read xarray variable ``(chain, draw, ...)`` thinned to the ``kept_draws``
    positions; only those draws are read from the file."""
    keep = kept_draws(values.sizes["chain"], values.sizes["draw"], max_draws)
    return np.asarray(values.isel(draw=keep).values)


def thin_pooled(flat: np.ndarray, max_draws: int) -> np.ndarray:
    """Draws pooled over chains (first axis, chain-major) thinned as one sequence."""
    return flat[spread(len(flat), max_draws)]
