"""Pareto-smoothed importance weights for many ratings at once: ArviZ's ``psislw``, vectorised.

ArviZ smooths one rating at a time in a Python loop (``_psislw`` and ``_gpdfit`` per rating).
On MovieLens 100k's 90,000 training ratings that loop was 38 of the 46 seconds of the whole
evaluation.  Every rating has the same number of draws, so the same tail length, so the sort,
the generalised-Pareto fit (Zhang and Stephens' estimator with ArviZ's weak prior on k) and the
smoothing are one array computation over a block of ratings.  The arithmetic is ArviZ's, step
for step; the ratings where its per-rating code takes another branch (a tie at the tail cutoff,
a cutoff below the smallest float, a tail too short to fit) are handed to ``arviz.psislw``
itself, so the result is ArviZ's in every case (tests/evaluate/test_psis.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from specrec.evaluate.threads import threads

#: ratings smoothed together: bounds the ``(rows, m, m)`` weights of the Pareto fit to ~100 MB
BLOCK_ROWS = 2048
_EPS = np.finfo(float).eps
_CUTOFF_MIN = np.log(np.finfo(float).tiny)


def tail_length(n_samples: int, reff: float = 1.0) -> int:
    """How many of the largest weights are smoothed (ArviZ's and the PSIS paper's rule)."""
    return int(np.ceil(min(n_samples / 5.0, 3 * (n_samples / reff) ** 0.5)))


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))``, computed as ArviZ computes it (shift by the row maximum)."""
    top = a.max(axis=1, keepdims=True)
    return np.log(np.exp(a - top).sum(axis=1)) + top[:, 0]


def psislw(log_weights: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed, normalised log weights ``(rows, samples)`` and the Pareto shape k per row."""
    lw = np.array(log_weights, dtype=np.float64)
    if lw.ndim != 2:
        raise ValueError(f"expected (rows, samples) log weights, got shape {lw.shape}")
    k = np.empty(lw.shape[0])

    def smooth(block: slice) -> None:
        lw[block], k[block] = _smooth_block(lw[block], reff)

    _each_block(smooth, lw.shape[0])
    return lw, k


def loo_terms(log_lik: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per rating of ``log_lik`` ``(rows, samples)``: the PSIS-LOO elpd term, the log
    pointwise predictive density (before ``- log S``) and the Pareto k.  The same arithmetic
    as ``psislw(-log_lik)`` followed by two row-wise log-sum-exps over the whole array, done
    block by block on every core, so the values are those of that serial computation."""
    lw = np.array(-log_lik, dtype=np.float64)
    n = lw.shape[0]
    k, elpd, lppd = np.empty(n), np.empty(n), np.empty(n)

    def block_terms(block: slice) -> None:
        lw[block], k[block] = _smooth_block(lw[block], reff)
        elpd[block] = logsumexp_rows(lw[block] + log_lik[block])
        lppd[block] = logsumexp_rows(log_lik[block])

    _each_block(block_terms, n)
    return elpd, lppd, k


def _each_block(fn: Callable[[slice], None], n_rows: int) -> None:
    """``fn`` on every block of ``BLOCK_ROWS`` rows.  numpy drops the GIL inside these array
    operations, so blocks run on every core; each block writes its own rows, so the result
    does not depend on the schedule."""
    blocks = [slice(s, s + BLOCK_ROWS) for s in range(0, n_rows, BLOCK_ROWS)]
    if len(blocks) > 1 and threads() > 1:
        with ThreadPoolExecutor(threads()) as pool:
            list(pool.map(fn, blocks))
    else:
        for block in blocks:
            fn(block)


def _smooth_block(raw: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray]:
    rows, n_samples = raw.shape
    m_tail = tail_length(n_samples, reff)
    if rows == 0 or m_tail + 1 > n_samples or m_tail <= 4:
        return _arviz(raw, reff)
    x = raw - raw.max(axis=1, keepdims=True)
    k = np.full(rows, np.inf)
    # the m_tail + 1 largest weights, in order (a partition, then a sort of those only)
    order = np.argpartition(x, n_samples - m_tail - 1, axis=1)[:, -m_tail - 1 :]
    ranked = np.take_along_axis(x, order, axis=1)
    inner = np.argsort(ranked, axis=1)
    order = np.take_along_axis(order, inner, axis=1)
    ranked = np.take_along_axis(ranked, inner, axis=1)
    cutoff = ranked[:, 0]
    # ArviZ's tail is every value above the cutoff: exactly the top m_tail unless tied or clamped
    regular = (cutoff >= _CUTOFF_MIN) & (ranked[:, -m_tail] > cutoff)
    tail = np.exp(ranked[:, -m_tail:]) - np.exp(cutoff)[:, None]
    fit = np.flatnonzero(regular)
    k_fit, sigma = _gpdfit(tail[fit])
    k[fit] = k_fit
    smooth = fit[np.isfinite(k_fit)]
    if smooth.size:
        probs = np.arange(0.5, m_tail) / m_tail
        kept = np.isfinite(k_fit)
        smoothed = np.log(_gpinv(probs, k_fit[kept], sigma[kept]) + np.exp(cutoff[smooth])[:, None])
        rows_x = x[smooth]
        np.put_along_axis(rows_x, order[smooth, -m_tail:], smoothed, axis=1)
        rows_x[rows_x > 0] = 0  # truncated at the largest raw weight
        x[smooth] = rows_x
    x -= logsumexp_rows(x)[:, None]
    odd = np.flatnonzero(~regular)
    if odd.size:
        x[odd], k[odd] = _arviz(raw[odd], reff)
    return x, k


def _arviz(x: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's own per-rating smoothing, for the rows its code treats specially."""
    import arviz as az

    if x.shape[0] == 0:
        return x.copy(), np.empty(0)
    lw, k = az.psislw(x, reff)
    return np.asarray(lw, dtype=np.float64), np.asarray(k, dtype=np.float64)


def _gpdfit(tail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised-Pareto shape and scale per row of ascending exceedances ``(rows, n)``."""
    prior_bs, prior_k = 3, 10
    n = tail.shape[1]
    m_est = 30 + int(n**0.5)
    grid = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
    b = grid[None, :] / (prior_bs * tail[:, int(n / 4 + 0.5) - 1 : int(n / 4 + 0.5)])
    b = b + 1 / tail[:, -1:]
    k_b = np.log1p(-b[:, :, None] * tail[:, None, :]).mean(axis=2)
    len_scale = n * (np.log(-(b / k_b)) - k_b - 1)
    weights = 1 / np.exp(len_scale[:, None, :] - len_scale[:, :, None]).sum(axis=2)
    weights = np.where(weights >= 10 * _EPS, weights, 0.0)  # negligible weights dropped
    weights /= weights.sum(axis=1, keepdims=True)
    b_post = np.sum(b * weights, axis=1)
    k_post = np.log1p(-b_post[:, None] * tail).mean(axis=1)
    sigma = -k_post / b_post
    k_post = (n * k_post + prior_k * 0.5) / (n + prior_k)
    return k_post, sigma


def _gpinv(probs: np.ndarray, kappa: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Quantiles ``probs`` (all in (0, 1)) of each row's generalised Pareto ``(kappa, sigma)``."""
    kap = kappa[:, None]
    near_zero = np.abs(kap) < _EPS
    safe = np.where(near_zero, 1.0, kap)
    x = np.where(near_zero, -np.log1p(-probs)[None, :], np.expm1(-safe * np.log1p(-probs)) / safe)
    x = x * sigma[:, None]
    return np.where(sigma[:, None] <= 0, np.nan, x)
