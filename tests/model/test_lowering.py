"""Lowering a spec to the model representation, and the numpy reference built on it.

Covers the dims and alignment of lowered expressions, the topological order of latents,
constant folding, data statistics (checked against hand-computed values, ``dense_var_by``
against the PMF notebook's mean-imputed dense matrix), and ``specrec.model.reference``'s log
density, unconstrained map and initial values against a hand-written scipy model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from specrec.data.dataset import Dataset
from specrec.model import reference
from specrec.model.ir import OBS, Align, Apply, Const, Gather, ParamRef, Sum
from specrec.model.lower import PLACEHOLDER_SIZE, check, lower
from specrec.spec.load import load_spec, parse_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"


def ratings(users: list[int], items: list[int], y: list[float], n_users: int, n_items: int):
    """A Dataset of (user_id, item_id, rating) rows with the given codes and level counts."""
    return Dataset(
        response="rating",
        y=np.asarray(y, dtype=float),
        codes={"user_id": np.asarray(users), "item_id": np.asarray(items)},
        levels={
            "user_id": np.arange(100, 100 + n_users),
            "item_id": np.arange(200, 200 + n_items),
        },
    )


# ---- the quickstart spec ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def quickstart():
    return load_spec(SPECS / "quickstart.yaml")


def test_every_example_spec_checks():
    for path in sorted(p for p in SPECS.rglob("*.yaml") if "studies" not in p.parts):
        check(load_spec(path))


def test_quickstart_dims_and_alignment(quickstart):
    ds = ratings([0, 1, 2, 3, 0], [0, 1, 0, 1, 2], [4, 3, 5, 2, 1], n_users=4, n_items=3)
    m = lower(quickstart, ds)
    assert [rv.name for rv in m.latents] == ["mu", "mu_u", "U", "V", "sigma"]
    assert {n: (d.size, d.column) for n, d in m.dims.items()} == {
        "user": (4, "user_id"),
        "item": (3, "item_id"),
        "factor": (3, None),
    }
    np.testing.assert_array_equal(m.dims["user"].coords, [100, 101, 102, 103])

    U = m.latent("U")
    assert (U.dims, U.shape, U.distribution) == (("user", "factor"), (4, 3), "Normal")
    # U's prior mean is mu_u (over factor) broadcast to U's dims
    assert U.args["mu"] == Align(ParamRef("mu_u", ("factor",)), ("user", "factor"))
    assert U.args["mu"].pattern == ("x", 0)
    assert isinstance(U.args["sigma"], Const) and U.args["sigma"].dims == ()
    assert float(U.args["sigma"].value) == 0.5
    assert m.latent("mu_u").shape == (3,)
    assert m.latent("sigma").transform == "log"
    assert m.latent("mu").transform == "identity"

    lik = m.likelihood
    assert lik.observed and lik.name == "rating" and lik.dims == (OBS,) and lik.shape == (5,)
    mu = lik.args["mu"]
    assert mu.dims == (OBS,)
    assert isinstance(mu, Apply) and mu.fn == "add"
    scalar, dot = mu.args
    assert scalar == ParamRef("mu", ())  # scalars are not aligned
    assert isinstance(dot, Sum) and dot.dim == "factor" and dot.dims == (OBS,)
    prod = dot.operand
    assert isinstance(prod, Apply) and prod.fn == "mul" and prod.dims == (OBS, "factor")
    assert prod.args == (
        Gather(ParamRef("U", ("user", "factor")), "user", (OBS, "factor")),
        Gather(ParamRef("V", ("item", "factor")), "item", (OBS, "factor")),
    )
    assert lik.args["sigma"] == ParamRef("sigma", ())

    np.testing.assert_array_equal(m.data.y, [4, 3, 5, 2, 1])
    np.testing.assert_array_equal(m.data.index["user"], [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(m.data.index["item"], [0, 1, 0, 1, 2])
    assert m.n_params() == 1 + 3 + 4 * 3 + 3 * 3 + 1


def test_without_data_sizes_are_placeholders(quickstart):
    m = lower(quickstart)
    assert m.dims["user"].size == m.dims["item"].size == PLACEHOLDER_SIZE
    assert m.dims["factor"].size == 3
    assert m.likelihood.shape == (PLACEHOLDER_SIZE,)


def test_broadcasting_puts_obs_first():
    text = """\
specrec: 1
name: t
data: {source: simulate, sizes: {user: 3}, rows: 10}
dims: {user: {column: user_id}, k: 2}
params:
  w: {prior: "Normal(0, 1)", dims: [k]}
  b: {prior: "Normal(0, 1)", dims: [user]}
likelihood:
  rating: Normal(sum(w * b[user], k), 1)
"""
    m = lower(parse_spec_text(text))
    s = m.likelihood.args["mu"]
    assert isinstance(s, Sum) and s.dims == (OBS,)
    prod = s.operand
    assert prod.dims == (OBS, "k")
    assert prod.args == (
        Align(ParamRef("w", ("k",)), (OBS, "k")),
        Align(Gather(ParamRef("b", ("user",)), "user", (OBS,)), (OBS, "k")),
    )


# ---- order and folding -----------------------------------------------------------------------

ORDER = """\
specrec: 1
name: order
data: {source: simulate, sizes: {user: 3}, rows: 10}
dims: {user: {column: user_id}}
params:
  b: {prior: "Normal(m, s)", dims: [user]}
  s: HalfNormal(t)
  m: Normal(0, 1)
  t: Exponential(1)
let:
  half: 1 / sqrt(2)
likelihood:
  rating: Normal(b[user], half)
"""


def test_topological_order_follows_declarations_where_it_can():
    m = lower(parse_spec_text(ORDER))
    names = [rv.name for rv in m.latents]
    assert names == ["m", "t", "s", "b"]
    for i, rv in enumerate(m.latents):  # every dependency comes earlier
        deps = {e.name for a in rv.args.values() for e in _walk(a) if isinstance(e, ParamRef)}
        assert deps <= set(names[:i])


def _walk(e):
    yield e
    for child in ("operand",):
        if hasattr(e, child):
            yield from _walk(getattr(e, child))
    for a in getattr(e, "args", ()):
        yield from _walk(a)


def test_constant_folding():
    m = lower(parse_spec_text(ORDER))
    sigma = m.likelihood.args["sigma"]
    assert isinstance(sigma, Const) and sigma.dims == ()
    assert float(sigma.value) == pytest.approx(1 / np.sqrt(2))
    assert sigma.label == "half"  # the label is the text as written
    inline = ORDER.replace("Normal(b[user], half)", "Normal(b[user], 1/sqrt(2))").replace(
        "let:\n  half: 1 / sqrt(2)\n", ""
    )
    sigma = lower(parse_spec_text(inline)).likelihood.args["sigma"]
    assert isinstance(sigma, Const) and sigma.label == "(1 / sqrt(2))"
    assert float(sigma.value) == pytest.approx(1 / np.sqrt(2))


def test_a_constant_mean_vector_is_the_number_in_every_coordinate():
    """BPMF's mu0 = 0: ``MvNormalPrecision(0, ...)`` over ``factor`` gets a vector of zeros."""
    m = lower(load_spec(SPECS / "movielens" / "bpmf_nw.yaml"))
    mu = m.latent("mu_u").args["mu"]
    assert isinstance(mu, Const) and mu.dims == ("factor",)
    np.testing.assert_array_equal(mu.value, np.zeros(10))
    chol = m.latent("L_u")  # a 10 x 10 Cholesky factor has 55 free numbers
    assert chol.transform == "lower_cholesky" and chol.unconstrained_shape == (55,)


def test_constant_folding_of_nested_arithmetic():
    text = ORDER.replace("m: Normal(0, 1)", "m: Normal(2 ^ 3 - -1, exp(0) * 3)")
    m = lower(parse_spec_text(text)).latent("m")
    assert float(m.args["mu"].value) == 9.0
    assert float(m.args["sigma"].value) == 3.0


# ---- statistics of the training rows ---------------------------------------------------------

STATS = """\
specrec: 1
name: stats
data: {source: simulate, sizes: {user: 4, item: 3}, rows: 10}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  g: Normal(mean(rating), sd(rating))
  m_u: {prior: "Normal(mean_by(rating, user), 1)", dims: [user]}
  v_u: {prior: "Normal(var_by(rating, user), 1)", dims: [user]}
  c_u: {prior: "Normal(count_by(rating, user), 1)", dims: [user]}
  d_u: {prior: "Normal(dense_var_by(rating, user), 1)", dims: [user]}
  d_i: {prior: "Normal(dense_var_by(rating, item), 1)", dims: [item]}
  n: Normal(count(rating), var(rating))
  mm: Normal(mean(mean_by(rating, item)), max(rating) - min(rating))
likelihood:
  rating: Normal(g + m_u[user] + v_u[user] + c_u[user] + d_u[user] + d_i[item] + n + mm, 1)
"""

# 4 users x 3 items; user 2 has one rating, user 3 none (a level only in the test set)
USERS = [0, 0, 0, 1, 1, 2]
ITEMS = [0, 1, 2, 0, 2, 1]
Y = [5.0, 3.0, 4.0, 1.0, 2.0, 4.0]


@pytest.fixture(scope="module")
def stats_model():
    return lower(parse_spec_text(STATS), ratings(USERS, ITEMS, Y, n_users=4, n_items=3))


def _arg(model, name: str, arg: str = "mu") -> np.ndarray:
    e = model.latent(name).args[arg]
    assert isinstance(e, Const)
    return np.asarray(e.value, dtype=float)


def test_scalar_statistics(stats_model):
    y = np.array(Y)
    assert _arg(stats_model, "g") == pytest.approx(19 / 6)
    assert _arg(stats_model, "g", "sigma") == pytest.approx(y.std())
    assert _arg(stats_model, "n") == 6
    assert _arg(stats_model, "n", "sigma") == pytest.approx(y.var())
    assert _arg(stats_model, "mm", "sigma") == 4.0
    # mean of the per-item means: items have (5, 1), (3, 4), (4, 2)
    assert _arg(stats_model, "mm") == pytest.approx(np.mean([3.0, 3.5, 3.0]))


def test_grouped_statistics(stats_model):
    y = np.array(Y)
    g, v = y.mean(), y.var()
    np.testing.assert_allclose(_arg(stats_model, "m_u"), [4.0, 1.5, 4.0, g])
    # var_by: levels with fewer than 2 rows get the overall variance
    np.testing.assert_allclose(_arg(stats_model, "v_u"), [np.var([5, 3, 4]), 0.25, v, v])
    np.testing.assert_allclose(_arg(stats_model, "c_u"), [3, 2, 1, 0])


def test_dense_var_by_matches_the_pmf_notebook(stats_model):
    # The PMF notebook: fill the missing cells of the user x item matrix with the mean of the
    # observed ratings, then take the variance (ddof 0) of each row (alpha_u) or column (alpha_v).
    dense = np.full((4, 3), np.nan)
    dense[USERS, ITEMS] = Y
    dense[np.isnan(dense)] = np.mean(Y)
    np.testing.assert_allclose(_arg(stats_model, "d_u"), dense.var(axis=1))
    np.testing.assert_allclose(_arg(stats_model, "d_i"), dense.var(axis=0))
    assert _arg(stats_model, "d_u")[3] == 0.0  # a user with no ratings: all cells imputed


def test_statistic_dims_are_aligned_to_the_parameter(stats_model):
    c = stats_model.latent("m_u").args["mu"]
    assert c.dims == ("user",) and c.label == "mean_by(rating, user)"


def test_statistics_without_data_are_placeholders():
    m = lower(parse_spec_text(STATS))
    assert _arg(m, "m_u").shape == (PLACEHOLDER_SIZE,)


# ---- the numpy reference ---------------------------------------------------------------------

TINY = """\
specrec: 1
name: tiny
data: {source: simulate, sizes: {}, rows: 5}
dims: {k: 2}
params:
  m: Normal(1, 2)
  s: HalfNormal(1.5)
  p: Beta(2, 3)
  u: Uniform(-1, 3)
  b: {prior: "Normal(m, s)", dims: [k]}
likelihood:
  y: Normal(m + p * u + sum(b, k), s)
"""
Y_TINY = np.array([0.3, -1.2, 2.5, 0.9, 1.4])


@pytest.fixture(scope="module")
def tiny():
    ds = Dataset(response="y", y=Y_TINY, codes={}, levels={})
    return lower(parse_spec_text(TINY), ds)


def hand_log_density(z: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """The same model written out with scipy: constrain each latent, add log|Jacobian|."""
    m = z["m"]
    s = np.exp(z["s"])
    p = special.expit(z["p"])
    u = -1 + 4 * special.expit(z["u"])
    b = z["b"]
    parts = {
        "m": stats.norm.logpdf(m, 1, 2),
        "s": stats.halfnorm.logpdf(s, scale=1.5) + z["s"],
        "p": stats.beta.logpdf(p, 2, 3) + np.log(p) + np.log1p(-p),
        "u": stats.uniform.logpdf(u, -1, 4) + np.log(4) + np.log(p_u := special.expit(z["u"]))
        + np.log1p(-p_u),
        "b": np.sum(stats.norm.logpdf(b, m, s)),
        "y": np.sum(stats.norm.logpdf(Y_TINY, m + p * u + b.sum(), s)),
    }  # fmt: skip
    parts = {k: float(v) for k, v in parts.items()}
    return sum(parts.values()), parts


POINTS = [
    {"m": 0.0, "s": 0.0, "p": 0.0, "u": 0.0, "b": [0.0, 0.0]},
    {"m": 1.3, "s": -0.7, "p": 1.1, "u": -2.0, "b": [0.4, -0.9]},
    {"m": -2.0, "s": 1.2, "p": -3.0, "u": 2.5, "b": [2.0, 1.0]},
]


@pytest.mark.parametrize("point", POINTS)
def test_log_density_matches_scipy_with_jacobians(tiny, point):
    z = {k: np.asarray(v, dtype=float) for k, v in point.items()}
    total, parts = reference.log_density(tiny, z)
    want_total, want_parts = hand_log_density(z)
    assert parts.keys() == want_parts.keys()
    for k in parts:
        assert parts[k] == pytest.approx(want_parts[k], rel=1e-10, abs=1e-10), k
    assert total == pytest.approx(want_total, rel=1e-10)


def test_transforms(tiny):
    assert {rv.name: rv.transform for rv in tiny.latents} == {
        "m": "identity",
        "s": "log",
        "p": "logit",
        "u": "interval",
        "b": "identity",
    }


def test_unconstrain_inverts_the_map(tiny):
    values = {"m": 0.5, "s": 2.0, "p": 0.25, "u": 2.0, "b": [0.1, -0.3]}
    values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    z = reference.unconstrain(tiny, values)
    assert float(z["s"]) == pytest.approx(np.log(2.0))
    assert float(z["p"]) == pytest.approx(special.logit(0.25))
    assert float(z["u"]) == pytest.approx(special.logit(0.75))
    # and back: the log density at z is the one at these constrained values
    want, _ = hand_log_density(z)
    assert reference.log_density(tiny, z)[0] == pytest.approx(want)
    rng = np.random.default_rng(0)
    for _ in range(5):
        z0 = {rv.name: rng.normal(size=rv.shape) for rv in tiny.latents}
        x = {
            "m": z0["m"],
            "s": np.exp(z0["s"]),
            "p": special.expit(z0["p"]),
            "u": -1 + 4 * special.expit(z0["u"]),
            "b": z0["b"],
        }
        back = reference.unconstrain(tiny, x)
        for k in z0:
            np.testing.assert_allclose(back[k], z0[k], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("radius", [0.0, 0.1, 2.0])
def test_initial_values_in_support_and_radius(tiny, radius):
    for seed in range(5):
        x = reference.initial_values(tiny, np.random.default_rng(seed), radius)
        assert set(x) == {"m", "s", "p", "u", "b"}
        assert np.shape(x["b"]) == (2,)
        assert x["s"] > 0 and 0 < x["p"] < 1 and -1 < x["u"] < 3
        z = reference.unconstrain(tiny, x)
        for k, v in z.items():
            assert np.all(np.abs(v) <= radius + 1e-12), k
    x0 = reference.initial_values(tiny, np.random.default_rng(0), 0.0)
    assert float(x0["s"]) == 1.0 and float(x0["p"]) == 0.5 and float(x0["u"]) == 1.0


def test_initial_values_are_reproducible(tiny):
    a = reference.initial_values(tiny, np.random.default_rng(3), 0.5)
    b = reference.initial_values(tiny, np.random.default_rng(3), 0.5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
