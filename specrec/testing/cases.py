"""The models the conformance suite runs a backend on, built from specrec's own tables.

Parity cases are generated from ``DISTRIBUTIONS`` rather than listed, so that a distribution
added to the table is checked on every backend (built-in and third-party) with no edit here:
every continuous distribution with a core transform appears once as a prior, and every
distribution with a finite mean (the spec language refuses others as a likelihood, since they
cannot predict) appears once as the likelihood, its arguments made of latent parameters of
the right constraint and its data simulated from the model itself (so the data have the
right support by construction).  Fit cases are small versions of the shipped example specs, whose
truth is known because their data are simulated.

Nothing here imports a PPL; the suite drives backends only through ``specrec.backends``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from specrec.data.dataset import Dataset
from specrec.data.source import load_data
from specrec.model.distributions import DISTRIBUTIONS, TRANSFORMS, Distribution
from specrec.model.ir import Model, RowData
from specrec.model.lower import lower, row_data
from specrec.spec.load import LoadedSpec, parse_spec_text

_HEADER = """\
specrec: 1
name: {name}
data:
  source: simulate
  sizes: {{g: 3}}
  rows: 30
  seed: 0
{true}dims:
{dims}params:
{params}likelihood:
  y: {likelihood}
"""

#: Literal argument values that satisfy each constraint kind, used in order within a call
#: (so Uniform's lower < upper, and two positive arguments differ).
_LITERALS = {
    "real": (-1.0, 2.0, 0.5),
    "positive": (2.0, 3.0, 1.5),
    "unit_interval": (0.3, 0.6),
    "dof": (4.5,),  # > d - 1 for the 3 x 3 matrices of ``event_prior_spec``
}


def _literal_args(dist: Distribution) -> str:
    used: dict[str, int] = {}
    out = []
    for a in dist.args:
        kind = a.constraint.kind
        if kind not in _LITERALS:
            raise NotImplementedError(
                f"no literal value for a {kind!r} argument ({dist.name}'s {a.name}); "
                "extend specrec.testing.cases._LITERALS"
            )
        i = used.get(kind, 0)
        used[kind] = i + 1
        out.append(f"{_LITERALS[kind][i % len(_LITERALS[kind])]:g}")
    return f"{dist.name}({', '.join(out)})"


def prior_spec(dist: Distribution) -> str:
    """``x ~ dist(literals)`` over a data dim, observed through ``y ~ Normal(x[g], 1)``."""
    params = f"  x:\n    prior: {_literal_args(dist)}\n    dims: [g]\n"
    return _HEADER.format(
        name=f"prior-{dist.name}",
        true="",
        dims="  g: {column: g}\n",
        params=params,
        likelihood="Normal(x[g], 1)",
    )


def likelihood_spec(dist: Distribution) -> str:
    """``y ~ dist(...)`` with every argument a latent parameter (per group) of its constraint.

    An interval-support distribution (Uniform) gets bounds ``-1 - w[g]`` and ``2 + w[g]`` with
    ``w`` simulated at 0.001: the data then lie inside the bounds at every point the parity
    check draws (``w = exp(z)`` with ``z`` near 0), so the density stays finite there.
    """
    params, exprs, true = [], [], ""
    needs_k = False
    interval = dist.support.kind == "interval"
    for a in dist.args:
        p = f"p_{a.name}"
        kind = a.constraint.kind
        if interval and a.name in ("lower", "upper"):
            if "w" not in [q.split(":")[0].strip() for q in params]:
                params.append("  w:\n    prior: HalfNormal(1)\n    dims: [g]\n")
            exprs.append("-1 - w[g]" if a.name == "lower" else "2 + w[g]")
            true = "  true: {w: 0.001}\n"
        elif a.event_dims and kind == "real":  # a real vector: ordered fits every use (cutpoints)
            needs_k = True
            params.append(
                f"  {p}:\n    prior: Normal(0, 2)\n    dims: [k]\n    constraint: ordered\n"
            )
            exprs.append(p)
        elif a.event_dims:  # a vector over a fixed dim, positive weights per group
            needs_k = True
            params.append(f"  {p}:\n    prior: Gamma(3, 2)\n    dims: [g, k]\n")
            exprs.append(f"{p}[g]")
        elif kind == "real":
            params.append(f"  {p}:\n    prior: Normal(0, 1)\n    dims: [g]\n")
            exprs.append(f"{p}[g]")
        elif kind == "positive":
            params.append(f"  {p}:\n    prior: LogNormal(0, 0.5)\n    dims: [g]\n")
            exprs.append(f"{p}[g]")
        elif kind == "unit_interval":
            params.append(f"  {p}:\n    prior: Normal(0, 1)\n    dims: [g]\n")
            exprs.append(f"sigmoid({p}[g])")
        else:
            raise NotImplementedError(
                f"no latent expression for a {kind!r} argument ({dist.name}'s {a.name}); "
                "extend specrec.testing.cases.likelihood_spec"
            )
    return _HEADER.format(
        name=f"likelihood-{dist.name}",
        true=true,
        dims="  g: {column: g}\n" + ("  k: 3\n" if needs_k else ""),
        params="".join(params),
        likelihood=f"{dist.name}({', '.join(exprs)})",
    )


def event_prior_spec(dist: Distribution) -> str:
    """A vector- or matrix-valued prior: ``x`` over [g, k] (a vector) or [k, k2] (a matrix).

    Vector arguments are parameters over ``k``; a matrix argument (a covariance's Cholesky
    factor) is an LKJ-Cholesky factor over [k, k2], always a valid one.  ``x`` is observed
    through the sum of its elements.
    """
    params, args = [], []
    used: dict[str, int] = {}
    for a in dist.args:
        if a.event_dims == 1:
            prior = "Gamma(3, 2)" if a.constraint.kind == "positive" else "Normal(0, 1)"
            params.append(f"  v_{a.name}:\n    prior: {prior}\n    dims: [k]\n")
            args.append(f"v_{a.name}")
        elif a.event_dims == 2:
            params.append(f"  m_{a.name}:\n    prior: LKJCholesky(2)\n    dims: [k, k2]\n")
            args.append(f"m_{a.name}")
        else:
            lit = _LITERALS[a.constraint.kind]
            i = used.get(a.constraint.kind, 0)
            used[a.constraint.kind] = i + 1
            args.append(f"{lit[i % len(lit)]:g}")
    if dist.event_dims == 1:  # squares: a simplex's plain sum is always 1
        dims, total = "[g, k]", "sum(x[g] * x[g], k)"
    else:
        dims, total = "[k, k2]", "b[g] + sum(sum(x, k2), k)"
        params.append("  b:\n    prior: Normal(0, 1)\n    dims: [g]\n")
    params.append(f"  x:\n    prior: {dist.name}({', '.join(args)})\n    dims: {dims}\n")
    return _HEADER.format(
        name=f"prior-{dist.name}",
        true="",
        dims="  g: {column: g}\n  k: 3\n" + ("  k2: 3\n" if "k2" in "".join(params) else ""),
        params="".join(params),
        likelihood=f"Normal({total}, 1)",
    )


@dataclass(frozen=True)
class Case:
    """A named model to run a backend on; ``build`` is lazy so one bad case fails alone."""

    id: str
    build: Callable[[], LoadedSpec] = field(compare=False, repr=False)
    distributions: tuple[str, ...] = ()


#: Copies of ``specs/quickstart.yaml`` and ``specs/group_means.yaml`` (model and data only):
#: the suite must run from an installed wheel, where ``specs/`` does not exist.  specrec's own
#: tests check that these still lower to the same models as the shipped files.
EXAMPLE_SPECS = {
    "quickstart": """\
specrec: 1
name: quickstart
data:
  source: simulate
  sizes: {user: 120, item: 80}
  density: 0.3
  seed: 1
  true: {mu: 3.5, sigma: 0.5}
  split: {kind: random, test_fraction: 0.1, seed: 42}
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 3
params:
  mu: Normal(3.5, 1)
  mu_u:
    prior: Normal(0, 1)
    dims: [factor]
  U:
    prior: Normal(mu_u, 0.5)
    dims: [user, factor]
  V:
    prior: Normal(0, 0.5)
    dims: [item, factor]
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + dot(U[user], V[item]), sigma)
""",
    "group_means": """\
specrec: 1
name: group_means
data:
  source: simulate
  sizes: {group: 3}
  rows: 30
  seed: 42
  split: {kind: random, test_fraction: 0.2, seed: 0}
dims:
  group: {column: group}
params:
  group_means:
    prior: Normal(0, 1)
    dims: [group]
likelihood:
  y: Normal(group_means[group], 1)
""",
    "mixture": """\
specrec: 1
name: mixture
data:
  source: simulate
  sizes: {user: 60, item: 15}
  density: 0.6
  seed: 1
  true: {w: [0.6, 0.4], mu: [[1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.5, 2.0, 1.0], [4.5, 4.0, 5.0, 4.5, 4.0, 5.0, 4.5, 4.0, 5.0, 4.5, 4.0, 5.0, 4.5, 4.0, 5.0]], sigma: [0.5, 0.6]}
  split: {kind: random, test_fraction: 0.1, seed: 0}
dims:
  user: {column: user_id}
  item: {column: item_id}
  type: 2
params:
  w:
    prior: Dirichlet(1)
    dims: [type]
  mu:
    prior: Normal(3, 1.5)
    dims: [type, item]
  sigma:
    prior: InverseGamma(4, 2)
    dims: [type]
likelihood:
  rating:
    distribution: Normal(mu[item], sigma)
    mixture: {over: type, weights: w, per: user}
""",
}


def example_spec(name: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedSpec:
    return parse_spec_text(EXAMPLE_SPECS[name], f"<{name}>", list(overrides))


#: Smaller than the shipped quickstart, dense enough that even MAP does not overfit the noise.
QUICKSTART_SMALL = ("data.sizes.user=20", "data.sizes.item=15", "data.density=0.8", "dims.factor=2")


def parity_cases() -> list[Case]:
    """Every distribution as a prior (where it can be a latent) and as the likelihood, plus
    the hierarchical quickstart and the group means: the models ``check`` must agree on."""
    cases = []
    for name, dist in DISTRIBUTIONS.items():
        if not dist.discrete and dist.support.kind in TRANSFORMS:
            make = event_prior_spec if dist.event_dims else prior_spec
            cases.append(
                Case(
                    f"prior-{name}",
                    (lambda d=dist, f=make: parse_spec_text(f(d), f"<prior-{d.name}>")),
                    (name,),
                )
            )
    for name, dist in DISTRIBUTIONS.items():
        if dist.mean is None or dist.event_dims:  # refused as a likelihood (cannot predict,
            continue  # or not one value per row)
        cases.append(
            Case(
                f"likelihood-{name}",
                (lambda d=dist: parse_spec_text(likelihood_spec(d), f"<likelihood-{d.name}>")),
                (name,),
            )
        )
    cases.append(Case("quickstart", lambda: example_spec("quickstart", QUICKSTART_SMALL)))
    cases.append(Case("group_means", lambda: example_spec("group_means")))
    cases.append(Case("mixture", lambda: example_spec("mixture")))
    return cases


@dataclass(frozen=True)
class Prepared:
    """A lowered model on its training rows, with the data and the held-out rows it came from."""

    loaded: LoadedSpec
    model: Model
    data: Dataset
    train: Dataset
    test: Dataset

    def test_rows(self) -> RowData:
        return row_data(self.test, self.model.dims, list(self.model.data.columns))


def prepare(loaded: LoadedSpec) -> Prepared:
    """Load (simulate) and split the data as the spec says, and lower on the training rows."""
    ds, split = load_data(loaded)
    train, test = ds.take(split.train), ds.take(split.test)
    return Prepared(loaded, lower(loaded, train), ds, train, test)


@cache
def prepare_example(name: str, overrides: tuple[str, ...] = ()) -> Prepared:
    """``prepare`` of an example spec, once per process (fits of one case share the data)."""
    return prepare(example_spec(name, overrides))


def group_means_posterior(p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """The exact posterior of the (conjugate) group-means model: mean and sd per group.

    With ``m_g ~ Normal(0, 1)`` and ``y ~ Normal(m_g, 1)``, ``m_g | y`` is Normal with mean
    ``sum(y_g) / (n_g + 1)`` and sd ``1 / sqrt(n_g + 1)``; MAP, VI and NUTS must all find it.
    """
    codes = p.model.data.index["group"]
    k = p.model.dims["group"].size
    n = np.bincount(codes, minlength=k).astype(float)
    s = np.bincount(codes, weights=p.model.data.y, minlength=k)
    return s / (n + 1), 1 / np.sqrt(n + 1)
