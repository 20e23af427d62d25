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

What is checked, on small models so one backend runs in a few minutes:

* the protocol itself: name, methods, version, and an ``unsupported`` that accepts the
  simplest model for every method offered and refuses settings no backend can honour;
* log density and gradient against the numpy reference (``specrec.parity.check_backend``) on
  every distribution of the table as a prior and as the likelihood (generated from the
  table, so a new distribution is covered without editing this file), the hierarchical
  quickstart and the group means;
* parameter recovery for each method: the conjugate group-means model, whose exact posterior
  is known, and a small quickstart (noise sigma and held-out RMSE against the mean baseline);
* ``FitResult`` shapes and the InferenceData specrec builds from it (names, dims, coords),
  NUTS sampler statistics and the map/vi loss trace;
* seeding: the same seed gives identical draws, another seed other draws.

A model, setting or method the backend declares it cannot handle (a method missing from
``backend.methods``, a non-empty ``backend.unsupported(model, settings)``) makes the case
``xfail`` with the backend's reason: visible in the report, never a silent pass or a skip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specrec import backends
from specrec.backends import SAMPLE_STATS, Backend, FitResult
from specrec.inference import to_inference_data
from specrec.model import reference as R
from specrec.model.ir import Model
from specrec.parity import check_backend
from specrec.spec.models import Inference
from specrec.testing.cases import (
    QUICKSTART_SMALL,
    Case,
    Prepared,
    group_means_posterior,
    parity_cases,
    prepare,
    prepare_example,
)

__all__ = [
    "test_backend_protocol",
    "test_fit_result_and_inference_data",
    "test_group_means_recovered",
    "test_log_density_matches_reference",
    "test_nuts_sample_stats",
    "test_optimiser_loss_trace",
    "test_other_seed_other_draws",
    "test_quickstart_noise_and_prediction",
    "test_same_seed_same_draws",
    "test_simplest_model_is_supported",
    "test_unsupported_settings_are_reported",
]

#: Every inference method a spec can ask for (``Inference.method``).
METHODS = ("map", "vi", "nuts")

#: Settings of the fits the recovery, shape and diagnostics tests share (one fit per backend,
#: case and method).  Small on purpose: Pyro's NUTS costs ~5 ms per leapfrog step.
FIT_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("group_means", "map"): {"steps": 300, "lr": 0.05},
    ("group_means", "vi"): {"steps": 800, "lr": 0.03, "draws": 200},
    ("group_means", "nuts"): {"warmup": 200, "draws": 200, "chains": 2, "max_tree_depth": 6},
    ("quickstart", "map"): {"steps": 1000, "lr": 0.02},
    ("quickstart", "vi"): {"steps": 1000, "lr": 0.03, "draws": 100},
    ("quickstart", "nuts"): {"warmup": 100, "draws": 100, "chains": 1, "max_tree_depth": 5},
}

#: Tiny fits for the seeding tests: only determinism is checked, not quality.
SEED_SETTINGS: dict[str, dict[str, Any]] = {
    "map": {"steps": 50, "lr": 0.05},
    "vi": {"steps": 100, "lr": 0.05, "draws": 20},
    "nuts": {"warmup": 30, "draws": 20, "chains": 1, "max_tree_depth": 4},
}

_EXAMPLE_OVERRIDES = {"quickstart": QUICKSTART_SMALL, "group_means": ()}


# ---- helpers ---------------------------------------------------------------------------------


def _backend(name: str) -> Backend:
    return backends.get(name)


def _xfail_unless_supported(backend: Backend, model: Model, settings: Inference) -> None:
    """xfail (with the backend's own reason) what the backend declares it cannot do."""
    if settings.method not in backend.methods:
        pytest.xfail(
            f"backend {backend.name!r} does not offer {settings.method!r} "
            f"(methods: {', '.join(backend.methods) or 'none'})"
        )
    reasons = backend.unsupported(model, settings)
    if reasons:
        pytest.xfail(f"backend {backend.name!r} declares: " + "; ".join(reasons))


_FITS: dict[tuple, tuple[Prepared, Inference, FitResult] | BaseException] = {}


def fit(
    backend_name: str,
    case: str,
    method: str,
    update: dict[str, Any] | None = None,
    seed: int = 0,
    fresh: bool = False,
) -> tuple[Prepared, Inference, FitResult]:
    """Fit an example case as ``specrec fit`` would (start drawn from the seed), once.

    Tests that look at different aspects of one fit share it (the cache lives for the
    process); a fit that raised re-raises in every test that needs it rather than refitting.
    ``fresh=True`` fits again whatever the cache holds (the seeding test needs two fits).
    """
    p = prepare_example(case, tuple(_EXAMPLE_OVERRIDES[case]))
    settings = p.loaded.spec.inference.model_copy(
        update={**(FIT_SETTINGS[case, method] if update is None else update), "method": method}
    )
    settings = settings.model_copy(update={"seed": seed})
    backend = _backend(backend_name)
    _xfail_unless_supported(backend, p.model, settings)
    key = (backend_name, case, method, tuple(sorted(settings.model_dump().items())))
    if fresh or key not in _FITS:
        init = R.initial_values(p.model, np.random.default_rng(seed), settings.init_radius)
        try:
            _FITS[key] = (p, settings, backend.fit(p.model, settings, init, False))
        except Exception as exc:
            _FITS[key] = exc
    got = _FITS[key]
    if isinstance(got, BaseException):
        raise got
    return got


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


# ---- the protocol ----------------------------------------------------------------------------


def test_backend_protocol(backend_name: str) -> None:
    """Found by its entry point, under its own name, with a version and known methods."""
    backend = _backend(backend_name)
    assert isinstance(backend, Backend)
    assert backend.name == backend_name
    assert isinstance(backend.methods, tuple) and backend.methods
    assert set(backend.methods) <= set(METHODS), backend.methods
    assert isinstance(backend.version, str) and backend.version
    info = {i.name: i for i in backends.installed()}[backend_name]
    assert info.error is None and info.methods == tuple(backend.methods)


@pytest.mark.parametrize("method", METHODS)
def test_simplest_model_is_supported(backend_name: str, method: str) -> None:
    """A method a backend offers must take the group-means model with default settings;
    otherwise every recovery test would turn into an xfail and hide a broken backend."""
    backend = _backend(backend_name)
    if method not in backend.methods:
        pytest.xfail(f"backend {backend_name!r} does not offer {method!r}")
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": method})
    assert backend.unsupported(p.model, settings) == []


@pytest.mark.parametrize(
    "setting",
    [{"batch_size": 10}, {"sampler": "no-such-sampler"}],
    ids=["batch_size", "unknown_sampler"],
)
def test_unsupported_settings_are_reported(backend_name: str, setting: dict[str, Any]) -> None:
    """Settings no backend can honour (minibatch vi is not implemented anywhere yet; a sampler
    nobody provides) are reasons from ``unsupported``, before any work, not a crash in fit."""
    backend = _backend(backend_name)
    p = prepare_example("group_means")
    method = "vi" if "vi" in backend.methods else backend.methods[0]
    settings = p.loaded.spec.inference.model_copy(update={"method": method, **setting})
    reasons = backend.unsupported(p.model, settings)
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
    settings = Inference(method=backend.methods[0])
    _xfail_unless_supported(backend, p.model, settings)
    r = check_backend(p.model, backend_name, n_points=3, seed=0)
    assert r.error is None, r.error
    assert r.ok, "\n".join(r.problems)


# ---- recovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_group_means_recovered(backend_name: str, method: str) -> None:
    """Group means is conjugate: its exact posterior is Normal(sum(y)/(n+1), 1/sqrt(n+1)) per
    group, so every method is held to it, and the simulated truth must lie in the 95 % interval.
    """
    p, _, result = fit(backend_name, "group_means", method)
    exact_mean, exact_sd = group_means_posterior(p)
    truth = p.data.truth["group_means"]
    draws = np.asarray(result.posterior["group_means"]).reshape(-1, exact_mean.size)
    mean = draws.mean(0)
    if method == "map":  # the mode of a Normal posterior is its mean
        np.testing.assert_allclose(mean, exact_mean, atol=0.1 * exact_sd.min())
        assert np.all(np.abs(mean - truth) < 3 * exact_sd), (mean, truth)
        return
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    assert np.all((lo < truth) & (truth < hi)), (lo, truth, hi)
    # vi: stochastic Adam leaves the guide jittering around the optimum; nuts: Monte Carlo error
    tol_mean, sd_range = (0.75, (0.6, 1.6)) if method == "vi" else (0.35, (0.75, 1.3))
    assert np.all(np.abs(mean - exact_mean) < tol_mean * exact_sd), (mean, exact_mean)
    ratio = draws.std(0) / exact_sd
    assert np.all((sd_range[0] < ratio) & (ratio < sd_range[1])), ratio


@pytest.mark.parametrize("method", METHODS)
def test_quickstart_noise_and_prediction(backend_name: str, method: str) -> None:
    """A hierarchical factor model: the noise sigma is recovered (vi, nuts), and every method
    predicts held-out ratings clearly better than the training mean."""
    p, _, result = fit(backend_name, "quickstart", method)
    sigma = float(np.mean(result.posterior["sigma"]))
    true_sigma = float(p.data.truth["sigma"])
    if method == "map":  # MAP of a hierarchical model overfits: sigma is low, but not absurdly
        assert 0.3 * true_sigma < sigma < 1.3 * true_sigma, sigma
    else:
        assert sigma == pytest.approx(true_sigma, abs=0.15)
    rows = p.test_rows()
    mean, _ = R.predict_draws(p.model, result.posterior, rows)
    rmse = _rmse(mean.mean((0, 1)), rows.y)
    baseline = _rmse(np.full(len(rows), p.model.data.y.mean()), rows.y)
    assert rmse < 0.8 * baseline, (rmse, baseline)


# ---- shapes, names, diagnostics ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", ["group_means", "quickstart"])
def test_fit_result_and_inference_data(backend_name: str, case: str, method: str) -> None:
    """Draws are (chain, draw, *shape) in specrec's names; the InferenceData specrec builds
    from them carries the model's variable names, dims and coords, whatever the backend."""
    p, settings, result = fit(backend_name, case, method)
    assert isinstance(result, FitResult) and result.method == method
    model = p.model
    assert set(result.posterior) >= {rv.name for rv in model.latents}
    chains, draws = {
        "map": (1, 1),
        "vi": (1, settings.draws),
        "nuts": (settings.chains, settings.draws),
    }[method]
    for rv in model.latents:
        arr = np.asarray(result.posterior[rv.name])
        assert arr.shape == (chains, draws, *rv.shape), (rv.name, arr.shape)
        assert np.all(np.isfinite(arr)), rv.name
        if rv.transform != "interval":  # interval bounds may be expressions; skip those
            assert rv.dist.support.check(arr), f"{rv.name} outside its support"
    assert result.fit_s >= 0 and result.compile_s >= 0
    idata = to_inference_data(model, result)
    assert idata.attrs["method"] == method
    assert set(idata.posterior.data_vars) == {rv.name for rv in model.latents}
    for rv in model.latents:
        assert idata.posterior[rv.name].dims == ("chain", "draw", *rv.dims), rv.name
    for name, dim in model.dims.items():
        if name in idata.posterior.coords:
            np.testing.assert_array_equal(idata.posterior.coords[name].values, dim.coords)
    used = {d for rv in model.latents for d in rv.dims}
    assert used <= set(idata.posterior.coords)


@pytest.mark.parametrize("case", ["group_means", "quickstart"])
def test_nuts_sample_stats(backend_name: str, case: str) -> None:
    """NUTS reports ArviZ-named statistics per (chain, draw), at least ``diverging`` and
    ``lp``, and ``lp`` is the log density the reference gives at that draw (Jacobians in)."""
    p, settings, result = fit(backend_name, case, "nuts")
    stats = result.sample_stats
    assert {"diverging", "lp"} <= set(stats), sorted(stats)
    unknown = set(stats) - set(SAMPLE_STATS)
    assert not unknown, f"not ArviZ names (InferenceData would drop them): {sorted(unknown)}"
    for k, v in stats.items():
        assert np.shape(v) == (settings.chains, settings.draws), (k, np.shape(v))
    assert np.asarray(stats["diverging"]).dtype == bool
    if case == "group_means":  # a Gaussian posterior: nothing to diverge on
        assert not np.any(stats["diverging"])
    c, d = settings.chains - 1, settings.draws // 2
    draw = {rv.name: np.asarray(result.posterior[rv.name])[c, d] for rv in p.model.latents}
    ref, _ = R.log_density(p.model, R.unconstrain(p.model, draw))
    assert float(stats["lp"][c, d]) == pytest.approx(ref, rel=1e-3, abs=1e-2)
    idata = to_inference_data(p.model, result)
    for k in ("diverging", "lp"):
        assert idata.sample_stats[k].dims == ("chain", "draw")


@pytest.mark.parametrize("method", ["map", "vi"])
@pytest.mark.parametrize("case", ["group_means", "quickstart"])
def test_optimiser_loss_trace(backend_name: str, case: str, method: str) -> None:
    """map and vi return the objective at every step (it is plotted and saved with the run),
    and it goes down."""
    _, settings, result = fit(backend_name, case, method)
    assert result.loss is not None, "map/vi must return a loss trace"
    loss = np.asarray(result.loss, dtype=float)
    assert loss.shape == (settings.steps,)
    assert np.all(np.isfinite(loss))
    k = max(1, settings.steps // 10)
    assert loss[-k:].mean() < loss[:k].mean()
    p = prepare_example(case, tuple(_EXAMPLE_OVERRIDES[case]))
    idata = to_inference_data(p.model, result)
    assert idata.loss["loss"].shape == (settings.steps,)


# ---- seeding -----------------------------------------------------------------------------------


def _draws(result: FitResult) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in sorted(result.posterior.items())}


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_draws(backend_name: str, method: str) -> None:
    """Two fits with the same seed (and start) give bit-identical draws: a run can be redone."""
    _, _, a = fit(backend_name, "group_means", method, SEED_SETTINGS[method], seed=3)
    _, _, b = fit(backend_name, "group_means", method, SEED_SETTINGS[method], seed=3, fresh=True)
    assert a is not b
    for (k, x), (_, y) in zip(_draws(a).items(), _draws(b).items(), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=k)


@pytest.mark.parametrize("method", ["vi", "nuts"])
def test_other_seed_other_draws(backend_name: str, method: str) -> None:
    """Another seed gives other draws (map is deterministic from a given start: not tested)."""
    _, _, a = fit(backend_name, "group_means", method, SEED_SETTINGS[method], seed=3)
    _, _, b = fit(backend_name, "group_means", method, SEED_SETTINGS[method], seed=4)
    x, y = _draws(a), _draws(b)
    assert any(not np.array_equal(x[k], y[k]) for k in x), "seeds 3 and 4 gave the same draws"
