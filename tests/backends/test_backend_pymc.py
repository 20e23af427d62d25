"""The PyMC backend against the numpy reference and on real (tiny) fits.

Log density and gradient must equal ``specrec.model.reference`` at random unconstrained points,
which pins the translation and the transforms; each method (nuts natively, map and vi by the
core's optimisers over this backend's log density, run through the fit driver) must recover
the simulated noise scale and beat the mean-only baseline on held-out rows, deterministically
for a seed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pymc")

from specrec import backends, driver
from specrec.backends import SAMPLE_STATS, FitResult
from specrec.data.simulate import simulate
from specrec.data.splits import random_split
from specrec.model import reference as R
from specrec.model.ir import Model, RowData
from specrec.model.lower import lower, row_data
from specrec.spec.load import LoadedSpec, load_spec, parse_spec_text
from specrec.spec.models import Inference

pytestmark = pytest.mark.backend("pymc")

QUICKSTART = Path(__file__).resolve().parents[2] / "specs" / "quickstart.yaml"
SMALL = ["data.sizes.user=50", "data.sizes.item=40", "data.density=0.5"]

#: Every continuous prior family, with a Uniform whose upper bound is another latent, so the
#: interval transform's bounds are symbolic.
PRIORS = """
specrec: 1
name: priors
data: {source: simulate, sizes: {user: 6, item: 5}, density: 0.8, seed: 3}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  mu: StudentT(4, 3, 1)
  scale: Gamma(2, 4)
  a: {prior: "Normal(0, scale)", dims: [user]}
  w: Beta(2, 3)
  s2: InverseGamma(3, 1)
  ln: LogNormal(0, 0.5)
  hc: HalfCauchy(1)
  b: {prior: "Uniform(-1, ln)", dims: [item]}
  sigma: Exponential(2)
likelihood:
  rating: Normal(mu + w * a[user] + b[item] + s2 * hc, sigma)
"""

COUNTS = """
specrec: 1
name: counts
data: {source: simulate, sizes: {user: 6, item: 5}, density: 0.8, seed: 4}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  a: {prior: "Normal(0, 0.5)", dims: [user]}
  b: {prior: "Normal(1, 0.5)", dims: [item]}
  alpha: HalfNormal(3)
likelihood:
  clicks: NegativeBinomial(exp(a[user] + b[item]), alpha)
"""


@pytest.fixture(scope="module")
def backend() -> Any:
    return backends.get("pymc")


def _model(loaded: LoadedSpec) -> Model:
    return lower(loaded, simulate(loaded))


@dataclass
class Problem:
    """The quickstart spec, shrunk, split into training and held-out rows."""

    loaded: LoadedSpec
    model: Model
    test: RowData
    init: dict[str, np.ndarray]

    def settings(self, method: str, **kw: Any) -> Inference:
        base = {"method": method, "steps": 1500, "lr": 0.02, "warmup": 150, "draws": 100}
        return self.loaded.spec.inference.model_copy(update=base | kw)


@pytest.fixture(scope="module")
def quick() -> Problem:
    loaded = load_spec(QUICKSTART, SMALL)
    ds = simulate(loaded)
    split = random_split(len(ds), 0.1, 42)
    model = lower(loaded, ds.take(split.train))
    test = row_data(ds.take(split.test), model.dims, [])
    init = R.initial_values(model, np.random.default_rng(0), 0.1)
    return Problem(loaded, model, test, init)


def _random_point(model: Model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {rv.name: rng.normal(0.0, 0.7, rv.shape) for rv in model.latents}


def _fd_grad(model: Model, z: dict[str, np.ndarray], n: int, h: float = 1e-5) -> list[tuple]:
    """Central differences of the numpy reference on ``n`` coordinates per latent."""
    rng = np.random.default_rng(7)
    out = []
    for name, value in z.items():
        flat = value.reshape(-1)
        for i in rng.choice(flat.size, size=min(n, flat.size), replace=False):
            up, down = dict(z), dict(z)
            e = np.zeros(flat.size)
            e[i] = h
            up[name] = (flat + e).reshape(value.shape)
            down[name] = (flat - e).reshape(value.shape)
            d = (R.log_density(model, up)[0] - R.log_density(model, down)[0]) / (2 * h)
            out.append((name, i, d))
    return out


@pytest.mark.parametrize("which", ["quickstart", "priors", "counts"])
def test_log_density_and_gradient_match_reference(backend: Any, which: str) -> None:
    loaded = {
        "quickstart": lambda: load_spec(QUICKSTART, ["data.sizes.user=10", "data.sizes.item=8"]),
        "priors": lambda: parse_spec_text(PRIORS, "priors.yaml"),
        "counts": lambda: parse_spec_text(COUNTS, "counts.yaml"),
    }[which]()
    model = _model(loaded)
    ld = backend.log_density(model)
    for seed in (0, 1):
        z = _random_point(model, seed)
        value, grad = ld(z)
        ref = R.log_density(model, z)[0]
        assert isinstance(value, float)
        assert value == pytest.approx(ref, rel=1e-9)
        assert {k: g.shape for k, g in grad.items()} == {k: v.shape for k, v in z.items()}
        for name, i, d in _fd_grad(model, z, n=4):
            assert grad[name].reshape(-1)[i] == pytest.approx(d, rel=1e-5, abs=1e-5), (name, i)


def test_transforms_are_the_cores(backend: Any) -> None:
    """PyMC's value variables carry exactly the core's maps (no transform for real support)."""
    from specrec_pymc.translate import build_model, value_names

    model = _model(parse_spec_text(PRIORS, "priors.yaml"))
    names = value_names(build_model(model), model)
    suffix = {"identity": "", "log": "_log__", "logit": "_logodds__", "interval": "_interval__"}
    assert names == {rv.name: rv.name + suffix[rv.transform] for rv in model.latents}


def _rmse(problem: Problem, result: FitResult) -> tuple[float, float]:
    mean, _ = R.predict_draws(problem.model, result.posterior, problem.test)
    rmse = float(np.sqrt(np.mean((mean.mean((0, 1)) - problem.test.y) ** 2)))
    baseline = float(np.sqrt(np.mean((problem.model.data.y.mean() - problem.test.y) ** 2)))
    return rmse, baseline


FITS = {
    "map": {},
    "vi": {"draws": 50},
    "nuts": {"chains": 1, "sampler": "pymc"},
}


@pytest.fixture(scope="module")
def fits(backend: Any, quick: Problem) -> dict[str, FitResult]:
    return {
        m: driver.run_kernel(backend, quick.model, quick.settings(m, **kw), quick.init, False)
        for m, kw in FITS.items()
    }


@pytest.mark.parametrize("method", list(FITS))
def test_fit_recovers_sigma_and_beats_baseline(
    fits: dict[str, FitResult], quick: Problem, method: str
) -> None:
    result = fits[method]
    assert result.method == method
    assert result.compile_s > 0 and result.fit_s > 0
    assert abs(float(result.posterior["sigma"].mean()) - 0.5) < 0.15
    if method != "nuts":  # as on numpyro and pyro: the objective went down
        assert result.loss is not None and len(result.loss) == 1500
        assert result.loss[-100:].mean() < result.loss[:100].mean()
    rmse, baseline = _rmse(quick, result)
    assert rmse < 0.8 * baseline, (rmse, baseline)  # the siblings' bound, not just "beats it"


@pytest.mark.parametrize("method", list(FITS))
def test_fit_shapes(fits: dict[str, FitResult], quick: Problem, method: str) -> None:
    result = fits[method]
    s = quick.settings(method, **FITS[method])
    lead = {"map": (1, 1), "vi": (1, s.draws), "nuts": (s.chains, s.draws)}[method]
    assert set(result.posterior) == {rv.name for rv in quick.model.latents}
    for rv in quick.model.latents:
        assert result.posterior[rv.name].shape == lead + rv.shape
        assert np.all(np.isfinite(result.posterior[rv.name]))
    if method == "nuts":
        assert set(result.sample_stats) == set(SAMPLE_STATS)
        for k, v in result.sample_stats.items():
            assert v.shape == lead, k
        assert result.sample_stats["diverging"].dtype == bool
        assert result.loss is None
    else:
        assert result.loss is not None and result.loss.shape == (s.steps,)
        assert result.loss[-50:].mean() < result.loss[:50].mean()


def test_map_loss_is_negative_log_posterior(
    fits: dict[str, FitResult], quick: Problem, backend: Any
) -> None:
    """The map loss is -log p in the constrained space (no Jacobian), like find_MAP's target."""
    result = fits["map"]
    point = {k: v[0, 0] for k, v in result.posterior.items()}
    z = R.unconstrain(quick.model, point)
    total = R.log_density(quick.model, z)[0]
    no_jacobian = total - float(z["sigma"])  # sigma is the only log-transformed latent
    # loss[-1] is taken one Adam step before the returned point; the Jacobian term, log sigma,
    # is about -0.7, so 0.3 tells the two objectives apart.
    assert result.loss[-1] == pytest.approx(-no_jacobian, abs=0.3)


def test_nuts_lp_is_the_log_density(fits: dict[str, FitResult], quick: Problem) -> None:
    """sample_stats.lp is the unconstrained log density (Jacobian included) at each draw."""
    result = fits["nuts"]
    for d in (0, 17):
        point = {k: v[0, d] for k, v in result.posterior.items()}
        ref = R.log_density(quick.model, R.unconstrain(quick.model, point))[0]
        assert result.sample_stats["lp"][0, d] == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize(
    "method, kw",
    [
        ("map", {"steps": 50}),
        ("vi", {"steps": 50, "draws": 5}),
        ("nuts", {"warmup": 30, "draws": 10, "sampler": "pymc"}),
    ],
)
def test_same_seed_same_numbers(backend: Any, quick: Problem, method: str, kw: dict) -> None:
    s = quick.settings(method, **kw)
    a = driver.run_kernel(backend, quick.model, s, quick.init, False)
    b = driver.run_kernel(backend, quick.model, s, quick.init, False)
    for name in a.posterior:
        np.testing.assert_array_equal(a.posterior[name], b.posterior[name])
    if method != "map":
        c = driver.run_kernel(
            backend, quick.model, s.model_copy(update={"seed": s.seed + 1}), quick.init, False
        )
        assert not np.array_equal(a.posterior["sigma"], c.posterior["sigma"])


#: The stats each external sampler can report: PyMC's blackjax bridge drops the step size.
EXTERNAL_SAMPLERS = {
    "numpyro": set(SAMPLE_STATS),
    "nutpie": set(SAMPLE_STATS),
    "blackjax": set(SAMPLE_STATS) - {"step_size"},
}


@pytest.mark.parametrize("sampler", list(EXTERNAL_SAMPLERS))
def test_nuts_through_other_samplers(backend: Any, quick: Problem, sampler: str) -> None:
    """numpyro / nutpie / blackjax: stats in specrec's vocabulary, lp with the right sign.

    Each sampler starts from the core's init (nutpie is called directly because
    ``pm.sample`` drops ``initvals`` for it), honours the tree depth where it can, and its
    ``lp`` is the unconstrained log density of the reference at the same draw.
    """
    pytest.importorskip(sampler)
    depth = 10 if sampler == "blackjax" else 6
    s = quick.settings("nuts", warmup=100, draws=30, sampler=sampler, max_tree_depth=depth)
    assert backend.unsupported(quick.model, s) == []
    result = backend.fit(quick.model, s, quick.init, False)
    assert result.info["sampler"] == sampler
    assert set(result.sample_stats) == EXTERNAL_SAMPLERS[sampler]
    for v in result.sample_stats.values():
        assert v.shape == (s.chains, s.draws)
    if sampler != "blackjax":
        assert result.sample_stats["tree_depth"].max() <= depth + 1
    for d in (0, 11):
        point = {k: v[0, d] for k, v in result.posterior.items()}
        ref = R.log_density(quick.model, R.unconstrain(quick.model, point))[0]
        assert result.sample_stats["lp"][0, d] == pytest.approx(ref, rel=1e-6)
    assert abs(float(result.posterior["sigma"].mean()) - 0.5) < 0.15


def test_blackjax_says_what_it_cannot_do(backend: Any, quick: Problem) -> None:
    pytest.importorskip("blackjax")
    s = quick.settings("nuts", sampler="blackjax", max_tree_depth=6)
    [reason] = backend.unsupported(quick.model, s)
    assert "tree depth" in reason


def test_vi_loss_is_the_negative_elbo_numpyro_reports(
    fits: dict[str, FitResult], quick: Problem
) -> None:
    """The pymc vi loop optimises and reports the same objective as numpyro's AutoNormal.

    Both losses are one-draw estimates of -ELBO over the unconstrained space (Jacobians
    included); after the same steps from the same start they settle at the same level.  A
    missing entropy or Jacobian term, or a wrong sign, moves the pymc level by far more than
    the 1 % allowed here.
    """
    pytest.importorskip("numpyro")
    s = quick.settings("vi", **FITS["vi"])
    theirs = backends.get("numpyro").fit(quick.model, s, quick.init, False)
    ours = fits["vi"]
    a, b = float(np.mean(ours.loss[-300:])), float(np.mean(theirs.loss[-300:]))
    assert a == pytest.approx(b, rel=0.01)


def test_unsupported(backend: Any, quick: Problem) -> None:
    ok = quick.settings("nuts")
    assert backend.unsupported(quick.model, ok) == []
    assert backend.unsupported(quick.model, ok.model_copy(update={"sampler": "pymc"})) == []
    stan = ok.model_copy(update={"sampler": "stan"})
    assert backend.unsupported(quick.model, stan) == []  # an undeclared name is the core's
    [reason] = backends.refusal_reasons(backend, quick.model, stan)
    assert "'stan'" in reason and "pymc" in reason
    if importlib.util.find_spec("nutpie") is None:
        [reason] = backend.unsupported(quick.model, ok.model_copy(update={"sampler": "nutpie"}))
        assert "not installed" in reason
    both = ok.model_copy(update={"sampler": "nope", "batch_size": 10})
    assert len(backends.refusal_reasons(backend, quick.model, both)) == 2


def test_registry(backend: Any) -> None:
    import pymc

    from specrec.backends import Backend

    assert isinstance(backend, Backend)
    assert backend.name == "pymc" and backend.version == pymc.__version__
    assert backend.methods == ("nuts",)  # native; map and vi are the core's optimisers
    assert backends.offered_methods(backend) == (
        "map",
        "vi",
        "nuts",
        "em",
        "cavi",
    )  # em, cavi: the core's
