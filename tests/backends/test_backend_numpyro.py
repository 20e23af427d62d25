"""The NumPyro backend against the numpy reference and on parameter recovery (real NumPyro)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from spec_texts import priors_spec

from specrec import backends, driver
from specrec.data.simulate import simulate
from specrec.data.splits import random_split
from specrec.model import reference as R
from specrec.model.lower import lower, row_data
from specrec.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"

pytestmark = pytest.mark.backend("numpyro")

SMALL = ["data.sizes.user=40", "data.sizes.item=30", "data.density=0.4"]
MEDIUM = ["data.sizes.user=80", "data.sizes.item=60", "data.density=0.3", "inference.lr=0.03"]


def _model(loaded):
    ds = simulate(loaded)
    split = random_split(len(ds), 0.2, 0)
    return lower(loaded, ds.take(split.train)), ds, split


@pytest.mark.parametrize("which", ["quickstart", "priors"])
def test_log_density_and_gradient_match_reference(which):
    loaded = load_spec(SPECS / "quickstart.yaml", SMALL) if which == "quickstart" else priors_spec()
    model, _, _ = _model(loaded)
    logp = backends.get("numpyro").log_density(model)
    rng = np.random.default_rng(7)
    z = {rv.name: rng.normal(0, 0.7, rv.shape) for rv in model.latents}
    value, grad = logp(z)
    ref, _ = R.log_density(model, z)
    assert value == pytest.approx(ref, rel=1e-6)
    for rv in model.latents:  # central differences of the reference, a few coordinates each
        flat = z[rv.name].reshape(-1)
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            h = 1e-5
            up = {**z, rv.name: flat.copy()}
            up[rv.name][i] += h
            dn = {**z, rv.name: flat.copy()}
            dn[rv.name][i] -= h
            up[rv.name] = up[rv.name].reshape(rv.shape)
            dn[rv.name] = dn[rv.name].reshape(rv.shape)
            fd = (R.log_density(model, up)[0] - R.log_density(model, dn)[0]) / (2 * h)
            assert grad[rv.name].reshape(-1)[i] == pytest.approx(fd, rel=1e-4, abs=1e-4)


def test_nuts_recovers_group_means():
    loaded = load_spec(SPECS / "group_means.yaml", ["inference.warmup=300", "inference.draws=300"])
    model, ds, _ = _model(loaded)
    s = loaded.spec.inference
    init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
    t0 = time.perf_counter()
    result = driver.run_kernel(backends.get("numpyro"), model, s, init, progress=False)
    wall = time.perf_counter() - t0
    # the compile inside MCMC.run is measured there (not by compiling again) and kept apart
    assert result.compile_s > 0 and result.fit_s > 0
    assert result.compile_s + result.fit_s <= wall
    draws = result.posterior["group_means"].reshape(-1, 3)
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    truth = ds.truth["group_means"]
    assert np.all((lo < truth) & (truth < hi)), (lo, truth, hi)
    assert result.posterior["group_means"].shape == (2, 300, 3)
    assert result.sample_stats["diverging"].shape == (2, 300)
    assert set(result.sample_stats) >= {
        "lp",
        "diverging",
        "step_size",
        "tree_depth",
        "n_steps",
        "acceptance_rate",
    }


@pytest.mark.parametrize("method", ["map", "vi"])
def test_optimisation_recovers_noise_and_predicts(method):
    loaded = load_spec(
        SPECS / "quickstart.yaml",
        [*MEDIUM, f"inference.method={method}", "inference.steps=1500", "inference.draws=100"],
    )
    model, ds, split = _model(loaded)
    s = loaded.spec.inference
    init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
    result = backends.get("numpyro").fit(model, s, init, progress=False)
    assert result.loss is not None and len(result.loss) == 1500
    assert result.loss[-100:].mean() < result.loss[:100].mean()
    sigma = float(np.mean(result.posterior["sigma"]))
    if method == "vi":
        assert sigma == pytest.approx(0.5, abs=0.15)
    else:  # a MAP of a hierarchical model overfits: the noise is underestimated, not absurdly
        assert 0.2 < sigma < 0.6
    test = ds.take(split.test)
    rows = row_data(test, model.dims, [])
    mean, _ = R.predict_draws(model, result.posterior, rows)
    rmse = float(np.sqrt(np.mean((mean.mean((0, 1)) - rows.y) ** 2)))
    baseline = float(np.sqrt(np.mean((model.data.y.mean() - rows.y) ** 2)))
    assert rmse < 0.8 * baseline


def test_same_seed_same_numbers():
    loaded = load_spec(
        SPECS / "quickstart.yaml",
        [*SMALL, "inference.method=vi", "inference.steps=200", "inference.draws=20"],
    )
    model, _, _ = _model(loaded)
    s = loaded.spec.inference
    init = R.initial_values(model, np.random.default_rng(0), s.init_radius)
    b = backends.get("numpyro")
    a1 = b.fit(model, s, init, progress=False)
    a2 = b.fit(model, s, init, progress=False)
    np.testing.assert_array_equal(a1.posterior["U"], a2.posterior["U"])
    a3 = b.fit(model, s.model_copy(update={"seed": 1}), init, progress=False)
    assert not np.array_equal(a1.posterior["U"], a3.posterior["U"])


def test_unsupported_settings_are_reported_before_fitting():
    loaded = load_spec(
        SPECS / "quickstart.yaml", [*SMALL, "inference.sampler=nutpie", "inference.batch_size=10"]
    )
    model, _, _ = _model(loaded)
    reasons = backends.refusal_reasons(backends.get("numpyro"), model, loaded.spec.inference)
    assert any("nutpie" in r for r in reasons)
    assert any("batch_size" in r for r in reasons)


def test_compile_time_counts_nested_compile_spans_once():
    """Tracing an outer function traces the inner ones inside it: nested spans count once,
    other events not at all, and nothing is recorded once the block is left."""
    import jax
    from specrec_numpyro.backend import _jax_compile_time

    trace, compile_ = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    with _jax_compile_time() as total:
        jax.monitoring.record_event_time_span(trace, 10.0, 14.0)
        jax.monitoring.record_event_time_span(trace, 11.0, 12.0)  # inside the first
        jax.monitoring.record_event_time_span(compile_, 13.0, 16.0)  # overlaps its end
        jax.monitoring.record_event_time_span("/jax/other", 20.0, 30.0)
    jax.monitoring.record_event_time_span(compile_, 40.0, 50.0)
    assert total() == pytest.approx(6.0)
