"""The InferenceData groups of a run beyond ``posterior`` and ``sample_stats``.

So that a run directory opens in ArviZ and ``az.loo``, ``az.compare``, ``az.plot_ppc`` run on
it without specrec, ``posterior.nc`` also holds, in ArviZ's names:

* ``observed_data``: the training ratings (dim ``obs``, one per training row);
* ``constant_data``: what the likelihood reads per training row: ``<dim>_index`` (the level
  code of each data dim, whose labels are the coordinates ``<dim>``) and the numeric columns;
* ``log_likelihood``: ``log p(y_i | draw)`` per training row and draw, the very array the
  evaluator's PSIS-LOO reads (per level for a mixture per level, the unit LOO leaves out);
* ``posterior_predictive``: one replicated training rating per row and draw;
* ``predictions`` / ``predictions_constant_data``: one predictive rating per test pair and
  draw (dim ``pair``), and the test pairs' index and numeric columns;
* ``prior`` / ``prior_predictive`` with ``fit --prior N`` (``specrec.prior``): parameters
  drawn from the prior and one replicated training rating per row and prior draw.

Every number comes from the numpy reference of the model (``specrec.model.reference`` and
``specrec.evaluate.likelihood``), never from a backend, and uses every posterior draw, so the
draws line up with ``posterior``.  A per-draw group larger than ``evaluate.idata_max_mb`` is
left out and the reason recorded (``Groups.left_out``); each is built a chunk of rows at a
time (``evaluator.row_chunks``) so no temporary exceeds the evaluator's chunk budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from specrec.evaluate.likelihood import (
    level_log_likelihood,
    log_likelihood_and_replicated,
    pointwise_log_likelihood,
)
from specrec.evaluate.loo import BYTES_PER_VALUE
from specrec.model.ir import Model, RowData
from specrec.model.reference import simulate_draws

#: The observation dims of the training rows and of the test pairs.
OBS, PAIR = "obs", "pair"
#: Every group this module adds, in the order a run stores them.
EXTRA_GROUPS = (
    "observed_data",
    "constant_data",
    "log_likelihood",
    "posterior_predictive",
    "predictions",
    "predictions_constant_data",
)


@dataclass
class Groups:
    """Datasets by ArviZ group name, and the groups left out with the reason for each."""

    datasets: dict[str, xr.Dataset] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # kept, but read with care (a map fit)

    def record(self) -> dict:
        """What metrics.json says about ``posterior.nc``'s extra groups."""
        out = {"groups": list(self.datasets), "left_out": dict(self.left_out)}
        return out | ({"notes": dict(self.notes)} if self.notes else {})


def size_mb(n_draws: int, n_rows: int) -> float:
    return n_draws * n_rows * BYTES_PER_VALUE / 1e6


def over_budget(group: str, n_draws: int, n_rows: int, what: str, max_mb: float) -> str | None:
    """Why ``group`` (``n_draws`` x ``n_rows`` float64) is not stored, or None when it is."""
    need = size_mb(n_draws, n_rows)
    if need <= max_mb:
        return None
    shown = f"{need:,.0f}" if need >= 10 else f"{need:.2g}"
    return (
        f"{n_draws} draws x {n_rows} {what} need {shown} MB, over the budget "
        f"evaluate.idata_max_mb = {max_mb:g}"
    )


def _draw_coords(chains: int, draws: int) -> dict[str, np.ndarray]:
    return {"chain": np.arange(chains), "draw": np.arange(draws)}


def _as_observed(model: Model, y: np.ndarray) -> np.ndarray:
    """Integer values for a discrete likelihood (ArviZ then draws histograms, not densities)."""
    y = np.asarray(y, dtype=float)
    if model.likelihood.dist.discrete and np.all(np.isfinite(y)) and np.all(y == np.rint(y)):
        return y.astype(np.int64)
    return y


def rows_dataset(model: Model, rows: RowData, dim: str) -> xr.Dataset:
    """The rows' level codes (``<dim>_index``, labels as the ``<dim>`` coordinate) and numeric
    columns: ``constant_data`` for the training rows, ``predictions_constant_data`` for the
    test pairs."""
    data: dict[str, tuple] = {}
    coords: dict[str, np.ndarray] = {dim: np.arange(len(rows))}
    for name, codes in rows.index.items():
        data[f"{name}_index"] = ((dim,), np.asarray(codes, dtype=np.int64))
        coords[name] = np.asarray(model.dims[name].coords)
    for name, values in rows.columns.items():
        data[name] = ((dim,), np.asarray(values, dtype=float))
    return xr.Dataset(data, coords=coords)


def log_likelihood_array(model: Model, post: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """``(chain, draw, unit)`` log-likelihoods of the training data and the unit's dim name.

    The unit is a training row, or a level of the mixture's ``per`` dim (its rows share one
    summed-out component, so they are not independent given the parameters).  Row by row it
    is built a chunk of rows at a time into one array.
    """
    from specrec.evaluate.evaluator import row_chunks

    mix = model.mixture
    if mix is not None and mix.per is not None:
        return level_log_likelihood(model, post), mix.per
    chains, draws = next(iter(post.values())).shape[:2]
    rows = model.data
    out = np.empty((chains, draws, len(rows)))
    for chunk in row_chunks(len(rows), chains * draws):
        pointwise_log_likelihood(model, post, rows.take(chunk), out[:, :, chunk])
    return out, OBS


def log_likelihood_and_replicated_array(
    model: Model, post: dict[str, np.ndarray], seed: int
) -> tuple[tuple[np.ndarray, str], np.ndarray]:
    """``log_likelihood_array`` and the training rows' ``replicated`` ratings (the ones
    ``build_groups`` would draw from ``seed``) in one pass over the likelihood's arguments.
    A model without a mixture only (``shares_training_pass``)."""
    from specrec.evaluate.evaluator import row_chunks

    chains, draws = next(iter(post.values())).shape[:2]
    rows = model.data
    rng = replica_rng(seed, "training")
    log_lik = np.empty((chains, draws, len(rows)))
    y_rep = np.empty_like(log_lik)
    for chunk in row_chunks(len(rows), chains * draws):
        log_likelihood_and_replicated(
            model, post, rows.take(chunk), rng, log_lik[:, :, chunk], y_rep[:, :, chunk]
        )
    return (log_lik, OBS), y_rep


def shares_training_pass(model: Model, n_draws: int, max_mb: float) -> bool:
    """Whether the training rows' replicated ratings are kept and can come from the
    log-likelihood's pass (rows as the LOO unit, within the group's budget)."""
    rows = len(model.data)
    kept = over_budget("posterior_predictive", n_draws, rows, "training rows", max_mb) is None
    return model.mixture is None and kept


def replica_rng(seed: int, rows: str) -> np.random.Generator:
    """The replicated ratings' own streams (``training`` or ``test`` rows), apart from every
    other random draw of the evaluation, so adding the groups changes no metric."""
    return np.random.default_rng([seed, 0x1D47A, {"training": 0, "test": 1}[rows]])


def n_loo_units(model: Model) -> int:
    """How many values per draw the log-likelihood has (training rows, or levels with rows)."""
    mix = model.mixture
    if mix is not None and mix.per is not None:
        return int(np.unique(mix.rows.index[mix.per]).size)
    return len(model.data)


def log_likelihood_dataset(model: Model, log_lik: np.ndarray, unit: str) -> xr.Dataset:
    chains, draws, _ = log_lik.shape
    coords = _draw_coords(chains, draws)
    if unit == OBS:
        coords[OBS] = np.arange(log_lik.shape[2])
    else:
        mix = model.mixture
        assert mix is not None
        seen = np.unique(mix.rows.index[unit])
        coords[unit] = np.asarray(model.dims[unit].coords)[seen]
    ds = xr.Dataset({model.response: (("chain", "draw", unit), log_lik)}, coords=coords)
    ds.attrs["unit"] = "row" if unit == OBS else unit
    return ds


def replicated(
    model: Model, post: dict[str, np.ndarray], rows: RowData, rng: np.random.Generator
) -> np.ndarray:
    """One simulated rating per draw and row, ``(chain, draw, rows)``, by chunks of rows."""
    from specrec.evaluate.evaluator import row_chunks

    chains, draws = next(iter(post.values())).shape[:2]
    out = np.empty((chains, draws, len(rows)))
    for chunk in row_chunks(len(rows), chains * draws):
        simulate_draws(model, post, rows.take(chunk), rng, out[:, :, chunk])
    return out


def predictive_dataset(model: Model, y_draws: np.ndarray, dim: str) -> xr.Dataset:
    chains, draws, n = y_draws.shape
    coords = _draw_coords(chains, draws) | {dim: np.arange(n)}
    values = _as_observed(model, y_draws)
    return xr.Dataset({model.response: (("chain", "draw", dim), values)}, coords=coords)


def observed_groups(model: Model) -> Groups:
    """``observed_data`` and ``constant_data`` of the training rows: what every predictive
    group (posterior or prior) is set against."""
    g = Groups()
    rows = model.data
    g.datasets["observed_data"] = xr.Dataset(
        {model.response: ((OBS,), _as_observed(model, rows.y))},
        coords={OBS: np.arange(len(rows))},
    )
    g.datasets["constant_data"] = rows_dataset(model, rows, OBS)
    return g


def build_groups(
    model: Model,
    post: dict[str, np.ndarray],
    test_rows: RowData,
    log_lik: tuple[np.ndarray, str] | None,
    log_lik_reason: str | None,
    max_mb: float,
    seed: int,
    train_replicated: np.ndarray | None = None,
) -> Groups:
    """Every extra group of a run; ``post`` is every posterior draw of the latents.

    ``log_lik`` is the array the evaluator computed for PSIS-LOO (reused, not recomputed), or
    None with ``log_lik_reason`` saying why it was not computed.  The replicated ratings use
    their own random stream (from ``seed``), so adding them changes no other metric;
    ``train_replicated`` is the training rows' share when the log-likelihood's pass drew it
    (``log_likelihood_and_replicated_array``, the same values).
    """
    g = observed_groups(model)
    chains, draws = next(iter(post.values())).shape[:2]
    n_draws = chains * draws
    rows = model.data
    if log_lik is not None:
        g.datasets["log_likelihood"] = log_likelihood_dataset(model, *log_lik)
    else:
        g.left_out["log_likelihood"] = log_lik_reason or "not computed"
    reason = over_budget("posterior_predictive", n_draws, len(rows), "training rows", max_mb)
    if reason is None:
        if train_replicated is None:
            train_replicated = replicated(model, post, rows, replica_rng(seed, "training"))
        g.datasets["posterior_predictive"] = predictive_dataset(model, train_replicated, OBS)
    else:
        g.left_out["posterior_predictive"] = reason
    reason = over_budget("predictions", n_draws, len(test_rows), "test pairs", max_mb)
    if len(test_rows) == 0:
        reason = "the split has no test pairs"
    if reason is None:
        g.datasets["predictions"] = predictive_dataset(
            model, replicated(model, post, test_rows, replica_rng(seed, "test")), PAIR
        )
        g.datasets["predictions_constant_data"] = rows_dataset(model, test_rows, PAIR)
    else:
        g.left_out["predictions"] = reason
    return g
