"""Every field of ``metrics.json``, described in one place.

The fields are produced in several places (``specrec.fitting`` assembles the run's metadata,
``specrec.evaluate.evaluator`` the scores, ``diagnostics`` and ``baselines`` their parts);
this table is the one list a user reads (the docs' metrics reference is generated from it)
and a test checks that a real fit's ``metrics.json`` has no field missing from it.  A key in
angle brackets (``<dim>``) matches any one key at that level; a field whose value is a list
or a mapping of free-form entries is described once, at its own level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

_SCORE = {
    "rmse": "root mean squared error of the mean prediction (clipped to data.range if evaluate.clip)",
    "mae": "mean absolute error of the mean prediction",
}

METRICS_FIELDS: dict[str, str] = {
    "specrec_format": "version of the run-directory format",
    "spec.name": "the spec's name",
    "spec.sha256": "SHA-256 of the spec file's text, as given",
    "spec.file": "path of the spec file",
    "backend.name": "backend that fitted",
    "backend.version": "its version",
    "backend.<info>": "backend-specific details of the fit (e.g. the sampler used, jit on/off)",
    "inference.<setting>": "every inference setting as resolved (spec, overrides and defaults)",
    "seed": "inference.seed, repeated for convenience",
    "data.source": "where the rows came from (file path, data set name, or simulation seed)",
    "data.fingerprint": "hash of all rows: two runs with the same fingerprint saw the same data",
    "data.n_rows": "rows before the split",
    "split.kind": "the split used (random, files, leave_k_out, time, kfold)",
    "split.fingerprint": "hash of the train/test assignment",
    "split.n_train": "training rows",
    "split.n_test": "held-out rows",
    "metrics.test.rmse": "test " + _SCORE["rmse"],
    "metrics.test.mae": "test " + _SCORE["mae"],
    "metrics.test.coverage_<pct>": (
        "share of test ratings inside the central predictive interval of width "
        "evaluate.interval (should be close to it when the model is calibrated)"
    ),
    "metrics.train.rmse": "the same on the training rows (a gap to test RMSE shows overfitting)",
    "metrics.train.mae": "training " + _SCORE["mae"],
    "metrics.cold_start_test_rows.<dim>": (
        "test rows whose level of this dim has no training row (predicted from the prior)"
    ),
    "baselines.<baseline>.rmse": (
        "test RMSE of a baseline on the same split: uniform, global_mean, <dim>_mean per data "
        "dim, mean_of_means (the PMF notebook's baselines)"
    ),
    "baselines.<baseline>.mae": "test MAE of the same baseline",
    "diagnostics.method": "inference method",
    "diagnostics.divergences": "divergent NUTS transitions (0 for map and vi)",
    "diagnostics.rhat_max": "largest R-hat over checked parameters (nuts; null otherwise)",
    "diagnostics.ess_bulk_min": "smallest bulk effective sample size (nuts; null otherwise)",
    "diagnostics.ess_tail_min": "smallest tail effective sample size (nuts)",
    "diagnostics.n_chains": "chains in the posterior (nuts)",
    "diagnostics.n_draws": "draws per chain (nuts)",
    "diagnostics.params_checked": (
        "parameters whose R-hat/ESS were computed (all, unless the posterior is very large)"
    ),
    "diagnostics.pred_rhat_max": (
        "largest R-hat of predicted means of evaluate.rhat_pairs test pairs (nuts); "
        "meaningful even when factors are not identified"
    ),
    "diagnostics.pred_ess_bulk_min": "smallest bulk ESS of those predictions (nuts)",
    "diagnostics.pred_ess_tail_min": "smallest tail ESS of those predictions (nuts)",
    "diagnostics.ess_per_s": "ess_bulk_min per second of fit time (nuts)",
    "diagnostics.loss_final": "mean loss over the last 50 steps (map: -log density; vi: -ELBO)",
    "diagnostics.loss_convergence.converged": (
        "whether the loss changed by at most 0.1 % between its last two windows (map, vi)"
    ),
    "diagnostics.loss_convergence.rel_change": "that relative change (null if too few steps)",
    "timing.fit_s": "wall time of inference, compilation excluded",
    "timing.compile_s": "time to build and compile the model and its gradient",
    "timing.total_s": "wall time of the whole fit, data loading and evaluation included",
    "versions.<package>": "Python, platform and the versions of specrec and the libraries used",
    "command": "the command line that produced the run",
    "truth.<param>": (
        "simulated data only: the true values of parameters with at most 50 elements"
    ),
}


def _leaves(d: Mapping, prefix: str = "") -> Iterator[str]:
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from _leaves(v, path + ".")
        else:
            yield path


def _segment_matches(key: str, pattern: str) -> bool:
    """``user`` matches ``<dim>``; ``coverage_90`` matches ``coverage_<pct>``."""
    if "<" not in pattern:
        return key == pattern
    head = pattern[: pattern.index("<")]
    return key.startswith(head) and len(key) > len(head)


def _matches(path: str, pattern: str) -> bool:
    """Segment by segment; a final placeholder also covers anything nested below it."""
    p, q = path.split("."), pattern.split(".")
    if len(p) < len(q) or (len(p) > len(q) and not q[-1].startswith("<")):
        return False
    return all(_segment_matches(a, b) for a, b in zip(p, q, strict=False))


def undocumented(metrics: Mapping) -> list[str]:
    """Leaf fields of a ``metrics.json`` that no entry of ``METRICS_FIELDS`` describes."""
    return [p for p in _leaves(metrics) if not any(_matches(p, f) for f in METRICS_FIELDS)]
