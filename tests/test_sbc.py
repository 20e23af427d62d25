"""The statistics of SBC (no PPL): ranks, thinning, the uniformity test and its threshold."""

from __future__ import annotations

import numpy as np

from specrec.sbc import default_bins, rank_draws_count, thinned_rank, uniformity


def test_thinned_rank_counts_draws_below_the_truth() -> None:
    draws = np.arange(100.0).reshape(2, 50)  # chain-major: 0..99
    assert thinned_rank(draws, 10.5, 100) == 11
    assert thinned_rank(draws, -1.0, 10) == 0 and thinned_rank(draws, 1e9, 10) == 10
    assert thinned_rank(draws, 50.0, 12) == 6  # 12 evenly spaced draws, 6 of them below 50


def test_rank_draws_follow_the_ess_within_bounds() -> None:
    assert rank_draws_count(37.6, 400, 100) == 37
    assert rank_draws_count(3.0, 400, 100) == 10  # never coarser than 10 draws
    assert rank_draws_count(900.0, 400, 100) == 100


def test_uniformity_accepts_uniform_ranks_and_rejects_piled_ones() -> None:
    rng = np.random.default_rng(0)
    _, p_uniform, counts = uniformity(rng.uniform(size=400), 10)
    assert p_uniform > 0.01 and counts.sum() == 400
    _, p_piled, _ = uniformity(rng.uniform(0.8, 1.0, size=40), 4)
    assert p_piled < 1e-6
    chi2, p, _ = uniformity(np.array([0.1] * 8), 2)  # all 8 in one of 2 bins
    assert chi2 == 8.0 and 0.004 < p < 0.005


def test_false_alarm_rate_of_the_test_is_at_most_alpha() -> None:
    """Calibrated ranks flagged at p < 0.01 in about 1% of 2000 simulated SBC runs."""
    rng = np.random.default_rng(1)
    ps = np.array([uniformity(rng.uniform(size=20), default_bins(20))[1] for _ in range(2000)])
    assert np.mean(ps < 0.01) < 0.02
