"""Sampler and prediction diagnostics on InferenceData built from known numpy draws."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from specrec.evaluate.diagnostics import (
    ess_per_second,
    frobenius_norms,
    loss_converged,
    prediction_diagnostics,
    running_rmse,
    sampler_diagnostics,
    split_rhat,
)
from specrec.evaluate.metrics import rmse

CHAINS, DRAWS = 4, 1000


def _idata(posterior: dict[str, np.ndarray], diverging: np.ndarray | None = None):
    sample_stats = {"diverging": diverging} if diverging is not None else None
    return az.from_dict(posterior=posterior, sample_stats=sample_stats)


def test_iid_chains_converge_and_ess_is_close_to_n():
    rng = np.random.default_rng(0)
    mu, tau = rng.normal(size=(CHAINS, DRAWS, 3)), rng.gamma(2.0, size=(CHAINS, DRAWS))
    idata = _idata({"mu": mu, "tau": tau})
    out = sampler_diagnostics(idata)
    n = CHAINS * DRAWS
    assert out["n_chains"] == CHAINS and out["n_draws"] == DRAWS
    assert out["rhat_max"] < 1.01
    assert 0.85 * n < out["ess_bulk_min"] < 1.15 * n
    # Tail ESS rests on 5% and 95% quantile indicators, so it is noisier than bulk ESS.
    assert 0.7 * n < out["ess_tail_min"] < 1.3 * n
    assert out["divergences"] == 0  # no sample_stats at all


def test_shifted_chain_is_flagged_and_var_names_selects():
    rng = np.random.default_rng(1)
    good = rng.normal(size=(CHAINS, DRAWS))
    bad = rng.normal(size=(CHAINS, DRAWS))
    bad[-1] += 2.0  # one chain stuck in another mode
    idata = _idata({"good": good, "bad": bad})
    assert sampler_diagnostics(idata)["rhat_max"] > 1.1
    assert sampler_diagnostics(idata, var_names=["good"])["rhat_max"] < 1.01
    with pytest.raises(ValueError, match="not in the posterior"):
        sampler_diagnostics(idata, var_names=["missing"])


def test_divergences_are_counted():
    rng = np.random.default_rng(2)
    diverging = np.zeros((CHAINS, 50), dtype=bool)
    diverging[0, :3] = True
    diverging[2, 10:14] = True
    idata = _idata({"x": rng.normal(size=(CHAINS, 50))}, diverging)
    assert sampler_diagnostics(idata)["divergences"] == 7


def test_constant_variables_are_ignored_and_all_constant_gives_none():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(CHAINS, 200, 2))
    x[:, :, 1] = 0.5  # a constant element inside an otherwise sampled variable
    mixed = _idata({"c": np.ones((CHAINS, 200)), "x": x})
    out = sampler_diagnostics(mixed)
    x_alone = sampler_diagnostics(_idata({"x": x[:, :, :1]}))
    assert out["rhat_max"] == pytest.approx(x_alone["rhat_max"])
    assert out["ess_bulk_min"] == pytest.approx(x_alone["ess_bulk_min"])
    assert out["ess_tail_min"] == pytest.approx(x_alone["ess_tail_min"])
    const = sampler_diagnostics(_idata({"c": np.ones((CHAINS, 200))}))
    assert const["rhat_max"] is None and const["ess_bulk_min"] is None
    assert const["ess_tail_min"] is None
    one_chain_const = sampler_diagnostics(_idata({"c": np.ones((1, 200))}))
    assert one_chain_const["rhat_max"] is None


def test_too_few_draws_gives_none():
    rng = np.random.default_rng(4)
    out = sampler_diagnostics(_idata({"x": rng.normal(size=(2, 3))}))
    assert out["rhat_max"] is None and out["ess_bulk_min"] is None and out["ess_tail_min"] is None
    assert out["n_draws"] == 3


def test_one_chain_gets_split_rhat():
    rng = np.random.default_rng(5)
    iid = sampler_diagnostics(_idata({"x": rng.normal(size=(1, 2000))}))
    assert iid["rhat_max"] is not None and iid["rhat_max"] < 1.01
    drift = rng.normal(size=(1, 2000))
    drift[0, 1000:] += 2.0  # second half disagrees with the first
    assert sampler_diagnostics(_idata({"x": drift}))["rhat_max"] > 1.1


def test_split_rhat_matches_arviz_for_several_chains():
    rng = np.random.default_rng(6)
    draws = rng.normal(size=(3, 101, 4)) + np.array([0.0, 0.1, 0.5])[:, None, None]
    ours = split_rhat(draws)
    theirs = [float(az.rhat(draws[:, :, k], method="rank")) for k in range(4)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_prediction_diagnostics():
    rng = np.random.default_rng(7)
    pred = rng.normal(size=(CHAINS, 500, 20))
    ok = prediction_diagnostics(pred)
    assert ok["rhat_max"] < 1.02 and ok["ess_bulk_min"] > 0.7 * CHAINS * 500
    pred[1, :, 5] += 3.0
    assert prediction_diagnostics(pred)["rhat_max"] > 1.1
    with pytest.raises(ValueError, match="chain, draw"):
        prediction_diagnostics(pred[0])


def test_frobenius_norms_per_draw_and_missing_names_skipped():
    rng = np.random.default_rng(8)
    u = rng.normal(size=(2, 5, 4, 3))
    idata = _idata({"U": u, "b": rng.normal(size=(2, 5))})
    norms = frobenius_norms(idata, ["U", "V"])
    assert set(norms) == {"U"}
    assert norms["U"].shape == (2, 5)
    np.testing.assert_allclose(norms["U"][1, 3], np.linalg.norm(u[1, 3], "fro"))


def test_ess_per_second():
    assert ess_per_second(400.0, 8.0) == 50.0
    assert ess_per_second(None, 8.0) is None
    assert ess_per_second(400.0, 0.0) is None


def test_running_rmse_matches_notebook_loop_for_one_chain():
    rng = np.random.default_rng(9)
    y = rng.uniform(1, 5, size=30)
    pred = y + rng.normal(scale=1.5, size=(1, 40, 30))
    curve = running_rmse(y, pred, (1, 5))
    expected = []
    total = np.zeros(30)
    for t in range(40):
        total += pred[0, t]
        expected.append(rmse(y, np.clip(total / (t + 1), 1, 5)))
    np.testing.assert_allclose(curve, expected)


def test_running_rmse_pools_chains_and_ends_at_rmse_of_mean():
    rng = np.random.default_rng(10)
    y = rng.uniform(1, 5, size=50)
    pred = y + rng.normal(scale=2.0, size=(3, 60, 50))
    curve = running_rmse(y, pred, (1, 5))
    assert curve.shape == (60,)
    assert curve[-1] == pytest.approx(rmse(y, np.clip(pred.mean(axis=(0, 1)), 1, 5)))
    assert curve[0] == pytest.approx(rmse(y, np.clip(pred[:, 0].mean(axis=0), 1, 5)))
    assert curve[-1] < curve[0]  # averaging draws helps
    unclipped = running_rmse(y, pred, (1, 5), clip=False)
    assert unclipped[-1] == pytest.approx(rmse(y, pred.mean(axis=(0, 1))))
    with pytest.raises(ValueError, match="NaN"):
        running_rmse(y, np.full((1, 2, 50), np.nan), None)


def test_loss_converged():
    rng = np.random.default_rng(11)
    flat = 1000.0 + rng.normal(scale=0.1, size=500)
    out = loss_converged(flat)
    assert out["converged"] is True and out["rel_change"] < 1e-3
    falling = np.linspace(2000.0, 1000.0, 500)
    out = loss_converged(falling)
    assert out["converged"] is False and out["rel_change"] > 1e-3
    assert loss_converged(flat[:150]) == {"converged": False, "rel_change": None}
    broken = flat.copy()
    broken[-1] = np.nan
    assert loss_converged(broken) == {"converged": False, "rel_change": None}
