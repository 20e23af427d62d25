"""The verdict separates the expected (rotation of factors) from real warnings; az.summary table."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np

from specrec.data.simulate import simulate
from specrec.evaluate.verdict import parameter_table, unidentified, verdict
from specrec.model.lower import lower
from specrec.model.reference import sample_prior
from specrec.spec.load import load_spec
from specrec.summary import _parameter_lines

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _quickstart_draws(chains: int = 2, draws: int = 1000):
    loaded = load_spec(SPECS / "quickstart.yaml", ["data.sizes.user=12", "data.sizes.item=10"])
    model = lower(loaded, simulate(loaded))
    rng = np.random.default_rng(0)
    sampled = [sample_prior(model, rng) for _ in range(chains * draws)]
    post = {
        rv.name: np.stack([d[rv.name] for d in sampled]).reshape(chains, draws, *rv.shape)
        for rv in model.latents
    }
    return model, post


def _idata(model, post):
    dims = {rv.name: list(rv.dims) for rv in model.latents}
    return az.from_dict(posterior=post, dims=dims, coords=model.coords())


def test_rotated_factors_are_expected_and_sampler_problems_are_warnings():
    model, post = _quickstart_draws()
    assert unidentified(model) == {
        "mu_u": "rotation and sign of the factors",
        "U": "rotation and sign of the factors",
        "V": "rotation and sign of the factors",
    }
    post["U"][1] += 3.0  # the chains disagree on U only, as a rotation would make them
    diagnostics = {
        "divergences": 2,
        "bfmi": [0.2, 0.9],
        "pred_rhat_max": 1.2,
        "pred_ess_bulk_min": 50.0,
        "params_checked": ["mu", "U", "sigma"],
    }
    v = verdict(model, _idata(model, post), diagnostics)
    assert v["warnings"] == [
        "2 divergent transitions",
        "BFMI below 0.3 (chain 0 0.20)",
        "R-hat 1.200 on predictions (above 1.01)",
        "bulk ESS 50.0 on predictions (below 100)",
    ]
    assert len(v["expected"]) == 1 and v["expected"][0].startswith("R-hat up to ")
    assert "on U: expected (rotation and sign of the factors)" in v["expected"][0]

    post["sigma"][1] += 1.0  # an identified parameter whose chains disagree: a real warning
    clean = {"divergences": 0, "pred_rhat_max": 1.0, "pred_ess_bulk_min": 400.0}
    v = verdict(model, _idata(model, post), clean | {"params_checked": ["sigma", "U"]})
    assert len(v["warnings"]) == 1
    assert v["warnings"][0].startswith("R-hat above 1.01 on identified parameters: sigma ")
    lines = _parameter_lines(None, v)
    assert lines[0].startswith("  verdict: WARNING R-hat above 1.01 on identified parameters")
    assert lines[1].startswith("  expected, not a warning: R-hat up to")
    ok = verdict(model, _idata(model, _quickstart_draws()[1]), clean | {"params_checked": ["mu"]})
    assert ok == {"warnings": [], "expected": []}
    assert _parameter_lines(None, ok) == ["  verdict: no real warning"]


def test_parameter_table_is_az_summary_by_element():
    model, post = _quickstart_draws()
    idata = _idata(model, post)
    table = parameter_table(idata, ["mu", "mu_u", "sigma"], mcmc=True)
    assert list(table) == ["mu", "mu_u[0]", "mu_u[1]", "mu_u[2]", "sigma"]
    want = az.summary(idata, var_names=["mu"])
    for col in ("mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"):
        assert table["mu"][col] == float(want.loc["mu", col]), col
    vi = parameter_table(idata, ["sigma"], mcmc=False)
    assert set(vi["sigma"]) == {"mean", "sd", "hdi_3%", "hdi_97%"}  # no MCMC error for vi
    lines = _parameter_lines(table, None)
    assert lines[0].split() == ["parameter", "mean", "sd", "hdi", "3%", "hdi", "97%", "mcse",
                                "ess", "bulk", "ess", "tail", "r_hat"]  # fmt: skip
    assert lines[1].split()[0] == "mu" and len(lines) == 6
