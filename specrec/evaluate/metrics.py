"""Point and interval accuracy of predicted ratings.

Everything here takes plain numpy arrays so the same numbers come out whichever backend made the
predictions.  Predictions are clipped to the rating scale before scoring by default, as the PyMC
PMF notebook does: a model that predicts 5.4 on a 1-5 scale should not be charged for the part of
the error no real rating could ever have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

ValueRange = tuple[float, float]


def _as_float(name: str, values: np.ndarray) -> np.ndarray:
    """Float64 copy-free view of ``values``, refusing NaN so a broken fit cannot score as a number.

    NaN propagates silently through means (``np.nanmean`` would even hide it), so a model whose
    predictions went NaN would otherwise report a NaN or, worse, a flattering RMSE.
    """
    arr = np.asarray(values, dtype=np.float64)
    if np.isnan(arr).any():
        n_bad = int(np.isnan(arr).sum())
        raise ValueError(
            f"{name} contains {n_bad} NaN value(s) of {arr.size}; the fit probably diverged "
            "or a prediction was made for a level the model has no parameter for"
        )
    return arr


def _check_pair(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = _as_float("y", y)
    pred = _as_float("predictions", pred)
    if y.shape != pred.shape:
        raise ValueError(f"y has shape {y.shape} but predictions have shape {pred.shape}")
    if y.size == 0:
        raise ValueError("cannot score an empty set of ratings")
    return y, pred


def clip(pred: np.ndarray, value_range: ValueRange | None) -> np.ndarray:
    """``pred`` limited to ``value_range`` (inclusive); unchanged (as float64) when it is None."""
    arr = np.asarray(pred, dtype=np.float64)
    if value_range is None:
        return arr
    lo, hi = value_range
    if lo > hi:
        raise ValueError(f"value_range {value_range} has its minimum above its maximum")
    return np.clip(arr, lo, hi)


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error; the PMF literature's headline number."""
    y, pred = _check_pair(y, pred)
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute error; less dominated by a few large misses than RMSE."""
    y, pred = _check_pair(y, pred)
    return float(np.mean(np.abs(y - pred)))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of ``y`` inside ``[lower, upper]`` (both ends inclusive).

    Inclusive because ratings are often discrete: a rating of exactly 5 is covered by an interval
    whose upper end was clipped to 5.
    """
    y = _as_float("y", y)
    lower = _as_float("lower interval bound", lower)
    upper = _as_float("upper interval bound", upper)
    if not (y.shape == lower.shape == upper.shape):
        raise ValueError(f"shapes differ: y {y.shape}, lower {lower.shape}, upper {upper.shape}")
    if y.size == 0:
        raise ValueError("cannot compute coverage of an empty set of ratings")
    return float(np.mean((y >= lower) & (y <= upper)))


def predictive_interval(
    draws_of_y: np.ndarray, interval: float, discrete: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The central ``interval`` of simulated responses, per column of ``draws_of_y``
    (``(samples, n)``): its lower and upper quantiles.

    A discrete likelihood (ordinal, categorical, Poisson, Bernoulli) takes the inverted-CDF
    quantile (numpy ``method="inverted_cdf"``: the smallest simulated value whose empirical
    CDF reaches the level), so each bound is a value the likelihood can produce; the default
    linear interpolation would give 3.4 stars of a 1..5 ordinal.  A continuous one keeps the
    linear interpolation.  One function for the run's ``predictions.csv`` and ``specrec
    predict``, so both state the same interval the same way.
    """
    tail = (1.0 - interval) / 2.0
    method = "inverted_cdf" if discrete else "linear"
    lower, upper = np.quantile(draws_of_y, [tail, 1.0 - tail], axis=0, method=method)
    return lower, upper


COVERAGE_PREFIX = "coverage_"


def coverage_key(interval: float) -> str:
    """Report key for an interval: 0.9 -> ``coverage_90``, 0.975 -> ``coverage_97_5``."""
    pct = round(interval * 100, 6)
    text = str(int(pct)) if math.isclose(pct, round(pct)) else f"{pct:g}".replace(".", "_")
    return f"{COVERAGE_PREFIX}{text}"


def coverages(test: Mapping[str, object]) -> list[tuple[str, str]]:
    """The ``coverage_key`` entries of a metrics record (``metrics.test``), in its order, each
    with its level in percent as a reader writes it: ``coverage_97_5`` -> ``"97.5"``.

    The one reading of the keys ``coverage_key`` writes, so the summary, ``compare`` and the
    run report cannot disagree on which entry is the coverage or what its level is.
    """
    return [
        (str(k), str(k).removeprefix(COVERAGE_PREFIX).replace("_", "."))
        for k in test
        if str(k).startswith(COVERAGE_PREFIX)
    ]


def predictive_summary(
    y: np.ndarray,
    mean_pred: np.ndarray,
    draws_of_y: np.ndarray | None,
    value_range: ValueRange | None,
    interval: float = 0.9,
    clip: bool = True,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float | None]:
    """RMSE and MAE of the mean prediction, and coverage of the central predictive interval.

    Args:
        y: observed ratings, shape ``(n,)``.
        mean_pred: point prediction per rating (the posterior predictive mean), shape ``(n,)``.
        draws_of_y: posterior predictive draws of each rating with the rating axis last, e.g.
            ``(chain, draw, n)`` or ``(samples, n)``; None when the fit produced none.
        value_range: the rating scale ``(min, max)``, or None for an unbounded response.
        interval: mass of the central interval whose coverage is reported.
        clip: clip the mean prediction and the interval ends to ``value_range`` first.
        bounds: the interval's ends per rating, already computed (by chunks of a large test
            set), instead of ``draws_of_y``.

    Returns:
        ``{"rmse", "mae", coverage_key(interval)}``; the coverage is None without draws.  A
        calibrated model covers about ``interval`` of the ratings; far less means overconfident.
    """
    if not 0.0 < interval < 1.0:
        raise ValueError(f"interval must be strictly between 0 and 1, got {interval}")
    point = _as_float("mean predictions", mean_pred)
    if clip:
        point = _clip_range(point, value_range)
    out: dict[str, float | None] = {"rmse": rmse(y, point), "mae": mae(y, point)}
    key = coverage_key(interval)
    if bounds is not None:
        lower, upper = bounds
    elif draws_of_y is None:
        out[key] = None
        return out
    else:
        draws = _as_float("predictive draws", draws_of_y)
        n = np.asarray(y).shape[-1] if np.ndim(y) else 0
        if draws.ndim < 2 or draws.shape[-1] != n:
            raise ValueError(
                f"predictive draws must have the rating axis last with {n} ratings, "
                f"got shape {draws.shape}"
            )
        flat = draws.reshape(-1, n)
        tail = (1.0 - interval) / 2.0
        lower, upper = np.quantile(flat, [tail, 1.0 - tail], axis=0)
    if clip:
        # Clipping is monotone, so this equals the quantiles of clipped draws.
        lower, upper = _clip_range(lower, value_range), _clip_range(upper, value_range)
    out[key] = coverage(y, lower, upper)
    return out


# ``predictive_summary`` has a parameter named ``clip``; keep a private handle on the function.
_clip_range = clip

#: The central predictive intervals whose coverage every report states (issue: 50/80/95 %).
COVERAGE_LEVELS = (0.5, 0.8, 0.95)
#: Nominal levels of the calibration curve: 5 % steps, plus 99 % for the far tail.
CALIBRATION_LEVELS = (*np.round(np.arange(0.05, 0.951, 0.05), 2), 0.99)


def interval_coverage(
    y: np.ndarray,
    draws_of_y: np.ndarray,
    levels: tuple[float, ...],
    value_range: ValueRange | None,
    clip: bool = True,
) -> dict[float, float]:
    """Share of ``y`` inside the central predictive interval of each nominal level.

    The intervals are quantiles of ``draws_of_y`` (rating axis last), i.e. of whatever
    distribution the likelihood simulated, so no Gaussian shape is assumed.  An honest model
    covers about ``level`` of the ratings at every level: plotted against the level this is the
    calibration curve.  Ends are clipped to ``value_range`` as in ``predictive_summary``.
    """
    y = _as_float("y", y)
    draws = _as_float("predictive draws", draws_of_y)
    if draws.ndim < 2 or draws.shape[-1] != y.shape[-1]:
        raise ValueError(f"predictive draws of shape {draws.shape} do not end in {y.shape[-1]}")
    for level in levels:
        if not 0.0 < level < 1.0:
            raise ValueError(f"interval levels must be strictly between 0 and 1, got {level}")
    flat = draws.reshape(-1, y.shape[-1])
    tails = [(1.0 - level) / 2.0 for level in levels]
    qs = np.quantile(flat, [*tails, *(1.0 - t for t in tails)], axis=0)
    lower, upper = qs[: len(levels)], qs[len(levels) :]
    if clip:
        lower, upper = _clip_range(lower, value_range), _clip_range(upper, value_range)
    return {
        float(level): coverage(y, lo, hi)
        for level, lo, hi in zip(levels, lower, upper, strict=True)
    }


def log_predictive_density(log_lik: np.ndarray) -> np.ndarray:
    """log p(y_i | data) per rating from pointwise log-likelihoods ``(chain, draw, n)``.

    ``log mean_s p(y_i | theta_s)``, computed with log-sum-exp so a rating far in the tail does
    not underflow to -inf.  Higher is better; unlike RMSE it rewards a model for knowing how sure
    it is.  With a single draw (MAP) it is the plug-in log density.
    """
    ll = _as_float("pointwise log-likelihood", log_lik)
    if ll.ndim != 3:
        raise ValueError(f"expected (chain, draw, n) log-likelihoods, got shape {ll.shape}")
    flat = ll.reshape(-1, ll.shape[-1])
    top = flat.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.mean(np.exp(flat - safe), axis=0))
