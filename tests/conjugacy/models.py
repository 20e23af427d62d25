"""Tiny spec texts, one per conjugate pair, simulated from themselves (no file is read)."""

from __future__ import annotations

from specrec.data.source import load_data
from specrec.model.ir import Model
from specrec.model.lower import lower
from specrec.spec.load import parse_spec_text

HEAD = """\
specrec: 1
name: {name}
data: {{source: simulate, sizes: {{{sizes}}}, {rows}seed: 3,
        split: {{kind: random, test_fraction: 0.1, seed: 0}}}}
dims:
{dims}"""

USER, ITEM = "  user: {column: user_id}\n", "  item: {column: item_id}\n"
FACTOR = "  factor: 2\n"
#: each model's dims (the dims a spec declares must all be used)
DIMS = {
    "gaussian_gamma": USER + ITEM + FACTOR,
    "normal_wishart": USER + ITEM + FACTOR + "  factor2: 2\n",
    "inverse_gamma": USER,
    "gamma_poisson": USER,
    "beta_bernoulli": ITEM,
    "no_closed_form": USER,
    "gamma_exponential": USER,
    "mvnormal_covariance": USER + ITEM + FACTOR + "  factor2: 2\n",
    "scale_forms": USER,
}

TEXTS = {
    # Normal rows of U and V, a Normal hyperprior mean, a Gamma precision of the ratings
    "gaussian_gamma": """\
params:
  mu: Normal(3, 1)
  mu_u: {prior: "Normal(0, 1)", dims: [factor]}
  U: {prior: "Normal(mu_u, 0.7)", dims: [user, factor]}
  V: {prior: "Normal(0, 0.7)", dims: [item, factor]}
  tau: Gamma(3, 2)
likelihood:
  rating: Normal(mu + dot(U[user], V[item]), 1 / sqrt(tau))
""",
    # an InverseGamma variance, user biases with a Gamma precision of their prior
    "inverse_gamma": """\
params:
  tau_b: Gamma(2, 1)
  b: {prior: "Normal(0, 1 / sqrt(tau_b))", dims: [user]}
  v: InverseGamma(3, 2)
likelihood:
  rating: Normal(3 + b[user], sqrt(v))
""",
    # BPMF's Normal-Wishart prior, D = 2
    "normal_wishart": """\
params:
  L_u: {prior: "WishartCholesky(3)", dims: [factor, factor2]}
  mu_u: {prior: "MvNormalPrecision(0, sqrt(2) * L_u)", dims: [factor]}
  U: {prior: "MvNormalPrecision(mu_u, L_u)", dims: [user, factor]}
  V: {prior: "Normal(0, 1)", dims: [item, factor]}
likelihood:
  rating: Normal(3 + dot(U[user], V[item]), 0.5)
""",
    "gamma_poisson": """\
params:
  lam: {prior: "Gamma(2, 1)", dims: [user]}
likelihood:
  rating: Poisson(2 * lam[user])
""",
    "beta_bernoulli": """\
params:
  p: {prior: "Beta(2, 3)", dims: [item]}
likelihood:
  rating: Bernoulli(p[item])
""",
    # Gamma on an Exponential rate (times a constant)
    "gamma_exponential": """\
params:
  lam: {prior: "Gamma(2, 1)", dims: [user]}
likelihood:
  rating: Exponential(3 * lam[user])
""",
    # MvNormal in covariance form (a Cholesky factor of the covariance, from latents): the rows'
    # prior and, for mu_u, an MvNormal child
    "mvnormal_covariance": """\
params:
  mu_u: {prior: "Normal(0, 1)", dims: [factor]}
  sd_u: {prior: "HalfNormal(1)", dims: [factor]}
  L_u: {prior: "LKJCholesky(2)", dims: [factor, factor2]}
  U: {prior: "MvNormal(mu_u, sd_u * L_u)", dims: [user, factor]}
  V: {prior: "Normal(0, 0.7)", dims: [item, factor]}
likelihood:
  rating: Normal(3 + dot(U[user], V[item]), 0.5)
""",
    # an InverseGamma on a prior's variance (written as its sd), a Gamma precision per user
    # written as a scale with a constant factor (sigma = 0.5 / sqrt(tau_u))
    "scale_forms": """\
params:
  s2: InverseGamma(3, 2)
  b: {prior: "Normal(0, sqrt(s2))", dims: [user]}
  tau_u: {prior: "Gamma(3, 2)", dims: [user]}
likelihood:
  rating: Normal(2 + b[user], 0.5 / sqrt(tau_u[user]))
""",
    # nothing conjugate: HalfNormal scales and a sigmoid link
    "no_closed_form": """\
params:
  b: {prior: "Normal(0, 1)", dims: [user]}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(sigmoid(b[user]), sigma)
""",
}


def model(name: str) -> Model:
    loaded = parse_spec_text(
        HEAD.format(
            name=name,
            dims=DIMS[name],
            sizes=", ".join(f"{d}: {n}" for d, n in (("user", 5), ("item", 4)) if d in DIMS[name]),
            rows="density: 0.8, "
            if "item" in DIMS[name] and "user" in DIMS[name]
            else "rows: 20, ",
        )
        + TEXTS[name]
    )
    ds, split = load_data(loaded)
    return lower(loaded, ds.take(split.train))
