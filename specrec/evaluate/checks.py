"""The report's predictive checks and HMC energy, read from a run's ``posterior.nc`` alone.

Which figures the groups allow, and where one is missing, the sentence that says why: a
point fit (map, em) has one plug-in point and so no replicated data sets to set against the
data, a group left out over ``evaluate.idata_max_mb`` has its reason in ``metrics.json``, an
HMC backend that reports no energy has no BFMI.  A report never drops a check silently.

Replicated ratings are read thinned to at most ``MAX_CHECK_DRAWS`` draws (a NUTS fit of
MovieLens 100k holds 90 k rows per draw), which is plenty for the figures' medians and 90 %
intervals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specrec import methods
from specrec.evaluate import plots
from specrec.evaluate.thinning import thin_variable

MAX_CHECK_DRAWS = 200
INDEX_SUFFIX = "_index"  # constant_data's level code per row (specrec.evaluate.groups)
Figure = tuple[str, str, str]  # (file, title, caption), as report.make_figures lists them


def observed(idata) -> tuple[str, np.ndarray, dict[str, np.ndarray]] | None:
    """(response name, training ratings, data dim -> level code per row), or None when the
    run stores no ``observed_data``."""
    if "observed_data" not in idata.groups():
        return None
    obs = idata.observed_data
    name = next(iter(obs.data_vars))
    index: dict[str, np.ndarray] = {}
    if "constant_data" in idata.groups():
        const = idata.constant_data
        index = {
            str(v).removesuffix(INDEX_SUFFIX): np.asarray(const[v].values)
            for v in const.data_vars
            if str(v).endswith(INDEX_SUFFIX)
        }
    return str(name), np.asarray(obs[name].values), index


def categories(y: np.ndarray, y_rep: np.ndarray) -> np.ndarray | None:
    """The observed values when the likelihood is discrete with few of them (the groups store a
    discrete response as integers), else None: the ratings are compared as densities."""
    if not (np.issubdtype(y.dtype, np.integer) and np.issubdtype(y_rep.dtype, np.integer)):
        return None
    values = np.unique(y)
    return values.astype(float) if 0 < values.size <= 30 else None


def _point_method(metrics: dict) -> str | None:
    """The method's name when it gives a point estimate, else None."""
    method = str(metrics.get("inference", {}).get("method", ""))
    try:
        return None if methods.has_draws(method) else method
    except KeyError:  # a method this specrec does not know: judged by its files instead
        return None


def _hmc(metrics: dict) -> bool:
    method = str(metrics.get("inference", {}).get("method", ""))
    try:
        return "tree_depth" in methods.get(method).sample_stats
    except KeyError:
        return False


def predictive_figures(idata, metrics: dict, folder: Path) -> list[Figure]:
    """The posterior predictive checks (ratings or category frequencies, per-level means) and,
    with ``fit --prior N``, the prior predictive check."""
    seen = observed(idata)
    if seen is None:
        return []
    response, y, index = seen
    groups = idata.groups()
    made: list[Figure] = []
    if "posterior_predictive" in groups and _point_method(metrics) is None:
        y_rep = thin_variable(idata.posterior_predictive[response], MAX_CHECK_DRAWS)
        cats = categories(y, y_rep)
        n = y_rep.shape[0] * y_rep.shape[1]
        what = "category frequencies" if cats is not None else "ratings"
        plots.plot_ratings_check(
            y, y_rep, folder / "ppc_ratings.png", f"Posterior predictive: {what}",
            "posterior predictive", cats,
        )  # fmt: skip
        made.append(
            (
                "ppc_ratings.png",
                f"Posterior predictive check: {what}",
                (
                    "Share of training ratings in each category (bars) against the replicated "
                    "shares' median and 90 % interval"
                    if cats is not None
                    else "Histogram of the training ratings (black) against replicated data "
                    "sets (thin lines) and their pooled histogram (dashed)"
                )
                + f", from {n} posterior draws of posterior.nc's posterior_predictive.",
            )
        )
        if index:
            plots.plot_level_means_check(
                y, y_rep, index, folder / "ppc_means.png",
                "Posterior predictive: mean rating per level", "posterior predictive",
            )  # fmt: skip
            made.append(
                (
                    "ppc_means.png",
                    "Posterior predictive check: per-level means",
                    f"Distribution of the mean training rating of each {' and '.join(index)} "
                    "(black) against the same in replicated data sets: too narrow a "
                    "replicated spread means the model shrinks the levels too much.",
                )
            )
    if "prior_predictive" in groups:
        y_prior = thin_variable(idata.prior_predictive[response], MAX_CHECK_DRAWS)
        plots.plot_predictive_check(
            y, y_prior, index, folder / "prior_predictive.png",
            "Prior predictive against the training data", "prior predictive",
            categories(y, y_prior),
        )  # fmt: skip
        made.append(
            (
                "prior_predictive.png",
                "Prior predictive check",
                "Ratings replicated from parameters drawn from the prior (fit --prior N), "
                "against the training data: what the model believed before the data.",
            )
        )
    return made


def energy_figure(idata, metrics: dict, folder: Path) -> list[Figure]:
    """The energy plot of an HMC run whose sampler reported the Hamiltonian per draw."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "energy" not in stats or stats.sizes.get("draw", 0) < 2:
        return []
    bfmi = metrics.get("diagnostics", {}).get("bfmi")
    plots.plot_energy(np.asarray(stats["energy"].values), bfmi, folder / "energy.png")
    shown = ", ".join(f"{b:.2f}" for b in bfmi) if bfmi else "not computed"
    return [
        (
            "energy.png",
            "HMC energy",
            "Marginal energy distribution against the energy transition between draws "
            f"(as az.plot_energy). BFMI per chain: {shown}; below 0.3, or a transition much "
            "narrower than the marginal, means the sampler explores the posterior's tails badly.",
        )
    ]


def notes(metrics: dict) -> list[str]:
    """Why a predictive check or the energy plot is absent, one sentence each."""
    out = []
    point = _point_method(metrics)
    record = metrics.get("idata") or {}
    left_out = record.get("left_out") or {}
    if point is not None:
        out.append(
            f"Predictive checks: {point} gives a point estimate, so there are no posterior "
            "draws and no replicated data sets to check against the data (posterior.nc's "
            "posterior_predictive holds ratings simulated at that one point); fit with a "
            "method that yields draws (nuts, vi, ...) for posterior predictive checks."
        )
    elif "posterior_predictive" in left_out:
        out.append(f"No posterior predictive check: {left_out['posterior_predictive']}.")
    elif record and "posterior_predictive" not in (record.get("groups") or []):
        out.append("No posterior predictive check: posterior.nc has no posterior_predictive.")
    if _hmc(metrics) and not (metrics.get("diagnostics") or {}).get("bfmi"):
        out.append(
            "No BFMI or energy plot: the sampler reported no energy per draw (sample_stats.energy)."
        )
    return out
