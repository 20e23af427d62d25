"""A run directory is a complete InferenceData that real ArviZ reads without specrec.

Each test opens ``posterior.nc`` with ``az.from_netcdf`` and checks every group against what
the run was fitted on (the training ratings, the test pairs, the evaluator's own PSIS-LOO), then
runs ``az.loo``, ``az.summary``, ``az.plot_ppc`` and ``az.compare`` on it.  Fits are tiny
(30 users x 20 items, a few dozen draws); one run per (backend, method) is shared by the tests.
Every method that yields draws is run on every backend that has it natively (NumPyro: nuts,
vi, gibbs; PyMC and Pyro: nuts, vi) and once for the core's cavi; map shows the point case.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from specrec.evaluate.groups import EXTRA_GROUPS

SPECS = Path(__file__).resolve().parents[1] / "specs"

SMALL = ["data.sizes.user=30", "data.sizes.item=20"]
BUDGETS = {
    "nuts": ["inference.warmup=60", "inference.draws=60", "inference.chains=2"],
    "vi": ["inference.steps=300", "inference.draws=60"],
    "map": ["inference.steps=200"],
    "gibbs": ["inference.warmup=30", "inference.draws=40", "inference.chains=2"],
    "cavi": ["inference.steps=50", "inference.draws=60"],
}


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """``runs[(backend, method)]``: the Run of one tiny quickstart fit, made on first use."""
    from specrec.fitting import fit

    out = tmp_path_factory.mktemp("runs")
    made: dict = {}

    def get(backend: str, method: str, *extra: str):
        if (backend, method, extra) not in made:
            made[backend, method, extra] = fit(
                SPECS / "quickstart.yaml",
                backend=backend,
                method=method,
                overrides=SMALL + BUDGETS[method] + list(extra),
                out=out,
                progress=False,
            )
        return made[backend, method, extra]

    return get


def check_groups(run) -> object:
    """Every group of the run's posterior.nc, read back by ArviZ alone, is what it should be."""
    from specrec.evaluate.evaluator import _posterior_arrays, _relative_efficiency
    from specrec.evaluate.likelihood import pointwise_log_likelihood
    from specrec.evaluate.loo import psis_loo

    az = _az()
    idata = az.from_netcdf(str(run.path / "posterior.nc"))
    metrics = json.loads((run.path / "metrics.json").read_text())
    model, test = run.model, run.test_rows
    assert set(idata.groups()) >= {"posterior", *EXTRA_GROUPS}, idata.groups()
    assert metrics["idata"]["groups"] == list(EXTRA_GROUPS) and metrics["idata"]["left_out"] == {}
    for group in idata.groups():
        idata[group].load()  # every group reads back from the file
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    n_train, n_test = len(model.data), len(test)

    # observed_data and constant_data: the training rows the model was fitted on
    np.testing.assert_array_equal(idata.observed_data["rating"].values, model.data.y)
    np.testing.assert_array_equal(run.train.y, model.data.y)
    cd = idata.constant_data
    for dim in ("user", "item"):
        np.testing.assert_array_equal(cd[f"{dim}_index"].values, model.data.index[dim])
        assert [str(c) for c in cd[dim].values] == [str(c) for c in model.dims[dim].coords]

    # log_likelihood: the evaluator's own LOO input, draw for draw
    ll = idata.log_likelihood["rating"]
    assert ll.dims == ("chain", "draw", "obs") and ll.shape == (chains, draws, n_train)
    post = _posterior_arrays(idata, model)
    expected = pointwise_log_likelihood(model, post, model.data)
    np.testing.assert_allclose(ll.values, expected, rtol=1e-10)
    loo = metrics["metrics"]["loo"]
    if "skipped" not in loo:
        again = psis_loo(ll.values, _relative_efficiency(idata, model))
        assert again["elpd_loo"] == pytest.approx(loo["elpd_loo"], rel=1e-9)
        assert float(ll.values.sum()) < 0

    # posterior_predictive: one replicated training rating per draw and row, on the data's scale
    pp = idata.posterior_predictive["rating"]
    assert pp.dims == ("chain", "draw", "obs") and pp.shape == (chains, draws, n_train)
    assert abs(float(pp.mean()) - float(model.data.y.mean())) < 0.5
    assert float(pp.std()) > 0.1  # replicated, not the observed ratings copied

    # predictions: the test pairs, in predictions.csv's order
    pr = idata.predictions["rating"]
    assert pr.dims == ("chain", "draw", "pair") and pr.shape == (chains, draws, n_test)
    pairs = pd.read_csv(run.path / "predictions.csv")
    pcd = idata.predictions_constant_data
    for dim, column in (("user", "user_id"), ("item", "item_id")):
        labels = pcd[dim].values[pcd[f"{dim}_index"].values]
        np.testing.assert_array_equal(labels.astype(str), pairs[column].astype(str).values)
    if chains * draws >= 20:  # the test ratings lie within the range of their predictive draws
        draws_of = pr.values.reshape(-1, n_test)
        inside = (pairs["rating"] >= draws_of.min(0)) & (pairs["rating"] <= draws_of.max(0))
        assert inside.mean() > 0.8
    return idata


def check_arviz_runs(idata, mcmc: bool, elpd: float) -> None:
    """az.loo, az.summary and az.plot_ppc run on the file as read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    az = _az()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings of a tiny fit
        loo = az.loo(idata, pointwise=True)
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == idata.observed_data.sizes["obs"]
    if idata.posterior.sizes["chain"] == 1:  # reff 1 in both: exactly the evaluator's LOO
        assert loo.elpd_loo == pytest.approx(elpd, rel=1e-9)
    table = az.summary(idata, var_names=["mu", "sigma", "mu_u"], kind="all" if mcmc else "stats")
    assert len(table) == 5 and np.all(np.isfinite(table["mean"]))
    if mcmc:
        assert {"r_hat", "ess_bulk", "ess_tail", "mcse_mean"} <= set(table.columns)
        assert np.all(np.isfinite(table["r_hat"]))
    axes = az.plot_ppc(idata, num_pp_samples=10, random_seed=0)
    assert np.size(axes) >= 1
    plt.close("all")


def check_run(run, mcmc: bool):
    idata = check_groups(run)
    check_arviz_runs(idata, mcmc, run.metrics["metrics"]["loo"]["elpd_loo"])
    return idata


def check_nuts_stats(run, idata) -> None:
    """sample_stats has ArviZ's HMC names, az.bfmi reads its energy (the evaluator's BFMI),
    the Hamiltonian is the potential (-lp) plus a kinetic energy of about d/2, and the
    metrics count draws at max_tree_depth and carry the rotation-invariant diagnostics."""
    az = _az()
    stats = idata.sample_stats
    for name in ("diverging", "lp", "acceptance_rate", "step_size", "tree_depth", "energy"):
        assert stats[name].dims == ("chain", "draw"), name
    assert stats["diverging"].dtype == bool
    bfmi = az.bfmi(idata)  # the energy statistic is the one BFMI reads
    assert bfmi.shape == (2,) and np.all(np.isfinite(bfmi)) and np.all(bfmi > 0)
    d = run.metrics["diagnostics"]
    np.testing.assert_allclose(d["bfmi"], bfmi)
    # energy = potential + kinetic, kinetic ~ chi2(d) / 2 with d unconstrained dimensions
    kinetic = stats["energy"].values + stats["lp"].values
    n_dims = sum(int(np.prod(rv.shape, dtype=int)) for rv in run.model.latents)
    assert np.all(kinetic > 0)
    assert abs(kinetic.mean() - n_dims / 2) < 0.25 * n_dims / 2, (kinetic.mean(), n_dims)
    depth = d["tree_depth"]
    assert depth["max_tree_depth"] == run.metrics["inference"]["max_tree_depth"]
    full = stats["n_steps"].values >= 2 ** depth["max_tree_depth"] - 1
    assert depth["saturated"] == int(full.sum()) and depth["fraction"] == float(full.mean())
    check_factors(run)
    table = az.summary(idata, var_names=["mu", "mu_u", "sigma"])
    assert list(d["parameters"]) == list(table.index)
    assert d["parameters"]["sigma"]["r_hat"] == float(table.loc["sigma", "r_hat"])
    assert set(d["verdict"]) == {"warnings", "expected"}


def check_factors(run) -> None:
    """R-hat/ESS on ||U||_F, ||V||_F and U V^T entries are in metrics.json and the summary."""
    from specrec.summary import fit_summary

    factors = run.metrics["diagnostics"]["factors"]
    assert factors["pair"] == ["U", "V"] and set(factors["frobenius"]) == {"U", "V"}
    assert 0 < factors["entries"]["n"] <= 100
    for v in [*factors["frobenius"].values(), factors["entries"]]:
        assert v["rhat_max"] > 0.9 and v["ess_bulk_min"] > 0
    assert "  rotation-invariant: ||U||_F R-hat " in fit_summary(run.metrics, run.path)


@pytest.mark.backend("numpyro")
def test_numpyro_nuts_run_is_a_complete_inference_data(runs):
    run = runs("numpyro", "nuts")
    check_nuts_stats(run, check_run(run, mcmc=True))


@pytest.mark.backend("pymc")
@pytest.mark.parametrize("sampler", ["numpyro", "pymc", "nutpie"])
def test_pymc_nuts_run_is_a_complete_inference_data(runs, sampler):
    """PyMC's default (its NumPyro bridge), its own NUTS and nutpie all record energy."""
    run = runs("pymc", "nuts", f"inference.sampler={sampler}")
    assert run.metrics["backend"]["sampler"] == sampler
    check_nuts_stats(run, check_run(run, mcmc=True))


@pytest.mark.backend("pyro")
def test_pyro_nuts_run_is_a_complete_inference_data(runs):
    run = runs("pyro", "nuts")
    check_nuts_stats(run, check_run(run, mcmc=True))


@pytest.mark.backend("numpyro")
def test_nuts_at_a_tree_depth_limit_of_one_is_a_warning(runs):
    run = runs("numpyro", "nuts", "inference.max_tree_depth=1")
    depth = run.metrics["diagnostics"]["tree_depth"]
    assert depth == {"max_tree_depth": 1, "saturated": 120, "fraction": 1.0}
    warning = "tree depth saturated: 100.0% of draws (120) reached max_tree_depth 1"
    assert warning in run.metrics["diagnostics"]["verdict"]["warnings"]


@pytest.mark.backend("numpyro")
def test_cavi_run_is_a_complete_inference_data(runs):
    check_run(runs("numpyro", "cavi"), mcmc=False)


@pytest.mark.backend("numpyro")
def test_numpyro_vi_run_is_a_complete_inference_data(runs):
    check_run(runs("numpyro", "vi"), mcmc=False)


@pytest.mark.backend("numpyro")
def test_az_compare_ranks_two_runs_of_the_same_data(runs):
    az = _az()
    nuts, vi = runs("numpyro", "nuts"), runs("numpyro", "vi")
    files = {
        "nuts": az.from_netcdf(str(nuts.path / "posterior.nc")),
        "vi": az.from_netcdf(str(vi.path / "posterior.nc")),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(files)
    assert set(table.index) == {"nuts", "vi"}
    assert table["rank"].min() == 0 and table["weight"].sum() == pytest.approx(1.0)
    for name, run in (("nuts", nuts), ("vi", vi)):
        assert table.loc[name, "elpd_loo"] == pytest.approx(
            run.metrics["metrics"]["loo"]["elpd_loo"], rel=0.02
        )


@pytest.mark.backend("numpyro")
def test_map_run_keeps_every_group_with_one_draw_and_says_loo_cannot_use_it(runs):
    from specrec.summary import fit_summary

    run = runs("numpyro", "map")
    idata = check_groups(run)
    assert idata.posterior.sizes["draw"] == 1 and idata.log_likelihood.sizes["draw"] == 1
    note = run.metrics["idata"]["notes"]["log_likelihood"]
    assert "point estimate" in note and "az.loo / az.compare cannot use the run" in note
    assert "skipped" in run.metrics["metrics"]["loo"]
    text = fit_summary(run.metrics, run.path)
    assert f"posterior.nc log_likelihood: {note}" in text
    assert ", converged: yes " in text or ", converged: no " in text  # a word, not True


@pytest.mark.backend("numpyro")
def test_numpyro_gibbs_run_is_a_complete_inference_data(runs):
    from specrec.model.reference import log_density, unconstrain

    run = runs("numpyro", "gibbs")
    idata = check_run(run, mcmc=True)
    lp = idata.sample_stats["lp"]  # Gibbs has a sample_stats group too: each draw's lp
    assert lp.dims == ("chain", "draw") and set(idata.sample_stats.data_vars) == {"lp"}
    names = [rv.name for rv in run.model.latents]
    for c, k in ((0, 0), (1, 17), (1, 39)):  # the numpy reference's log density, Jacobians in
        point = {n: idata.posterior[n].values[c, k] for n in names}
        want = log_density(run.model, unconstrain(run.model, point))[0]
        assert float(lp.values[c, k]) == pytest.approx(want, rel=1e-4, abs=1e-2)
    assert np.std(lp.values) > 0
    check_factors(run)
    d = run.metrics["diagnostics"]
    assert d["tree_depth"] is None and d["bfmi"] is None  # no NUTS statistics to read


@pytest.mark.backend("pymc")
def test_pymc_vi_run_is_a_complete_inference_data(runs):
    check_run(runs("pymc", "vi"), mcmc=False)


@pytest.mark.backend("pyro")
def test_pyro_vi_run_is_a_complete_inference_data(runs):
    check_run(runs("pyro", "vi"), mcmc=False)


@pytest.mark.backend("numpyro")
def test_groups_over_the_budget_are_left_out_with_the_reason(runs):
    from specrec.summary import fit_summary

    run = runs("numpyro", "vi", "evaluate.idata_max_mb=0.001")
    idata = _az().from_netcdf(str(run.path / "posterior.nc"))
    assert {"observed_data", "constant_data", "posterior"} <= set(idata.groups())
    kept = {"log_likelihood", "posterior_predictive", "predictions", "predictions_constant_data"}
    assert not kept & set(idata.groups()), idata.groups()
    left_out = run.metrics["idata"]["left_out"]
    assert set(left_out) == {"log_likelihood", "posterior_predictive", "predictions"}
    n = len(run.model.data)
    assert left_out["posterior_predictive"].startswith(f"60 draws x {n} training rows need ")
    assert all("evaluate.idata_max_mb = 0.001" in why for why in left_out.values())
    assert "elpd_loo" in run.metrics["metrics"]["loo"]  # LOO is within its own budget
    text = fit_summary(run.metrics, run.path)
    for group, why in left_out.items():
        assert f"posterior.nc left out {group}: {why}" in text
