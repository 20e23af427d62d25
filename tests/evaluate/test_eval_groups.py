"""posterior.nc's extra groups without a backend: budgets, reasons, chunking, the summary line."""

from __future__ import annotations

import numpy as np
from test_eval_chunks import _model_and_prior_draws

from specrec.evaluate.groups import EXTRA_GROUPS, build_groups, log_likelihood_array
from specrec.evaluate.likelihood import pointwise_log_likelihood
from specrec.summary import _idata_lines


def test_every_group_within_the_budget_and_none_over_it():
    model, post = _model_and_prior_draws(300, 2, 20, seed=3)
    test = model.data.take(slice(0, 40))
    ll = log_likelihood_array(model, post)
    g = build_groups(model, post, test, ll, None, max_mb=1.0, seed=0)
    assert list(g.datasets) == list(EXTRA_GROUPS) and g.left_out == {}
    assert g.datasets["posterior_predictive"][model.response].shape == (2, 20, 300)
    assert g.datasets["predictions"][model.response].shape == (2, 20, 40)
    # 2 x 20 draws x 300 rows x 8 bytes = 0.096 MB: over a 0.05 MB budget
    small = build_groups(model, post, test, None, "over the budget", max_mb=0.05, seed=0)
    assert set(small.datasets) == {"observed_data", "constant_data", "predictions",
                                   "predictions_constant_data"}  # fmt: skip
    assert small.left_out["log_likelihood"] == "over the budget"
    assert "idata_max_mb = 0.05" in small.left_out["posterior_predictive"]
    assert "40 draws x 300 training rows need 0.096 MB" in small.left_out["posterior_predictive"]
    lines = _idata_lines(small.record())
    assert "  posterior.nc left out posterior_predictive: 40 draws x 300" in lines[1]


def test_log_likelihood_by_chunks_is_the_one_shot_array(monkeypatch):
    from specrec.evaluate import evaluator

    model, post = _model_and_prior_draws(300, 2, 20, seed=4)
    monkeypatch.setattr(evaluator, "CHUNK_ELEMENTS", 40 * 70)  # 5 chunks of rows
    chunked, unit = log_likelihood_array(model, post)
    assert unit == "obs"
    np.testing.assert_allclose(chunked, pointwise_log_likelihood(model, post, model.data))


def test_replicated_ratings_have_their_own_stream():
    model, post = _model_and_prior_draws(200, 1, 30, seed=5)
    a = build_groups(model, post, model.data.take(slice(0, 10)), None, "x", 1.0, seed=7)
    b = build_groups(model, post, model.data.take(slice(0, 10)), None, "x", 1.0, seed=7)
    pp = a.datasets["posterior_predictive"][model.response].values
    np.testing.assert_array_equal(pp, b.datasets["posterior_predictive"][model.response].values)
    assert not np.allclose(pp[0, 0], model.data.y)  # draws of y, not y


def test_loo_is_computed_when_its_array_is_too_large_to_keep():
    import arviz as az
    import xarray as xr

    from specrec.evaluate import evaluator
    from specrec.spec.models import Evaluate

    model, post = _model_and_prior_draws(300, 1, 20, seed=6)
    idata = az.InferenceData(posterior=xr.Dataset({"x": (("chain", "draw"), np.zeros((1, 20)))}))
    budget = Evaluate(loo_max_mb=1e6, idata_max_mb=0.01)
    loo, kept, why, _ = evaluator._loo(model, post, "vi", budget, idata, 0)
    assert loo["n_rows"] == 300 and kept is None and "idata_max_mb = 0.01" in why
    loo, kept, why, _ = evaluator._loo(model, post, "map", Evaluate(idata_max_mb=0.01), idata, 0)
    assert "point estimate" in loo["skipped"] and kept is None  # neither wanted: not computed


def test_training_replicas_from_the_log_likelihood_pass_equal_their_own_draws(monkeypatch):
    from specrec.evaluate import evaluator
    from specrec.evaluate.groups import log_likelihood_and_replicated_array

    model, post = _model_and_prior_draws(300, 2, 20, seed=6)
    test = model.data.take(slice(0, 40))
    monkeypatch.setattr(evaluator, "CHUNK_ELEMENTS", 40 * 70)  # by chunks, as at scale
    (joint_ll, unit), y_rep = log_likelihood_and_replicated_array(model, post, seed=3)
    alone_ll, alone_unit = log_likelihood_array(model, post)
    assert unit == alone_unit
    np.testing.assert_array_equal(joint_ll, alone_ll)
    shared = build_groups(model, post, test, (joint_ll, unit), None, 1.0, 3, y_rep)
    own = build_groups(model, post, test, (alone_ll, unit), None, 1.0, 3)
    for group in ("posterior_predictive", "predictions"):
        np.testing.assert_array_equal(
            shared.datasets[group][model.response].values,
            own.datasets[group][model.response].values,
        )
    # a replicated rating is a draw, not the expected value: it varies across draws
    assert np.std(y_rep, axis=(0, 1)).min() > 0
