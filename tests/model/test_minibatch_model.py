"""The minibatch scale declared once in the model representation, applied by the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specrec.data.simulate import simulate
from specrec.model import reference as R
from specrec.model.lower import lower
from specrec.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(scope="module")
def model():
    loaded = load_spec(
        SPECS / "scale.yaml",
        ["data.sizes.user=12", "data.sizes.item=9", "data.rows=60", "dims.factor=2"],
    )
    return lower(loaded, simulate(loaded))


def test_scale_is_rows_per_batch_row(model):
    assert model.likelihood_scale == 1.0 and model.batch_size is None
    sub = model.subsampled(15)
    assert sub.likelihood_scale == pytest.approx(60 / 15)
    assert sub.with_data(model.data.take(np.arange(10))).batch_size is None
    with pytest.raises(ValueError, match="at least 1"):
        model.subsampled(0)


def test_reference_minibatch_estimate_is_exactly_unbiased(model):
    """Rows are drawn uniformly with replacement, so averaging the scaled single-row
    estimate over every row gives the full log density exactly (not just in expectation)."""
    rng = np.random.default_rng(1)
    z = {rv.name: rng.uniform(-0.5, 0.5, rv.shape) for rv in model.latents}
    full, _ = R.log_density(model, z)
    one = model.subsampled(1)
    values = [R.log_density(one, z, batch=np.array([i]))[0] for i in range(len(model.data))]
    assert np.mean(values) == pytest.approx(full, rel=1e-12)
    # and a batch of the likelihood is scaled: the same rows twice count double, unscaled
    two = model.subsampled(120)
    everything = np.concatenate([np.arange(60), np.arange(60)])
    assert R.log_density(two, z, batch=everything)[0] == pytest.approx(full, rel=1e-12)
    with pytest.raises(ValueError, match="batch_size"):
        R.log_density(model, z, batch=np.arange(3))
