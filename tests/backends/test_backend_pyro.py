"""The Pyro backend against the numpy reference and on parameter recovery (real Pyro)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spec_texts import PRIORS_LIKELIHOODS, priors_spec

from specrec import backends, driver
from specrec.data.simulate import simulate
from specrec.data.splits import random_split
from specrec.errors import FitError
from specrec.model import reference as R
from specrec.model.lower import lower, row_data
from specrec.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"

pytestmark = pytest.mark.backend("pyro")

SMALL = ["data.sizes.user=40", "data.sizes.item=30", "data.density=0.4"]
#: Dense enough that even a MAP of the hierarchical model does not overfit the noise away.
FIT = ["data.sizes.user=40", "data.sizes.item=30", "data.density=0.8"]


def _model(loaded):
    ds = simulate(loaded)
    split = random_split(len(ds), 0.2, 0)
    return lower(loaded, ds.take(split.train)), ds, split


def _fit(model, settings, seed: int = 0):
    init = R.initial_values(model, np.random.default_rng(seed), settings.init_radius)
    return driver.run_kernel(backends.get("pyro"), model, settings, init, progress=False)


def test_registered_through_the_entry_point():
    b = backends.get("pyro")
    assert type(b).__name__ == "PyroBackend"
    assert b.methods == ("map", "vi", "nuts")
    import pyro

    assert b.version == pyro.__version__


@pytest.mark.parametrize("which", ["quickstart", *PRIORS_LIKELIHOODS])
def test_log_density_and_gradient_match_reference(which):
    loaded = (
        load_spec(SPECS / "quickstart.yaml", SMALL) if which == "quickstart" else priors_spec(which)
    )
    model, _, _ = _model(loaded)
    logp = backends.get("pyro").log_density(model)
    rng = np.random.default_rng(7)
    z = {rv.name: rng.normal(0, 0.7, rv.shape) for rv in model.latents}
    value, grad = logp(z)
    ref, _ = R.log_density(model, z)
    assert isinstance(value, float)
    assert value == pytest.approx(ref, rel=1e-6)
    for rv in model.latents:  # central differences of the reference, a few coordinates each
        assert grad[rv.name].shape == rv.shape
        flat = z[rv.name].reshape(-1)
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            h = 1e-5
            up, dn = flat.copy(), flat.copy()
            up[i] += h
            dn[i] -= h
            fd = (
                R.log_density(model, {**z, rv.name: up.reshape(rv.shape)})[0]
                - R.log_density(model, {**z, rv.name: dn.reshape(rv.shape)})[0]
            ) / (2 * h)
            assert grad[rv.name].reshape(-1)[i] == pytest.approx(fd, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("method", ["map", "vi", "nuts"])
def test_fit_recovers_noise_and_predicts(method):
    loaded = load_spec(
        SPECS / "quickstart.yaml",
        [
            *FIT,
            f"inference.method={method}",
            "inference.steps=2000",
            "inference.lr=0.02" if method == "vi" else "inference.lr=0.01",
            "inference.warmup=100",
            "inference.draws=100",
            "inference.chains=1",
            # the factors' rotations make depth-10 trees (1023 leapfrog steps, ~5 ms each on
            # Pyro) for nothing these checks need; the conformance suite fits this at 5
            "inference.max_tree_depth=6",
        ],
    )
    model, ds, split = _model(loaded)
    result = _fit(model, loaded.spec.inference)
    n_chains, n_draws = {"map": (1, 1), "vi": (1, 100), "nuts": (1, 100)}[method]
    for rv in model.latents:
        assert result.posterior[rv.name].shape == (n_chains, n_draws, *rv.shape)
    if method == "nuts":
        assert result.loss is None
        for name in ("lp", "diverging", "step_size", "tree_depth", "n_steps", "acceptance_rate"):
            assert result.sample_stats[name].shape == (1, 100), name
        assert result.sample_stats["diverging"].dtype == bool
        # lp is the log density (Jacobians included) at each draw: check one against the core
        draw = {k: v[0, 42] for k, v in result.posterior.items()}
        ref, _ = R.log_density(model, R.unconstrain(model, draw))
        assert result.sample_stats["lp"][0, 42] == pytest.approx(ref, rel=1e-4)
    else:
        assert result.loss is not None and len(result.loss) == 2000
        assert result.loss[-100:].mean() < result.loss[:100].mean()
    assert result.fit_s > 0 and result.compile_s > 0
    assert float(np.mean(result.posterior["sigma"])) == pytest.approx(0.5, abs=0.15)
    rows = row_data(ds.take(split.test), model.dims, [])
    mean, _ = R.predict_draws(model, result.posterior, rows)
    rmse = float(np.sqrt(np.mean((mean.mean((0, 1)) - rows.y) ** 2)))
    baseline = float(np.sqrt(np.mean((model.data.y.mean() - rows.y) ** 2)))
    assert rmse < 0.8 * baseline


def test_same_seed_same_numbers_vi():
    loaded = priors_spec(
        overrides=["inference.method=vi", "inference.steps=50", "inference.draws=20"]
    )
    model, _, _ = _model(loaded)
    s = loaded.spec.inference
    a1, a2 = _fit(model, s), _fit(model, s)
    np.testing.assert_array_equal(a1.loss, a2.loss)
    np.testing.assert_array_equal(a1.posterior["m"], a2.posterior["m"])
    a3 = _fit(model, s.model_copy(update={"seed": 1}))
    assert not np.array_equal(a1.posterior["m"], a3.posterior["m"])


def test_same_seed_same_numbers_nuts_and_chains_stack():
    loaded = priors_spec(
        overrides=[
            "inference.method=nuts",
            "inference.warmup=10",
            "inference.draws=5",
            "inference.chains=2",
            "inference.max_tree_depth=3",
        ]
    )
    model, _, _ = _model(loaded)
    s = loaded.spec.inference
    a1, a2 = _fit(model, s), _fit(model, s)
    assert a1.posterior["m"].shape == (2, 5, 4)
    assert a1.sample_stats["diverging"].shape == (2, 5)
    assert np.all(a1.sample_stats["n_steps"] <= 2**3)
    for name, v in a1.posterior.items():
        np.testing.assert_array_equal(v, a2.posterior[name])
    np.testing.assert_array_equal(a1.sample_stats["lp"], a2.sample_stats["lp"])
    assert not np.array_equal(a1.posterior["m"][0], a1.posterior["m"][1])  # seeds differ by chain


def test_non_finite_loss_is_a_fit_error(monkeypatch):
    import pyro.infer

    loaded = priors_spec(overrides=["inference.method=map", "inference.steps=5"])
    model, _, _ = _model(loaded)
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, *a, **k: float("nan"))
    with pytest.raises(FitError, match="diverged"):
        _fit(model, loaded.spec.inference)


def test_unsupported_settings_are_reported_before_fitting():
    loaded = load_spec(
        SPECS / "quickstart.yaml", [*SMALL, "inference.sampler=nutpie", "inference.batch_size=10"]
    )
    model, _, _ = _model(loaded)
    b = backends.get("pyro")
    reasons = backends.refusal_reasons(b, model, loaded.spec.inference)
    assert any("nutpie" in r for r in reasons)
    assert any("batch_size" in r for r in reasons)
    ok = loaded.spec.inference.model_copy(update={"sampler": "pyro", "batch_size": None})
    assert backends.refusal_reasons(b, model, ok) == []


def test_fit_json_stdout_is_only_the_json_document(tmp_path, monkeypatch):
    """``specrec fit --json`` on Pyro: whatever the backend or its libraries print while
    fitting goes to stderr, and stdout parses as one JSON document."""
    import json

    from click.testing import CliRunner
    from specrec_pyro.backend import PyroBackend

    from specrec.cli import main

    real_fit = PyroBackend.fit

    def chatty_fit(self, *args, **kwargs):
        print("chatter from inside the fit")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(PyroBackend, "fit", chatty_fit)
    args = ["fit", str(SPECS / "group_means.yaml"), "-b", "pyro", "-m", "map", "--json"]
    args += ["--set", "inference.steps=20", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["backend"]["name"] == "pyro"
    assert "chatter from inside the fit" in r.stderr
