"""The backend conformance suite: what every specrec backend must do, as pytest tests.

A backend package (built-in or third-party) runs this suite against itself, pyro-api style.
In the backend's own test folder, write two files::

    # tests/test_specrec_conformance.py
    from specrec.testing.conformance import *  # noqa: F403

    # tests/conftest.py
    import pytest

    @pytest.fixture
    def backend_name() -> str:
        return "mybackend"  # the entry-point name under the ``specrec.backends`` group

and run ``pytest``.  The backend is found through its entry point exactly as ``specrec fit``
finds it, so the package must be installed (``pip install -e .``).  Parametrise the fixture
(``@pytest.fixture(params=[...])``) to run the suite on several backends.

What is checked, on small models so one backend runs in a minute or two:

* ``test_backend_protocol``, ``test_simplest_model_is_supported``,
  ``test_unsupported_settings_are_reported``: name, methods, version; ``specrec.backends.refusal_reasons``
  (the common checks plus the backend's ``unsupported``) accepts the simplest model for every method offered and refuses settings no backend can honour;
* ``test_log_density_matches_reference``: log density and gradient against the numpy
  reference (``specrec.parity.check_backend``) for every distribution of the table as a prior
  and as the likelihood (generated from the table, so a new distribution is covered without
  editing this file), the hierarchical quickstart and the group means;
* ``test_fit[case-method]``, one fit each of the group means (conjugate: its exact posterior
  is known) and a small quickstart by every method, with the named checks ``check_*`` below:
  recovery (exact posterior, truth in the 95 % interval, noise sigma, held-out RMSE against
  the mean baseline), ``FitResult`` shapes, the InferenceData specrec builds (names, dims,
  coords), NUTS sampler statistics (``lp`` equal to the reference at a draw) or the map/vi
  loss trace;
* ``test_mixture_map_reaches_em``: a mixture of two user types, its type summed out, fitted by
  ``map`` to EM's log-likelihood (xfail unless the backend declares the ``mixture`` feature);
* ``test_mixture_em_matches_the_reference_em``: the same case by ``em`` (the core's kernel, any
  backend that declares the feature) reaches the independent numpy EM's log-likelihood;
* ``test_seeding``: the same seed gives identical draws, another seed other draws.

Fit sizes are in ``FIT_SETTINGS`` and each method's ``quick`` settings; the models in
``specrec.testing.cases``.

A model, setting or method the backend declares it cannot handle (a method missing from
``backend.methods``, a non-empty ``refusal_reasons(backend, model, settings)``) makes the case
``xfail`` with the backend's reason: visible in the report, never a silent pass or a skip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from specrec import backends, driver, methods
from specrec.backends import SAMPLE_STATS, Backend, FitResult
from specrec.inference import to_inference_data
from specrec.model import reference as R
from specrec.model.distributions import DISTRIBUTIONS
from specrec.model.ir import Model
from specrec.parity import check_backend
from specrec.spec.models import Inference
from specrec.testing import em
from specrec.testing.cases import (
    QUICKSTART_SMALL,
    Case,
    Prepared,
    group_means_posterior,
    parity_cases,
    prepare,
    prepare_example,
)

#: What ``from specrec.testing.conformance import *`` brings into a test module: the tests
#: only (no fixtures, so the importing module's own ``backend_name`` is never shadowed).
__all__ = [
    "test_backend_protocol",
    "test_fit",
    "test_log_density_matches_reference",
    "test_minibatch_log_density_is_unbiased",
    "test_minibatch_vi",
    "test_mixture_em_matches_the_reference_em",
    "test_mixture_map_reaches_em",
    "test_seeding",
    "test_simplest_model_is_supported",
    "test_unsupported_settings_are_reported",
]

#: Every inference method a spec can ask for: the methods table, read when a test module is
#: collected (a method registered by a plugin or a test before that is covered too).
METHODS = methods.MethodNames()

#: Settings of the fits the recovery, shape and diagnostics tests share (one fit per backend,
#: case and method).  Small on purpose: Pyro's NUTS costs ~5 ms per leapfrog step.
FIT_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("group_means", "map"): {"steps": 300, "lr": 0.05},
    ("group_means", "vi"): {"steps": 800, "lr": 0.03, "draws": 200},
    ("group_means", "nuts"): {"warmup": 200, "draws": 200, "chains": 2, "max_tree_depth": 6},
    # exact conditionals give independent draws, so their sd is held to +-25 %: 20 quick draws
    # miss that band one run in four, 800 draws essentially never (sd of the ratio ~0.025)
    ("group_means", "gibbs"): {"warmup": 20, "draws": 400, "chains": 2},
    ("quickstart", "map"): {"steps": 1000, "lr": 0.02},
    ("quickstart", "vi"): {"steps": 1000, "lr": 0.03, "draws": 100},
    ("quickstart", "nuts"): {"warmup": 100, "draws": 100, "chains": 1, "max_tree_depth": 5},
    ("mixture", "map"): {"steps": 600, "lr": 0.05, "init": "prior"},
}


def fit_settings(case: str, method: str) -> dict[str, Any]:
    """The settings of the shared fits: tuned per case for the built-in methods, else the
    method's own quick settings (``Method.quick``)."""
    return FIT_SETTINGS.get((case, method), dict(methods.get(method).quick))


def seed_settings(method: str) -> dict[str, Any]:
    """Tiny fits for the seeding tests (only determinism is checked, not quality)."""
    return dict(methods.get(method).quick)


_EXAMPLE_OVERRIDES = {"quickstart": QUICKSTART_SMALL, "group_means": (), "mixture": ()}


# ---- helpers ---------------------------------------------------------------------------------


def _backend(name: str) -> Backend:
    return backends.get(name)


def _xfail_unless_supported(backend: Backend, model: Model, settings: Inference) -> None:
    """xfail (with the backend's own reason) what the backend declares it cannot do."""
    if not backends.offers(backend, settings.method):
        pytest.xfail(
            f"backend {backend.name!r} does not offer {settings.method!r} "
            f"(methods: {', '.join(backends.offered_methods(backend)) or 'none'})"
        )
    reasons = backends.refusal_reasons(backend, model, settings)
    if reasons:
        pytest.xfail(f"backend {backend.name!r} declares: " + "; ".join(reasons))


def fit(
    backend_name: str, case: str, method: str, update: dict[str, Any] | None = None, seed: int = 0
) -> tuple[Prepared, Inference, FitResult]:
    """Fit an example case as ``specrec fit`` does, through the fit driver: start drawn from
    the seed, no progress.

    ``update`` replaces the case's ``fit_settings``.  xfails what the backend cannot do.
    """
    p = prepare_example(case, tuple(_EXAMPLE_OVERRIDES[case]))
    settings = p.loaded.spec.inference.model_copy(
        update={
            **(fit_settings(case, method) if update is None else update),
            "method": method,
            "seed": seed,
        }
    )
    backend = _backend(backend_name)
    _xfail_unless_supported(backend, p.model, settings)
    return p, settings, driver.run_inference(backend, p.model, settings, checked=True).result


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


# ---- the protocol ----------------------------------------------------------------------------


def test_backend_protocol(backend_name: str) -> None:
    """Found by its entry point, under its own name, with a version and known methods."""
    backend = _backend(backend_name)
    assert isinstance(backend, Backend)
    assert backend.name == backend_name
    assert isinstance(backend.methods, tuple)
    offered = backends.offered_methods(backend)
    assert offered and set(offered) <= set(METHODS), offered
    assert isinstance(backend.version, str) and backend.version
    info = {i.name: i for i in backends.installed()}[backend_name]
    assert info.error is None and info.methods == offered
    declared = backends.supported_distributions(backend)  # optional; names from the table
    assert declared is None or declared <= set(DISTRIBUTIONS), declared - set(DISTRIBUTIONS)


@pytest.mark.parametrize("method", METHODS)
def test_simplest_model_is_supported(backend_name: str, method: str) -> None:
    """A method a backend offers must take the group-means model with default settings;
    otherwise every recovery test would turn into an xfail and hide a broken backend."""
    backend = _backend(backend_name)
    if not backends.offers(backend, method):
        pytest.xfail(f"backend {backend_name!r} does not offer {method!r}")
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": method})
    assert backends.refusal_reasons(backend, p.model, settings) == []


@pytest.mark.parametrize(
    "setting",
    [{"batch_size": 10, "method": "nuts"}, {"sampler": "no-such-sampler"}],
    ids=["batch_size_with_nuts", "unknown_sampler"],
)
def test_unsupported_settings_are_reported(backend_name: str, setting: dict[str, Any]) -> None:
    """Settings no backend can honour (minibatches with NUTS, which needs the exact density;
    a sampler nobody provides) are refusal reasons before any work, not a crash in fit: the
    first from the core's common checks, the second from the backend's own ``unsupported``."""
    backend = _backend(backend_name)
    p = prepare_example("group_means")
    method = next(
        m for m in ("vi", *backends.offered_methods(backend)) if backends.offers(backend, m)
    )
    settings = p.loaded.spec.inference.model_copy(update={"method": method, **setting})
    reasons = backends.refusal_reasons(backend, p.model, settings)
    assert isinstance(reasons, list) and reasons, f"{setting} was accepted"
    key, value = next(iter(setting.items()))
    assert any(key in r or str(value) in r for r in reasons), reasons


# ---- log density ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", parity_cases(), ids=lambda c: c.id)
def test_log_density_matches_reference(backend_name: str, case: Case) -> None:
    """Value and gradient (float64) equal the numpy reference's at random unconstrained
    points: the one property that makes a spec mean the same model on every backend."""
    backend = _backend(backend_name)
    p = prepare(case.build())
    settings = Inference(method=backends.offered_methods(backend)[0])
    _xfail_unless_supported(backend, p.model, settings)
    r = check_backend(p.model, backend_name, n_points=3, seed=0)
    assert r.error is None, r.error
    assert r.ok, "\n".join(r.problems)


#: Minibatch tests: rows per batch (of the small quickstart's ~270 training rows) and draws.
MINIBATCH_SIZE = 16
MINIBATCH_ESTIMATES = 400


def _minibatch_settings(backend: Backend, p: Prepared, **update: Any) -> Inference:
    settings = p.loaded.spec.inference.model_copy(
        update={"method": "vi", "batch_size": MINIBATCH_SIZE, **update}
    )
    _xfail_unless_supported(backend, p.model, settings)
    return settings


def test_minibatch_log_density_is_unbiased(backend_name: str) -> None:
    """The log joint of a subsampled model (``Model.subsampled``: random rows, likelihood
    scaled by ``likelihood_scale``) is a random estimate whose mean is the full-data value.

    At a fixed unconstrained point, the backend's own minibatch estimates (a fresh batch per
    call) must average to the numpy reference's full log density within 4.5 Monte Carlo
    standard errors, and must vary (a backend that ignored ``batch_size`` would not).
    """
    backend = _backend(backend_name)
    p = prepare_example("quickstart", tuple(QUICKSTART_SMALL))
    _minibatch_settings(backend, p)
    rng = np.random.default_rng(0)
    z = {rv.name: rng.uniform(-0.5, 0.5, rv.shape) for rv in p.model.latents}
    full, _ = R.log_density(p.model, z)
    estimate = backend.log_density(p.model.subsampled(MINIBATCH_SIZE))
    values = np.array([estimate(z)[0] for _ in range(MINIBATCH_ESTIMATES)])
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert se > 0, "every minibatch gave the same value: the rows were not subsampled"
    assert abs(values.mean() - full) < 4.5 * se, (
        f"mean of {values.size} minibatch estimates {values.mean():.3f} +- {se:.3f}, "
        f"full log density {full:.3f}"
    )


def test_minibatch_vi(backend_name: str) -> None:
    """vi on minibatches recovers the quickstart as full-batch vi does (noise sigma, held-out
    RMSE well below the mean baseline), with a finite loss that goes down."""
    backend = _backend(backend_name)
    p = prepare_example("quickstart", tuple(QUICKSTART_SMALL))
    settings = _minibatch_settings(backend, p, **FIT_SETTINGS["quickstart", "vi"])
    result = driver.run_inference(backend, p.model, settings, checked=True).result
    run_checks([check_fit_result, check_loss_trace, check_quickstart], p, settings, result)


# ---- fits: recovery, shapes, names, diagnostics ---------------------------------------------
#
# One test per (case, method) runs every check on one fit and reports each failing check by
# name: fits are the expensive part, and separate tests sharing a cached fit would each refit
# under pytest-xdist, whose workers share nothing.

Check = Callable[[Prepared, Inference, FitResult], None]


def check_fit_result(p: Prepared, settings: Inference, result: FitResult) -> None:
    """Draws are (chain, draw, *shape) under specrec's names, finite and in the support, with
    the method's (chain, draw) shape: (1, 1) for a point, (1, draws) for independent draws,
    (chains, draws) for Markov chains (``Method.shape``)."""
    assert isinstance(result, FitResult), type(result)
    assert result.method == settings.method, result.method
    names = {rv.name for rv in p.model.latents}
    assert set(result.posterior) >= names, f"missing {sorted(names - set(result.posterior))}"
    chains, draws = methods.get(settings.method).shape(settings)
    for rv in p.model.latents:
        arr = np.asarray(result.posterior[rv.name])
        assert arr.shape == (chains, draws, *rv.shape), f"{rv.name}: shape {arr.shape}"
        assert np.all(np.isfinite(arr)), f"{rv.name}: not finite"
        if rv.transform != "interval":  # interval bounds may be expressions; skip those
            assert rv.dist.support.check(arr), f"{rv.name}: outside its support"
    assert result.fit_s >= 0 and result.compile_s >= 0, (result.fit_s, result.compile_s)


def check_inference_data(p: Prepared, settings: Inference, result: FitResult) -> None:
    """The InferenceData specrec builds carries the model's names, dims and coords."""
    model = p.model
    idata = to_inference_data(model, result)
    assert idata.attrs["method"] == settings.method, idata.attrs
    assert set(idata.posterior.data_vars) == {rv.name for rv in model.latents}, sorted(
        idata.posterior.data_vars
    )
    for rv in model.latents:
        dims = idata.posterior[rv.name].dims
        assert dims == ("chain", "draw", *rv.dims), f"{rv.name}: dims {dims}"
        for d in rv.dims:
            got = idata.posterior.coords[d].values
            np.testing.assert_array_equal(got, model.dims[d].coords, err_msg=f"coords of {d}")
    m = methods.get(settings.method)
    for k in ("diverging", "lp"):
        if k in m.sample_stats:
            assert idata.sample_stats[k].dims == ("chain", "draw"), k
    if m.loss_trace:
        assert "loss" in idata.groups(), idata.groups()
        np.testing.assert_array_equal(idata.loss["loss"].values, np.asarray(result.loss))


def check_nuts_sample_stats(p: Prepared, settings: Inference, result: FitResult) -> None:
    """NUTS reports ArviZ-named statistics per (chain, draw), at least ``diverging`` and
    ``lp``, and ``lp`` is the log density the reference gives at that draw (Jacobians in)."""
    stats = result.sample_stats
    assert {"diverging", "lp"} <= set(stats), f"sample_stats has only {sorted(stats)}"
    unknown = set(stats) - set(SAMPLE_STATS)
    assert not unknown, f"not ArviZ names (InferenceData would drop them): {sorted(unknown)}"
    for k, v in stats.items():
        assert np.shape(v) == (settings.chains, settings.draws), f"{k}: shape {np.shape(v)}"
    assert np.asarray(stats["diverging"]).dtype == bool, np.asarray(stats["diverging"]).dtype
    c, d = settings.chains - 1, settings.draws // 2
    draw = {rv.name: np.asarray(result.posterior[rv.name])[c, d] for rv in p.model.latents}
    ref, _ = R.log_density(p.model, R.unconstrain(p.model, draw))
    lp = float(stats["lp"][c, d])
    assert lp == pytest.approx(ref, rel=1e-3, abs=1e-2), f"lp {lp} at a draw, reference {ref}"


def check_loss_trace(p: Prepared, settings: Inference, result: FitResult) -> None:
    """map and vi return the objective per step (plotted, saved with the run); it goes down.
    An optimiser that stops early (L-BFGS at convergence) may return fewer than ``steps``, but
    at least two: the suite's cases start away from the optimum, so a trace that never moves
    (a frozen optimiser, a loss of a constant, parameters not wired to the objective) fails."""
    assert result.loss is not None, "map/vi must return a loss trace"
    loss = np.asarray(result.loss, dtype=float)
    assert loss.ndim == 1 and 2 <= loss.size <= settings.steps, f"loss shape {loss.shape}"
    assert np.all(np.isfinite(loss)), "loss not finite"
    k = max(1, loss.size // 10)
    first, last = loss[:k].mean(), loss[-k:].mean()
    assert first - last > 1e-6 * max(1.0, abs(first)), (
        f"loss did not go down: mean of the first {k} steps {first}, of the last {k} {last}"
    )


def check_group_means(p: Prepared, settings: Inference, result: FitResult) -> None:
    """Group means is conjugate: per group the exact posterior is Normal(sum(y)/(n+1),
    1/sqrt(n+1)), so every method is held to it; the simulated truth lies in the 95 % interval
    (nuts, vi) or within 3 posterior sd of the MAP."""
    exact_mean, exact_sd = group_means_posterior(p)
    truth = p.data.truth["group_means"]
    draws = np.asarray(result.posterior["group_means"]).reshape(-1, exact_mean.size)
    mean = draws.mean(0)
    produces = methods.get(settings.method).produces
    if produces == "point":  # the mode of a Normal posterior is its mean
        np.testing.assert_allclose(mean, exact_mean, atol=0.1 * exact_sd.min())
        assert np.all(np.abs(mean - truth) < 3 * exact_sd), f"map {mean}, truth {truth}"
        return
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    assert np.all((lo < truth) & (truth < hi)), f"truth {truth} outside [{lo}, {hi}]"
    # vi: stochastic Adam leaves the guide jittering around the optimum; MCMC: Monte Carlo error
    tol, (sd_lo, sd_hi) = (0.75, (0.6, 1.6)) if produces == "draws" else (0.35, (0.75, 1.3))
    assert np.all(np.abs(mean - exact_mean) < tol * exact_sd), f"mean {mean}, exact {exact_mean}"
    ratio = draws.std(0) / exact_sd
    assert np.all((sd_lo < ratio) & (ratio < sd_hi)), f"sd / exact sd = {ratio}"
    if "diverging" in result.sample_stats:  # a Gaussian posterior: nothing to diverge on
        assert not np.any(result.sample_stats["diverging"]), "divergences on a Gaussian"


def check_quickstart(p: Prepared, settings: Inference, result: FitResult) -> None:
    """A hierarchical factor model: the noise sigma is recovered (vi, nuts), and every method
    predicts held-out ratings clearly better than the training mean does."""
    sigma = float(np.mean(result.posterior["sigma"]))
    true_sigma = float(p.data.truth["sigma"])
    if methods.get(settings.method).produces == "point":  # a hierarchical MAP overfits: sigma low
        assert 0.3 * true_sigma < sigma < 1.3 * true_sigma, f"sigma {sigma}"
    else:
        assert abs(sigma - true_sigma) < 0.15, f"sigma {sigma}, truth {true_sigma}"
    rows = p.test_rows()
    mean, _ = R.predict_draws(p.model, result.posterior, rows)
    rmse = _rmse(mean.mean((0, 1)), rows.y)
    baseline = _rmse(np.full(len(rows), p.model.data.y.mean()), rows.y)
    assert rmse < 0.8 * baseline, f"held-out RMSE {rmse}, mean baseline {baseline}"


RECOVERY: dict[str, Check] = {"group_means": check_group_means, "quickstart": check_quickstart}


def run_checks(checks: list[Check], p: Prepared, settings: Inference, result: FitResult) -> None:
    """Run every check, then fail once naming each one that failed (not just the first)."""
    failures = []
    for check in checks:
        try:
            check(p, settings, result)
        except Exception as exc:  # AssertionError, or a crash in what the backend returned
            failures.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", ["group_means", "quickstart"])
def test_fit(backend_name: str, case: str, method: str) -> None:
    """Recovery, result shapes, InferenceData names/dims/coords and diagnostics of one fit."""
    p, settings, result = fit(backend_name, case, method)
    m = methods.get(method)
    diagnostics = [check_loss_trace] if m.loss_trace else []
    if {"diverging", "lp"} <= set(m.sample_stats):
        diagnostics.append(check_nuts_sample_stats)
    run_checks(
        [check_fit_result, check_inference_data, *diagnostics, RECOVERY[case]], p, settings, result
    )


def test_mixture_map_reaches_em(backend_name: str) -> None:
    """A likelihood mixture with its type summed out per user (``likelihood.mixture``): ``map``
    must reach the log-likelihood of EM (``specrec.testing.em``, plain numpy) on two well
    separated user types.  xfails for a backend that does not declare the ``mixture`` feature."""
    p, _, result = fit(backend_name, "mixture", "map")
    rows, model = p.model.data, p.model
    users, items, y = rows.index["user"], rows.index["item"], rows.y
    n_users, n_items = model.dims["user"].size, model.dims["item"].size
    ref = em.best_of(users, items, y, n_users, n_items, model.dims["type"].size)
    w, mu, sigma = (np.asarray(result.posterior[k])[0, 0] for k in ("w", "mu", "sigma"))
    ll = em.mixture_log_likelihood(users, items, y, n_users, w, mu, sigma)
    # the weak priors move the mode a little away from the maximum likelihood
    assert abs(ll - ref.log_likelihood) <= 3e-3 * abs(ref.log_likelihood), (ll, ref)
    np.testing.assert_allclose(np.sort(w), np.sort(ref.weights), atol=0.03)
    np.testing.assert_allclose(np.sort(sigma), np.sort(ref.sds), atol=0.05)


def test_mixture_em_matches_the_reference_em(backend_name: str) -> None:
    """``em`` on the mixture case, as the backend is given it (the core's kernel, from the
    model alone), reaches the log-likelihood of the independent numpy EM run with the spec's
    priors from the same start, to 1e-8 relative, with both types non-empty."""
    p, settings, result = fit(backend_name, "mixture", "em", {"init": "assign", "tol": 1e-12})
    model = p.model
    rows = model.data
    users, items, y = rows.index["user"], rows.index["item"], model.to_model_scale(rows.y)
    n_users, n_items = model.dims["user"].size, model.dims["item"].size
    start = driver.start_values(model, settings, settings.seed)
    priors = em.Priors(a=1.0, m0=3.0, s0=1.5, alpha=4.0, beta=2.0)  # the case's priors
    ref = em.gaussian_mixture_em(
        users, items, y, n_users, n_items, 2, None, 4000, 1e-12, priors,
        (start["w"], start["mu"], start["sigma"]),
    )  # fmt: skip
    w, mu, sigma = (np.asarray(result.posterior[k])[0, 0] for k in ("w", "mu", "sigma"))
    ll = em.mixture_log_likelihood(users, items, y, n_users, w, mu, sigma)
    assert abs(ll - ref.log_likelihood) <= 1e-8 * abs(ref.log_likelihood), (ll, ref)
    assert result.info["em"]["nonempty_components"] == 2


# ---- seeding -----------------------------------------------------------------------------------


def _draws(result: FitResult) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in sorted(result.posterior.items())}


@pytest.mark.parametrize("method", METHODS)
def test_seeding(backend_name: str, method: str) -> None:
    """The same seed gives bit-identical draws (a run can be redone); another seed other draws
    (not for map, which is deterministic from a given start)."""
    _, _, a = fit(backend_name, "group_means", method, seed_settings(method), seed=3)
    _, _, b = fit(backend_name, "group_means", method, seed_settings(method), seed=3)
    x, y = _draws(a), _draws(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=f"{k}: same seed, other draws")
    if methods.get(method).has_draws:
        _, _, c = fit(backend_name, "group_means", method, seed_settings(method), seed=4)
        z = _draws(c)
        assert any(not np.array_equal(x[k], z[k]) for k in x), "seeds 3 and 4 gave the same draws"
