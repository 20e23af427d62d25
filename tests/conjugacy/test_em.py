"""The ``em`` kernel (``specrec.conjugacy.em``) against the independent numpy EM of the seed
(``specrec.testing.em``, given the spec's priors so that both maximise map's objective), the
closed form at K = 1, and the log posterior never decreasing.  Core only: no PPL imported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specrec import backends, driver, methods
from specrec.conjugacy import em
from specrec.data.source import load_data
from specrec.errors import FitError
from specrec.model.lower import lower
from specrec.model.reference import log_density, unconstrain
from specrec.spec.load import load_spec
from specrec.spec.models import Inference
from specrec.testing import em as ref
from specrec.testing.cases import example_spec, prepare_example

SPECS = Path(__file__).resolve().parents[2] / "specs"
SMALL = ["data.sizes.user=60", "data.sizes.item=20", "data.density=0.5", "data.seed=5"]
#: the priors of specs/netflix_mixture.yaml, as the reference takes them
PRIORS = ref.Priors(a=1.0, m0=3.0, s0=1.5, alpha=4.0, beta=2.0)


def _types(k: int) -> list[str]:
    """Overrides for K types (the simulation's true weights and spreads sized to match)."""
    sds = ", ".join(f"{0.5 + 0.1 * j:.1f}" for j in range(k))
    weights = ", ".join([str(1 / k)] * k)
    return [f"dims.type={k}", f"data.true.w=[{weights}]", f"data.true.sigma=[{sds}]"]


def _model(overrides: list[str] = ()):
    loaded = load_spec(SPECS / "netflix_mixture.yaml", [*SMALL, *overrides])
    ds, split = load_data(loaded, None)
    return lower(loaded, ds.take(split.train))


def _rows(model):
    rows = model.data
    return (
        rows.index["user"],
        rows.index["item"],
        model.to_model_scale(rows.y),
        model.dims["user"].size,
        model.dims["item"].size,
    )


def _reference(model, start, iters, tol):
    users, items, y, n_users, n_items = _rows(model)
    k = model.dims["type"].size
    begin = (start["w"], start["mu"], start["sigma"])
    return ref.gaussian_mixture_em(
        users, items, y, n_users, n_items, k, None, iters, tol, PRIORS, begin
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_iteration_matches_the_reference_from_the_same_start(seed: int) -> None:
    """Step for step: after the same number of iterations from the same start, the same
    log-likelihood to 1e-8 relative and the same point (neither stops early: tol < 0)."""
    model = _model()
    start = em.assignment_start(model, np.random.default_rng(seed))
    start["sigma"] = start["sigma"] * np.array([0.8, 1.0, 1.3])  # unequal spreads, as EM meets
    for n in (1, 2, 3, 6):
        ours = em.run(model, start, steps=n, tol=-1.0)
        theirs = _reference(model, start, iters=n, tol=-np.inf)
        # the reference's ll is computed before its n-th M-step: of the point ours returns
        assert ours.log_posterior.size == n
        assert ours.log_likelihood == pytest.approx(theirs.log_likelihood, rel=1e-8)
        after = em.run(model, start, steps=n + 1, tol=-1.0).values
        np.testing.assert_allclose(after["w"], theirs.weights, rtol=1e-8)
        np.testing.assert_allclose(after["mu"], theirs.means, rtol=1e-8)
        np.testing.assert_allclose(after["sigma"], theirs.sds, rtol=1e-8)


def test_converged_log_likelihood_matches_the_reference() -> None:
    model = _model(_types(2))
    start = em.assignment_start(model, np.random.default_rng(3))
    ours = em.run(model, start, steps=2000, tol=1e-13)
    theirs = _reference(model, start, iters=2000, tol=1e-13)
    assert ours.converged
    assert ours.log_likelihood == pytest.approx(theirs.log_likelihood, rel=1e-8)


def test_the_log_posterior_is_maps_objective() -> None:
    """What em reports is the log density map maximises: the priors of the constrained values
    (no Jacobian) plus the mixture likelihood with the type summed out (the reference's walk)."""
    model = _model()
    start = em.assignment_start(model, np.random.default_rng(0))
    out = em.run(model, start, steps=5, tol=0.0)
    _, parts = log_density(model, unconstrain(model, out.values))
    prior = sum(
        float(np.sum(rv.dist.logpdf(out.values[rv.name], **_args(rv)))) for rv in model.latents
    )
    assert out.log_likelihood == pytest.approx(parts[model.likelihood.name], rel=1e-12)
    assert out.log_posterior[-1] == pytest.approx(out.log_likelihood + prior, rel=1e-12)


def _args(rv):
    from specrec.model.walk import NUMPY_OPS, evaluate

    args = {k: np.asarray(evaluate(e, {}, None, NUMPY_OPS)) for k, e in rv.args.items()}
    if rv.distribution == "Dirichlet":
        args["a"] = np.broadcast_to(args["a"], rv.shape)
    return args


@pytest.mark.parametrize(
    ("overrides", "init"),
    [
        ([], "assign"),
        ([], "prior"),
        (_types(4), "assign"),
        (_types(4), "prior"),
        # the 1-d search, not the quadratic; from a start that spreads users over the types
        # (a prior start leaves one type a single user, whose spread then goes to 0 under a
        # prior that does not keep it off 0: test_a_collapsed_component_is_an_error)
        (["params.sigma.prior=HalfNormal(1)"], "assign"),
        (["params.sigma.prior=Gamma(2, 2)", "params.w.prior=Dirichlet(2)"], "assign"),
    ],
    ids=[
        "inverse-gamma",
        "inverse-gamma-prior-start",
        "k4",
        "k4-prior-start",
        "half-normal",
        "gamma-dirichlet2",
    ],
)
def test_the_log_posterior_never_decreases(overrides: list[str], init: str) -> None:
    model = _model(overrides)
    for seed in range(3):
        settings = Inference(method="em", init=init, seed=seed)
        start = driver.start_values(model, settings, seed)
        lp = em.run(model, start, steps=300, tol=1e-12).log_posterior
        assert np.all(np.diff(lp) >= -1e-10 * np.abs(lp[1:])), (seed, np.diff(lp).min())


def test_a_collapsed_component_is_an_error() -> None:
    """A type left with one user fits the user's ratings exactly as its spread goes to 0: the
    density is unbounded there, so em stops with the reason instead of reporting a mode."""
    model = _model(["params.sigma.prior=HalfNormal(1)"])
    start = driver.start_values(model, Inference(method="em", init="prior", seed=1), 1)
    with pytest.raises(FitError, match="likelihood is unbounded"):
        em.run(model, start, steps=300, tol=1e-12)


def test_k1_is_the_closed_form() -> None:
    """One type: the mode of mu given sigma is the precision-weighted mean of each item's
    ratings and the prior mean, and sigma the positive root of the InverseGamma stationary
    equation given mu; em stops where both hold."""
    model = _model(_types(1))
    start = em.assignment_start(model, np.random.default_rng(0))
    out = em.run(model, start, steps=500, tol=1e-15)
    _, items, y, _, n_items = _rows(model)
    sigma = float(out.values["sigma"][0])
    n = np.bincount(items, minlength=n_items)
    total = np.bincount(items, y, n_items)
    mu = (total / sigma**2 + PRIORS.m0 / PRIORS.s0**2) / (n / sigma**2 + 1 / PRIORS.s0**2)
    np.testing.assert_allclose(out.values["mu"][0], mu, rtol=1e-10)
    big_s = float(np.sum((y - mu[items]) ** 2))
    c = PRIORS.alpha + 1 + len(y)
    root = (PRIORS.beta + np.sqrt(PRIORS.beta**2 + 4 * c * big_s)) / (2 * c)
    assert sigma == pytest.approx(root, rel=1e-10)
    np.testing.assert_allclose(out.values["w"], [1.0])


def test_a_model_without_mixture_is_one_closed_form_step() -> None:
    """group_means: Normal means with a known spread; the mode is exact after one M-step."""
    p = prepare_example("group_means")
    model = p.model
    start = driver.start_values(model, Inference(method="em"), 0)
    out = em.run(model, start, steps=50, tol=1e-14)
    y, g = model.to_model_scale(model.data.y), model.data.index["group"]
    k = model.dims["group"].size
    mode = np.bincount(g, y, k) / (np.bincount(g, minlength=k) + 1.0)  # Normal(0, 1), sd 1
    np.testing.assert_allclose(out.values["group_means"], mode, rtol=1e-12)
    assert out.log_posterior.size == 3  # start, the mode, and the check that it moved no more


def test_assign_starts_every_component_non_empty() -> None:
    """k-means-like seeds on well separated types: every type keeps users, unlike a start
    whose spreads are prior draws."""
    model = _model(_types(3))
    for seed in range(3):
        start = em.assignment_start(model, np.random.default_rng(seed))
        assert np.allclose(start["sigma"], start["sigma"][0])  # no type starts wider
        out = em.run(model, start, steps=200, tol=1e-10)
        assert em.nonempty_components(out.responsibilities) == 3


def test_models_em_cannot_fit_are_refused_with_the_reason() -> None:
    quick = example_spec("quickstart")
    p = prepare_example("quickstart")
    settings = quick.spec.inference.model_copy(update={"method": "em"})
    reasons = methods.get("em").refusal_reasons(p.model, settings)
    assert "em: U's prior reads mu_u" in " ".join(reasons), reasons
    assert all(r.startswith("em: ") for r in reasons)
    # the same reasons come from every backend's check, before any work
    assert set(reasons) <= set(backends.refusal_reasons(_AnyBackend(), p.model, settings))
    student = _model(["likelihood.rating.distribution=StudentT(4, mu[item], sigma)"])
    [why] = [r for r in em.refusal_reasons(student) if "Normal likelihood" in r]
    assert "not StudentT" in why
    start = settings.model_copy(update={"method": "map", "init": "assign"})
    assert any(
        r.startswith("init: assign: ")
        for r in backends.refusal_reasons(_AnyBackend(), p.model, start)
    )


class _AnyBackend:
    name = "any"
    methods = ()
    features = frozenset({"mixture"})

    def unsupported(self, model, settings):
        return []


def test_em_is_a_point_method_with_restarts_and_a_tolerance() -> None:
    m = methods.get("em")
    assert m.produces == "point" and m.restarts and m.loss_trace and not m.needs_density
    assert {"steps", "tol", "restarts"} <= m.settings
    assert Inference().tol == 1e-8
    with pytest.raises(ValueError, match="tol"):
        Inference(tol=0)


def test_driver_runs_em_with_restarts_on_any_backend() -> None:
    """em computes from the model alone: a backend with no log density is given it, every
    start's log-likelihood and non-empty types are reported, the best log posterior kept."""
    model = _model()
    settings = Inference(method="em", init="assign", restarts=3, steps=200)
    inferred = driver.run_inference(_AnyBackend(), model, settings)
    r = inferred.restarts
    assert r is not None and len(r["log_likelihood"]) == 3 and len(r["nonempty_components"]) == 3
    assert r["chosen"] == int(np.argmin(r["losses"]))
    assert inferred.kernel == "core"
    info = inferred.result.info["em"]
    assert info["converged"] and info["nonempty_components"] == 3
    assert -inferred.result.loss[-1] == pytest.approx(info["log_posterior"])


ROW_MIXTURE = """
specrec: 1
name: rowmix
data:
  source: simulate
  sizes: {item: 10}
  rows: 400
  seed: 1
  true: {w: [0.6, 0.4], sigma: [0.5, 0.6]}
  split: {kind: random, test_fraction: 0.1, seed: 0}
dims:
  item: {column: item_id}
  type: 2
params:
  w: {prior: Dirichlet(1), dims: [type]}
  mu: {prior: "Normal(3, 1.5)", dims: [type, item]}
  sigma: {prior: "InverseGamma(4, 2)", dims: [type]}
likelihood:
  rating:
    distribution: Normal(mu[item], sigma)
    mixture: {over: type, weights: w}
"""


@pytest.mark.parametrize("init", ["assign", "prior"])
def test_a_mixture_per_row_is_fitted_too(init: str) -> None:
    """Without ``per`` every row is its own level: the same kernel, rows as levels."""
    from specrec.spec.load import parse_spec_text

    loaded = parse_spec_text(ROW_MIXTURE, "<rowmix>")
    ds, split = load_data(loaded, None)
    model = lower(loaded, ds.take(split.train))
    start = driver.start_values(model, Inference(method="em", init=init), 0)
    out = em.run(model, start, steps=500, tol=1e-12)
    lp = out.log_posterior
    assert out.converged and np.all(np.diff(lp) >= -1e-10 * np.abs(lp[1:]))
    assert out.responsibilities.shape == (len(model.data), 2)
    _, parts = log_density(model, unconstrain(model, out.values))
    assert out.log_likelihood == pytest.approx(parts[model.likelihood.name], rel=1e-12)
