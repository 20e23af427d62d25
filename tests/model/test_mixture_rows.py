"""The mixture's per-draw work on the rows, done on the levels' table and by columns, gives the
values the row-by-row formulas give, bit for bit (the evaluator's metrics stay identical).

Each fast path is checked against the straightforward formula it replaced: responsibilities
gathered to the rows before exponentiating, ``np.add.at``, booleans summed along a row,
``np.take_along_axis``, ``np.sum(axis=1)``, and the mixture log-likelihood per level recomputed
from its training rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conjugacy.test_em import ROW_MIXTURE  # a mixture per row (no ``per``)
from scipy.special import logsumexp

from specrec.data.source import load_data
from specrec.evaluate.groups import replicated
from specrec.evaluate.likelihood import level_log_likelihood
from specrec.model import mixture, reference
from specrec.model.lower import lower, row_data
from specrec.model.walk import NUMPY_OPS
from specrec.spec.load import load_spec, parse_spec_text

SPEC = Path(__file__).resolve().parents[2] / "specs" / "netflix_mixture.yaml"
SMALL = ["data.sizes.user=30", "data.sizes.item=10", "data.density=0.5", "data.seed=2"]


def _fitted(per: str | None = "user", sets: tuple[str, ...] = (), chains: int = 2, draws: int = 6):
    """A small mixture per user (or per row), its test rows and prior draws standing in for
    a posterior."""
    if per is None:
        loaded = parse_spec_text(ROW_MIXTURE, "<rowmix>")
    else:
        loaded = load_spec(SPEC, [*SMALL, *sets])
    ds, split = load_data(loaded, None)
    model = lower(loaded, ds.take(split.train))
    test_rows = row_data(ds.take(split.test), model.dims, list(model.data.columns))
    rng = np.random.default_rng(3)
    sampled = [reference.sample_prior(model, rng) for _ in range(chains * draws)]
    post = {
        rv.name: np.stack([d[rv.name] for d in sampled]).reshape(chains, draws, *rv.shape)
        for rv in model.latents
    }
    return model, test_rows, post


def _draw(post: dict, c: int, d: int) -> dict:
    return {k: v[c, d] for k, v in post.items()}


def _old_predict_draws(model, post, rows, rng):
    """``predict_draws`` of a mixture as it was written row by row (the reference)."""
    chains, draws = next(iter(post.values())).shape[:2]
    dist = model.likelihood.dist
    mean = np.empty((chains, draws, len(rows)))
    ysim = np.empty_like(mean)
    k = model.dims[model.mixture.dim].size
    for c in range(chains):
        for d in range(draws):
            values = _draw(post, c, d)
            args = reference.likelihood_args(model, values, rows)
            log_w = reference.row_log_weights(model, values, rows)
            means = np.broadcast_to(dist.mean(**args), log_w.shape)
            p = np.cumsum(np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True)), axis=1)
            mean[c, d] = np.sum(np.exp(log_w) * means, axis=1)
            u = rng.random(len(rows))[:, None]
            chosen = np.minimum((p < u).sum(1), k - 1)
            picked = {
                a: np.take_along_axis(np.broadcast_to(np.asarray(v, float), (len(rows), k)),
                                      chosen[:, None], 1)[:, 0]
                for a, v in args.items()
            }  # fmt: skip
            ysim[c, d] = dist.sample(rng, **picked)
    return model.to_data_scale(mean), model.to_data_scale(ysim)


SCALED = ("likelihood.rating.shift=1", "likelihood.rating.scale=2")  # mapped back to y's scale


@pytest.mark.parametrize(("per", "sets"), [("user", ()), ("user", SCALED), (None, ())])
def test_predictions_and_simulations_equal_the_row_by_row_formulas(per, sets) -> None:
    model, test_rows, post = _fitted(per, sets)
    assert model.mixture.per == per and model.response_scale == (2.0 if sets else 1.0)
    for rows in (test_rows, model.data):
        want_mean, want_y = _old_predict_draws(model, post, rows, np.random.default_rng(7))
        mean, y = reference.predict_draws(model, post, rows, np.random.default_rng(7))
        assert np.array_equal(mean, want_mean) and np.array_equal(y, want_y)
        alone = np.empty_like(want_y)
        reference.simulate_draws(model, post, rows, np.random.default_rng(7), alone)
        assert np.array_equal(alone, want_y)
        # by chunks into one array, as posterior.nc's replicated groups are built
        assert np.array_equal(replicated(model, post, rows, np.random.default_rng(7)), want_y)


def test_row_probabilities_are_the_rows_own() -> None:
    model, test_rows, post = _fitted()
    values = _draw(post, 1, 2)
    log_w = reference.row_log_weights(model, values, test_rows)
    w, p = reference.row_probabilities(model, values, test_rows)
    assert np.array_equal(w, np.exp(log_w))
    assert np.array_equal(p, reference.cumulative_probabilities(log_w))
    assert reference.row_probabilities(model, values, test_rows, weights=False)[0] is None


def test_level_log_likelihood_is_each_levels_summed_out_evidence() -> None:
    model, _, post = _fitted()
    mix = model.mixture
    seen = np.unique(mix.rows.index[mix.per])
    got = level_log_likelihood(model, post)
    for c, d in np.ndindex(*got.shape[:2]):
        values = _draw(post, c, d)
        joint = mixture.level_log_likelihood(
            model, values, reference.likelihood_args(model, values, mix.rows)
        )
        assert np.array_equal(got[c, d], logsumexp(joint[seen], axis=1))


@pytest.mark.parametrize("shape", [(500,), (500, 4), (500, 3, 2), (0, 4), (0,)])
def test_segment_sum_is_np_add_at(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-6, 6, size=shape)
    ids = rng.integers(0, 37, size=shape[0])
    want = np.zeros((40, *shape[1:]))
    np.add.at(want, ids, x)
    assert np.array_equal(NUMPY_OPS.segment_sum(x, ids, 40), want)
    with pytest.raises(IndexError, match="segment id"):
        NUMPY_OPS.segment_sum(np.ones(3), np.array([0, 5, 1]), 4)


@pytest.mark.parametrize("k", range(1, 12))
def test_row_sum_is_np_sum(k) -> None:
    rng = np.random.default_rng(k)
    x = rng.normal(size=(2000, k)) * 10.0 ** rng.integers(-8, 8, size=(2000, k))
    x[:5] = -0.0  # signed zeros: numpy's sum starts from 0.0
    x[5:10, 0] = 0.0
    assert np.array_equal(reference.row_sum(x), np.sum(x, axis=1))
    assert np.array_equal(np.signbit(reference.row_sum(x)), np.signbit(np.sum(x, axis=1)))
    view = np.asfortranarray(x)  # a transposed layout, as a gathered argument is
    assert np.array_equal(reference.row_sum(view), np.sum(view, axis=1))
