"""Coordinate-ascent VI (``--method cavi``): the Gibbs conditionals with expectations for draws.

The variational family is mean-field over the blocks the Gibbs sampler updates
(``analysis.analyse``): every block of a Gaussian site (a user's factor row) is a Gaussian
``N(m_g, S_g)`` with its own full ``D x D`` covariance (VB matrix factorisation, Lim and Teh
2007); a Gamma precision or InverseGamma variance is Gamma / InverseGamma per element; a
Wishart factor ``L`` is a Wishart on ``Lambda = L L^T``.  Each update sets one factor to
``exp(E_-q[log p])``, which is the Gibbs conditional of ``conjugacy.conditionals`` with the
other blocks' sufficient statistics replaced by their expectations, so the ELBO never
decreases (Bishop 2006, 10.1).  Nothing here is written per model; what is needed beyond the
conditionals' plug-in values is found with the same probes:

* a precision enters every conditional linearly (the analysis checked ``tau = k p``,
  ``v = k p``, ``A L L^T A^T``), so its expectation is the child's precision evaluated at an
  *effective value* of the site (``E[p]``, ``1 / E[1/p]``, ``chol(E[Lambda])``); its
  ``E[log]`` differs from the log at that value by a gap per element (``gap``);
* a child's mean is ``b + X p[block]`` (the probes of ``mean_design``) with ``X`` and ``b``
  affine in the other Gaussian sites ``R`` it reads (checked by probing before fitting).
  Then ``E[X^T P X] = Xm^T P Xm + sum_k D_k^T P D_k`` with ``D_k`` the change of ``X`` when
  every block of a site in ``R`` moves by column ``k`` of its covariance's Cholesky factor
  (``E[V V^T] = m m^T + S``, written so that it holds for any affine design), and likewise
  ``E[X^T P b]``;
* the ELBO's expected log densities use each node's ``E[r r^T]`` (``residual_moments``) from
  the same shifts, with one Gaussian site of its mean (the pivot) kept exact.

A positive scalar whose only role is the likelihood's scale with a prior that has no
conjugate form (``sigma ~ HalfNormal(1)``) gets its exact coordinate update too: its optimal
factor ``p(s) s^-n exp(-E[SS] / (2 s^2))`` is one-dimensional, so it is tabulated on a grid in
``log s`` (``ScaleQ``); every other parameter without a closed form is refused with the
analysis' reason (``refusal_reasons``).  Every sum over rating rows is a segment sum; there is
no loop over users and no users x items array.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse, special

from specrec.conjugacy import conditionals as cond
from specrec.conjugacy import probe
from specrec.conjugacy.analysis import SCALAR_PAIRS, Update, analyse, references
from specrec.conjugacy.memo import once_per_model
from specrec.errors import FitError
from specrec.model.ir import Model, RandomVariable
from specrec.model.reference import initial_values
from specrec.model.walk import NUMPY_OPS, NumpyOps, evaluate

LOG_2PI = float(np.log(2 * np.pi))
#: the sd of every Gaussian block and of log s at the start (the start point is its mean)
START_SD = 0.1
#: the shape of a Gamma / InverseGamma factor at the start (its mean is the start point)
START_SHAPE = 100.0
#: grid points of a scale factor's density in log s (two passes: locate, then resolve)
GRID = 2001
#: rows per chunk of a computation over the likelihood's rows (bounds the memory of its gathers)
CHUNK = 131_072
#: rows the structure's probes are evaluated on (what they decide is about the expressions, not
#: the data; the linear designs the fast path relies on are then checked on every row)
PROBE_ROWS = 2_000
#: precision (the ``mu`` argument) of each Gaussian node kind
PRECISION_ARGS = {"Normal": "sigma", "MvNormal": "chol", "MvNormalPrecision": "precision_chol"}
GAUSSIAN = ("normal", "mvnormal")
PRECISION_KINDS = ("gamma", "inverse_gamma", "wishart", "scale")


class SparseOps(NumpyOps):
    """The reference ops with segment sums as sparse products (``np.add.at`` over rating rows
    was most of a sweep's time on MovieLens 100k)."""

    @staticmethod
    def segment_sum(x: np.ndarray, segment_ids: np.ndarray, num_segments: int) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ids = np.asarray(segment_ids)
        n = len(ids)
        rows = sparse.csr_matrix((np.ones(n), (ids, np.arange(n))), shape=(num_segments, n))
        return np.asarray(rows @ x.reshape(n, -1)).reshape(num_segments, *x.shape[1:])


NUMPY = probe.Arrays(np, SparseOps())


class Unsupported(ValueError):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class Site:
    """One latent: its update plan, its kind here, and its constant prior arguments."""

    plan: cond.Plan
    kind: str  # normal / mvnormal (Gaussian), gamma, inverse_gamma, wishart, scale
    prior: dict[str, np.ndarray] = field(default_factory=dict)
    #: child name -> the other Gaussian sites its mean design reads (shifted for covariances)
    rest: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: children whose mean's (b, X) in this site are affine in all its other Gaussian sites
    #: jointly: this site can be their pivot (``residual_moments``), shifting ``pivot_rest``
    pivots: set[str] = field(default_factory=set)
    pivot_rest: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: child -> {other site: A}: where every site the design reads enters it as ``X_j = A
    #: q[block_j]`` (one ``A`` for all rows; ``dot(U[user], V[item])``: ``A = I``) and ``b``
    #: does not read it, the covariance terms are ``A S_q A^T`` summed by one sparse product
    #: instead of shifting the design once per column; ``linear_pivot`` likewise for
    #: ``pivot_rest``
    linear: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    linear_pivot: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.plan.update.param

    @property
    def rv(self) -> RandomVariable:
        return self.plan.rv


@dataclass
class Node:
    """A Gaussian density of the model (the likelihood or a Gaussian site's prior)."""

    rv: RandomVariable
    pivot: str | None  # a Gaussian site of its mean whose design is affine in the rest
    precision_sites: tuple[str, ...]
    own: str | None = None  # the Gaussian site whose density this is (None: the likelihood)
    #: (J, E) block and in-block position of each value of ``own`` (its covariance)
    cov_index: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class Pairing:
    """The likelihood's rows as a sparse ``(G, H)`` pattern, row ``j`` at (block of one site,
    block of another), sorted by the first once, so that a sum ``sum_{j in g} w_j x[r_j]`` over
    every rating row is one sparse product that only refills the weights."""

    order: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]
    unit: sparse.csr_matrix | None = None

    @classmethod
    def build(cls, left: np.ndarray, g: int, right: np.ndarray, h: int) -> Pairing:
        order = np.argsort(left, kind="stable")
        idx = np.int32 if max(len(left), g, h) < 2**31 - 1 else np.int64
        indptr = np.concatenate([[0], np.cumsum(np.bincount(left, minlength=g))]).astype(idx)
        return cls(order, right[order].astype(idx), indptr, (g, h))

    def matrix(self, w: np.ndarray | float) -> sparse.csr_matrix:
        if np.ndim(w) == 0:
            if self.unit is None:
                ones = np.ones(len(self.order))
                self.unit = sparse.csr_matrix((ones, self.indices, self.indptr), self.shape)
            return self.unit * float(w)
        data = np.asarray(w, dtype=float)[self.order]
        return sparse.csr_matrix((data, self.indices, self.indptr), shape=self.shape)


@dataclass
class Bilinear:
    """The likelihood's mean is ``b + (A q[r_j]) . p[g_j]`` in a Gaussian site ``p``, with ``b``
    free of ``p`` and ``q`` (``dot(U[user], V[item])``): its sums over rating rows are sparse
    products with the pairing of ``p``'s and ``q``'s blocks, never a per-row design.  ``b_only``:
    the other Gaussian sites of the mean (they move ``b`` only, e.g. a global mean)."""

    site: str
    other: str
    a: np.ndarray
    b_only: tuple[str, ...] = ()


@dataclass
class Structure:
    model: Model
    sites: list[Site]  # in sweep order
    nodes: list[Node]
    #: the likelihood's rows in chunks of at most ``CHUNK``: (rows, the model on them)
    chunks: list[tuple[slice, Model]] = field(default_factory=list)
    #: site -> its likelihood update by sparse products (``Bilinear``)
    fast_update: dict[str, Bilinear] = field(default_factory=dict)
    #: the likelihood's second moments by sparse products, from its pivot
    fast_node: Bilinear | None = None
    pairings: dict[tuple[str, str], Pairing] = field(default_factory=dict)
    y: np.ndarray | None = None  # the likelihood's observations on the model scale

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.name == name)

    def pairing(self, left: str, right: str) -> Pairing:
        """Rows of ``left``'s blocks by columns of ``right``'s blocks, built once."""
        key = (left, right)
        if key not in self.pairings:
            lik = self.model.likelihood.name
            a, b = self.site(left).plan, self.site(right).plan
            self.pairings[key] = Pairing.build(_ids(a.blocks[lik], len(self.model.data)), a.g,
                                               _ids(b.blocks[lik], len(self.model.data)), b.g)  # fmt: skip
        return self.pairings[key]


def _ids(blocks: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if blocks is None else blocks


def _chunks(model: Model) -> list[tuple[slice, Model]]:
    n = len(model.data)
    if n <= CHUNK:
        return [(slice(0, n), model)]
    cuts = [slice(a, min(n, a + CHUNK)) for a in range(0, n, CHUNK)]
    return [(c, model.with_data(model.data.take(c))) for c in cuts]


def _probe_model(model: Model) -> Model:
    """The model on a spread of ``PROBE_ROWS`` of its rows: the structure's probes evaluate
    the likelihood dozens of times, which on 10M rows took minutes."""
    n = len(model.data)
    if n <= PROBE_ROWS:
        return model
    rows = np.sort(np.random.default_rng(0).choice(n, PROBE_ROWS, replace=False))
    return model.with_data(model.data.take(rows))


@once_per_model(Unsupported)
def structure(model: Model) -> Structure:
    """What the kernel needs of ``model``, found once per model; raises ``Unsupported``."""
    return _structure(model)


def refusal_reasons(model: Model) -> list[str]:
    """Why cavi cannot fit ``model`` (empty: it can), from the model representation alone."""
    try:
        structure(model)
    except Unsupported as e:
        return e.reasons
    return []


def _constant_args(rv: RandomVariable, reasons: list[str]) -> dict[str, np.ndarray]:
    reads = set().union(*(references(e) for e in rv.args.values()))
    if reads:
        reasons.append(
            f"{rv.name}'s {rv.distribution} prior reads {', '.join(sorted(reads))}: a "
            "precision factor needs fixed prior arguments"
        )
        return {}
    return {a: np.asarray(evaluate(e, {}, None, NUMPY_OPS), float) for a, e in rv.args.items()}


def _scale_reason(model: Model, rv: RandomVariable, u: Update) -> str | None:
    """None when ``rv`` is a positive scalar that only scales the likelihood (sigma = c s)."""
    lik = model.likelihood
    if u.children != (lik.name,) or lik.distribution != "Normal":
        return u.reason
    if rv.support_kind != "positive" or int(np.prod(rv.shape, dtype=int)) != 1:
        return u.reason
    used = [a for a, e in lik.args.items() if rv.name in references(e)]
    if used != ["sigma"]:
        return u.reason
    values = initial_values(model, np.random.default_rng(0), 1.0)
    which = probe.scalar_map(model, rv, lik, "sigma", 1.0, values, None, 1, 1)
    if which is None:
        return f"{u.reason}; the likelihood's sigma is not proportional to {rv.name}"
    return None


def _structure(model: Model) -> Structure:
    reasons: list[str] = []
    if model.mixture is not None:
        raise Unsupported(
            ["a mixture likelihood (its component summed out) is not handled; use em"]
        )
    if model.likelihood.distribution != "Normal":
        raise Unsupported(
            [f"the likelihood is {model.likelihood.distribution}; cavi needs a Normal one"]
        )
    small = _probe_model(model)
    updates = analyse(small, 0)
    sites: list[Site] = []
    for u in updates:
        rv = model.latent(u.param)
        kind = u.kind
        if kind == "slice":
            why = _scale_reason(model, rv, u)
            if why is not None:
                reasons.append(f"{u.param} has no closed-form update ({why})")
                continue
            kind = "scale"
        elif kind == "beta":
            reasons.append(f"{u.param}: a Beta-Bernoulli factor is not handled")
            continue
        if kind in ("gamma", "inverse_gamma"):
            bad = [c for c in u.children if _node_rv(model, c).distribution != "Normal"]
            if bad:
                reasons.append(
                    f"{u.param}: a {rv.distribution} factor is written for Normal children, "
                    f"not {', '.join(_node_rv(model, c).distribution for c in bad)}"
                )
                continue
        if kind == "wishart":
            for c in u.children:
                extra = references(_node_rv(model, c).args["precision_chol"]) - {u.param}
                if extra:
                    reasons.append(
                        f"{u.param}: the precision factor of {c} also reads "
                        f"{', '.join(sorted(extra))}"
                    )
        plan = cond.plan(model, Update(u.param, kind if kind != "scale" else "slice", u.reason,
                                       u.children, u.block), 0)  # fmt: skip
        prior = {} if kind in GAUSSIAN else _constant_args(rv, reasons)
        sites.append(Site(plan, kind, prior))
    if reasons:
        raise Unsupported(list(dict.fromkeys(reasons)))
    gaussian = {s.name for s in sites if s.kind in GAUSSIAN}
    precision = {s.name for s in sites if s.kind in PRECISION_KINDS}
    node_rvs = [model.likelihood, *(model.latent(n) for n in gaussian)]
    for rv in node_rvs:
        mean_reads = references(rv.args["mu"])
        prec_reads = references(rv.args[PRECISION_ARGS[rv.distribution]])
        if mean_reads - gaussian:
            reasons.append(
                f"the mean of {_desc(model, rv)} reads {', '.join(sorted(mean_reads - gaussian))}"
                ", which is not a Gaussian factor"
            )
        if prec_reads - precision or (rv.distribution == "MvNormal" and prec_reads):
            reasons.append(
                f"the spread of {_desc(model, rv)} reads "
                f"{', '.join(sorted(prec_reads))}: only Gamma, InverseGamma, Wishart or scale "
                "factors, and an MvNormal's Cholesky factor must be fixed"
            )
    if reasons:
        raise Unsupported(list(dict.fromkeys(reasons)))
    points = [initial_values(model, np.random.default_rng(s), 1.0) for s in (0, 1)]
    # the probes run on a few rows (``small``), with each site's blocks on those rows
    sub = {
        s.name: Site(cond.plan(small, s.plan.update, 0), s.kind)
        for s in sites
        if s.kind in GAUSSIAN
    }
    for s in sites:
        if s.kind not in GAUSSIAN:
            continue
        p = sub[s.name]
        for child in s.plan.kids:
            others = tuple(sorted((references(child.args["mu"]) & gaussian) - {s.name}))
            rest = tuple(n for n in others if _design_reads(small, p, child, n, points[0]))
            s.rest[child.name] = rest
            s.pivot_rest[child.name] = others
            if others and all(_jointly_affine(small, p, child, others, v) for v in points):
                s.pivots.add(child.name)
            if rest and not all(_jointly_affine(small, p, child, rest, v) for v in points):
                reasons.append(
                    f"{s.name}: the design of the mean of {_desc(model, child)} in {s.name} is "
                    f"not affine in {', '.join(rest)} jointly (its second moments have no "
                    "closed form here)"
                )
    if reasons:
        raise Unsupported(list(dict.fromkeys(reasons)))
    chunks = _chunks(model)
    by_name = {s.name: s for s in sites}
    for s in sites:
        if s.kind not in GAUSSIAN:
            continue
        for child in s.plan.kids:
            if probe.child_shape(model, child)[1] != 1:
                continue
            for key, names in (
                ("linear", s.rest[child.name]),
                ("linear_pivot", s.pivot_rest[child.name]),
            ):
                found = {
                    n: _linear_design(small, sub[s.name], sub[n], child, points) for n in names
                }
                found = {n: a for n, a in found.items() if a is not None}
                if child is model.likelihood:  # checked on a few rows: now on all of them
                    found = {
                        n: a
                        for n, a in found.items()
                        if _bilinear_holds(model, chunks, s, by_name[n], a, points[0])
                    }
                if found:
                    getattr(s, key)[child.name] = found
    nodes = [_node(model, rv, sites, gaussian, precision, reasons) for rv in node_rvs]
    if reasons:
        raise Unsupported(list(dict.fromkeys(reasons)))
    st = Structure(model, sites, nodes, chunks, y=model.to_model_scale(model.data.y))
    lik = model.likelihood.name
    for s in sites:
        linear = s.linear.get(lik, {})
        if (
            s.kind in GAUSSIAN
            and lik in s.rest
            and len(linear) == 1
            and set(linear) == set(s.rest[lik])
        ):
            (other, a), = linear.items()  # fmt: skip
            st.fast_update[s.name] = Bilinear(s.name, other, a)
    pivot = st.nodes[0].pivot
    if pivot is not None:
        s = st.site(pivot)
        linear = s.linear_pivot.get(lik, {})
        b_only = tuple(n for n in s.pivot_rest[lik] if n not in linear)
        if len(linear) == 1 and not set(b_only) & set(s.rest[lik]):
            (other, a), = linear.items()  # fmt: skip
            st.fast_node = Bilinear(pivot, other, a, b_only)
    return st


def _bilinear_holds(model, chunks, s: Site, other: Site, a: np.ndarray, values) -> bool:  # type: ignore[no-untyped-def]
    """Whether the likelihood's mean is ``b + (A q[r_j]) . p[g_j]`` on every row with ``b``
    free of ``p`` and ``q`` (``p = s``, ``q = other``), at random values of both."""
    rng = np.random.default_rng(13)
    lik = model.likelihood
    n = len(model.data)
    g, r = _ids(s.plan.blocks[lik.name], n), _ids(other.plan.blocks[lik.name], n)
    p1 = rng.normal(0, 1, (s.plan.g, s.plan.d))
    q1 = rng.normal(0, 1, (other.plan.g, other.plan.d))
    zero_p = {**values, s.name: np.zeros(s.rv.shape)}
    cases = {
        "both": {**values, s.name: p1.reshape(s.rv.shape), other.name: q1.reshape(other.rv.shape)},
        "q": {**zero_p, other.name: q1.reshape(other.rv.shape)},
        "none": {**zero_p, other.name: np.zeros(other.rv.shape)},
    }
    qa = q1 @ a.T
    for sl, m in chunks:
        got = {k: probe.child_arg(NUMPY, m, lik, "mu", v)[:, 0] for k, v in cases.items()}
        want = np.sum(p1[g[sl]] * qa[r[sl]], axis=1)
        tol = 1e-8 * (1 + np.abs(got["both"]).max())
        if not np.allclose(got["both"] - got["q"], want, rtol=1e-7, atol=tol):
            return False
        if not np.allclose(got["q"], got["none"], rtol=1e-9, atol=tol):
            return False
    return True


def _node_rv(model: Model, name: str) -> RandomVariable:
    return model.likelihood if name == model.likelihood.name else model.latent(name)


def _desc(model: Model, rv: RandomVariable) -> str:
    return "the likelihood" if rv.name == model.likelihood.name else f"the prior of {rv.name}"


def _node(model, rv, sites, gaussian, precision, reasons) -> Node:  # type: ignore[no-untyped-def]
    lik = rv.name == model.likelihood.name
    in_mean = [s for s in sites if s.name in references(rv.args["mu"])]
    pivot = next(
        (s.name for s in in_mean if rv.name in s.pivots or not s.pivot_rest[rv.name]), None
    )
    if in_mean and pivot is None:
        reasons.append(f"no Gaussian factor of the mean of {_desc(model, rv)} has an affine design")
    prec = tuple(
        s.name for s in sites if s.name in references(rv.args[PRECISION_ARGS[rv.distribution]])
    )
    node = Node(rv, pivot, prec, None if lik else rv.name)
    if not lik:
        own = next(s for s in sites if s.name == rv.name)
        j, e = probe.child_shape(model, rv)
        d = own.plan.d
        if d % e:
            reasons.append(f"{rv.name}'s values are split across its factor's blocks")
            return node
        flat = np.arange(j * e).reshape(j, e)
        node.cov_index = (flat // d, flat % d)
    return node


def _design_reads(model: Model, s: Site, child: RandomVariable, other: str, values) -> bool:  # type: ignore[no-untyped-def]
    """Whether the design ``X`` of ``child``'s mean in ``s`` changes with site ``other``."""
    _, x0 = probe.mean_design(NUMPY, model, s.rv, child, "mu", values, s.plan.g, s.plan.d)
    moved = {
        **values,
        other: values[other] + np.random.default_rng(5).normal(0, 1, np.shape(values[other])),
    }
    _, x1 = probe.mean_design(NUMPY, model, s.rv, child, "mu", moved, s.plan.g, s.plan.d)
    return not np.allclose(x0, x1, rtol=1e-9, atol=1e-12)


def _linear_design(
    model: Model, s: Site, other: Site, child: RandomVariable, points
) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """``A`` with ``X_j = A other[block_j]`` for every row and ``b`` free of ``other``, or None."""
    g, d = s.plan.g, s.plan.d
    blocks = other.plan.blocks[child.name]
    a = None
    for values in points:
        zero = {**values, other.name: np.zeros(other.rv.shape)}
        b0, x0 = probe.mean_design(NUMPY, model, s.rv, child, "mu", zero, g, d)
        if not np.allclose(x0, 0.0, atol=1e-12):
            return None
        cols = []
        for k in range(other.plan.d):
            unit = probe.unit(np, other.rv, other.plan.g, other.plan.d, k)
            bk, xk = probe.mean_design(
                NUMPY, model, s.rv, child, "mu", {**values, other.name: unit}, g, d
            )
            if not np.allclose(bk, b0, rtol=1e-9, atol=1e-12):
                return None
            col = xk[:, 0, :]
            if not np.allclose(col, col[:1], rtol=1e-9, atol=1e-12):
                return None
            cols.append(col[0])
        a = np.stack(cols, axis=1)  # (D, D_other)
        r = np.random.default_rng(3).normal(0, 1, (other.plan.g, other.plan.d))
        _, xr = probe.mean_design(
            NUMPY, model, s.rv, child, "mu", {**values, other.name: r.reshape(other.rv.shape)}, g, d
        )
        rows = r if blocks is None else r[blocks]
        if not np.allclose(
            xr[:, 0, :],
            np.einsum("de,je->jd", a, np.broadcast_to(rows, (len(xr), rows.shape[1]))),
            rtol=1e-7,
            atol=1e-10,
        ):
            return None
    return a


def _pair_sum(
    weights: np.ndarray,
    left: np.ndarray | None,
    g: int,
    right: np.ndarray | None,
    h: int,
    x: np.ndarray,
) -> np.ndarray:
    """``out[a] = sum_j weights_j x[right_j]`` over the rows j of block ``left_j = a``: one
    sparse ``(g, h)`` product (None: every row in block 0)."""
    n = len(weights)
    lf = np.zeros(n, dtype=np.int64) if left is None else left
    rt = np.zeros(n, dtype=np.int64) if right is None else right
    w = sparse.csr_matrix((weights, (lf, rt)), shape=(g, h))
    return np.asarray(w @ x.reshape(h, -1)).reshape(g, *x.shape[1:])


def _jointly_affine(model: Model, s: Site, child: RandomVariable, rest, values) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``(b, X)`` of ``child``'s mean in ``s`` are affine in the sites ``rest``
    together: second differences along random directions vanish."""
    rng = np.random.default_rng(11)
    d1 = {n: rng.normal(0, 1, model.latent(n).shape) for n in rest}
    d2 = {n: rng.normal(0, 1, model.latent(n).shape) for n in rest}

    def f(*shifts: dict, t: float = 1.0) -> np.ndarray:
        v = dict(values)
        for sh in shifts:
            for n, x in sh.items():
                v[n] = v[n] + t * x
        b, x = probe.mean_design(NUMPY, model, s.rv, child, "mu", v, s.plan.g, s.plan.d)
        return np.concatenate([np.ravel(b), np.ravel(x)])

    f0, f1, f2 = f(), f(d1), f(d2)
    scale = 1e-7 * (1 + np.abs(f0).max() + np.abs(f1).max())
    mixed = f(d1, d2) - f1 - f2 + f0
    line = f(d1, t=2.0) - 2 * f1 + f0
    return bool(np.abs(mixed).max() <= scale and np.abs(line).max() <= scale)


# --- the factors ----------------------------------------------------------------------------


@dataclass
class GaussianQ:
    m: np.ndarray  # (G, D)
    cov: np.ndarray  # (G, D, D)
    chol: np.ndarray  # (G, D, D) lower factor of cov

    def entropy(self) -> float:
        d = self.m.shape[1]
        logdet = 2 * np.log(np.diagonal(self.chol, axis1=1, axis2=2)).sum()
        return float(0.5 * self.m.shape[0] * d * (1 + LOG_2PI) + 0.5 * logdet)


@dataclass
class GammaQ:
    """Gamma(alpha, rate beta) or InverseGamma(alpha, scale beta), one per element."""

    alpha: np.ndarray
    beta: np.ndarray
    inverse: bool

    def effective(self) -> np.ndarray:  # E[p] for a precision, 1 / E[1/p] for a variance
        return self.beta / self.alpha if self.inverse else self.alpha / self.beta

    def gap(self) -> np.ndarray:  # E[log precision] - log(precision at the effective value)
        return special.digamma(self.alpha) - np.log(self.alpha)

    def e_log(self) -> np.ndarray:
        sign = -1.0 if self.inverse else 1.0
        return sign * (special.digamma(self.alpha) - np.log(self.beta))

    def prior_plus_entropy(self, a0: np.ndarray, b0: np.ndarray) -> float:
        a, b, el = self.alpha, self.beta, self.e_log()
        lg = special.gammaln
        if self.inverse:
            prior = a0 * np.log(b0) - lg(a0) - (a0 + 1) * el - b0 * a / b
            ent = a + np.log(b) + lg(a) - (1 + a) * special.digamma(a)
        else:
            prior = a0 * np.log(b0) - lg(a0) + (a0 - 1) * el - b0 * a / b
            ent = a - np.log(b) + lg(a) + (1 - a) * special.digamma(a)
        return float(np.sum(prior + ent))


@dataclass
class WishartQ:
    """Lambda = L L^T ~ Wishart(nu, W)."""

    nu: float
    scale: np.ndarray

    def e_logdet(self) -> float:
        d = self.scale.shape[0]
        dig = special.digamma((self.nu - np.arange(d)) / 2).sum()
        return float(dig + d * np.log(2) + np.linalg.slogdet(self.scale)[1])

    def effective(self) -> np.ndarray:
        return np.linalg.cholesky(self.nu * self.scale)

    def gap(self) -> float:
        return self.e_logdet() - float(np.linalg.slogdet(self.nu * self.scale)[1])

    def prior_plus_entropy(self, nu0: float) -> float:
        d = self.scale.shape[0]
        el, nu = self.e_logdet(), self.nu
        prior = (
            (nu0 - d - 1) / 2 * el
            - 0.5 * nu * np.trace(self.scale)
            - nu0 * d / 2 * np.log(2)
            - special.multigammaln(nu0 / 2, d)
        )
        ent = (
            -(nu - d - 1) / 2 * el
            + nu * d / 2
            + nu / 2 * np.linalg.slogdet(self.scale)[1]
            + nu * d / 2 * np.log(2)
            + special.multigammaln(nu / 2, d)
        )
        return float(prior + ent)


@dataclass
class ScaleQ:
    """A positive scalar's factor tabulated on a grid of ``u = log s`` (trapezoid weights)."""

    u: np.ndarray
    w: np.ndarray  # probability of each grid point (sums to 1)
    own: float = 0.0  # E[log p(s)] + H[q(s)], fixed between its updates

    def e_inv_sq(self) -> float:
        return float(np.sum(self.w * np.exp(-2 * self.u)))

    def e_u(self) -> float:
        return float(np.sum(self.w * self.u))

    def effective(self) -> np.ndarray:
        return np.asarray(self.e_inv_sq() ** -0.5)

    def gap(self) -> float:  # precision 1 / (c s)^2
        return -2 * self.e_u() - float(np.log(self.e_inv_sq()))


def _grid(logq, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, float]:  # type: ignore[no-untyped-def]
    """Normalised trapezoid weights of ``exp(logq)`` on [lo, hi], and log of its integral."""
    u = np.linspace(lo, hi, GRID)
    lq = logq(u)
    top = np.max(lq)
    f = np.exp(lq - top)
    step = u[1] - u[0]
    w = f * step
    w[[0, -1]] *= 0.5
    z = w.sum()
    return u, w / z, float(top + np.log(z))


# --- the state and its expectations ---------------------------------------------------------


class State:
    """Every factor, and ``values``: each Gaussian site at its mean and each precision site at
    its effective value, the point every probe of an update is evaluated at."""

    def __init__(self, st: Structure, init: dict[str, np.ndarray]):
        self.st = st
        self.q: dict[str, Any] = {}
        self.version: dict[str, int] = {}  # updates of each factor (keys of ``cache``)
        self.cache: dict[str, tuple[tuple, np.ndarray]] = {}
        self.values: dict[str, np.ndarray] = {}
        for s in st.sites:
            x = np.asarray(init[s.name], dtype=float)
            g, d = s.plan.g, s.plan.d
            if s.kind in GAUSSIAN:
                cov = np.broadcast_to(np.eye(d) * START_SD**2, (g, d, d)).copy()
                chol = np.broadcast_to(np.eye(d) * START_SD, (g, d, d)).copy()
                self.q[s.name] = GaussianQ(x.reshape(g, d), cov, chol)
            elif s.kind == "gamma":
                a = np.full(x.size, START_SHAPE)
                self.q[s.name] = GammaQ(a, a / x.reshape(-1), False)
            elif s.kind == "inverse_gamma":
                a = np.full(x.size, START_SHAPE)
                self.q[s.name] = GammaQ(a, a * x.reshape(-1), True)
            elif s.kind == "wishart":
                nu = float(s.prior["nu"])
                self.q[s.name] = WishartQ(nu, x @ x.T / nu)
            else:
                u0 = float(np.log(x.reshape(-1)[0]))
                u, w, _ = _grid(lambda u, c=u0: -0.5 * ((u - c) / START_SD) ** 2, u0 - 1, u0 + 1)
                self.q[s.name] = ScaleQ(u, w)
            self.refresh(s)

    def refresh(self, s: Site) -> None:
        self.version[s.name] = self.version.get(s.name, 0) + 1
        q = self.q[s.name]
        if isinstance(q, GaussianQ):
            self.values[s.name] = q.m.reshape(s.rv.shape)
        else:
            self.values[s.name] = np.reshape(q.effective(), s.rv.shape)

    def shifts(self, names: tuple[str, ...]):  # type: ignore[no-untyped-def]
        """``values`` with every block of one site moved by column k of its covariance's
        Cholesky factor, for each site in ``names`` and each k."""
        for n in names:
            q = self.q[n]
            rv = self.st.model.latent(n)
            for k in range(q.m.shape[1]):
                yield {**self.values, n: (q.m + q.chol[:, :, k]).reshape(rv.shape)}

    def rows(self, name: str, blocks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """A Gaussian site's mean and covariance for each child element, ``(J or 1, D[, D])``."""
        q = self.q[name]
        if blocks is None:
            return q.m, q.cov
        return q.m[blocks], q.cov[blocks]

    def value_moments(
        self, node: Node, model: Model | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The node's value: its mean ``(J, E)`` and covariance ``(J, E, E)`` (None: data);
        ``model``: the likelihood on a chunk of its rows."""
        model = model or self.st.model
        x = probe.child_value(NUMPY, model, node.rv, self.values)
        if node.own is None:
            return np.asarray(x), None
        assert node.cov_index is not None
        blk, pos = node.cov_index
        cov = self.q[node.own].cov[blk[:, :, None], pos[:, :, None], pos[:, None, :]]
        return np.asarray(x), cov


def residual_moments(state: State, node: Node) -> np.ndarray:
    """``E[r r^T]`` of the node's residual ``r = x - mean``, ``(J, E, E)``; kept until a
    Gaussian factor changes (the scale update and the ELBO of a sweep share the likelihood's)."""
    reads = references(node.rv.args["mu"]) | {node.rv.name}
    key = tuple(state.version[s.name] for s in state.st.sites if s.name in reads)
    hit = state.cache.get(node.rv.name)
    if hit is not None and hit[0] == key:
        return hit[1]
    out = _residual_moments(state, node)
    state.cache[node.rv.name] = (key, out)
    return out


def _residual_moments(state: State, node: Node) -> np.ndarray:
    if node.own is not None:
        return _residual_rows(state, node, state.st.model, None)
    parts = [_residual_rows(state, node, m, sl) for sl, m in state.st.chunks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _sub(blocks: np.ndarray | None, sl: slice | None) -> np.ndarray | None:
    return blocks if blocks is None or sl is None else blocks[sl]


def _residual_rows(state: State, node: Node, model: Model, sl: slice | None) -> np.ndarray:
    """``E[r r^T]`` on the rows of ``model`` (a chunk ``sl`` of the likelihood's rows)."""
    xbar, cov_x = state.value_moments(node, model)
    if node.pivot is None:
        e = xbar - probe.child_arg(NUMPY, model, node.rv, "mu", state.values)
        out = e[:, :, None] * e[:, None, :]
        return out if cov_x is None else out + cov_x
    s = state.st.site(node.pivot)
    blocks = _sub(s.plan.blocks[node.rv.name], sl)
    m, cov = state.rows(s.name, blocks)
    b, x = probe.mean_design(NUMPY, model, s.rv, node.rv, "mu", state.values, s.plan.g, s.plan.d)
    e = xbar - b - np.einsum("jed,jd->je", x, np.broadcast_to(m, (len(x), m.shape[1])))
    linear = s.linear_pivot.get(node.rv.name, {})
    shifted = tuple(n for n in s.pivot_rest[node.rv.name] if n not in linear)
    out = e[:, :, None] * e[:, None, :] + _sandwich(x, cov)
    if linear:  # + m^T A S_q A^T m + tr(S A S_q A^T) for each such site q (E = 1)
        mj = np.broadcast_to(m, (len(x), m.shape[1]))
        for n, a in linear.items():
            _, cq = state.rows(n, _sub(state.st.site(n).plan.blocks[node.rv.name], sl))
            big = cq if np.array_equal(a, np.eye(*a.shape)) else a @ cq @ a.T
            extra = _quad(big, mj) + np.sum(_b(cov, x) * _b(big, x), axis=(1, 2))
            out = out + extra[:, None, None]
    for v in state.shifts(shifted):
        bk, xk = probe.mean_design(NUMPY, model, s.rv, node.rv, "mu", v, s.plan.g, s.plan.d)
        dx, db = xk - x, bk - b
        phi = db + np.einsum("jed,jd->je", dx, np.broadcast_to(m, (len(x), m.shape[1])))
        out = out + phi[:, :, None] * phi[:, None, :]
        out = out + _sandwich(dx, cov)
    return out if cov_x is None else out + cov_x


def _tri(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of each entry of a ``D x D`` upper triangle, and its weight in a
    Frobenius product of symmetric matrices (1 on the diagonal, 2 off it)."""
    rows, cols = np.triu_indices(d)
    return rows, cols, np.where(rows == cols, 1.0, 2.0)


def _second_moments(q: GaussianQ, a: np.ndarray | None = None) -> np.ndarray:
    """The upper triangle of ``A E[x x^T] A^T`` per block, ``(G, D(D+1)/2)``."""
    m2 = q.m[:, :, None] * q.m[:, None, :] + q.cov
    if a is not None and not (a.shape[0] == a.shape[1] and np.array_equal(a, np.eye(len(a)))):
        m2 = a @ m2 @ a.T
    rows, cols, _ = _tri(m2.shape[-1])
    return m2[:, rows, cols]


def _lik_mean(state: State, values: dict[str, np.ndarray]) -> np.ndarray:
    """The likelihood's mean on every row at ``values``, ``(J,)``, chunk by chunk."""
    lik = state.st.model.likelihood
    parts = [probe.child_arg(NUMPY, m, lik, "mu", values)[:, 0] for _, m in state.st.chunks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _lik_precision(state: State) -> np.ndarray:
    """``E[tau_j]`` of every likelihood row, ``(J,)``."""
    model = state.st.model
    tau = cond._child_precision(NUMPY, model, model.likelihood, state.values)[:, 0, 0]
    return np.broadcast_to(np.asarray(tau, dtype=float), (len(model.data),))


def _constant(w: np.ndarray) -> float | None:
    """The one value of ``w`` when every row has it (the sparse products then take a scalar)."""
    w = np.asarray(w)
    if w.ndim == 0:
        return float(w)
    return float(w[0]) if w.size and np.all(w == w[0]) else None


def _row_dot(state: State, fast: Bilinear) -> np.ndarray:
    """``m_p[g_j] . A m_q[r_j]`` per row (the mean's bilinear part at the means)."""
    st = state.st
    lik, n = st.model.likelihood.name, len(st.model.data)
    g = _ids(st.site(fast.site).plan.blocks[lik], n)
    r = _ids(st.site(fast.other).plan.blocks[lik], n)
    mp, mqa = state.q[fast.site].m, state.q[fast.other].m @ fast.a.T
    return np.concatenate([np.sum(mp[g[sl]] * mqa[r[sl]], axis=1) for sl, _ in st.chunks])


def r2_sums(
    state: State, node: Node, w: np.ndarray | float, elem: np.ndarray | None, n: int
) -> np.ndarray:
    """``sum_j w_j E[r_j^2]`` over each group ``elem_j`` (None: one group) of a scalar node's
    elements.  The likelihood's by sparse products when its mean is bilinear (``fast_node``):
    no per-row covariance is gathered; otherwise from ``residual_moments``."""
    if elem is not None and elem.size and np.all(elem == elem[0]):  # one group: a total
        out = np.zeros(n)
        out[elem[0]] = r2_sums(state, node, w, None, 1)[0]
        return out
    fast = state.st.fast_node if node.own is None else None
    if fast is None:
        rr = residual_moments(state, node)[:, 0, 0]
        return _group_sum(np.asarray(w) * rr, elem, n)
    c = _constant(w)
    if elem is None and c is not None:  # cached per state of the factors: scale and ELBO
        reads = references(node.rv.args["mu"])
        key = tuple(state.version[s.name] for s in state.st.sites if s.name in reads)
        hit = state.cache.get("r2:" + node.rv.name)
        if hit is None or hit[0] != key:
            hit = (key, _fast_r2(state, fast, np.asarray(1.0), None, 1))
            state.cache["r2:" + node.rv.name] = hit
        return c * hit[1]
    return _fast_r2(state, fast, np.asarray(w, dtype=float), elem, n)


def _group_sum(x: np.ndarray, elem: np.ndarray | None, n: int) -> np.ndarray:
    if elem is None:
        return np.asarray([np.sum(x)])
    return np.bincount(elem, weights=np.broadcast_to(x, elem.shape), minlength=n)


def _fast_r2(
    state: State, fast: Bilinear, w: np.ndarray, elem: np.ndarray | None, n: int
) -> np.ndarray:
    """``E[r_j^2] = (y_j - mean_j)^2 + E[(p.Aq)^2] - (m_p.A m_q)^2 + sum_k phi_jk^2`` with
    ``phi_jk`` the move of the mean when a ``b_only`` site moves by column k of its factor's
    Cholesky factor; the middle terms as ``<E[p p^T]_g, sum_j w_j A E[q q^T]_{r_j} A^T>``."""
    st = state.st
    mean = _lik_mean(state, state.values)
    e = st.y - mean
    out = _group_sum(w * e * e, elem, n)
    p, q = state.q[fast.site], state.q[fast.other]
    _, _, wt = _tri(p.m.shape[1])
    e2p = _second_moments(p) * wt
    e2q = _second_moments(q, fast.a)
    mm = _row_dot(state, fast)
    if elem is None:
        wmat = st.pairing(fast.site, fast.other).matrix(w if w.ndim else float(w))
        out = out + np.sum(e2p * (wmat @ e2q)) - np.sum(w * mm * mm)
    else:
        lik, rows = st.model.likelihood.name, len(st.model.data)
        g = _ids(st.site(fast.site).plan.blocks[lik], rows)
        r = _ids(st.site(fast.other).plan.blocks[lik], rows)
        var = np.concatenate([np.sum(e2p[g[sl]] * e2q[r[sl]], axis=1) for sl, _ in st.chunks])
        out = out + _group_sum(w * (var - mm * mm), elem, n)
    for v in state.shifts(fast.b_only):
        phi = _lik_mean(state, v) - mean
        out = out + _group_sum(w * phi * phi, elem, n)
    return out


def _quad(mat: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v_j^T mat_j v_j`` per row (``mat`` may be one matrix for every row)."""
    return np.sum(np.matmul(mat, v[:, :, None])[:, :, 0] * v, axis=1)


def _sandwich(x: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``x_j S_j x_j^T`` per row, ``(J, E, E)``, as batched matmuls: a three-operand einsum
    loops over every index at once and was most of a Normal-Wishart sweep."""
    return x @ cov @ np.swapaxes(x, -1, -2)


def _b(cov: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.broadcast_to(cov, (len(x), *cov.shape[1:]))


def _node_precision(state: State, node: Node) -> np.ndarray:
    """``E[P]`` of each element, ``(J, E, E)``."""
    return np.asarray(cond._child_precision(NUMPY, state.st.model, node.rv, state.values))


def _log_gap(state: State, node: Node, j: int) -> np.ndarray:
    """``E[log det P_j] - log det P_j(values)`` per element ``(J,)`` from its precision sites."""
    total = np.zeros(j)
    for name in node.precision_sites:
        s, q = state.st.site(name), state.q[name]
        if isinstance(q, GammaQ):
            which = s.plan.which[node.rv.name]
            blocks = s.plan.blocks[node.rv.name]
            elem = which if blocks is None else blocks * s.plan.d + which
            total = total + q.gap()[elem]
        else:
            total = total + q.gap()
    return total


# --- the updates ----------------------------------------------------------------------------


def update_gaussian(state: State, s: Site) -> None:
    st = state.st
    model, lik = st.model, st.model.likelihood
    own = tuple(k for k in s.plan.kids if k is not lik)
    prec, h = cond.gaussian_params(NUMPY, model, replace(s.plan, kids=own), state.values)
    for child in own:
        dp, dh = _corrections(state, s, child, model, None)
        prec, h = prec + dp, h + dh
    if lik in s.plan.kids:
        fast = st.fast_update.get(s.name)
        if fast is not None:
            dp, dh = _bilinear_terms(state, fast)
            prec, h = prec + dp, h + dh
        else:  # the general conditional, chunk by chunk (its prior counted once)
            p0, h0 = cond.gaussian_params(NUMPY, model, replace(s.plan, kids=()), state.values)
            for sl, m in st.chunks:
                one = replace(
                    s.plan, kids=(lik,), blocks={lik.name: _sub(s.plan.blocks[lik.name], sl)}
                )
                pc, hc = cond.gaussian_params(NUMPY, m, one, state.values)
                dp, dh = _corrections(state, s, lik, m, sl)
                prec, h = prec + (pc - p0) + dp, h + (hc - h0) + dh
    # numpy's batched LAPACK, not the unrolled linalg module: that one exists for jaxlib's
    # thread-pool deadlock, which numpy does not have, and was a fifth of a sweep here
    try:
        chol = np.linalg.cholesky(prec)
    except np.linalg.LinAlgError:
        chol = np.full_like(prec, np.nan)
    if not np.all(np.isfinite(chol)):
        raise FitError(f"cavi: the precision of {s.name}'s factor is not positive definite")
    inv_l = np.linalg.inv(chol)
    cov = np.swapaxes(inv_l, -1, -2) @ inv_l
    m = np.einsum("gde,ge->gd", cov, h)
    q = state.q[s.name]
    q.m, q.cov, q.chol = m, cov, np.linalg.cholesky(cov)
    state.refresh(s)


def _bilinear_terms(state: State, fast: Bilinear) -> tuple[np.ndarray, np.ndarray]:
    """The likelihood's part of ``p``'s precision and precision-times-mean when its mean is
    ``b + (A q[r_j]) . p[g_j]``: ``A (sum_{j in g} tau_j E[q q^T]_{r_j}) A^T`` and
    ``A sum_{j in g} tau_j (y_j - b_j) m_q[r_j]``, two sparse products over the rating rows."""
    st = state.st
    site = st.site(fast.site)
    d = site.plan.d
    tau = _lik_precision(state)
    b = _lik_mean(state, {**state.values, fast.site: np.zeros(site.rv.shape)})
    pair = st.pairing(fast.site, fast.other)
    c = _constant(tau)
    w = pair.matrix(c if c is not None else tau)
    prec = (w @ _second_moments(state.q[fast.other], fast.a))[:, cond._symmetric_index(d)]
    h = (pair.matrix(tau * (st.y - b)) @ state.q[fast.other].m) @ fast.a.T
    return prec, h


def _corrections(
    state: State, s: Site, child: RandomVariable, model: Model, sl: slice | None
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """What the conditional at the means misses of ``E_q`` over the other Gaussian sites the
    child's design reads (``rest``), on ``model``'s rows (a chunk ``sl`` of the likelihood's)."""
    dp: np.ndarray | float = 0.0
    dh: np.ndarray | float = 0.0
    rest = s.rest[child.name]
    if not rest:
        return dp, dh
    lik = child is model.likelihood
    linear = s.linear.get(child.name, {})
    if linear:  # E[X^T tau X] - Xm^T tau Xm = A S A^T, per row
        tau = np.asarray(cond._child_precision(NUMPY, model, child, state.values))[:, 0, 0]
        tau = np.broadcast_to(tau, (len(model.data) if lik else len(tau),))
        for n, a in linear.items():
            other = state.st.site(n)
            corr = _pair_sum(tau, _sub(s.plan.blocks[child.name], sl), s.plan.g,
                             _sub(other.plan.blocks[child.name], sl), other.plan.g,
                             state.q[n].cov)  # fmt: skip
            dp = dp + a @ corr @ a.T
        rest = tuple(n for n in rest if n not in linear)
        if not rest:
            return dp, dh
    blocks = _sub(s.plan.blocks[child.name], sl)
    b, x = probe.mean_design(NUMPY, model, s.rv, child, "mu", state.values, s.plan.g, s.plan.d)
    pj = np.asarray(cond._child_precision(NUMPY, model, child, state.values))
    for v in state.shifts(rest):
        bk, xk = probe.mean_design(NUMPY, model, s.rv, child, "mu", v, s.plan.g, s.plan.d)
        ddx, db = xk - x, bk - b
        pdx = np.einsum("jef,jfd->jed", _b(pj, ddx), ddx)
        dp = dp + cond._reduce(NUMPY, np.einsum("jed,jek->jdk", ddx, pdx), blocks, s.plan.g)
        dh = dh - cond._reduce(NUMPY, np.einsum("jed,je->jd", pdx, db), blocks, s.plan.g)
    return dp, dh


def _node_of(state: State, name: str) -> Node:
    return next(n for n in state.st.nodes if n.rv.name == name)


def update_scalar(state: State, s: Site) -> None:
    """Gamma on a precision ``k p``, InverseGamma on a variance ``k p``, per element."""
    model, rv = state.st.model, s.rv
    n = int(np.prod(rv.shape, dtype=int))
    a = np.broadcast_to(s.prior["alpha"], rv.shape).reshape(n).copy()
    b = np.broadcast_to(s.prior["beta"], rv.shape).reshape(n).copy()
    for child in s.plan.kids:
        arg, power, _ = SCALAR_PAIRS[(rv.distribution, child.distribution)]
        ones = {**state.values, rv.name: np.ones(rv.shape)}
        k = np.asarray(probe.child_arg(NUMPY, model, child, arg, ones))[:, 0] ** power
        blocks, which = s.plan.blocks[child.name], s.plan.which[child.name]
        elem = which if blocks is None else blocks * s.plan.d + which
        elem = np.broadcast_to(elem, k.shape)
        a = a + np.bincount(elem, minlength=n) / 2
        weight = k if rv.distribution == "Gamma" else 1.0 / k
        b = b + r2_sums(state, _node_of(state, child.name), weight, elem, n) / 2
    state.q[s.name] = GammaQ(a, b, rv.distribution == "InverseGamma")
    state.refresh(s)


def update_wishart(state: State, s: Site) -> None:
    model, rv = state.st.model, s.rv
    d = rv.shape[-1]
    nu = float(s.prior["nu"])
    inv_scale = np.eye(d)
    for child in s.plan.kids:
        eye = {**state.values, rv.name: np.eye(d)}
        a = np.asarray(probe.child_arg(NUMPY, model, child, "precision_chol", eye))
        rr = residual_moments(state, _node_of(state, child.name))
        inv_scale = inv_scale + np.sum(np.swapaxes(a, -1, -2) @ rr @ a, axis=0)
        nu += probe.child_shape(model, child)[0]
    scale = np.linalg.inv(inv_scale)
    state.q[s.name] = WishartQ(nu, 0.5 * (scale + scale.T))
    state.refresh(s)


def update_scale(state: State, s: Site) -> None:
    """``q(s) ~ p(s) s^-n exp(-SS / (2 s^2))``, ``SS = sum_j E[r_j^2] / c_j^2``, on a grid."""
    model, rv = state.st.model, s.rv
    lik = model.likelihood
    ones = {**state.values, rv.name: np.ones(rv.shape)}
    c = np.asarray(probe.child_arg(NUMPY, model, lik, "sigma", ones))[:, 0]
    c = np.broadcast_to(c, (len(model.data),))
    n = float(len(c))
    ss = float(r2_sums(state, _node_of(state, lik.name), 1.0 / c**2, None, 1)[0])
    prior = {k: v for k, v in s.prior.items()}

    def logq(u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            lp = rv.dist.logpdf(np.exp(u), **prior)
            out = lp + u - n * u - 0.5 * ss * np.exp(-2 * u)
        return np.where(np.isfinite(out), out, -np.inf)

    mode = 0.5 * np.log(max(ss, 1e-300) / max(n, 1.0))
    u, w, _ = _grid(logq, mode - 12.0, mode + 12.0)
    keep = np.flatnonzero(w > 1e-30 * w.max())
    step = u[1] - u[0]
    lo, hi = u[keep[0]] - 2 * step, u[keep[-1]] + 2 * step
    u, w, logz = _grid(logq, lo, hi)
    q = ScaleQ(u, w)
    q.own = logz + n * q.e_u() + 0.5 * ss * q.e_inv_sq()
    state.q[s.name] = q
    state.refresh(s)


UPDATES = {
    "normal": update_gaussian,
    "mvnormal": update_gaussian,
    "gamma": update_scalar,
    "inverse_gamma": update_scalar,
    "wishart": update_wishart,
    "scale": update_scale,
}


def node_terms(state: State) -> dict[str, float]:
    """``E_q[log N(x_j | mean_j, P_j^-1)]`` summed over each Gaussian node's elements."""
    out = {}
    for node in state.st.nodes:
        if node.own is None:  # the likelihood: scalar rows, second moments summed
            pj1 = _lik_precision(state)
            logdet1 = np.log(pj1) + _log_gap(state, node, len(pj1))
            quad1 = float(r2_sums(state, node, pj1, None, 1)[0])
            total = np.sum(-0.5 * LOG_2PI + 0.5 * logdet1) - 0.5 * quad1
            out[node.rv.name] = float(total)
            continue
        rr = residual_moments(state, node)
        pj = _node_precision(state, node)
        j, e = rr.shape[:2]
        logdet = np.linalg.slogdet(pj)[1] if e > 1 else np.log(pj[:, 0, 0])
        logdet = logdet + _log_gap(state, node, j)
        quad = np.einsum("jef,jfe->j", pj, rr)
        out[node.rv.name] = float(np.sum(-0.5 * e * LOG_2PI + 0.5 * logdet - 0.5 * quad))
    return out


def elbo(state: State) -> float:
    """``E_q[log p(y, theta)] + H[q]`` (the Wishart and scale terms on Lambda and s, whose
    change of variables from L, or to log s, cancels between the two)."""
    total = sum(node_terms(state).values())
    for s in state.st.sites:
        q = state.q[s.name]
        if isinstance(q, GaussianQ):
            total += q.entropy()
        elif isinstance(q, GammaQ):
            n = q.alpha.size
            a0 = np.broadcast_to(s.prior["alpha"], s.rv.shape).reshape(n)
            b0 = np.broadcast_to(s.prior["beta"], s.rv.shape).reshape(n)
            total += q.prior_plus_entropy(a0, b0)
        elif isinstance(q, WishartQ):
            total += q.prior_plus_entropy(float(s.prior["nu"]))
        else:
            total += q.own
    return total


# --- draws from q -----------------------------------------------------------------------------


def sample(state: State, draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``(1, draws, *shape)`` independent draws of every latent from the fitted factors."""
    out: dict[str, np.ndarray] = {}
    for s in state.st.sites:
        q, shape = state.q[s.name], s.rv.shape
        if isinstance(q, GaussianQ):
            z = rng.standard_normal((draws, *q.m.shape))
            x = q.m + np.einsum("gde,nge->ngd", q.chol, z)
        elif isinstance(q, GammaQ):
            g = rng.standard_gamma(np.broadcast_to(q.alpha, (draws, q.alpha.size)))
            x = q.beta / g if q.inverse else g / q.beta
        elif isinstance(q, WishartQ):
            d = q.scale.shape[0]
            c = np.linalg.cholesky(q.scale)
            chi2 = 2.0 * rng.standard_gamma(np.broadcast_to((q.nu - np.arange(d)) / 2, (draws, d)))
            bart = np.tril(rng.standard_normal((draws, d, d)), -1)
            bart = bart + np.eye(d) * np.sqrt(chi2)[:, :, None]
            x = c @ bart
        else:
            cdf = np.cumsum(q.w)
            x = np.exp(np.interp(rng.uniform(size=draws) * cdf[-1], cdf, q.u))
        out[s.name] = np.asarray(x, dtype=float).reshape(1, draws, *shape)
    return out


@dataclass
class CaviRun:
    state: State
    elbo: np.ndarray
    converged: bool


def run(
    model: Model, init: dict[str, np.ndarray], steps: int, tol: float, progress: Any = None
) -> CaviRun:
    """Sweeps from the factors centred at ``init`` until the ELBO's relative change is at most
    ``tol`` or ``steps`` ELBOs were computed (the first is the start's, before any sweep)."""
    st = structure(model)
    state = State(st, init)
    trace = [elbo(state)]
    converged = False
    for t in range(1, steps):
        for s in st.sites:
            UPDATES[s.kind](state, s)
        trace.append(elbo(state))
        if progress is not None:
            progress(t, -np.asarray(trace))
        if not np.isfinite(trace[-1]):
            break
        if abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
            converged = True
            break
    return CaviRun(state, np.asarray(trace), converged)


def fit(density: Any, model: Model, settings: Any, init: dict[str, np.ndarray], progress: bool,
        label: str = "cavi"):  # type: ignore[no-untyped-def]  # fmt: skip
    """The methods table's kernel (``needs_density=False``): the loss trace is the negative
    ELBO per sweep, the draws come from the fitted factors."""
    from specrec.backends import FitResult
    from specrec.optimisers import StepProgress

    bar = StepProgress(label, settings.steps, progress)
    out = run(model, init, settings.steps, settings.tol, bar.update if progress else None)
    bar.close()
    rng = np.random.default_rng([settings.seed, 7])
    posterior = sample(out.state, settings.draws, rng)
    info = {
        "cavi": {
            "sweeps": int(out.elbo.size - 1),
            "converged": bool(out.converged),
            "elbo": float(out.elbo[-1]),
            "updates": [f"{s.name}: {s.kind}" for s in out.state.st.sites],
        }
    }
    return FitResult("cavi", posterior, loss=-out.elbo, info=info)
