"""Predictions over chunks of rows (bounded memory at 10M ratings) equal one-shot ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specrec.data.simulate import simulate
from specrec.evaluate import evaluator
from specrec.model.lower import lower
from specrec.model.reference import predict_draws, sample_prior

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _model_and_prior_draws(rows: int, chains: int, draws: int, seed: int):
    """A small PMF on simulated rows and ``(chains, draws)`` prior draws as a posterior."""
    from specrec.spec.load import load_spec

    loaded = load_spec(
        SPECS / "scale.yaml",
        ["data.sizes.user=10", "data.sizes.item=8", "dims.factor=2", f"data.rows={rows}"],
    )
    model = lower(loaded, simulate(loaded))
    rng = np.random.default_rng(seed)
    sampled = [sample_prior(model, rng) for _ in range(chains * draws)]
    post = {
        rv.name: np.stack([d[rv.name] for d in sampled]).reshape(chains, draws, *rv.shape)
        for rv in model.latents
    }
    return model, post


def test_chunked_predictions_equal_one_shot(monkeypatch):
    model, post = _model_and_prior_draws(500, 1, 30, seed=0)
    rows = model.data
    whole = evaluator.predict_rows(model, post, rows, 0.9, np.random.default_rng(5), True)
    monkeypatch.setattr(evaluator, "CHUNK_ELEMENTS", 30 * 7 * 4)  # 28 rows per chunk
    parts = evaluator.predict_rows(model, post, rows, 0.9, np.random.default_rng(5), True)
    np.testing.assert_allclose(parts[0], whole[0], rtol=1e-12)  # the point prediction
    expected, _ = predict_draws(model, post, rows)
    np.testing.assert_allclose(parts[3], expected, rtol=1e-12)  # every draw kept, in order
    # the interval comes from fresh predictive draws per chunk: the same up to Monte Carlo
    width = np.mean(whole[2] - whole[1])
    assert np.all(parts[1] < parts[2])
    assert abs(np.mean(parts[2] - parts[1]) - width) < 0.1 * width
    assert abs(np.mean(parts[1]) - np.mean(whole[1])) < 0.05 * width


def test_loo_by_chunks_of_rows_equals_one_array(monkeypatch):
    import arviz as az
    import xarray as xr

    model, post = _model_and_prior_draws(300, 2, 20, seed=1)
    idata = az.InferenceData(
        posterior=xr.Dataset(
            {
                k: (("chain", "draw", *[f"{k}_{i}" for i in range(v.ndim - 2)]), v)
                for k, v in post.items()
            }
        )
    )
    from specrec.spec.models import Evaluate

    budget = Evaluate(loo_max_mb=1e6, idata_max_mb=1e6)
    whole, log_lik, _, _ = evaluator._loo(model, post, "nuts", budget, idata, 0)
    monkeypatch.setattr(evaluator, "CHUNK_ELEMENTS", 40 * 70)  # 70 rows per chunk, 5 chunks
    assert len(evaluator.row_chunks(300, 40)) == 5
    parts, chunked, _, _ = evaluator._loo(model, post, "nuts", budget, idata, 0)
    assert parts["unit"] == "row" and parts["n_rows"] == 300
    # the array kept for posterior.nc's log_likelihood group is the one LOO read
    assert chunked is not None and log_lik is not None and chunked[0].shape == (2, 20, 300)
    np.testing.assert_allclose(chunked[0], log_lik[0], rtol=1e-12)
    for key in ("elpd_loo", "se", "p_loo", "pareto_k_max"):
        assert parts[key] == pytest.approx(whole[key], rel=1e-9), key


def test_replicated_draws_are_np_repeat_without_the_copy() -> None:
    from specrec.evaluate.evaluator import replicate_draws

    rng = np.random.default_rng(0)
    post = {"U": rng.normal(size=(2, 3, 4, 5)), "s": rng.normal(size=(2, 3))}
    rep = replicate_draws(post, 20)  # 6 draws -> 4 repeats each
    for name, v in post.items():
        want = np.repeat(v, 4, axis=1)
        assert rep[name].shape == want.shape
        for c in range(2):
            for d in range(12):
                np.testing.assert_array_equal(rep[name][c, d], want[c, d])
        assert rep[name].values is v  # a view of the draws, not a copy
    assert replicate_draws(post, 6) is post
