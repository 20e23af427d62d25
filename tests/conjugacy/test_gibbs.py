"""The numpy Gibbs sampler on tiny models: the exact posterior where there is one, the slice
step alone, a model with no closed form, and the ``explain`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from specrec.cli import main
from specrec.conjugacy import Update, sample
from specrec.data.source import load_data
from specrec.model.lower import lower
from specrec.model.reference import initial_values
from specrec.spec.load import load_spec
from specrec.spec.models import Inference

from .models import model

SPECS = Path(__file__).resolve().parents[2] / "specs"


def group_means():
    loaded = load_spec(SPECS / "group_means.yaml")
    ds, split = load_data(loaded)
    m = lower(loaded, ds.take(split.train))
    y, g = m.data.y, m.data.index["group"]
    n = np.bincount(g, minlength=3)
    prec = 1.0 + n  # Normal(0, 1) prior, Normal(mean, 1) rows
    return m, np.bincount(g, weights=y, minlength=3) / prec, 1 / np.sqrt(prec)


def check_exact(fit, mean, sd, mcse_factor: float = 1.0) -> None:
    draws = fit.posterior["group_means"].reshape(-1, 3)
    mcse = mcse_factor * sd / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * mcse)
    assert np.all(np.abs(draws.std(0) / sd - 1) < 4 * mcse_factor / np.sqrt(2 * len(draws)))


def test_group_means_draws_match_the_exact_posterior():
    m, mean, sd = group_means()
    settings = Inference(method="gibbs", warmup=5, draws=2000, chains=2, seed=1)
    fit = sample(m, settings, initial_values(m, np.random.default_rng(0), 0.1))
    assert fit.method == "gibbs" and fit.posterior["group_means"].shape == (2, 2000, 3)
    assert fit.sample_stats["lp"].shape == (2, 2000)
    check_exact(fit, mean, sd)


def test_the_slice_step_alone_matches_the_exact_posterior():
    m, mean, sd = group_means()
    settings = Inference(method="gibbs", warmup=20, draws=600, chains=1, seed=2)
    forced = [Update("group_means", "slice", "forced, to test the slice step")]
    fit = sample(m, settings, initial_values(m, np.random.default_rng(0), 0.1), updates=forced)
    check_exact(fit, mean, sd, mcse_factor=1.5)


def test_a_model_without_a_closed_form_runs_on_slice_steps():
    m = model("no_closed_form")
    settings = Inference(method="gibbs", warmup=5, draws=20, chains=1, seed=0)
    fit = sample(m, settings, initial_values(m, np.random.default_rng(0), 0.1))
    assert fit.info["updates"][0].startswith("b: slice step")
    assert np.all(np.isfinite(fit.posterior["b"])) and np.all(fit.posterior["sigma"] > 0)


def test_normal_wishart_sampler_runs_and_keeps_factors_lower_triangular():
    m = model("normal_wishart")
    settings = Inference(method="gibbs", warmup=10, draws=50, chains=2, seed=0)
    fit = sample(m, settings, initial_values(m, np.random.default_rng(0), 0.1))
    lu = fit.posterior["L_u"]
    assert np.allclose(np.triu(lu, 1), 0) and np.all(np.diagonal(lu, axis1=-2, axis2=-1) > 0)


def test_explain_prints_each_parameter_and_its_reason():
    r = CliRunner().invoke(main, ["explain", str(SPECS / "quickstart.yaml")])
    assert r.exit_code == 0, r.output
    assert "4 of 5 parameters have a closed-form conditional" in r.output
    assert (
        "U: Normal conditional (Normal prior; Normal likelihood, mean affine in U[user])"
        in r.output
    )
    assert "sigma: slice step (HalfNormal prior on the sigma of the Normal likelihood" in r.output


def test_thin_keeps_every_thin_th_sweep_of_the_same_chain():
    m = model("normal_wishart")
    init = initial_values(m, np.random.default_rng(0), 0.1)
    every = sample(m, Inference(method="gibbs", warmup=3, draws=8, seed=4), init)
    thinned = sample(m, Inference(method="gibbs", warmup=3, draws=4, thin=2, seed=4), init)
    for name, v in thinned.posterior.items():
        assert v.shape[1] == 4
        np.testing.assert_array_equal(v, every.posterior[name][:, 1::2])
