"""Convergence diagnostics read from InferenceData and draw arrays, never from a sampler.

Every function returns plain Python numbers (``None`` for "not computable") so a report can be
written as JSON and compared across backends.

Why R-hat on predictions as well as on parameters: a factor model ``U @ V.T`` is only identified
up to rotation and sign, so chains that agree perfectly on every prediction can still disagree on
``U`` and ``V`` and show a huge parameter R-hat.  ``prediction_diagnostics`` measures what the
report actually uses; ``sampler_diagnostics`` is still useful for identified parameters (biases,
scales) and for divergences.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from specrec.evaluate.metrics import ValueRange, _as_float
from specrec.evaluate.metrics import clip as clip_to_range
from specrec.evaluate.rank_diagnostics import rank_diagnostics, z_scale

if TYPE_CHECKING:
    from specrec.idata import RunData

MIN_DRAWS = 4  # below this ArviZ (and the split-R-hat definition) gives nothing meaningful


def _finite_extreme(values: Iterable[np.ndarray], take_max: bool) -> float | None:
    """Max (or min) over all finite entries; None when there are none.

    ArviZ returns NaN for a constant variable (zero variance), e.g. a fixed hyperparameter or a
    padded entry; one such element must not turn the whole summary into NaN.
    """
    finite = [v[np.isfinite(v)] for v in (np.asarray(x, dtype=np.float64).ravel() for x in values)]
    finite = [v for v in finite if v.size]
    if not finite:
        return None
    joined = np.concatenate(finite)
    return float(joined.max() if take_max else joined.min())


def _z_scale(ary: np.ndarray) -> np.ndarray:
    """Rank-normalise each column of ``(chain, draw, n)`` over all of its chains and draws
    (``rank_diagnostics``' normal scores, whose arrays are ``(n, chain, draw)``)."""
    return z_scale(np.moveaxis(ary, 2, 0)).transpose(1, 2, 0)


def _classic_rhat(ary: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat per column of ``(chain, draw, n)``; NaN where the variance is zero."""
    d = ary.shape[1]
    within = ary.var(axis=1, ddof=1).mean(axis=0)
    between = d * ary.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt((between / within + d - 1) / d)
    out[~(within > 0)] = np.nan
    return out


def split_rhat(ary: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat (Vehtari et al. 2021) per column of ``(chain, draw, n)``.

    Identical to ``az.rhat(method="rank")`` for two or more chains, but also defined for a single
    chain, which ArviZ 0.23 refuses (it requires two): each chain is split into halves, so one long
    chain still reveals a drift between its first and second half.  NaN when draws < 4.
    """
    ary = np.asarray(ary, dtype=np.float64)
    if ary.ndim != 3:
        raise ValueError(f"expected (chain, draw, n) draws, got shape {ary.shape}")
    if ary.shape[1] < MIN_DRAWS:
        return np.full(ary.shape[2], np.nan)
    half = ary.shape[1] // 2
    split = np.concatenate([ary[:, :half], ary[:, -half:]], axis=0)
    bulk = _classic_rhat(_z_scale(split))
    folded = np.abs(split - np.median(split.reshape(-1, split.shape[2]), axis=0))
    tail = _classic_rhat(_z_scale(folded))
    return np.fmax(bulk, tail)  # fmax: NaN only where both halves of the test are NaN


def _constant(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Per variable, which elements never change over all chains and draws.

    Such elements (a fixed hyperparameter, a padded entry) carry no convergence information:
    ArviZ gives NaN R-hat but an ESS equal to the number of draws, which would read as perfect.
    """
    out = {}
    for name in ds.data_vars:
        values = ds[name].transpose("chain", "draw", ...).values
        out[name] = np.all(values == values[:1, :1], axis=(0, 1))
    return out


def _rank_arrays(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat (``az.rhat(method="rank")``; split-R-hat on one chain), bulk ESS and tail ESS of
    each element of one variable's ``(chain, draw, ...)`` draws, shaped like an element.

    ArviZ's numbers bit for bit (``rank_diagnostics``), computed a block of elements at a time
    instead of ArviZ's one element at a time (the ML-100k mixture's 6,728 type means: 17.7 s
    -> 2.6 s for the three, measured once on a loaded 2-core machine).
    """
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    rhat, bulk, tail = rank_diagnostics(flat)
    if values.shape[0] < 2:  # ArviZ refuses one chain: the same formula on its halves
        rhat = split_rhat(flat)
    return tuple(a.reshape(values.shape[2:]) for a in (rhat, bulk, tail))  # type: ignore[return-value]


def _summarise(ds: xr.Dataset) -> dict[str, float | int | None]:
    """R-hat max and bulk/tail ESS min over every non-constant element of every variable."""
    n_chains, n_draws = int(ds.sizes.get("chain", 0)), int(ds.sizes.get("draw", 0))
    out: dict[str, float | int | None] = {
        "rhat_max": None,
        "ess_bulk_min": None,
        "ess_tail_min": None,
        "n_chains": n_chains,
        "n_draws": n_draws,
    }
    if not ds.data_vars or n_chains == 0 or n_draws < MIN_DRAWS:
        return out
    constant = _constant(ds)
    found: dict[str, list[np.ndarray]] = {"rhat_max": [], "ess_bulk_min": [], "ess_tail_min": []}
    with warnings.catch_warnings():
        # Constant variables divide by zero; they are masked out below.
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in ds.data_vars:
            values = ds[name].transpose("chain", "draw", ...).values
            for key, array in zip(found, _rank_arrays(values), strict=True):
                found[key].append(np.where(constant[name], np.nan, array))
    out["rhat_max"] = _finite_extreme(found["rhat_max"], take_max=True)
    out["ess_bulk_min"] = _finite_extreme(found["ess_bulk_min"], take_max=False)
    out["ess_tail_min"] = _finite_extreme(found["ess_tail_min"], take_max=False)
    return out


def sampler_diagnostics(
    idata: RunData,
    var_names: list[str] | None = None,
    per_variable: Mapping[str, Mapping[str, float | None]] | None = None,
) -> dict[str, float | int | None]:
    """Divergences, worst R-hat and smallest bulk/tail ESS over the posterior, plus its shape.

    Returns ``{"divergences", "rhat_max", "ess_bulk_min", "ess_tail_min", "n_chains",
    "n_draws"}``.  ``divergences`` is 0 when the sampler records none (``sample_stats`` or its
    ``diverging`` is absent, as for variational fits).  The R-hat/ESS entries are None when fewer
    than 4 draws exist or every element is constant; with one chain R-hat is split-R-hat on that
    chain's two halves.

    ``per_variable`` (``variable_diagnostics`` of at least ``var_names``) gives the same
    extremes without recomputing ArviZ's per-element R-hat and ESS, most of an MCMC
    evaluation's time on a small model: every element is computed alone, so the worst over
    all variables is the worst of each variable's worst.
    """
    if "posterior" not in idata.groups():
        raise ValueError("InferenceData has no posterior group")
    posterior = idata.posterior
    if var_names is not None:
        missing = [v for v in var_names if v not in posterior.data_vars]
        if missing:
            raise ValueError(f"variables not in the posterior: {missing}")
        posterior = posterior[list(var_names)]
    if per_variable is not None and var_names:
        out = _combine(posterior, [per_variable[v] for v in var_names])
    else:
        out = _summarise(posterior)
    divergences = 0
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        divergences = int(np.asarray(idata.sample_stats["diverging"].values).sum())
    return {"divergences": divergences, **out}


def _combine(
    ds: xr.Dataset, parts: list[Mapping[str, float | None]]
) -> dict[str, float | int | None]:
    """``_summarise(ds)`` from each of its variables' own summary."""

    def extreme(key: str, take_max: bool) -> float | None:
        found = [p[key] for p in parts if p[key] is not None]
        return _finite_extreme([np.asarray(found)], take_max) if found else None

    return {
        "rhat_max": extreme("rhat_max", True),
        "ess_bulk_min": extreme("ess_bulk_min", False),
        "ess_tail_min": extreme("ess_tail_min", False),
        "n_chains": int(ds.sizes.get("chain", 0)),
        "n_draws": int(ds.sizes.get("draw", 0)),
    }


def variable_diagnostics(
    idata: RunData, var_names: Iterable[str]
) -> dict[str, dict[str, float | None]]:
    """Per variable: worst R-hat and smallest bulk/tail ESS over its elements.

    For the hyperparameters a report shows one by one (a global mean, a noise scale, a prior
    mean): a single summary over every parameter hides which one has not mixed.
    """
    out: dict[str, dict[str, float | None]] = {}
    for name in var_names:
        summary = _summarise(idata.posterior[[name]])
        out[name] = {k: summary[k] for k in ("rhat_max", "ess_bulk_min", "ess_tail_min")}
    return out


def prediction_diagnostics(pred_draws: np.ndarray) -> dict[str, float | int | None]:
    """Worst R-hat and smallest bulk/tail ESS over predicted ratings, shape ``(chain, draw, n)``.

    This is the convergence check that matters for a factor model (see the module docstring).
    For a large test set pass a random subset of pairs: the worst case over 2,000 pairs is a
    good estimate of the worst case over all of them at a fraction of the cost.
    """
    arr = _as_float("predicted draws", pred_draws)
    if arr.ndim != 3:
        raise ValueError(f"expected (chain, draw, n_pairs) draws, got shape {arr.shape}")
    ds = xr.Dataset({"pred": (("chain", "draw", "pair"), arr)})
    return _summarise(ds)


def frobenius_norms(idata: RunData, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Frobenius norm of each named matrix variable per draw, shape ``(chain, draw)``.

    The PMF notebook's convergence trace: the norm is rotation-invariant, so unlike individual
    entries of ``U`` it settles when the factorisation has converged.  For a vector variable this
    is its Euclidean norm.  Names absent from the posterior are skipped, so one list of names can
    serve models with and without, say, an item factor matrix.
    """
    posterior = idata.posterior
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in posterior.data_vars:
            continue
        values = posterior[name].values
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        # a chain at a time in float64: one float64 copy of a large U is gigabytes
        out[name] = np.stack(
            [np.sqrt(np.sum(np.square(chain, dtype=np.float64), axis=-1)) for chain in flat]
        )
    return out


#: U V^T entries whose R-hat and ESS are computed (``factor_diagnostics``)
MAX_FACTOR_ENTRIES = 100
_KEYS = ("rhat_max", "ess_bulk_min", "ess_tail_min")


def factor_entry_pairs(
    rows: np.ndarray, cols: np.ndarray, seed: int, at_most: int = MAX_FACTOR_ENTRIES
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``at_most`` distinct (row level, column level) pairs of the given rows, a fixed
    random choice for ``seed``, sorted: the ``U V^T`` entries ``factor_diagnostics`` checks.

    Observed pairs, not arbitrary cells, because those are the entries the data pins down;
    a generator of its own, so the evaluator's other random draws do not change with it.
    """
    pairs = np.unique(np.stack([np.asarray(rows), np.asarray(cols)], axis=1), axis=0)
    if len(pairs) > at_most:
        keep = np.random.default_rng([seed, 20]).choice(len(pairs), at_most, replace=False)
        pairs = pairs[np.sort(keep)]
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def factor_diagnostics(
    idata: RunData,
    row: str,
    col: str,
    a: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> dict:
    """R-hat and bulk/tail ESS of what a factorisation ``U V^T`` identifies.

    ``U`` (``row``) and ``V`` (``col``) are identified only up to a rotation, so their own
    R-hat says nothing (see the module docstring); their Frobenius norms ``||U||_F``,
    ``||V||_F`` are invariant under any rotation, and the entries ``U[g] . (A V[r])`` (the
    factor pair's ``A``, the identity for ``dot(U[user], V[item])``) under every symmetry of
    the mean, so chains that disagree on either have not converged.  The entries are the
    (``rows[k]``, ``cols[k]``) cells (``factor_entry_pairs``), computed from every draw.

    Returns ``{"pair": [row, col], "frobenius": {name: {rhat_max, ess_bulk_min,
    ess_tail_min}}, "entries": {rhat_max, ess_bulk_min, ess_tail_min, "n"}}``; as elsewhere
    a value is None when fewer than 4 draws exist or the quantity is constant.
    """
    out: dict = {"pair": [row, col], "frobenius": {}}
    for name, norm in frobenius_norms(idata, [row, col]).items():
        summary = _summarise(xr.Dataset({name: (("chain", "draw"), norm)}))
        out["frobenius"][name] = {k: summary[k] for k in _KEYS}
    # the chosen rows only, before any float64 copy: U of a large model is gigabytes
    p, q = idata.posterior[row].values, idata.posterior[col].values
    p = np.asarray(p.reshape(*p.shape[:3], -1)[:, :, np.asarray(rows)], dtype=np.float64)
    q = np.asarray(q.reshape(*q.shape[:3], -1)[:, :, np.asarray(cols)], dtype=np.float64)
    entries = np.einsum("csnd,de,csne->csn", p, np.asarray(a, dtype=np.float64), q)
    summary = _summarise(xr.Dataset({"uv": (("chain", "draw", "entry"), entries)}))
    out["entries"] = {k: summary[k] for k in _KEYS} | {"n": int(entries.shape[2])}
    return out


def tree_depth_saturation(idata: RunData, max_tree_depth: int | None) -> dict | None:
    """Draws whose NUTS trajectory reached ``max_tree_depth``: ``{"max_tree_depth",
    "saturated", "fraction"}``, or None without a limit or a tree-size statistic.

    Such a draw was stopped by the limit, not by the U-turn criterion, so it explores less
    than NUTS intends (a too-small step size or a badly scaled posterior).  Counted from
    ``n_steps`` when recorded: every doubling the limit allows was made, ``2^depth - 1``
    leapfrog steps (NumPyro, PyMC, Pyro all count so).  A depth derived from the step count
    (``floor(log2 n) + 1``) would also count a last doubling cut short by a U-turn, so
    ``tree_depth >= max_tree_depth`` is the fallback only where no step count is recorded.
    """
    stats = getattr(idata, "sample_stats", None)
    if max_tree_depth is None or stats is None:
        return None
    if "n_steps" in stats:
        hit = np.asarray(stats["n_steps"].values) >= 2**max_tree_depth - 1
    elif "tree_depth" in stats:
        hit = np.asarray(stats["tree_depth"].values) >= max_tree_depth
    else:
        return None
    if hit.size == 0:
        return None
    return {
        "max_tree_depth": int(max_tree_depth),
        "saturated": int(hit.sum()),
        "fraction": float(hit.mean()),
    }


def ess_per_second(ess: float | None, seconds: float | None) -> float | None:
    """Effective draws per second of sampling: the fair speed comparison between backends.

    None when either input is missing or the time is not positive (a cached or instant fit).
    """
    if ess is None or seconds is None or not seconds > 0 or not np.isfinite(ess):
        return None
    return float(ess) / float(seconds)


def running_rmse(
    y: np.ndarray,
    pred_draws: np.ndarray,
    value_range: ValueRange | None,
    clip: bool = True,
) -> np.ndarray:
    """RMSE of the running posterior-mean prediction after each draw index, shape ``(n_draws,)``.

    The PMF notebook's running-RMSE curve, which flattens once adding draws no longer improves
    the averaged prediction.  Chains are pooled per draw index: entry ``t`` scores the mean over
    draws ``0..t`` of *every* chain.  The notebook uses one chain; with one chain this is exactly
    its curve, and with several every chain contributes from the start, so the last entry equals
    the RMSE of the full posterior-mean prediction.  The running mean is clipped to
    ``value_range`` (not each draw, as the notebook does) so the last entry also equals the RMSE in
    ``predictive_summary``; the two differ only where draws fall outside the scale.
    """
    y = _as_float("y", y)
    draws = _as_float("predicted draws", pred_draws)
    if draws.ndim != 3 or draws.shape[-1] != y.shape[-1] or y.ndim != 1:
        raise ValueError(
            f"expected (chain, draw, {y.shape[-1]}) draws for {y.shape[-1]} ratings, "
            f"got {draws.shape}"
        )
    n_chains, n_draws, _ = draws.shape
    cumulative = np.cumsum(draws.sum(axis=0), axis=0)  # (draw, n)
    running = cumulative / (n_chains * np.arange(1, n_draws + 1))[:, None]
    if clip:
        running = clip_to_range(running, value_range)
    return np.sqrt(np.mean((running - y[None, :]) ** 2, axis=1))


def loss_converged(
    loss: np.ndarray, window: int = 100, rtol: float = 1e-3
) -> dict[str, bool | float | None]:
    """Whether a variational loss has stopped moving: compare the last two windows' means.

    ``rel_change = |mean(last window) - mean(window before)| / |mean(window before)|``; converged
    when it is at most ``rtol``.  Means over windows, not single steps, because stochastic ELBO
    estimates are noisy step to step.  With fewer than ``2 * window`` steps, or a non-finite loss
    in those windows, ``{"converged": False, "rel_change": None}`` (None, not NaN, so the report
    stays valid JSON).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    arr = np.asarray(loss, dtype=np.float64).ravel()
    if arr.size < 2 * window:
        return {"converged": False, "rel_change": None}
    last, before = arr[-window:], arr[-2 * window : -window]
    if not (np.isfinite(last).all() and np.isfinite(before).all()):
        return {"converged": False, "rel_change": None}
    m_last, m_before = float(last.mean()), float(before.mean())
    # A window mean of exactly 0 has no scale; fall back to the absolute change.
    rel = abs(m_last - m_before) / (abs(m_before) or 1.0)
    return {"converged": bool(rel <= rtol), "rel_change": rel}


__all__ = [
    "ess_per_second",
    "factor_diagnostics",
    "factor_entry_pairs",
    "frobenius_norms",
    "loss_converged",
    "prediction_diagnostics",
    "running_rmse",
    "sampler_diagnostics",
    "split_rhat",
    "tree_depth_saturation",
    "variable_diagnostics",
]
