"""What every key of a run's ``metrics.json`` and ``curves.json`` means: the one description.

Documentation is generated from these dicts, and a test checks that every key a real fit writes
matches one entry, so a new number cannot appear undocumented.  Keys are dotted paths; a part in
angle brackets stands for any name: ``<dim>`` a data dim (user, item), ``<level>`` an interval
level in percent, ``<bucket>`` an activity bucket, ``<baseline>`` a baseline, ``<var>`` a
hyperparameter, ``<key>`` anything the part above describes as free-form.  Keys are stable:
renaming one is a breaking change of the run format.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

METRICS_FIELDS: dict[str, str] = {
    # -- provenance (written by specrec.fitting) ------------------------------------------------
    "specrec_format": "run-directory format version (specrec.rundir.FORMAT)",
    "spec.name": "the spec's name",
    "spec.sha256": "SHA-256 of the spec text as given",
    "spec.file": "path of the spec file",
    "backend.name": "backend that fitted (numpyro, pymc, pyro, ...)",
    "backend.version": "version of the backend's PPL",
    "backend.<key>": "backend-specific facts about the fit (e.g. the sampler used)",
    "inference.<key>": "every inference setting after overrides and defaults",
    "restarts.losses": "final loss of each start (inference.restarts > 1 only)",
    "restarts.chosen": "index of the start kept (lowest final loss)",
    "restarts.seeds": "seed of each start",
    "restarts.log_likelihood": "mixture fitted to a point (map, em): data log-likelihood of "
    "each start's result, component summed out, no priors",
    "restarts.nonempty_components": "mixture fitted to a point: non-empty components of each "
    "start's result (the most probable component of at least one level)",
    "backend.em.iterations": "em: log posteriors computed (iterations + 1 at most inference.steps)",
    "backend.em.converged": "em: the relative change of the log posterior reached inference.tol",
    "backend.em.log_likelihood": "em: data log-likelihood at the point kept (component summed "
    "out, no priors)",
    "backend.em.log_posterior": "em: log posterior at the point kept (map's objective: priors "
    "of the constrained values, no Jacobian)",
    "backend.em.nonempty_components": "em on a mixture: components that are the most probable "
    "one of at least one level",
    "init_fit.method": "inference.init: map only: the fit that gave the start (map)",
    "init_fit.fit_s": "seconds of those map fits (included in timing.fit_s)",
    "init_fit.final_loss": "final loss of each map fit (one per restart)",
    "seed": "inference seed",
    "data.source": "where the ratings came from",
    "data.fingerprint": "hash of the full rating table (same data gives the same value)",
    "data.n_rows": "ratings in the data set",
    "split.kind": "how the test set was held out",
    "split.fingerprint": "hash of the train/test assignment",
    "split.n_train": "training ratings",
    "split.n_test": "test ratings",
    "timing.fit_s": "seconds of inference (every restart and map start), compilation excluded "
    "where the backend can tell it apart",
    "timing.compile_s": "seconds spent building and compiling the model before inference",
    "timing.evaluate_s": "seconds of the evaluation (predictions, metrics, diagnostics)",
    "timing.wall_s": "seconds of the whole fit, from loading the data to the written run",
    "versions.<key>": "Python, platform and library versions",
    "command": "the command line that made the run",
    "run_dir": "absolute path of the run directory (in `fit --json` output only)",
    "backend.chain_method": "numpyro and pyro nuts: parallel (chains at once, on devices or "
    "processes) or sequential (one after the other)",
    "backend.devices": "numpyro nuts with parallel chains: JAX host devices the chains ran on",
    "backend.processes": "pyro nuts with parallel chains: worker processes the chains ran in",
    "backend.kernel": "native: the backend's own implementation of the method; core: specrec's "
    "backend-neutral kernel over the backend's log density",
    "truth.<var>": "true values of a simulated data set (small arrays only)",
    # -- accuracy -------------------------------------------------------------------------------
    "metrics.test.rmse": "RMSE of the posterior-mean prediction on the test ratings (clipped to "
    "data.range when evaluate.clip)",
    "metrics.test.mae": "mean absolute error of the same prediction",
    "metrics.test.coverage_<level>": "share of test ratings inside the central "
    "evaluate.interval predictive interval (e.g. coverage_90); null without predictive draws",
    "metrics.train.rmse": "RMSE of the posterior-mean prediction on the training ratings",
    "metrics.train.mae": "MAE of the same prediction on the training ratings",
    "metrics.cold_start_test_rows.<dim>": "test ratings whose level of <dim> has no training "
    "rating (predicted from the population prior)",
    "baselines.<baseline>.rmse": "test RMSE of a model-free baseline (uniform, global_mean, "
    "<dim>_mean, mean_of_means; see specrec.evaluate.baselines)",
    "baselines.<baseline>.mae": "test MAE of the same baseline",
    # -- honest uncertainty ---------------------------------------------------------------------
    "metrics.test.log_predictive_density": "mean over test ratings of log p(y | training data): "
    "log of the posterior-averaged likelihood density (the likelihood's own family), per "
    "rating; higher is better; the plug-in density for map",
    "metrics.test.interval_coverage.<level>": "share of test ratings inside the central <level> "
    "% predictive interval (levels 50, 80, 95); quantiles of draws simulated from the "
    "likelihood; a calibrated model is close to <level>/100",
    "metrics.test.predictive_rows": "test ratings the log predictive density, interval_coverage "
    "and the calibration curve are computed on: all of them, or a fixed random sample when "
    "draws x ratings would not fit in memory (RMSE, ranking and activity use every rating)",
    "metrics.test.rmse_by_activity.<dim>.<bucket>.n": "test ratings whose level of <dim> had "
    "this many training ratings; the buckets are ranges of those counts cut at quantiles of the "
    "test rows (at most 5, none empty, a tiny one left by ties merged into its neighbour), "
    "plus 0 when some test levels have no training rating",
    "metrics.test.rmse_by_activity.<dim>.<bucket>.rmse": "test RMSE within the bucket",
    # -- ranking --------------------------------------------------------------------------------
    "metrics.test.ranking": "null when the data has no data dim to rank per",
    "metrics.test.ranking.per": "data dim whose levels each get a ranked list "
    "(evaluate.ranking.per, default the first data dim)",
    "metrics.test.ranking.k": "list length scored (evaluate.ranking.k)",
    "metrics.test.ranking.threshold": "a test rating >= this is relevant "
    "(evaluate.ranking.threshold)",
    "metrics.test.ranking.n_lists": "lists scored: levels with >= 2 test ratings, >= 1 relevant",
    "metrics.test.ranking.precision": "precision@k: relevant share of the top min(k, n) of a "
    "level's test items ranked by predicted mean, averaged over lists",
    "metrics.test.ranking.recall": "recall@k: share of a level's relevant test items in its top k",
    "metrics.test.ranking.ndcg": "NDCG@k with binary gains and log2 discount",
    "metrics.test.ranking.precision_random": "expected precision@k of a random order of the "
    "same lists (the bar to beat)",
    "metrics.test.ranking.recall_random": "expected recall@k of a random order",
    # -- model comparison -----------------------------------------------------------------------
    "metrics.loo.skipped": "why PSIS-LOO was not computed (map fit, or draws x training rows "
    "over evaluate.loo_max_mb); present only then",
    "metrics.loo.elpd_loo": "PSIS-LOO expected log predictive density, summed over training "
    "ratings (ArviZ az.loo, log scale); for vi the draws are the variational approximation's",
    "metrics.loo.unit": "what is left out one at a time: row (a training rating), or the "
    "mixture's per dim (user: all of a user's ratings, which share the summed-out type)",
    "metrics.loo.elpd_loo_per_rating": "elpd_loo divided by the number of units left out "
    "(ratings, or users for a mixture per user)",
    "metrics.loo.se": "standard error of elpd_loo",
    "metrics.loo.p_loo": "effective number of parameters",
    "metrics.loo.n_draws": "posterior draws used",
    "metrics.loo.n_rows": "units scored (training ratings, or levels for a mixture per level)",
    "metrics.loo.pareto_k_max": "largest Pareto shape k over ratings",
    "metrics.loo.good_k": "ArviZ's threshold on k for this many draws (min(1 - 1/log10 S, 0.7))",
    "metrics.loo.n_pareto_k_above_good": "ratings whose k exceeds good_k (unreliable estimate)",
    "metrics.loo.n_pareto_k_above_1": "ratings whose k exceeds 1 (estimate badly biased)",
    "metrics.loo.warning": "true when any k exceeds good_k: treat elpd_loo with caution",
    # -- posterior.nc (specrec.evaluate.groups) -------------------------------------------------
    "idata.groups": "ArviZ groups posterior.nc holds besides posterior and sample_stats "
    "(observed_data, constant_data, log_likelihood, posterior_predictive, predictions, "
    "predictions_constant_data)",
    "idata.left_out": "groups left out of posterior.nc, each with its reason (empty: none)",
    "idata.left_out.<group>": "why that group is not in posterior.nc (over evaluate.idata_max_mb, "
    "or no test pairs)",
    "idata.prior.draws": "fit --prior N: draws in the prior and prior_predictive groups",
    "idata.prior.rows": "training rows each prior draw replicates",
    "idata.prior.non_finite": "share of replicated ratings that are not finite (overflow)",
    "idata.prior.replicated.<key>": "the prior predictive's mean, sd, min, max and 1 %, 50 %, "
    "99 % quantiles (pooled over draws and rows)",
    "idata.prior.observed.<key>": "the same of the training ratings",
    "idata.prior.outside_observed": "share of replicated ratings outside the observed range "
    "[min, max] of the training ratings",
    "idata.prior.range": "the declared data.range",
    "idata.prior.outside_range": "share of replicated ratings outside data.range",
    "idata.prior.categories.<value>.observed": "a discrete response with few values: that "
    "value's share of the training ratings",
    "idata.prior.categories.<value>.replicated": "its share of the replicated ratings",
    "idata.notes.<group>": "a group that is kept but must be read with care (a map fit's one draw: no az.loo)",
    # -- convergence ----------------------------------------------------------------------------
    "diagnostics.method": "inference method (map, vi, nuts)",
    "diagnostics.mixture.dim": "the mixture's component dim",
    "diagnostics.mixture.per": "data dim whose levels each have one component (null: per row)",
    "diagnostics.mixture.components": "number of components K",
    "diagnostics.mixture.order": "how component labels are ordered in every draw (label "
    "switching removed before any summary or R-hat)",
    "diagnostics.mixture.weights_mean": "posterior mean weight of each component (averaged over "
    "levels when the weights vary by level)",
    "diagnostics.mixture.log_likelihood": "data log-likelihood of the training rows with the "
    "component summed out, no priors (at the point; averaged over up to 10 draws)",
    "diagnostics.mixture.nonempty_components": "components that are the most probable one of at "
    "least one level with training rows (rows without per; rounded mean over those draws)",
    "diagnostics.mixture.levels": "levels of per with training rows",
    "diagnostics.mixture.levels_per_component": "levels whose most probable component is k",
    "diagnostics.mixture.mean_max_responsibility": "mean over levels of the largest posterior "
    "component probability (1: every level clearly belongs to one component)",
    "diagnostics.mixture.ambiguous_levels": "levels whose largest responsibility is below 0.9",
    "diagnostics.divergences": "divergent NUTS transitions (0 for map/vi)",
    "diagnostics.rhat_max": "worst rank-normalised split R-hat over the checked parameters "
    "(params_checked); null for map/vi",
    "diagnostics.ess_bulk_min": "smallest bulk ESS over the checked parameters; null for map/vi",
    "diagnostics.ess_tail_min": "smallest tail ESS over the checked parameters",
    "diagnostics.n_chains": "chains",
    "diagnostics.n_draws": "draws per chain",
    "diagnostics.params_checked": "parameters in rhat_max/ess_*_min (all, or the small ones "
    "when the posterior is large)",
    "diagnostics.pred_rhat_max": "worst R-hat over predicted ratings of evaluate.rhat_pairs "
    "random test pairs (identified even when factors rotate)",
    "diagnostics.pred_ess_bulk_min": "smallest bulk ESS over those predicted ratings",
    "diagnostics.pred_ess_tail_min": "smallest tail ESS over those predicted ratings",
    "diagnostics.ess_per_s": "ess_bulk_min per second of sampling",
    "diagnostics.hyperparameters": "R-hat/ESS per hyperparameter, below (nuts); empty when the "
    "model has none (every latent is indexed by a data dim)",
    "diagnostics.hyperparameters.<var>.rhat_max": "worst R-hat of one hyperparameter (a latent "
    "indexed by no data dim)",
    "diagnostics.hyperparameters.<var>.ess_bulk_min": "smallest bulk ESS of that hyperparameter",
    "diagnostics.hyperparameters.<var>.ess_tail_min": "smallest tail ESS of that hyperparameter",
    "diagnostics.parameters": "az.summary of the hyperparameters (at most 200 elements), below "
    "(vi, nuts, gibbs); empty when there are none",
    "diagnostics.parameters.<param>.<stat>": "one element's az.summary column: mean, sd, hdi_3%, "
    "hdi_97% (94 % HDI), and for MCMC mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat (null: "
    "undefined, e.g. R-hat of one chain)",
    "diagnostics.bfmi": "Bayesian fraction of missing information per chain, from the sampler's "
    "energy (below 0.3: the tails are explored badly); null when the sampler reports no energy",
    "diagnostics.tree_depth": "NUTS draws stopped by inference.max_tree_depth (below); null "
    "when the sampler records no tree size (gibbs)",
    "diagnostics.tree_depth.max_tree_depth": "the limit (inference.max_tree_depth)",
    "diagnostics.tree_depth.saturated": "draws that made every doubling the limit allows "
    "(n_steps = 2^max_tree_depth - 1 leapfrog steps; tree_depth where no n_steps is recorded)",
    "diagnostics.tree_depth.fraction": "saturated / all draws of all chains; above 0 is a "
    "verdict warning",
    "diagnostics.factors": "rotation-invariant R-hat/ESS of the likelihood's factor pair "
    "dot(U[user], V[item]) (below; MCMC); null when the mean has no such pair",
    "diagnostics.factors.pair": "the two factor matrices [U, V], found in the model "
    "representation (as init: svd finds them)",
    "diagnostics.factors.frobenius.<var>.rhat_max": "R-hat of the Frobenius norm ||U||_F per "
    "draw (invariant under rotations of the factors, unlike U itself)",
    "diagnostics.factors.frobenius.<var>.ess_bulk_min": "bulk ESS of that norm",
    "diagnostics.factors.frobenius.<var>.ess_tail_min": "tail ESS of that norm",
    "diagnostics.factors.entries.rhat_max": "worst R-hat over entries U[g] . V[r] of U V^T at "
    "up to 100 observed (user, item) test pairs, a fixed random choice per seed",
    "diagnostics.factors.entries.ess_bulk_min": "smallest bulk ESS over those entries",
    "diagnostics.factors.entries.ess_tail_min": "smallest tail ESS over those entries",
    "diagnostics.factors.entries.n": "entries checked",
    "diagnostics.verdict.warnings": "real convergence warnings (MCMC): divergences, tree depth "
    "saturated, BFMI < 0.3, R-hat > 1.01 or bulk ESS < 100 on predictions or on the factors' "
    "norms and U V^T entries, R-hat > 1.01 on an identified parameter",
    "diagnostics.verdict.expected": "what is expected, not a warning: R-hat > 1.01 on variables "
    "over a factor dim (rotation, sign) or a mixture's component dim (label switching)",
    "diagnostics.loss_final": "mean loss (negative ELBO) over the last 50 steps (map/vi); "
    "em: the last value (negative log posterior)",
    "diagnostics.loss_convergence.converged": "relative change between the means of the last "
    "two windows of the loss is <= 1e-3 (em: of its last two values; em's own stop is "
    "backend.em.converged)",
    "diagnostics.loss_convergence.rel_change": "that relative change; null when too few steps",
}

CURVES_FIELDS: dict[str, str] = {
    "frobenius_<var>": "Frobenius norm of a matrix latent per draw, (chain, draw) (nuts)",
    "running_rmse": "test RMSE of the running posterior-mean prediction after each draw (nuts)",
    "loss": "loss (negative ELBO) per optimisation step (map/vi)",
    "calibration_nominal": "nominal central-interval levels of the calibration curve",
    "calibration_observed": "observed coverage of the test ratings at each of those levels",
}


def _pattern(key: str) -> re.Pattern[str]:
    parts = [r"[^.]+" if p.startswith("<") else re.escape(p) for p in re.split(r"(<[^>]+>)", key)]
    return re.compile("".join(p if p else "" for p in parts) + r"$")


def describe(key: str, fields: dict[str, str] = METRICS_FIELDS) -> str | None:
    """The description of a dotted key (placeholders matched), or None when undocumented.

    A ``<key>`` entry covers everything below it (``versions.numpy``, ``inference.draws``).
    """
    for name, text in fields.items():
        pattern = _pattern(name)
        if pattern.match(key) or (name.endswith("<key>") and key.startswith(name[:-5])):
            return text
    return None


def _leaves(d: Mapping, prefix: str = "") -> Iterator[str]:
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from _leaves(v, path + ".")
        else:
            yield path


def undocumented(metrics: Mapping) -> list[str]:
    """Leaf fields of a ``metrics.json`` that no entry of ``METRICS_FIELDS`` describes."""
    return [p for p in _leaves(metrics) if describe(p) is None]
