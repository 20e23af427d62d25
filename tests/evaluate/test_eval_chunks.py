"""Predictions over chunks of rows (bounded memory at 10M ratings) equal one-shot ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specrec.data.simulate import simulate
from specrec.evaluate import evaluator
from specrec.model.lower import lower
from specrec.model.reference import predict_draws, sample_prior

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_chunked_predictions_equal_one_shot(monkeypatch):
    from specrec.spec.load import load_spec

    loaded = load_spec(
        SPECS / "scale.yaml",
        ["data.sizes.user=10", "data.sizes.item=8", "dims.factor=2", "data.rows=500"],
    )
    model = lower(loaded, simulate(loaded))
    rng = np.random.default_rng(0)
    draws = [sample_prior(model, rng) for _ in range(30)]
    post = {rv.name: np.stack([d[rv.name] for d in draws])[None] for rv in model.latents}
    rows = model.data
    whole = evaluator._predict_rows(model, post, rows, 0.9, np.random.default_rng(5), True)
    monkeypatch.setattr(evaluator, "CHUNK_ELEMENTS", 30 * 7 * 4)  # 28 rows per chunk
    parts = evaluator._predict_rows(model, post, rows, 0.9, np.random.default_rng(5), True)
    np.testing.assert_allclose(parts[0], whole[0], rtol=1e-12)  # the point prediction
    expected, _ = predict_draws(model, post, rows)
    np.testing.assert_allclose(parts[3], expected, rtol=1e-12)  # every draw kept, in order
    # the interval comes from fresh predictive draws per chunk: the same up to Monte Carlo
    width = np.mean(whole[2] - whole[1])
    assert np.all(parts[1] < parts[2])
    assert abs(np.mean(parts[2] - parts[1]) - width) < 0.1 * width
    assert abs(np.mean(parts[1]) - np.mean(whole[1])) < 0.05 * width


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
