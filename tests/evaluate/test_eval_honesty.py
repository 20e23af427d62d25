"""Honest uncertainty and ranking: coverage, log predictive density, RMSE by activity, top-k
metrics and PSIS-LOO, each checked against a value computed another way."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from specrec.evaluate.activity import (
    MAX_BUCKETS,
    activity_buckets,
    rmse_by_activity,
    training_counts,
)
from specrec.evaluate.loo import loo_budget_reason, psis_loo, psis_loo_chunks
from specrec.evaluate.metrics import (
    CALIBRATION_LEVELS,
    interval_coverage,
    log_predictive_density,
)
from specrec.evaluate.ranking import ranking_metrics

# ---- coverage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, size: rng.normal(2.0, 0.7, size),
        lambda rng, size: rng.standard_t(3, size) * 0.5,  # heavy tails: Gaussian intervals fail
        lambda rng, size: rng.gamma(1.5, 2.0, size),  # skewed
    ],
    ids=["normal", "student_t", "gamma"],
)
def test_coverage_is_nominal_when_draws_come_from_the_true_distribution(draw):
    rng = np.random.default_rng(0)
    n = 4000
    y = draw(rng, n)
    draws = draw(rng, (400, n))  # predictive draws from the same distribution as y
    cov = interval_coverage(y, draws, CALIBRATION_LEVELS, None)
    for level, observed in cov.items():
        assert observed == pytest.approx(level, abs=0.03), level


def test_coverage_flags_overconfidence_and_clips_ends():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 3000)
    narrow = rng.normal(0, 0.3, (300, 3000))
    cov = interval_coverage(y, narrow, (0.5, 0.8, 0.95), None)
    assert cov[0.5] < 0.25 and cov[0.95] < 0.6
    # A rating of 5 with predictive draws all above 5 is covered once the ends are clipped.
    y5, above = np.array([5.0]), np.full((100, 1), 5.5)
    assert interval_coverage(y5, above, (0.5,), (1, 5))[0.5] == 1.0
    assert interval_coverage(y5, above, (0.5,), (1, 5), clip=False)[0.5] == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        interval_coverage(y5, above, (1.0,), None)


# ---- log predictive density ------------------------------------------------------------------


def test_log_predictive_density_is_log_of_the_mean_density():
    rng = np.random.default_rng(2)
    y = rng.normal(size=5)
    mus = rng.normal(size=(2, 30, 1))
    ll = stats.norm.logpdf(y, mus, 1.0)  # (2, 30, 5)
    expected = np.log(np.mean(stats.norm.pdf(y, mus, 1.0), axis=(0, 1)))
    np.testing.assert_allclose(log_predictive_density(ll), expected, rtol=1e-12)
    # Far in the tail every density underflows to 0, the log-sum-exp result does not.
    far = ll - 2000.0
    np.testing.assert_allclose(log_predictive_density(far), expected - 2000.0, rtol=1e-12)


# ---- RMSE by activity ------------------------------------------------------------------------


def test_rmse_by_activity_buckets_by_training_count():
    # level 0: 3 training ratings, level 1: 30, level 2: 200, level 3: none (cold start)
    train = np.repeat([0, 1, 2], [3, 30, 200])
    test = np.array([0, 0, 1, 2, 3])
    counts = training_counts(train, test)
    assert counts.tolist() == [3, 3, 30, 200, 0]
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([2.0, 2.0, 5.0, 4.5, 1.0])
    out = rmse_by_activity(y, pred, counts)
    # edges from the data: quantiles of the counts that occur, equal ones merged
    assert list(out) == ["0", "3", "4-30", "31-200"]
    assert out["0"] == {"n": 1, "rmse": 4.0}
    assert out["3"]["n"] == 2 and out["3"]["rmse"] == pytest.approx(np.sqrt(0.5))
    assert out["4-30"] == {"n": 1, "rmse": 2.0}
    assert out["31-200"] == {"n": 1, "rmse": 0.5}
    assert sum(b["n"] for b in out.values()) == len(y)


def test_activity_buckets_come_from_the_data_and_are_never_empty():
    rng = np.random.default_rng(3)
    # a small data set (every level 1-12 ratings) and a MovieLens-like one (20-700)
    for counts in (rng.integers(1, 13, 400), rng.integers(20, 700, 2000)):
        buckets = activity_buckets(counts)
        assert 2 <= len(buckets) <= MAX_BUCKETS
        assert buckets[0][1] == counts.min() and buckets[-1][2] == counts.max()
        assert "0" not in [b[0] for b in buckets]  # no cold-start row, no "0" bucket
        out = rmse_by_activity(np.ones(counts.size), np.zeros(counts.size), counts)
        assert all(c["n"] > 0 and c["rmse"] == 1.0 for c in out.values())
        assert sum(c["n"] for c in out.values()) == counts.size
        shares = np.array([c["n"] for c in out.values()]) / counts.size
        assert shares.max() < 0.5  # quantile edges: no bucket takes most of the rows
    # ties: the one row above the last quantile edge is not a bucket of its own
    ties = np.repeat([1, 2, 3, 9], [10, 10, 10, 1])
    assert activity_buckets(ties) == [("1", 1, 1), ("2", 2, 2), ("3-9", 3, 9)]
    # one count only: one bucket; nothing but cold start: "0" alone
    assert activity_buckets(np.full(10, 7)) == [("7", 7, 7)]
    assert activity_buckets(np.zeros(4, dtype=int)) == [("0", 0, 0)]


# ---- ranking ---------------------------------------------------------------------------------


def test_ranking_metrics_by_hand():
    # user 0: 4 items, relevant (>= 4) are rows 0 and 2; predictions rank row 1 first.
    # user 1: 2 items, both relevant. user 2: 1 item (nothing to rank). user 3: none relevant.
    groups = np.array([0, 0, 0, 0, 1, 1, 2, 3, 3])
    y = np.array([5, 2, 4, 1, 4, 5, 5, 1, 2], dtype=float)
    pred = np.array([4.0, 4.5, 3.0, 1.0, 3.0, 3.5, 4.0, 2.0, 1.0])
    out = ranking_metrics(groups, y, pred, k=2, threshold=4.0)
    assert out["n_lists"] == 2
    # user 0 top 2 = rows 1 (not relevant), 0 (relevant): precision 1/2, recall 1/2,
    # DCG = 1/log2(3), ideal = 1 + 1/log2(3). user 1: perfect (1, 1, 1).
    ndcg0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert out["precision"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["ndcg"] == pytest.approx((ndcg0 + 1.0) / 2)
    assert out["precision_random"] == pytest.approx((2 / 4 + 2 / 2) / 2)
    assert out["recall_random"] == pytest.approx((2 / 4 + 2 / 2) / 2)


def test_perfect_ranking_beats_random_and_reversed_ranking_does_not():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(50), 30)
    y = rng.integers(1, 6, groups.size).astype(float)
    good = ranking_metrics(groups, y, y + rng.normal(0, 0.01, y.size), k=10)
    bad = ranking_metrics(groups, y, -y, k=10)
    assert good["ndcg"] == pytest.approx(1.0) and good["precision"] > good["precision_random"]
    assert bad["precision"] < bad["precision_random"] and bad["ndcg"] < 0.5
    assert ranking_metrics(groups, y, y, k=10, threshold=6.0)["n_lists"] == 0


# ---- PSIS-LOO --------------------------------------------------------------------------------


def test_psis_loo_matches_exact_leave_one_out_of_a_conjugate_model():
    # y_i ~ Normal(theta, 1), flat prior: the posterior and every leave-one-out posterior are
    # Normal, so the exact elpd_loo is a sum of Normal predictive log densities.
    rng = np.random.default_rng(4)
    n, s = 30, 4000
    y = rng.normal(1.0, 1.0, n)
    theta = rng.normal(y.mean(), 1 / np.sqrt(n), (1, s))
    ll = stats.norm.logpdf(y[None, None, :], theta[..., None], 1.0)  # (1, s, n)
    rest_mean = (y.sum() - y) / (n - 1)
    exact = stats.norm.logpdf(y, rest_mean, np.sqrt(1 + 1 / (n - 1))).sum()
    out = psis_loo(ll)
    assert out["elpd_loo"] == pytest.approx(exact, abs=0.2)
    assert out["p_loo"] == pytest.approx(1.0, abs=0.3)  # one parameter
    assert out["warning"] is False and out["pareto_k_max"] < out["good_k"]
    assert out["n_rows"] == n and out["n_draws"] == s


def test_psis_loo_flags_an_influential_rating():
    rng = np.random.default_rng(5)
    n, s = 10, 1000
    y = np.r_[rng.normal(0, 1, n - 1), 25.0]  # one outlier the posterior leans on heavily
    theta = rng.normal(y.mean(), 0.05, (1, s))
    ll = stats.norm.logpdf(y[None, None, :], theta[..., None], 0.3)
    out = psis_loo(ll)
    assert out["warning"] is True and out["n_pareto_k_above_good"] >= 1


def test_psis_loo_over_chunks_of_ratings_is_that_of_all_ratings():
    import arviz as az
    import xarray as xr

    rng = np.random.default_rng(6)
    n, s = 40, 800
    y = np.r_[rng.normal(0, 1, n - 1), 6.0]
    theta = rng.normal(y.mean(), 0.2, (2, s // 2))
    ll = stats.norm.logpdf(y[None, None, :], theta[..., None], 1.0)
    whole = az.loo(
        az.InferenceData(log_likelihood=xr.Dataset({"y": (("chain", "draw", "row"), ll)})),
        pointwise=True,
        reff=0.7,
    )
    parts = psis_loo_chunks([ll[..., :7], ll[..., 7:30], ll[..., 30:]], reff=0.7)
    assert parts["elpd_loo"] == pytest.approx(float(whole["elpd_loo"]), rel=1e-10)
    assert parts["se"] == pytest.approx(float(whole["se"]), rel=1e-10)
    assert parts["p_loo"] == pytest.approx(float(whole["p_loo"]), rel=1e-8)
    assert parts["pareto_k_max"] == pytest.approx(float(whole.pareto_k.max()), rel=1e-10)
    assert parts["n_rows"] == n and parts["n_draws"] == s
    assert parts == pytest.approx(psis_loo(ll, reff=0.7))


def test_loo_is_skipped_with_a_reason():
    assert "point estimate" in loo_budget_reason("map", 1, 100, 500)
    reason = loo_budget_reason("nuts", 2000, 1_000_000, 500)
    assert "16,000 MB" in reason and "loo_max_mb" in reason
    assert loo_budget_reason("nuts", 2000, 1000, 500) is None
