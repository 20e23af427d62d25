"""Segment aggregates, zero-inflated/hurdle likelihoods, non-centring and covariates in the
core (lowering + numpy reference), without any backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from specrec.data.movielens import GENRES_100K, OCCUPATIONS_100K, side_attributes_100k
from specrec.data.simulate import simulate
from specrec.errors import SpecError
from specrec.model import reference as R
from specrec.model.distributions import DISTRIBUTIONS
from specrec.model.ir import Segment
from specrec.model.lower import lower, row_data
from specrec.model.walk import NUMPY_OPS, evaluate
from specrec.spec.load import parse_spec_text

SEGMENT_SPEC = """
specrec: 1
name: seg
data:
  source: simulate
  sizes: {user: 7, item: 5}
  density: 0.5
  seed: 0
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 2
params:
  Y:
    prior: Normal(0, 1)
    dims: [user, factor]
  W:
    prior: Normal(0, 1)
    dims: [item, factor]
  sigma: HalfNormal(1)
let:
  U: Y + segment_mean(W[item], user)
likelihood:
  rating: Normal(dot(U[user], W[item]), sigma)
"""


def _segments(e) -> list[Segment]:
    if isinstance(e, Segment):
        return [e]
    kids = getattr(e, "args", None) or [getattr(e, "operand", None)]
    return [s for k in kids if k is not None for s in _segments(k)]


def test_segment_mean_is_the_mean_over_each_users_training_rows() -> None:
    loaded = parse_spec_text(SEGMENT_SPEC, "<seg>")
    ds = simulate(loaded)
    train, test = ds.take(np.arange(0, len(ds), 2)), ds.take(np.arange(1, len(ds), 2))
    model = lower(loaded, train)
    (seg,) = _segments(model.likelihood.args["mu"])
    rng = np.random.default_rng(1)
    values = {"Y": rng.normal(size=(7, 2)), "W": rng.normal(size=(5, 2)), "sigma": 1.0}
    got = evaluate(seg, values, None, NUMPY_OPS)
    users, items = train.codes["user_id"], train.codes["item_id"]
    for u in range(7):
        rated = items[users == u]
        want = values["W"][rated].mean(0) if rated.size else np.zeros(2)
        np.testing.assert_allclose(got[u], want)
    # predicting test rows still averages over the *training* rows of each user
    rows = row_data(test, model.dims, [])
    mu = R.likelihood_args(model, values, rows)["mu"]
    u_full = values["Y"] + got
    want_mu = np.sum(u_full[test.codes["user_id"]] * values["W"][test.codes["item_id"]], 1)
    np.testing.assert_allclose(mu, want_mu)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("ZeroInflatedPoisson", {"psi": 0.7, "mu": 3.0}),
        ("ZeroInflatedNegativeBinomial", {"psi": 0.6, "mu": 4.0, "alpha": 2.0}),
    ],
)
def test_zero_inflated_pmf_sums_to_one_and_matches_its_mean(name: str, args: dict) -> None:
    d = DISTRIBUTIONS[name]
    k = np.arange(0, 400)
    p = np.exp(d.logpdf(k, **args))
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert (k * p).sum() == pytest.approx(float(d.mean(**args)), rel=1e-9)
    draws = d.sample(np.random.default_rng(0), **{a: np.full(20000, v) for a, v in args.items()})
    assert draws.mean() == pytest.approx(float(d.mean(**args)), rel=0.05)
    assert np.mean(draws == 0) == pytest.approx(p[0], abs=0.02)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("HurdleLogNormal", {"psi": 0.4, "mu": 0.5, "sigma": 0.6}),
        ("HurdleGamma", {"psi": 0.8, "alpha": 2.0, "beta": 1.5}),
    ],
)
def test_hurdle_mass_at_zero_plus_density_is_one(name: str, args: dict) -> None:
    d = DISTRIBUTIONS[name]
    zero = np.exp(d.logpdf(0.0, **args))
    assert zero == pytest.approx(1 - args["psi"])
    cont, _ = integrate.quad(lambda x: np.exp(d.logpdf(x, **args)), 1e-12, np.inf)
    assert zero + cont == pytest.approx(1.0, abs=1e-6)
    first, _ = integrate.quad(lambda x: x * np.exp(d.logpdf(x, **args)), 1e-12, np.inf)
    assert first == pytest.approx(float(d.mean(**args)), rel=1e-6)
    draws = d.sample(np.random.default_rng(0), **{a: np.full(20000, v) for a, v in args.items()})
    assert np.mean(draws == 0) == pytest.approx(1 - args["psi"], abs=0.02)


NONCENTRED = """
specrec: 1
name: nc
data:
  source: simulate
  sizes: {g: 6}
  rows: 60
  seed: 0
dims:
  g: {column: g}
params:
  m: Normal(1, 1)
  s: HalfNormal(1)
  b:
    prior: Normal(m, s)
    dims: [g]
    noncentered: true
  c:
    prior: Normal(b, 0.5)
    dims: [g]
likelihood:
  y: Normal(c[g], 1)
"""


def test_noncentred_param_is_a_standard_normal_latent_plus_a_derived_value() -> None:
    loaded = parse_spec_text(NONCENTRED, "<nc>")
    ds = simulate(loaded)
    model = lower(loaded, ds)
    assert [rv.name for rv in model.latents] == ["m", "s", "b_raw", "c"]
    raw = model.latent("b_raw")
    assert (raw.distribution, raw.dims) == ("Normal", ("g",))
    assert [d.name for d in model.derived] == ["b"]
    # the truth keeps b by name, equal to m + s * b_raw
    t = ds.truth
    np.testing.assert_allclose(t["b"], t["m"] + t["s"] * t["b_raw"])
    # c's prior reads b through the substitution: its log density uses m + s * b_raw
    z = {"m": np.asarray(0.3), "s": np.asarray(np.log(0.7)), "b_raw": np.linspace(-1, 1, 6)}
    z["c"] = np.zeros(6)
    _, parts = R.log_density(model, z)
    b = 0.3 + 0.7 * z["b_raw"]
    from scipy import stats

    assert parts["c"] == pytest.approx(stats.norm.logpdf(0.0, b, 0.5).sum())
    assert parts["b_raw"] == pytest.approx(stats.norm.logpdf(z["b_raw"]).sum())
    post = {k: np.asarray(v, float)[None, None] for k, v in t.items() if k != "b"}
    np.testing.assert_allclose(R.derived_draws(model, post)["b"][0, 0], t["b"])


def test_true_value_of_a_noncentred_param_is_refused() -> None:
    text = NONCENTRED.replace("  seed: 0\n", "  seed: 0\n  true: {b: 1.0}\n")
    with pytest.raises(SpecError, match="non-centred: it is computed"):
        simulate(parse_spec_text(text, "<nc>"))


COVARIATES = """
specrec: 1
name: cov
data:
  source: simulate
  sizes: {user: 30, item: 10}
  rows: 200
  seed: 0
  covariates:
    age: {of: user}
    genres: {of: item, over: genre}
dims:
  user: {column: user_id}
  item: {column: item_id}
  genre: 3
params:
  beta: Normal(0, 1)
  w:
    prior: Normal(0, 1)
    dims: [genre]
  b_u:
    prior: Normal(beta * age, 1)
    dims: [user]
likelihood:
  y: Normal(b_u[user] + dot(genres[item], w), 1)
"""


def test_covariates_enter_priors_and_the_likelihood_by_name() -> None:
    loaded = parse_spec_text(COVARIATES, "<cov>")
    ds = simulate(loaded)
    age = ds.attributes["user_id"]["age"].values
    genres = ds.attributes["item_id"]["genres"].values
    assert age.shape == (30,) and genres.shape == (10, 3)
    assert set(np.unique(genres)) <= {0.0, 1.0}
    model = lower(loaded, ds)
    values = {"beta": 2.0, "w": np.array([1.0, -1.0, 0.5]), "b_u": np.zeros(30)}
    mean = evaluate(model.latent("b_u").args["mu"], values, None, NUMPY_OPS)
    z = (age - age.mean()) / age.std()  # standardised by default: many distinct values
    np.testing.assert_allclose(mean, 2.0 * z)
    mu = R.likelihood_args(model, values, model.data)["mu"]
    np.testing.assert_allclose(mu, genres[ds.codes["item_id"]] @ values["w"])


def test_movielens_side_tables_become_covariates(tmp_path: Path, fake_ml100k: Path) -> None:
    folder = Path(shutil.copytree(fake_ml100k, tmp_path / "ml-100k"))
    levels = {"user_id": np.arange(1, 13), "item_id": np.array([3, 1, 2])}
    attrs = side_attributes_100k(folder, levels)
    users, items = attrs["user_id"], attrs["item_id"]
    assert users["age"].values.shape == (12,)
    assert set(np.unique(users["male"].values)) == {0.0, 1.0}
    occ = users["occupation"].values
    assert occ.shape == (12, len(OCCUPATIONS_100K)) and np.all(occ.sum(1) == 1)
    assert items["genres"].labels == GENRES_100K and items["genres"].values.shape == (3, 19)
    text = (folder / "u.item").read_text(encoding="latin-1").splitlines()
    flags_item3 = [float(f) for f in text[2].split("|")[5:]]
    np.testing.assert_array_equal(items["genres"].values[0], flags_item3)
    (folder / "u.user").unlink()
    assert "user_id" not in side_attributes_100k(folder, levels)


def test_activity_gives_many_light_users_and_a_few_heavy_ones() -> None:
    base = """
specrec: 1
name: act
data:
  source: simulate
  sizes: {{user: 2000, item: 400}}
  density: 0.004
  seed: 0
{activity}dims:
  user: {{column: user_id}}
  item: {{column: item_id}}
params:
  a:
    prior: Normal(0, 1)
    dims: [user]
  b:
    prior: Normal(0, 1)
    dims: [item]
likelihood:
  y: Normal(a[user] + b[item], 1)
"""
    uniform = simulate(parse_spec_text(base.format(activity=""), "<u>"))
    skewed = simulate(parse_spec_text(base.format(activity="  activity: {user: 1.5}\n"), "<s>"))
    assert len(uniform) == len(skewed) == 3200
    n_u = np.bincount(uniform.codes["user_id"], minlength=2000)
    n_s = np.bincount(skewed.codes["user_id"], minlength=2000)
    assert n_s.max() > 3 * n_u.max()
    assert np.mean(n_s[n_s > 0] <= 2) > 0.5  # most users who watched at all: one or two views

    def top_decile_share(n: np.ndarray) -> float:
        return float(np.sort(n)[-len(n) // 10 :].sum() / n.sum())

    assert top_decile_share(n_s) > 0.4 > top_decile_share(n_u)
