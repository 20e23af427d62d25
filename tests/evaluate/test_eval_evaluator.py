"""The evaluator on posteriors built by hand (no PPL): draws at the true values of data
simulated from a Student-t spec must score as honest, and every number it writes is documented.

Because the draws sit at the truth, the predictive distribution *is* the data-generating one:
coverage must be nominal at every level and the log predictive density must equal the Student-t
log density of the test ratings, which a Gaussian shortcut would miss.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from specrec.backends import FitResult
from specrec.data.source import load_data
from specrec.evaluate.evaluator import FitToEvaluate, evaluate_fit
from specrec.evaluate.fields import describe
from specrec.evaluate.metrics import CALIBRATION_LEVELS
from specrec.inference import to_inference_data
from specrec.model.lower import lower, row_data
from specrec.spec.load import parse_spec_text

SPEC = """
specrec: 1
name: t_biases
data:
  source: simulate
  sizes: {user: 60, item: 40}
  density: 0.5
  seed: 7
  true: {mu: 3.0, sigma: 0.6}
  split: {kind: random, test_fraction: 0.25, seed: 1}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  mu: Normal(3, 1)
  b_u: {prior: "Normal(0, 0.7)", dims: [user]}
  b_i: {prior: "Normal(0, 0.7)", dims: [item]}
  sigma: HalfNormal(1)
likelihood:
  rating: StudentT(3, mu + b_u[user] + b_i[item], sigma)
evaluate:
  ranking: {k: 2, threshold: 3.5}  # ~5 test items per user: k < that
"""


@pytest.fixture(scope="module")
def setup():
    loaded = parse_spec_text(SPEC, "t.yaml")
    ds, split = load_data(loaded)
    train, test = ds.take(split.train), ds.take(split.test)
    model = lower(loaded, train)
    test_rows = row_data(test, model.dims, list(model.data.columns))
    return loaded, ds, train, test, model, test_rows


def _evaluate(setup, scale_sigma: float = 1.0, method: str = "vi", draws: int = 100):
    loaded, ds, train, test, model, test_rows = setup
    rng = np.random.default_rng(0)
    chains = 1 if method == "map" else 2
    posterior = {}
    for rv in model.latents:
        truth = np.asarray(ds.truth[rv.name], dtype=float)
        if rv.name == "sigma":
            truth = truth * scale_sigma
        # Tiny jitter so the draws are not constant (PSIS needs some spread).
        jitter = 1e-3 * rng.normal(size=(chains, draws, *rv.shape)) if method != "map" else 0
        posterior[rv.name] = np.abs(truth + jitter) if rv.name == "sigma" else truth + jitter
    if method == "map":
        posterior = {k: np.broadcast_to(v, (1, 1, *np.shape(v))) for k, v in posterior.items()}
    idata = to_inference_data(model, FitResult(method, posterior))
    ev = evaluate_fit(
        FitToEvaluate(model, idata, method, 1.0), train, test, test_rows, loaded.spec.evaluate, 0
    )
    return ev, ds, test_rows


def _true_mean(ds, test_rows):
    t = ds.truth
    return t["mu"] + t["b_u"][test_rows.index["user"]] + t["b_i"][test_rows.index["item"]]


def test_truth_scores_as_honest_with_the_likelihoods_own_family(setup):
    ev, ds, rows = _evaluate(setup)
    test = ev.metrics["metrics"]["test"]
    assert len(rows) == 300
    for level, observed in test["interval_coverage"].items():
        assert observed == pytest.approx(float(level) / 100, abs=0.06), level
    mean = _true_mean(ds, rows)
    t_lpd = stats.t.logpdf(rows.y, 3, mean, 0.6).mean()
    assert test["log_predictive_density"] == pytest.approx(t_lpd, abs=2e-3)
    assert abs(stats.norm.logpdf(rows.y, mean, 0.6 * np.sqrt(3)).mean() - t_lpd) > 0.05
    nominal, observed = ev.curves["calibration_nominal"], ev.curves["calibration_observed"]
    assert nominal.tolist() == list(CALIBRATION_LEVELS)
    assert np.max(np.abs(observed - nominal)) < 0.07


def test_overconfident_posterior_undercovers_and_loses_density(setup):
    honest = _evaluate(setup)[0].metrics["metrics"]["test"]
    narrow = _evaluate(setup, scale_sigma=1 / 3)[0].metrics["metrics"]["test"]
    assert narrow["interval_coverage"]["50"] < 0.3 and narrow["interval_coverage"]["95"] < 0.7
    assert narrow["log_predictive_density"] < honest["log_predictive_density"] - 0.2


def test_ranking_activity_and_loo_sections(setup):
    ev, _, rows = _evaluate(setup)
    test = ev.metrics["metrics"]["test"]
    r = test["ranking"]
    assert (r["per"], r["k"], r["threshold"]) == ("user", 2, 3.5)
    assert r["n_lists"] > 30 and r["ndcg"] > 0.8
    assert r["precision"] > r["precision_random"] + 0.1  # the true means rank well
    for dim in ("user", "item"):
        assert sum(b["n"] for b in test["rmse_by_activity"][dim].values()) == len(rows)
    loo = ev.metrics["metrics"]["loo"]
    assert "skipped" not in loo and loo["n_draws"] == 200 and loo["n_rows"] == 900
    # Draws at the truth: leave-one-out changes nothing, so elpd_loo ~ the train log density.
    assert loo["p_loo"] == pytest.approx(0.0, abs=0.5)


def test_map_skips_loo_with_its_reason(setup):
    ev, _, _ = _evaluate(setup, method="map", draws=1)
    loo = ev.metrics["metrics"]["loo"]
    assert list(loo) == ["skipped"] and "point estimate" in loo["skipped"]
    assert ev.metrics["metrics"]["test"]["interval_coverage"]["95"] > 0.9


def _leaves(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            yield from _leaves(v, key)
        else:
            yield key


def test_every_key_the_evaluator_writes_is_documented(setup):
    for method in ("vi", "map"):
        ev, _, _ = _evaluate(setup, method=method, draws=20)
        undocumented = [k for k in _leaves(ev.metrics) if describe(k) is None]
        assert undocumented == []
    assert describe("metrics.test.ranking.ndcg").startswith("NDCG")
    assert describe("metrics.test.no_such_number") is None
