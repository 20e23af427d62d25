"""Small spec texts that several test modules fit or lower (one copy each, not one per module).

Import with ``from spec_texts import ...`` (``tests/`` is on the path through its conftest).
"""

from __future__ import annotations

from specrec.spec.load import LoadedSpec, parse_spec_text

#: Every constrained support the core maps (positive, unit interval, interval) among the priors,
#: so a log density test on it also proves a backend's transforms equal the core's TRANSFORMS.
#: ``LIKELIHOOD`` is replaced by one of ``PRIORS_LIKELIHOODS``.
PRIORS_SPEC = """
specrec: 1
name: priors
data:
  source: simulate
  sizes: {g: 4}
  rows: 40
  seed: 3
dims:
  g: {column: g}
params:
  a: Gamma(2, 3)
  b: Beta(2, 5)
  c: Uniform(-1, 2)
  t: StudentT(4, 0, 1)
  e: Exponential(2)
  m:
    prior: Normal(t, a)
    dims: [g]
  s: InverseGamma(3, 2)
  l: LogNormal(0, 0.5)
  h: HalfCauchy(1)
likelihood:
  y: LIKELIHOOD
"""

#: Each likelihood uses every parameter (the spec checker rejects unused ones).
PRIORS_LIKELIHOODS = {
    "normal": "Normal(m[g] + c * b + e - l + h, s)",
    "studentt": "StudentT(3 + e, m[g] + c * b - l + h, s)",
    "poisson": "Poisson(exp(0.3 * (m[g] + c * b + e - l + h)) * s)",
    "negbin": "NegativeBinomial(exp(0.3 * (m[g] + c * b - l + h)), s + e)",
    "bernoulli": "Bernoulli(sigmoid(m[g] + c * b + e - l + h - s))",
}


def priors_spec(likelihood: str = "normal", overrides: list[str] | None = None) -> LoadedSpec:
    """``PRIORS_SPEC`` with one of ``PRIORS_LIKELIHOODS``, loaded."""
    text = PRIORS_SPEC.replace("LIKELIHOOD", PRIORS_LIKELIHOODS[likelihood])
    return parse_spec_text(text, "<priors>", overrides)


#: The smallest biased model a run is made from: 12 users x 9 items, a mean and two biases.
#: ``NAME`` and ``INFERENCE`` are filled in by the module (``tiny_biases``).
TINY_BIASES = """
specrec: 1
name: NAME
data: {source: simulate, sizes: {user: 12, item: 9}, density: 0.5, seed: 1}
dims: {user: {column: user_id}, item: {column: item_id}}
params:
  mu: Normal(3, 1)
  b_u: {prior: "Normal(0, 0.5)", dims: [user]}
  b_i: {prior: "Normal(0, 0.5)", dims: [item]}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + b_u[user] + b_i[item], sigma)
inference: INFERENCE
"""


def tiny_biases(name: str, inference: str) -> str:
    return TINY_BIASES.replace("NAME", name).replace("INFERENCE", inference)
