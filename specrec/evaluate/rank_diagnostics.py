"""ArviZ's rank-normalised R-hat and bulk and tail ESS, computed for many elements at once.

``az.rhat(method="rank")`` and ``az.ess(method="bulk" | "tail")`` run their algorithm one
element at a time, each element a few dozen small numpy calls: for the 6,728 type means of a
mixture on MovieLens 100k that was 17.7 s (2.6 s here; one run each, a loaded machine).
These functions run the same algorithm (Vehtari et al. 2021, as ``arviz.stats.diagnostics``
writes it) on a block of elements per numpy call, and give ArviZ's numbers bit for bit: every
reduction runs along the last axis of a C-contiguous block, which numpy sums exactly as it
sums one element's own row; the steps that differ between elements (Geyer's sequences, the
sum up to each element's own cut-off) are masked or grouped by length; and variances go
through ArviZ's own function (``_numba_var``, with or without numba as ArviZ chooses).
``tests/evaluate`` compares them with ArviZ on cases of every kind (constant, NaN, odd draw
counts, one and many chains), so a change in ArviZ's algorithm fails there.
"""

from __future__ import annotations

import numpy as np
from scipy.fftpack import next_fast_len  # as ArviZ pads (5-smooth lengths)

#: values per block of elements (chains x draws x elements), so temporaries stay small
BLOCK_VALUES = 2_000_000
MIN_DRAWS = 4  # ArviZ's minimum for both diagnostics (and two chains for R-hat)
TAIL_PROBS = (0.05, 0.95)  # ``az.ess(method="tail")``'s default quantiles


def rank_diagnostics(ary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``az.rhat(method="rank")``, ``az.ess(method="bulk")`` and ``az.ess(method="tail")`` of
    each column of ``(chain, draw, n)``; R-hat and the bulk ESS share the normal scores of
    the split chains, as they are the same numbers."""
    ary = np.asarray(ary, dtype=float)
    chains, draws, n = ary.shape
    rhat, bulk, tail = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if draws < MIN_DRAWS:
        return rhat, bulk, tail
    step = max(1, BLOCK_VALUES // max(1, chains * draws))
    for start in range(0, n, step):
        # one element per row, its chains and draws contiguous
        block = np.ascontiguousarray(np.moveaxis(ary[:, :, start : start + step], 2, 0))
        valid = np.nonzero(~np.isnan(block).any(axis=(1, 2)))[0] + start
        if not valid.size:
            continue
        block = block[valid - start]
        split = _split_chains(block)
        z = z_scale(split)
        if chains >= 2:
            rhat[valid] = _rhat_rank(split, z)
        bulk[valid] = _ess(z)
        tail[valid] = _ess_tail(block)
    return rhat, bulk, tail


def _ess_tail(a: np.ndarray) -> np.ndarray:
    """The smaller ESS of the indicators below the 5 % and the 95 % quantile."""
    low, high = (_ess(_split_chains(a <= _quantile(a, p)[:, None, None])) for p in TAIL_PROBS)
    return np.where(high < low, high, low)  # Python's min(low, high), NaN included


def _split_chains(a: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as chains of their own (a middle draw dropped)."""
    half = a.shape[2] // 2
    return np.concatenate([a[:, :, :half], a[:, :, -half:]], axis=1)


def z_scale(a: np.ndarray) -> np.ndarray:
    """Ranks over all of an element's chains and draws, back-transformed to normal scores."""
    from scipy import stats  # 0.4 s to import: only when there are draws to rank

    e, c, d = a.shape
    rank = stats.rankdata(a.reshape(e, c * d), method="average", axis=1)
    return stats.norm.ppf((rank - 3 / 8) / (c * d - 2 * (3 / 8) + 1)).reshape(e, c, d)


def _quantile(a: np.ndarray, p: float) -> np.ndarray:
    """ArviZ's quantile (``mquantiles``, R's type 7) of each element's draws."""
    e, c, d = a.shape
    x = np.sort(a.reshape(e, c * d), axis=1)
    n = c * d
    prob = np.atleast_1d(np.asarray(p))
    aleph = n * prob + (1.0 + prob * (1.0 - 1 - 1))  # alphap = betap = 1
    k = np.floor(aleph.clip(1, n - 1)).astype(int)
    gamma = (aleph - k).clip(0, 1)
    return ((1.0 - gamma) * x[:, k - 1] + gamma * x[:, k])[:, 0]


def _var_rows(x: np.ndarray) -> np.ndarray:
    """ArviZ's variance (ddof 1) of each row of a 2-d array."""
    from arviz.stats.stats_utils import stats_variance_2d  # imported only for MCMC draws
    from arviz.utils import _numba_var

    return _numba_var(stats_variance_2d, np.var, np.ascontiguousarray(x), axis=1, ddof=1)


def _rhat(a: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of each element of ``(element, chain, draw)``."""
    e, c, d = a.shape
    chain_mean = a.mean(axis=2)
    chain_var = _var_rows(a.reshape(e * c, d)).reshape(e, c)
    between = d * _var_rows(chain_mean)
    within = np.ascontiguousarray(chain_var).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + d - 1) / d)


def _rhat_rank(split: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rank R-hat from the split chains and their normal scores: the worse of the bulk's
    and of the folded draws' (the tails')."""
    bulk = _rhat(z)
    e = len(split)
    median = np.median(split.reshape(e, -1), axis=1)
    tail = _rhat(z_scale(np.abs(split - median[:, None, None])))
    return np.where(tail > bulk, tail, bulk)  # Python's max(bulk, tail), NaN included


def _autocov(a: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis (ArviZ's ``autocov``, by FFT)."""
    n = a.shape[-1]
    m = next_fast_len(2 * n)
    a = a - a.mean(-1, keepdims=True)
    f = np.fft.rfft(a, n=m, axis=-1)
    f *= np.conjugate(f)
    cov = np.fft.irfft(f, n=m, axis=-1)[..., :n]
    cov /= n
    return cov


def _ess(a: np.ndarray) -> np.ndarray:
    """ESS of each element of ``(element, chain, draw)`` (ArviZ's ``_ess``): Geyer's initial
    positive then monotone sequence of the chains' mean autocorrelation."""
    a = np.asarray(a, dtype=float)
    e, c, d = a.shape
    out = np.full(e, float(c * d))  # an element that does not vary: ArviZ gives its size
    flat = a.reshape(e, c * d)
    varies = ~((flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution)
    if not varies.any():
        return out
    a = a[varies]
    e = len(a)
    acov = _autocov(a.reshape(e * c, d)).reshape(e, c, d)
    # each lag's mean over chains, as np.mean(acov[:, t]) of one element
    mean_acov = np.ascontiguousarray(np.swapaxes(acov, 1, 2)).mean(axis=2)
    chain_mean = a.mean(axis=2)
    mean_var = mean_acov[:, 0] * d / (d - 1.0)
    var_plus = mean_var * (d - 1.0) / d
    if c > 1:
        var_plus = var_plus + _var_rows(chain_mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    rho_t = np.zeros((e, d))
    rho_t[:, 0] = 1.0
    rho_t[:, 1] = rho[:, 1]
    even, odd = np.ones(e), rho[:, 1].copy()
    t_end = np.ones(e, dtype=int)  # each element's t when its positive sequence stops
    active = np.ones(e, dtype=bool)
    for t in range(1, d - 3, 2):
        active &= (even + odd) > 0.0
        if not active.any():
            break
        even = np.where(active, rho[:, t + 1], even)
        odd = np.where(active, rho[:, t + 2], odd)
        keep = active & ((even + odd) >= 0)
        rho_t[keep, t + 1] = even[keep]
        rho_t[keep, t + 2] = odd[keep]
        t_end[active] = t + 2
    max_t = t_end - 2
    last = np.nonzero(even > 0)[0]
    rho_t[last, max_t[last] + 1] = even[last]
    for t in range(1, int(max_t.max(initial=0)) - 1, 2):  # the initial monotone sequence
        drop = (t <= max_t - 2) & (
            (rho_t[:, t + 1] + rho_t[:, t + 2]) > (rho_t[:, t - 1] + rho_t[:, t])
        )
        rho_t[drop, t + 1] = (rho_t[drop, t - 1] + rho_t[drop, t]) / 2.0
        rho_t[drop, t + 2] = rho_t[drop, t + 1]
    tau = np.empty(e)
    for cut in np.unique(max_t):  # sums of each element's own length, grouped by length
        rows = np.nonzero(max_t == cut)[0]
        head = np.ascontiguousarray(rho_t[rows, : cut + 1]).sum(axis=1)
        tail = np.ascontiguousarray(rho_t[rows, cut + 1 : cut + 2]).sum(axis=1)
        tau[rows] = -1.0 + 2.0 * head + tail
    floor = 1 / np.log10(c * d)
    tau = np.where(floor > tau, floor, tau)  # Python's max(tau, floor), NaN included
    ess = (c * d) / tau
    ess[np.isnan(rho_t).any(axis=1)] = np.nan
    out[varies] = ess
    return out
