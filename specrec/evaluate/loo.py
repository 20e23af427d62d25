"""PSIS-LOO (as ArviZ computes it) on the training ratings, with its Pareto-k warnings, or a stated reason why not.

Leave-one-out expected log predictive density compares models fitted to the same data without
a held-out set; Pareto-smoothed importance sampling estimates it from one fit.  Its reliability
is diagnosed per rating by the Pareto shape k: above ArviZ's ``good_k`` (0.7 for large draw
counts) the estimate for that rating is unreliable and the total should not be trusted blindly.

It needs the pointwise log-likelihood of every training rating under every draw, which for a
large data set and many draws does not fit in memory; then, and for a MAP fit (a point estimate
has no posterior to re-weight), the result is ``{"skipped": reason}`` rather than an error.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BYTES_PER_VALUE = 8  # float64


def loo_budget_reason(method: str, n_draws_total: int, n_rows: int, max_mb: float) -> str | None:
    """Why PSIS-LOO will not be computed for this fit, or None when it will."""
    from specrec import methods

    if not methods.has_draws(method):
        return f"{method} gives a point estimate: there are no posterior draws to re-weight"
    if n_draws_total < 2:
        return f"only {n_draws_total} posterior draw(s)"
    need_mb = n_draws_total * n_rows * BYTES_PER_VALUE / 1e6
    if need_mb > max_mb:
        return (
            f"{n_draws_total} draws x {n_rows} training rows need {need_mb:,.0f} MB of "
            f"log-likelihood, over the budget evaluate.loo_max_mb = {max_mb:g}"
        )
    return None


def psis_loo(log_lik: np.ndarray, reff: float = 1.0) -> dict[str, float | int | bool]:
    """PSIS-LOO on pointwise log-likelihoods ``(chain, draw, n)``, equal to ``arviz.loo``'s.

    ``reff`` is the relative efficiency of the draws (ESS / draws); 1 for independent draws.
    Returns ``elpd_loo`` (sum over ratings), ``elpd_loo_per_rating``, ``se``, ``p_loo``, the
    largest Pareto k, ``good_k`` and how many ratings exceed it, and ``warning`` (any do).
    """
    return psis_loo_chunks([log_lik], reff)


def psis_loo_chunks(
    chunks: Iterable[np.ndarray], reff: float = 1.0
) -> dict[str, float | int | bool]:
    """``psis_loo`` of the ratings of all ``chunks`` (each ``(chain, draw, n_chunk)``) together.

    Pareto smoothing is done rating by rating, so LOO over chunks of ratings is LOO over all of
    them: the totals are sums of the per-rating values, and ``se`` and ``p_loo`` are formed from
    them as ArviZ forms them.  Only one chunk's log-likelihoods are in memory at a time, which is
    what keeps PSIS-LOO bounded at millions of training ratings.
    """
    from specrec.evaluate import psis

    elpd_i, lppd_i, k = [], [], []
    good_k, n_draws = float("nan"), 0
    for chunk in chunks:
        ll = np.asarray(chunk, dtype=np.float64)
        if ll.ndim != 3:
            raise ValueError(f"expected (chain, draw, n) log-likelihoods, got shape {ll.shape}")
        n_draws = ll.shape[0] * ll.shape[1]
        by_rating = ll.reshape(n_draws, -1).T  # draws in ArviZ's (chain, draw) stacking order
        elpd, lppd, pareto_k = psis.loo_terms(by_rating, float(reff))
        elpd_i.append(elpd)
        lppd_i.append(lppd - np.log(n_draws))
        k.append(pareto_k)
        good_k = min(1 - 1 / np.log10(n_draws), 0.7)  # ArviZ's threshold for this many draws
    if not elpd_i:
        raise ValueError("PSIS-LOO of no ratings")
    loo_i, lppd, pareto_k = np.concatenate(elpd_i), np.concatenate(lppd_i), np.concatenate(k)
    n = loo_i.size
    elpd = float(loo_i.sum())
    return {
        "elpd_loo": elpd,
        "elpd_loo_per_rating": elpd / n,
        "se": float(np.sqrt(n * np.var(loo_i))),
        "p_loo": float(lppd.sum() - elpd),
        "n_draws": int(n_draws),
        "n_rows": int(n),
        "pareto_k_max": float(np.nanmax(pareto_k)),
        "good_k": good_k,
        "n_pareto_k_above_good": int(np.sum(pareto_k > good_k)),
        "n_pareto_k_above_1": int(np.sum(pareto_k > 1.0)),
        "warning": bool(np.any(pareto_k > good_k)),
    }
