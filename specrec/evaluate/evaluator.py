"""A fitted posterior -> every number the report shows, the same way for every backend.

It reads only the model representation, the InferenceData and the rows: predictions come from
the numpy reference model (``specrec.model.reference``), never from the backend that fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from specrec import methods
from specrec.data.dataset import Dataset
from specrec.evaluate import diagnostics as D
from specrec.evaluate.activity import rmse_by_activity, training_counts
from specrec.evaluate.baselines import baselines
from specrec.evaluate.groups import (
    Groups,
    build_groups,
    log_likelihood_and_replicated_array,
    log_likelihood_array,
    n_loo_units,
    over_budget,
    shares_training_pass,
)
from specrec.evaluate.likelihood import log_likelihood_and_replicated, pointwise_log_likelihood
from specrec.evaluate.loo import loo_budget_reason, psis_loo_chunks
from specrec.evaluate.metrics import (
    CALIBRATION_LEVELS,
    COVERAGE_LEVELS,
    clip,
    coverage_key,
    interval_coverage,
    log_predictive_density,
    predictive_interval,
    predictive_summary,
)
from specrec.evaluate.mixture_summary import mixture_summary
from specrec.evaluate.ranking import ranking_metrics
from specrec.evaluate.thinning import thin_draws
from specrec.evaluate.verdict import bfmi, parameter_table, verdict
from specrec.model.ir import Dim, Model, RowData
from specrec.model.reference import predict_draws
from specrec.spec.models import Evaluate

#: predictions use at most this many posterior draws (thinned evenly); PSIS-LOO and
#: posterior.nc's per-draw groups use every draw, so they line up with the posterior group
MAX_DRAWS = 2000
MIN_PREDICTIVE = 200  # a point estimate is replicated so the predictive interval has draws
CHUNK_ELEMENTS = 20_000_000  # draws x rows predicted at once (160 MB of float64 per array)
MAX_DIAG_ELEMENTS = 20_000  # parameter R-hat/ESS over larger posteriors only for small variables
MAX_TABLE_ELEMENTS = 200  # hyperparameter elements in the per-parameter table (az.summary)


@dataclass
class Evaluation:
    metrics: dict
    predictions: pd.DataFrame
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    #: posterior.nc's groups beyond posterior and sample_stats (``specrec.evaluate.groups``)
    groups: Groups = field(default_factory=Groups)


def _posterior_arrays(idata, model: Model) -> dict[str, np.ndarray]:
    return {rv.name: np.asarray(idata.posterior[rv.name].values) for rv in model.latents}


class RepeatedDraws:
    """An array of draws ``(chain, draw, ...)`` with each draw repeated ``reps`` times in a row,
    as ``np.repeat(values, reps, axis=1)`` but without the copy.

    It offers what the per-draw loops read, ``shape`` and ``[chain, draw]``.  A copy would hold
    ``reps`` times every parameter: 200 x 1.92M floats (3 GB) for 20 vi draws of a 100k-user
    factor model, the largest allocation of a whole fit at scale.
    """

    def __init__(self, values: np.ndarray, reps: int):
        self.values, self.reps = values, reps

    @property
    def shape(self) -> tuple[int, ...]:
        chains, draws, *rest = self.values.shape
        return (chains, draws * self.reps, *rest)

    def __getitem__(self, key: tuple[int, int]) -> np.ndarray:
        chain, draw = key
        return self.values[chain, draw // self.reps]


def replicate_draws(post: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Repeat draws until there are at least ``n`` (a MAP point still gets a predictive spread)."""
    chains, draws = next(iter(post.values())).shape[:2]
    if chains * draws >= n:
        return post
    reps = int(np.ceil(n / (chains * draws)))
    return {k: RepeatedDraws(v, reps) for k, v in post.items()}  # type: ignore[misc]


def row_chunks(n_rows: int, width: int) -> list[slice]:
    """Consecutive slices of ``n_rows`` rows, each small enough that ``width`` values per row
    (draws) stay under ``CHUNK_ELEMENTS``: every draws x rows array of the evaluation is built
    one such chunk at a time."""
    step = max(1, CHUNK_ELEMENTS // max(1, width))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def predict_rows(
    model: Model,
    post: dict[str, np.ndarray],
    rows: RowData,
    interval: float | None,
    rng: np.random.Generator | None,
    keep_draws: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Point prediction, central predictive interval (``interval``) and, if asked, the
    per-draw expected values, computed over chunks of rows so that draws x rows arrays stay
    under ``CHUNK_ELEMENTS`` (10M rows x 200 draws would otherwise need 16 GB).

    With a single chunk the random stream is that of one call over all rows.
    """
    n = len(rows)
    chains, draws = next(iter(post.values())).shape[:2]
    predictive = replicate_draws(post, MIN_PREDICTIVE) if interval is not None else None
    width = chains * draws
    if predictive is not None:
        width = max(width, int(np.prod(next(iter(predictive.values())).shape[:2])))
    point = np.empty(n)
    lower = np.empty(n) if interval is not None else None
    upper = np.empty(n) if interval is not None else None
    kept = []
    for chunk in row_chunks(n, width):
        part, start = rows.take(chunk), chunk.start
        # with enough draws the predictive draws are the posterior's own: one pass over the
        # likelihood's arguments gives both (the means draw nothing from ``rng``)
        same = predictive is post
        mean_draws, y_draws = predict_draws(model, post, part, rng if same else None)
        point[start : start + len(part)] = mean_draws.mean(axis=(0, 1))
        if keep_draws:
            kept.append(mean_draws)
        if predictive is not None and lower is not None and upper is not None:
            if not same:
                _, y_draws = predict_draws(model, predictive, part, rng)
            assert y_draws is not None
            flat = y_draws.reshape(-1, len(part))
            assert interval is not None  # ``predictive`` is made only with one
            bounds = predictive_interval(flat, interval, model.likelihood.dist.discrete)
            lower[start : start + len(part)], upper[start : start + len(part)] = bounds
    return point, lower, upper, np.concatenate(kept, axis=2) if keep_draws else None


@dataclass
class FitToEvaluate:
    """A fit as the evaluator reads it: the model, its InferenceData, the method that made it
    (its row in ``specrec.methods`` says whether there are draws and chains), the fit's seconds
    (for ESS per second), its loss trace (map, vi) and NUTS' ``max_tree_depth`` (the limit
    the verdict's tree-depth saturation is counted against; None: not checked)."""

    model: Model
    idata: Any
    method: str
    fit_s: float
    loss: np.ndarray | None = None
    max_tree_depth: int | None = None


def evaluate_fit(
    fitted: FitToEvaluate,
    train: Dataset,
    test: Dataset,
    test_rows: RowData,
    settings: Evaluate,
    seed: int,
) -> Evaluation:
    model, idata, method, fit_s, loss = (
        fitted.model,
        fitted.idata,
        fitted.method,
        fitted.fit_s,
        fitted.loss,
    )
    mcmc = methods.is_mcmc(method)
    rng = np.random.default_rng(seed)
    vr = model.value_range
    every_draw = _posterior_arrays(idata, model)
    post = thin_draws(every_draw, MAX_DRAWS)
    # MCMC diagnostics need every draw's prediction; others only the summaries (bounded memory)
    predicted = predict_rows(model, post, test_rows, settings.interval, rng, mcmc)
    point, lower, upper, mean_draws = predicted
    test_metrics = predictive_summary(
        test_rows.y, point, None, vr, settings.interval, settings.clip, bounds=(lower, upper)
    )
    train_point = predict_rows(model, thin_draws(post, 100), model.data, None, None, False)[0]
    train_metrics = predictive_summary(
        model.data.y, train_point, None, vr, settings.interval, settings.clip
    )
    train_metrics.pop(coverage_key(settings.interval))

    dims = [d for d in model.dims.values() if d.column]
    sample_rows, y_draws, sample_log_lik = _predictive_sample(model, post, test_rows, rng)
    test_metrics |= _honesty_and_ranking(
        model, post, y_draws, point, train, test, test_rows, sample_rows, dims, settings,
        sample_log_lik,
    )  # fmt: skip
    base = baselines(
        train.y,
        {d.name: train.codes[d.column] for d in dims},
        test.y,
        {d.name: test.codes[d.column] for d in dims},
        vr,
        seed=seed,
        clip=settings.clip,
    )

    diagnostics: dict = {"method": method}
    curves: dict[str, np.ndarray] = {}
    if mcmc:
        assert mean_draws is not None
        small = [rv.name for rv in model.latents if np.prod(rv.shape, dtype=int) <= 1000]
        total = sum(int(np.prod(rv.shape, dtype=int)) for rv in model.latents)
        names = [rv.name for rv in model.latents] if total <= MAX_DIAG_ELEMENTS else small
        hyper = model.hyperparameters()
        # ArviZ's R-hat and ESS per element, once per variable: the overall extremes, the
        # hyperparameters' lines and the verdict all read these
        per_var = D.variable_diagnostics(idata, list(dict.fromkeys(names + hyper)))
        diag = D.sampler_diagnostics(idata, names or None, per_var)
        diag["params_checked"] = names
        pick = rng.choice(
            len(test_rows), size=min(settings.rhat_pairs, len(test_rows)), replace=False
        )
        pred = D.prediction_diagnostics(mean_draws[:, :, np.sort(pick)])
        diag |= {f"pred_{k}": v for k, v in pred.items() if k not in ("n_chains", "n_draws")}
        diag["ess_per_s"] = D.ess_per_second(diag.get("ess_bulk_min"), fit_s)
        diagnostics |= diag
        matrices = [rv.name for rv in model.latents if len(rv.dims) == 2]
        norms = D.frobenius_norms(idata, matrices)
        curves |= {f"frobenius_{k}": v for k, v in norms.items()}
        curves["running_rmse"] = D.running_rmse(test_rows.y, mean_draws, vr, settings.clip)
        diagnostics["hyperparameters"] = {n: per_var[n] for n in hyper}
        diagnostics["bfmi"] = bfmi(idata)
        diagnostics["tree_depth"] = D.tree_depth_saturation(idata, fitted.max_tree_depth)
        diagnostics["factors"] = _factor_diagnostics(model, idata, test_rows, seed)
        diagnostics["verdict"] = verdict(model, idata, diagnostics, per_var)
    else:
        diagnostics |= {"divergences": 0, "rhat_max": None, "ess_bulk_min": None}
    if methods.has_draws(method):
        table_names = _table_names(model)
        diagnostics["parameters"] = parameter_table(idata, table_names, mcmc)
    if loss is not None:
        curves["loss"] = np.asarray(loss)
        # a noisy loss (an ELBO estimate, Adam's steps) is judged over windows; an exact one
        # (em's log posterior per iteration) by its last value and last change
        exact = method in methods.names() and methods.get(method).exact_loss
        window = 1 if exact else 50
        diagnostics["loss_final"] = float(np.mean(loss[-min(len(loss), window) :]))
        diagnostics["loss_convergence"] = D.loss_converged(
            np.asarray(loss), window=1 if exact else min(100, max(1, len(loss) // 4))
        )

    calibration = interval_coverage(sample_rows.y, y_draws, CALIBRATION_LEVELS, vr, settings.clip)
    curves["calibration_nominal"] = np.array(list(calibration))
    curves["calibration_observed"] = np.array(list(calibration.values()))
    shown = clip(point, vr) if settings.clip else point
    table = {}
    for d in dims:
        table[d.column] = d.coords[test_rows.index[d.name]]
    # the likelihood's numeric columns too: with them a test pair is known by its whole row
    table |= {name: test_rows.columns[name] for name in model.data.columns}
    table |= {
        model.response: test_rows.y,
        "mean": shown,
        "lower": clip(lower, vr) if settings.clip else lower,
        "upper": clip(upper, vr) if settings.clip else upper,
    }
    # as ``specrec predict`` marks its pairs: False for an id without training rows
    known = {d.name: np.isin(test.codes[d.column], train.codes[d.column]) for d in dims}
    table |= {f"{name}_known": k for name, k in known.items()}
    cold = {name: int((~k).sum()) for name, k in known.items()}
    if model.mixture is not None:
        diagnostics["mixture"] = mixture_summary(model, idata)
    loo, log_lik, kept_reason, train_replicated = _loo(
        model, every_draw, method, settings, idata, seed
    )
    metrics = {
        "test": test_metrics,
        "train": train_metrics,
        "cold_start_test_rows": cold,
        "loo": loo,
    }
    groups = build_groups(
        model,
        every_draw,
        test_rows,
        log_lik,
        kept_reason,
        settings.idata_max_mb,
        seed,
        train_replicated,
    )
    if not methods.has_draws(method):
        groups.notes["log_likelihood"] = (
            f"{method} gives a point estimate: every group has 1 draw, so there is no "
            "posterior to re-weight and az.loo / az.compare cannot use the run"
        )
    return Evaluation(
        {
            "metrics": metrics,
            "baselines": base,
            "diagnostics": diagnostics,
            "idata": groups.record(),
        },
        pd.DataFrame(table),
        curves,
        groups,
    )


def _factor_diagnostics(model: Model, idata, test_rows: RowData, seed: int) -> dict | None:
    """R-hat/ESS on the rotation-invariant summaries of the likelihood's factor pair
    (``D.factor_diagnostics``), or None when its mean has no ``dot(U[user], V[item])``.

    The pair is read from the model representation (``conjugacy.spectral.factor_pair``, as
    ``init: svd`` finds it), never from names; the entries are observed test pairs (training
    pairs when there is no test row)."""
    from specrec.conjugacy.spectral import factor_pair

    pair, _ = factor_pair(model)
    if pair is None or not {pair.row, pair.col} <= set(idata.posterior.data_vars):
        return None
    rows = test_rows if len(test_rows) else model.data
    g, r = D.factor_entry_pairs(rows.index[pair.row_dim], rows.index[pair.col_dim], seed)
    return D.factor_diagnostics(idata, pair.row, pair.col, pair.a, g, r)


def _table_names(model: Model) -> list[str]:
    """The hyperparameters ``az.summary`` tabulates: all of them while they have at most
    ``MAX_TABLE_ELEMENTS`` elements together, else the smallest ones that fit."""
    sizes = {n: int(np.prod(model.latent(n).shape, dtype=int)) for n in model.hyperparameters()}
    names, total = [], 0
    for name in sorted(sizes, key=lambda n: sizes[n]):
        if total + sizes[name] > MAX_TABLE_ELEMENTS:
            break
        names.append(name)
        total += sizes[name]
    return [n for n in sizes if n in names]  # in the model's order


def _predictive_sample(
    model: Model, post: dict[str, np.ndarray], rows: RowData, rng: np.random.Generator
) -> tuple[RowData, np.ndarray, np.ndarray | None]:
    """The test rows the predictive-density metrics use, their predictive draws and, when
    the predictive draws are the posterior's own (enough of them, no mixture), the rows'
    log-likelihood from the same pass over the likelihood's arguments (else None).

    Coverage at several levels, the calibration curve and the log predictive density need
    every draw of every row at once; all rows when that fits in ``CHUNK_ELEMENTS``, else a
    fixed random sample of that many rows (the count is reported as ``predictive_rows``), so
    memory stays bounded at millions of test ratings.  RMSE, ranking and activity buckets
    always use every row.
    """
    predictive = replicate_draws(post, MIN_PREDICTIVE)
    width = int(np.prod(next(iter(predictive.values())).shape[:2]))
    limit = max(1, CHUNK_ELEMENTS // width)
    if len(rows) > limit:
        rows = rows.take(np.sort(rng.choice(len(rows), size=limit, replace=False)))
    if predictive is post and model.mixture is None:
        # the same simulated ratings as predict_draws draws (one per draw, in order)
        log_lik, y_draws = log_likelihood_and_replicated(model, post, rows, rng)
        return rows, y_draws, log_lik
    _, y_draws = predict_draws(model, predictive, rows, rng)
    return rows, y_draws, None


def _honesty_and_ranking(
    model: Model,
    post: dict[str, np.ndarray],
    y_draws: np.ndarray,
    point: np.ndarray,
    train: Dataset,
    test: Dataset,
    test_rows: RowData,
    sample_rows: RowData,
    dims: list[Dim],
    settings: Evaluate,
    log_lik: np.ndarray | None = None,
) -> dict:
    """Is the uncertainty honest (log density, coverage) and is the top of each list right?

    ``y_draws`` are predictive draws of ``sample_rows`` (``_predictive_sample``), ``log_lik``
    their log-likelihood if that pass computed it.
    """
    vr = model.value_range
    if log_lik is None:
        log_lik = pointwise_log_likelihood(model, post, sample_rows)
    coverage = interval_coverage(sample_rows.y, y_draws, COVERAGE_LEVELS, vr, settings.clip)
    shown = clip(point, vr) if settings.clip else point
    by_activity = {
        d.name: rmse_by_activity(
            test_rows.y, shown, training_counts(train.codes[d.column], test.codes[d.column])
        )
        for d in dims
    }
    per = settings.ranking.per or (dims[0].name if dims else None)
    ranking = None
    if per is not None:
        ranking = ranking_metrics(
            test_rows.index[per], test_rows.y, point, settings.ranking.k, settings.ranking.threshold
        )
        ranking = {"per": per, **ranking}
    return {
        "log_predictive_density": float(np.mean(log_predictive_density(log_lik))),
        "interval_coverage": {f"{round(100 * lv, 6):g}": c for lv, c in coverage.items()},
        "predictive_rows": len(sample_rows),
        "rmse_by_activity": by_activity,
        "ranking": ranking,
    }


def _loo(
    model: Model, post: dict[str, np.ndarray], method: str, settings: Evaluate, idata, seed: int
) -> tuple[dict, tuple[np.ndarray, str] | None, str | None, np.ndarray | None]:
    """PSIS-LOO on the training ratings (or ``{"skipped": reason}``) over every draw, the
    log-likelihood it read when posterior.nc keeps it (else None), why it is not kept, and
    the training rows' replicated ratings when they came from the same pass (else None).

    The log-likelihood is computed once, for LOO and for the ``log_likelihood`` group: a map
    fit still stores its one draw (LOO is skipped), and LOO is still computed when the array
    is too large to keep but within ``loo_max_mb``.
    """
    chains, draws = next(iter(post.values())).shape[:2]
    n_units = n_loo_units(model)
    mix = model.mixture
    unit = mix.per if mix is not None and mix.per is not None else "row"
    what = "training rows" if unit == "row" else f"levels of {unit}"
    reason = loo_budget_reason(method, chains * draws, n_units, settings.loo_max_mb)
    not_kept = over_budget("log_likelihood", chains * draws, n_units, what, settings.idata_max_mb)
    if reason is not None and not_kept is not None:
        return {"skipped": reason}, None, not_kept, None
    y_rep = None
    if shares_training_pass(model, chains * draws, settings.idata_max_mb):
        log_lik, y_rep = log_likelihood_and_replicated_array(model, post, seed)
    else:
        log_lik = log_likelihood_array(model, post)
    kept = None if not_kept is not None else log_lik
    if reason is not None:
        return {"skipped": reason}, kept, not_kept, y_rep
    ll = log_lik[0]
    chunks = (ll[:, :, c] for c in row_chunks(ll.shape[2], chains * draws))
    return (
        {"unit": unit, **psis_loo_chunks(chunks, _relative_efficiency(idata, model))},
        kept,
        not_kept,
        y_rep,
    )


def _relative_efficiency(idata, model: Model) -> float:
    """Mean ESS / draws over the hyperparameters, ArviZ's own choice of ``reff`` for loo.

    One chain (or no hyperparameter) gives 1, as ArviZ does for a single chain.
    """
    names = model.hyperparameters()
    if idata.posterior.sizes.get("chain", 1) < 2 or not names:
        return 1.0
    import arviz as az

    ess = az.ess(idata.posterior[names], method="mean")
    values = np.concatenate([np.ravel(ess[v].values) for v in ess.data_vars])
    values = values[np.isfinite(values)]
    total = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    return float(max(values.mean() / total, 1e-3)) if values.size else 1.0
