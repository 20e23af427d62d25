"""EM for a mixture likelihood: the MAP of the ``map`` method's objective, by closed-form steps.

A model without a mixture is one component and no E-step: the same M-steps are then exact
coordinate ascent to the MAP (one step for a Normal mean with a known spread).

The objective is the one ``map`` maximises: the log density of the constrained values, no
Jacobian, with the component summed out (``log p(y | theta) + log p(theta)``).  Each iteration

* E-step: the responsibilities ``r[l, k]`` of every level ``l`` of ``per`` (a user's type
  probabilities given the user's training rows; every row is its own level without ``per``),
  as ``specrec.model.mixture.responsibilities`` defines them;
* M-step: each parameter, in turn, set to the maximiser of the expected complete-data log
  posterior (rows weighted by their level's responsibilities) given the others:
  Dirichlet weights ``(n_k + a_k - 1) / (N + sum a - K)``; a Normal-prior site in the mean,
  the precision-weighted mode (the mean of the Gaussian conditional of ``conjugacy.conditionals``
  with each (row, component) weighted by ``r``); a positive site the Normal scale is
  proportional to, the root of the stationary equation in ``sigma`` (for an InverseGamma prior
  ``(a + 1 + n) s^2 - b s - S = 0``, in closed form; any other prior by a bracketed 1-d
  maximisation that keeps the old value unless the new one is at least as good).

Each step maximises the expected complete-data log posterior over its own site, so the log
posterior never decreases (ECM, Meng and Rubin 1993): a test checks it.  It stops when the
relative change of the log posterior is below ``inference.tol``, or after ``inference.steps``.

What the kernel can fit is decided before fitting, from the model representation alone
(``refusal_reasons``): a site's role is found with the probes the Gibbs analysis uses (its
argument evaluated at chosen values of the site), not by matching the expression.  The Gibbs
conditionals themselves take one likelihood element per row; a mixture has one per (row,
component), so the weighted sums are written here over that layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse, special

from specrec.conjugacy.analysis import children, references
from specrec.conjugacy.memo import once_per_model
from specrec.errors import FitError
from specrec.model.ir import Model, RandomVariable
from specrec.model.reference import initial_values
from specrec.model.walk import NUMPY_OPS, evaluate

HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))
#: smallest weight a component keeps (an empty component's Dirichlet(1) mode is 0, whose log
#: would make the prior density 0 * -inf)
TINY = float(np.finfo(float).tiny)
#: a spread below this times the data's is a component collapsed onto its rows (an error)
COLLAPSED = 1e-8
#: golden-section iterations of the 1-d maximisation (bracket shrinks by 0.618 each)
GOLDEN_STEPS = 90


class Layout:
    """Which element of a site each (row, component) reads, ``which`` ``(rows, K)`` (-1: none).

    Where it factorises as ``base[row] + shift[k]`` (a type's mean of the row's item: ``base``
    the item, ``shift`` k x items; a type's spread: one ``base`` for every row), gathers and sums
    run over a ``(targets, K)`` table and a sparse row-to-target matrix instead of ``(rows, K)``
    index arrays; one ``base`` for every row gives ``(1, K)`` values that broadcast.
    """

    def __init__(self, which: np.ndarray, size: int):
        self.which, self.size = which, size
        self.base: np.ndarray | None = None
        self.shift: np.ndarray | None = None
        self.single: int | None = None
        if which.size == 0 or which.min() < 0:
            return
        base, shift = which[:, 0], which[0] - which[0, 0]
        if not np.array_equal(which, base[:, None] + shift[None, :]):
            return
        self.base, self.shift = base, shift
        self.which = None  # type: ignore[assignment]  (factorised: the (rows, K) array goes)
        if np.all(base == base[0]):
            self.single = int(base[0])
            return
        targets = int(base.max()) + 1
        self.table = np.minimum(np.arange(targets)[:, None] + shift[None, :], size - 1)
        self.rows_to_targets = sparse.csr_matrix(
            (np.ones(len(base)), (base, np.arange(len(base)))), shape=(targets, len(base))
        )
        seen = np.zeros(targets, dtype=bool)
        seen[base] = True
        self.seen = seen

    def column(self, j: int) -> np.ndarray:
        """The element each row reads in component ``j`` (-1: none), ``(rows,)``."""
        if self.base is not None:
            assert self.shift is not None
            return self.base + self.shift[j]
        return self.which[:, j]

    def gather(self, p: np.ndarray) -> np.ndarray:
        """``p[which]``: ``(rows, K)``, or ``(1, K)`` when every row reads the same elements."""
        if self.single is not None:
            assert self.shift is not None
            return p[self.single + self.shift][None, :]
        if self.base is not None:
            return np.take(p[self.table], self.base, axis=0)
        return np.where(self.which >= 0, p[np.maximum(self.which, 0)], 0.0)

    def scatter(self, x: np.ndarray) -> np.ndarray:
        """The sums of ``x`` (``(rows, K)``) over the (row, k) that read each element."""
        out = np.zeros(self.size)
        if self.single is not None:
            assert self.shift is not None
            np.add.at(out, self.single + self.shift, np.asarray(x).sum(0))
            return out
        if self.base is not None:
            sums = np.asarray(self.rows_to_targets @ x)
            np.add.at(out, self.table[self.seen].reshape(-1), sums[self.seen].reshape(-1))
            return out
        flat, vals = self.which.reshape(-1), np.broadcast_to(x, self.which.shape).reshape(-1)
        keep = flat >= 0
        return np.bincount(flat[keep], weights=vals[keep], minlength=self.size)


@dataclass
class Site:
    """A latent in the likelihood's ``mu`` (role ``mean``) or ``sigma`` (role ``scale``).

    Element ``(row, k)`` of the argument is ``offset + coef * p[which]`` (``layout``);
    ``fixed``: offset and coef do not depend on other latents, so they are computed once.
    """

    rv: RandomVariable
    role: str
    layout: Layout
    offset: Any = 0.0
    coef: Any = 1.0
    fixed: bool = True
    prior: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Structure:
    """What the kernel needs of a model, found once before fitting."""

    model: Model
    k: int
    weights: RandomVariable | None
    means: list[Site]
    scales: list[Site]
    levels: np.ndarray | None  # each row's level of ``per`` (None: each row is a level)
    n_levels: int
    prior_args: dict[str, dict[str, np.ndarray]]

    def level_sum(self, x: np.ndarray) -> np.ndarray:
        """``(rows, K) -> (levels, K)``: sums over each level's rows (a sparse product)."""
        if self.levels is None:
            return x
        if not hasattr(self, "_sum"):
            n = len(self.levels)
            self._sum = sparse.csr_matrix(
                (np.ones(n), (self.levels, np.arange(n))), shape=(self.n_levels, n)
            )
        return np.asarray(self._sum @ x)


class Unsupported(ValueError):
    """The model is not one em can fit; ``reasons`` say why."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def refusal_reasons(model: Model) -> list[str]:
    """Why em cannot fit ``model`` (empty: it can).  Decided on the model representation alone,
    before any work, so the fit driver refuses with these reasons on every backend."""
    try:
        structure(model)
    except Unsupported as e:
        return e.reasons
    return []


def _arg(model: Model, name: str, values: dict[str, Any], k: int) -> np.ndarray:
    x = np.asarray(evaluate(model.likelihood.args[name], values, model.data, NUMPY_OPS), float)
    n = len(model.data)
    if model.mixture is None:  # the arguments are on (rows,): one component
        return np.broadcast_to(x, (n,))[:, None]
    return np.broadcast_to(x, (n, k))


def _probe(
    model: Model, arg: str, rv: RandomVariable, values: dict[str, Any], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(offset, coef, which)`` when each element of the argument is ``offset + coef *
    p[which]`` at these values of the other latents; None when it is not of that form."""
    size = int(np.prod(rv.shape, dtype=int))

    def at(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return _arg(model, arg, {**values, rv.name: np.reshape(p, rv.shape)}, k)

    b = at(np.zeros(size))
    c = at(np.ones(size)) - b
    if not (np.isfinite(b).all() and np.isfinite(c).all()):
        return None
    moved = np.abs(c) > 1e-12 * (1.0 + np.abs(b))
    with np.errstate(all="ignore"):
        pos = (at(np.arange(size) + 1.0) - b) / np.where(moved, c, 1.0) - 1.0
    which = np.where(moved, np.rint(pos), -1).astype(np.int64)
    if np.abs(np.where(moved, pos - which, 0.0)).max(initial=0) > 1e-6 or which.max() >= size:
        return None
    p = np.random.default_rng(7).uniform(0.5, 2.0, size)
    want = at(p)
    err = np.abs(b + c * np.where(moved, p[np.maximum(which, 0)], 0.0) - want)
    if err.max(initial=0) > 1e-8 * (1 + np.abs(want).max(initial=0)):
        return None
    return b, c, which


def _compact(x: np.ndarray) -> Any:
    """A constant array as its one value (most offsets are 0 and coefficients 1)."""
    flat = x.reshape(-1)
    return float(flat[0]) if flat.size and np.all(flat == flat[0]) else np.ascontiguousarray(x)


@once_per_model(Unsupported)
def structure(model: Model) -> Structure:
    """The kernel's view of ``model`` (found once per model); raises ``Unsupported``."""
    return _structure(model)


def _structure(model: Model) -> Structure:
    """The kernel's view of ``model``; raises ``Unsupported`` with every reason it is not one
    em fits (a mixture of a Normal likelihood whose mean is affine in Normal-prior sites and
    whose standard deviation is proportional to positive sites, with fixed priors)."""
    mix = model.mixture
    lik = model.likelihood
    k = 1 if mix is None else model.dims[mix.dim].size  # no mixture: one component, no E-step
    reasons: list[str] = []
    if lik.distribution != "Normal":
        reasons.append(f"em's M-step is written for a Normal likelihood, not {lik.distribution}")
    points = [initial_values(model, np.random.default_rng(s), 1.0) for s in (0, 1)]
    weight_refs = set() if mix is None else references(mix.log_weights)
    weights: RandomVariable | None = None
    prior_args: dict[str, dict[str, np.ndarray]] = {}
    means: list[Site] = []
    scales: list[Site] = []
    for rv in model.latents:
        reads = set().union(*(references(e) for e in rv.args.values()))
        if reads:
            reasons.append(
                f"{rv.name}'s prior reads {', '.join(sorted(reads))}: em's M-step needs "
                "every prior fixed (a hierarchical model is not handled)"
            )
            continue
        prior_args[rv.name] = {
            a: np.asarray(evaluate(e, {}, None, NUMPY_OPS), dtype=float) for a, e in rv.args.items()
        }
        kids = children(model, rv.name)
        if rv.name in weight_refs:
            weights = rv
            if kids:
                reasons.append(f"the mixture weights {rv.name} are also used elsewhere")
            reasons += _weights_reasons(model, rv, prior_args[rv.name], k)
            continue
        if [c.name for c in kids] != [lik.name]:
            used = ", ".join(c.name for c in kids) or "nothing"
            reasons.append(f"{rv.name} is used by {used}: em's sites enter the likelihood only")
            continue
        if lik.distribution != "Normal":
            continue
        in_mu = rv.name in references(lik.args["mu"])
        in_sigma = rv.name in references(lik.args["sigma"])
        if in_mu and in_sigma:
            reasons.append(f"{rv.name} is in both the mean and the spread of the likelihood")
        elif in_mu:
            site = _site(model, rv, "mu", points, k, reasons)
            if site is not None and rv.distribution != "Normal":
                reasons.append(
                    f"{rv.name} is in the likelihood's mean with a {rv.distribution} prior: "
                    "em's mean step is the mode of a Normal prior times Gaussian rows"
                )
            elif site is not None:
                means.append(site)
        else:
            site = _site(model, rv, "sigma", points, k, reasons)
            if site is None:
                continue
            if rv.support_kind != "positive" or rv.dist.event_dims:
                reasons.append(
                    f"{rv.name} sets the likelihood's sigma but its {rv.distribution} prior is "
                    "not on positive scalars"
                )
            elif not (np.all(np.asarray(site.offset) == 0) and np.all(np.asarray(site.coef) > 0)):
                reasons.append(f"the likelihood's sigma is not proportional to {rv.name}")
            else:
                scales.append(site)
    if weights is None and weight_refs:
        reasons.append("the mixture weights read something other than one Dirichlet parameter")
    if reasons:
        raise Unsupported(list(dict.fromkeys(reasons)))
    per = None if mix is None else mix.per
    levels = None if per is None else np.asarray(model.data.index[per], dtype=np.int64)
    n_levels = len(model.data) if per is None else model.dims[per].size
    for site in (*means, *scales):
        site.prior = prior_args[site.rv.name]
    return Structure(model, k, weights, means, scales, levels, n_levels, prior_args)


def _weights_reasons(
    model: Model, rv: RandomVariable, args: dict[str, np.ndarray], k: int
) -> list[str]:
    mix = model.mixture
    assert mix is not None
    if rv.distribution != "Dirichlet" or rv.shape != (k,):
        return [
            f"the mixture weights {rv.name} must be one Dirichlet vector over {mix.dim} "
            f"(found {rv.distribution} of shape {rv.shape})"
        ]
    w = np.random.default_rng(7).dirichlet(np.ones(k))
    log_w = np.asarray(evaluate(mix.log_weights, {rv.name: w}, None, NUMPY_OPS))
    if log_w.shape != (k,) or not np.allclose(log_w, np.log(w)):
        return [f"the mixture weights must be {rv.name} itself, not an expression of it"]
    if np.any(args["a"] < 1):
        return [
            f"{rv.name}'s Dirichlet concentration is below 1: its density is unbounded at an "
            "empty component, so the MAP em would find does not exist"
        ]
    return []


def _site(
    model: Model, rv: RandomVariable, arg: str, points: list[dict], k: int, reasons: list[str]
) -> Site | None:
    """The site's layout in argument ``arg``, the same at two points of the other latents
    (one point when the argument reads no other latent)."""
    fixed = references(model.likelihood.args[arg]) == {rv.name}
    probes = [_probe(model, arg, rv, values, k) for values in points[: 1 if fixed else 2]]
    if any(p is None for p in probes):
        form = "affine in" if arg == "mu" else "proportional to"
        reasons.append(f"the likelihood's {arg} is not elementwise {form} {rv.name}")
        return None
    b, c, which = probes[0]  # type: ignore[misc]
    if any(not np.array_equal(which, p[2]) for p in probes[1:]):  # type: ignore[index]
        reasons.append(f"which element of {rv.name} a row reads depends on other parameters")
        return None
    size = int(np.prod(rv.shape, dtype=int))
    role = "mean" if arg == "mu" else "scale"
    return Site(rv, role, Layout(which, size), _compact(b), _compact(c), fixed)


# --- the kernel ---------------------------------------------------------------------------


class _State:
    """The current values and the likelihood's arguments at them, (rows, K) each."""

    def __init__(self, st: Structure, values: dict[str, np.ndarray]):
        self.st = st
        self.values = {n: np.array(v, dtype=float) for n, v in values.items()}
        self.y = st.model.to_model_scale(st.model.data.y)[:, None]

    def arg(self, site_list: list[Site], name: str) -> np.ndarray:
        """The likelihood argument ``name`` at the current values."""
        if len(site_list) == 1 and site_list[0].fixed:
            s = site_list[0]
            return s.offset + s.coef * s.layout.gather(self.values[s.rv.name].reshape(-1))
        if not site_list:  # a constant argument: one row of it when it is the same for all
            x = _arg(self.st.model, name, self.values, self.st.k)
            return x[:1] if np.all(x == x[:1]) else x
        return _arg(self.st.model, name, self.values, self.st.k)

    def mean(self) -> np.ndarray:
        return self.arg(self.st.means, "mu")

    def sd(self) -> np.ndarray:
        return self.arg(self.st.scales, "sigma")

    def log_weights(self) -> np.ndarray:
        mix = self.st.model.mixture
        if mix is None:
            return np.zeros(1)
        return np.asarray(evaluate(mix.log_weights, self.values, None, NUMPY_OPS), dtype=float)

    def joint(self, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """``(levels, K)``: log w_k + the log density of the level's rows under component k."""
        lp = -HALF_LOG_2PI - np.log(sd) - 0.5 * ((self.y - mean) / sd) ** 2
        return self.st.level_sum(lp) + self.log_weights()

    def log_prior(self) -> float:
        """Sum of the priors' log densities at the constrained values (no Jacobian: map's)."""
        total = 0.0
        for rv in self.st.model.latents:
            x = self.values[rv.name]
            args = self.st.prior_args[rv.name]
            if rv.distribution == "Dirichlet":
                args = {"a": np.broadcast_to(args["a"], rv.shape)}
            total += float(np.sum(rv.dist.logpdf(x, **args)))
        return total


def _site_design(state: _State, site: Site, name: str) -> tuple[Any, Any]:
    """The site's offset and coefficient at the current values of the other latents."""
    if site.fixed:
        return site.offset, site.coef
    probe = _probe(state.st.model, name, site.rv, state.values, state.st.k)
    assert probe is not None, "the structure check accepted a site that is not affine"
    return probe[0], probe[1]


def m_step_weights(state: _State, r: np.ndarray) -> None:
    rv = state.st.weights
    if rv is None:
        return
    a = np.broadcast_to(state.st.prior_args[rv.name]["a"], (state.st.k,))
    counts = r.sum(0) + a - 1.0
    state.values[rv.name] = np.maximum(counts / counts.sum(), TINY)


def m_step_mean(state: _State, site: Site, rr: np.ndarray, sd: np.ndarray) -> None:
    """The Normal prior's site at the mode of prior x Gaussian rows weighted by ``rr``."""
    b, c = _site_design(state, site, "mu")
    m0 = np.broadcast_to(site.prior["mu"], site.rv.shape).reshape(-1)
    tau0 = 1.0 / np.broadcast_to(site.prior["sigma"], site.rv.shape).reshape(-1) ** 2
    wt = rr / sd**2
    prec = tau0 + site.layout.scatter(wt * (c * c))
    h = tau0 * m0 + site.layout.scatter(wt * (c * (state.y - b)))
    state.values[site.rv.name] = (h / prec).reshape(site.rv.shape)


def m_step_scale(state: _State, site: Site, rr: np.ndarray, mean: np.ndarray) -> None:
    """The positive site at the maximiser of log prior(s) - n log s - S / (2 s^2)."""
    _, c = _site_design(state, site, "sigma")
    n = site.layout.scatter(rr)
    big_s = site.layout.scatter(rr * ((state.y - mean) / c) ** 2)
    old = state.values[site.rv.name].reshape(-1)
    prior = {a: np.broadcast_to(v, site.rv.shape).reshape(-1) for a, v in site.prior.items()}
    if site.rv.distribution == "InverseGamma":  # (a + 1 + n) s^2 - b s - S = 0
        a1 = prior["alpha"] + 1.0 + n
        new = (prior["beta"] + np.sqrt(prior["beta"] ** 2 + 4 * a1 * big_s)) / (2 * a1)
    else:
        new = _maximise_scale(site.rv, prior, n, big_s, old)
    state.values[site.rv.name] = new.reshape(site.rv.shape)


def _scale_objective(rv: RandomVariable, prior: dict, n: np.ndarray, big_s: np.ndarray, s):
    with np.errstate(all="ignore"):
        f = rv.dist.logpdf(s, **prior) - n * np.log(s) - big_s / (2 * s * s)
    return np.where(np.isfinite(f), f, -np.inf)


def _maximise_scale(
    rv: RandomVariable, prior: dict, n: np.ndarray, big_s: np.ndarray, old: np.ndarray
) -> np.ndarray:
    """Golden-section search in log s around the old value; the old value is kept wherever
    the search does not do at least as well (an element with no rows and a prior whose mode
    is 0, say), so the step never lowers the objective."""
    lo, hi = np.log(old) - 12.0, np.log(old) + 12.0
    g = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1 = _scale_objective(rv, prior, n, big_s, np.exp(x1))
    f2 = _scale_objective(rv, prior, n, big_s, np.exp(x2))
    for _ in range(GOLDEN_STEPS):
        left = f1 >= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x2n, x1n = np.where(left, x1, lo + g * (hi - lo)), np.where(left, hi - g * (hi - lo), x2)
        fx = _scale_objective(rv, prior, n, big_s, np.exp(np.where(left, x1n, x2n)))
        f1, f2 = np.where(left, fx, f2), np.where(left, f1, fx)
        x1, x2 = x1n, x2n
    new = np.exp(0.5 * (lo + hi))
    better = _scale_objective(rv, prior, n, big_s, new) >= _scale_objective(
        rv, prior, n, big_s, old
    )
    return np.where(better, new, old)


@dataclass
class EMRun:
    """One EM run: the point, the log posterior per iteration, and what it ended at."""

    values: dict[str, np.ndarray]
    log_posterior: np.ndarray
    log_likelihood: float
    responsibilities: np.ndarray
    converged: bool


def run(
    model: Model,
    init: dict[str, np.ndarray],
    steps: int,
    tol: float,
    st: Structure | None = None,
    progress: Any = None,
) -> EMRun:
    """EM from the constrained point ``init`` until the relative change of the log posterior
    is at most ``tol`` or ``steps`` log posteriors were computed.  The last recorded value is
    the returned point's (no M-step follows it)."""
    st = st or structure(model)
    state = _State(st, init)
    spread = float(np.std(state.y)) or 1.0
    trace: list[float] = []
    converged = False
    ll = float("nan")
    r = np.zeros((st.n_levels, st.k))
    for t in range(steps):
        mean, sd = state.mean(), state.sd()
        joint = state.joint(mean, sd)
        norm = special.logsumexp(joint, axis=1)
        ll = float(norm.sum())
        trace.append(ll + state.log_prior())
        r = np.exp(joint - norm[:, None])
        if progress is not None:
            progress(t, -np.asarray(trace))
        if t > 0 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
            converged = True
            break
        if t == steps - 1 or not np.isfinite(trace[-1]):
            break
        rr = r if st.levels is None else r[st.levels]
        m_step_weights(state, r)
        for site in st.means:
            m_step_mean(state, site, rr, sd)
        mean = state.mean()
        for site in st.scales:
            m_step_scale(state, site, rr, mean)
        if st.scales and np.min(state.sd()) < COLLAPSED * spread:
            raise FitError(
                f"em: a component's spread fell to {np.min(state.sd()):.3g} at iteration "
                f"{t + 1}: it fits its levels' rows exactly, where the likelihood is unbounded "
                "and the mode does not exist; give the spread a prior that keeps it off 0 "
                "(InverseGamma, as the mixture specs do) or start elsewhere (init: assign)"
            )
    return EMRun(state.values, np.asarray(trace), ll, r, converged)


def assignment_start(model: Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A start no component can take over: the M-step of a k-means-like hard assignment.

    Every spread starts at the data's spread (the response's standard deviation on the model
    scale) and the weights equal, so no component starts wider than another and none takes
    every level at the first E-step, as a spread drawn from its prior does (``init: prior``).
    The means: K seed levels (users) are chosen as k-means++ does (Arthur and Vassilvitskii
    2007, with its greedy candidates): the first at random, each next one among a few drawn
    with probability proportional to the level's mean squared residual under its nearest seed,
    keeping the candidate that lowers the total most.  Component k's means are its seed's
    rows' mode (elements the seed has no rows for: the mode of all rows); every level is then
    assigned to the component that fits its rows best, and each mean site set to its mode
    given that assignment.  Where the mean is not one site of fixed layout the assignment is
    random in equal numbers instead (a shuffled round robin).
    """
    st = structure(model)
    state = _State(st, initial_values(model, rng, 0.0))
    if st.weights is not None:
        state.values[st.weights.name] = np.full(st.k, 1.0 / st.k)
    spread = float(np.std(state.y))
    for site in st.scales:
        _, c = _site_design(state, site, "sigma")
        state.values[site.rv.name] = np.full(site.rv.shape, spread / float(np.median(c)))
    sd = state.sd()
    for site in st.means:  # every component at the mode of all rows
        state.values[site.rv.name] = np.broadcast_to(site.prior["mu"], site.rv.shape).copy()
        m_step_mean(state, site, np.ones((len(state.y), st.k)), sd)
    one = st.means[0] if len(st.means) == 1 else None
    if one is not None and one.fixed and one.layout.base is not None and st.k > 1:
        _seed_components(state, one, rng, spread)
        joint = state.joint(state.mean(), state.sd())
        labels = joint.argmax(1)
    else:
        labels = rng.permutation(np.arange(st.n_levels) % st.k)
    r = np.zeros((st.n_levels, st.k))
    r[np.arange(st.n_levels), labels] = 1.0
    rr = r if st.levels is None else r[st.levels]
    for site in st.means:
        m_step_mean(state, site, rr, sd)
    return {rv.name: np.asarray(state.values[rv.name]) for rv in model.latents}


def _seed_components(state: _State, site: Site, rng: np.random.Generator, spread: float) -> None:
    """Set component k of the mean site from the k-th k-means++ seed level (in place)."""
    st = state.st
    n_rows = len(state.y)
    levels = st.levels if st.levels is not None else np.arange(n_rows)
    order = np.argsort(levels, kind="stable")
    starts = np.searchsorted(levels[order], np.arange(st.n_levels + 1))
    counts = np.diff(starts)
    y = state.y[:, 0]
    m0 = np.broadcast_to(site.prior["mu"], site.rv.shape).reshape(-1)
    tau0 = 1.0 / np.broadcast_to(site.prior["sigma"], site.rv.shape).reshape(-1) ** 2
    tau = 1.0 / spread**2
    offset = np.broadcast_to(site.offset, (n_rows, st.k))
    coef = np.broadcast_to(site.coef, (n_rows, st.k))
    p = state.values[site.rv.name].reshape(-1).copy()
    base = p.copy()

    def seeded(level: int, j: int) -> np.ndarray:
        """Column j's elements from the rows of ``level`` only; others from all rows."""
        rows = order[starts[level] : starts[level + 1]]
        el = site.layout.column(j)[rows]
        c, b = coef[rows, j], offset[rows, j]
        prec = np.bincount(el, tau * c * c, p.size)
        h = np.bincount(el, tau * c * (y[rows] - b), p.size)
        touched = np.bincount(el, None, p.size) > 0
        out = base.copy()
        out[touched] = ((h + tau0 * m0) / (prec + tau0))[touched]
        return out

    def residual(q: np.ndarray, j: int) -> np.ndarray:
        """Each level's mean squared residual when its rows are read as component j."""
        m = offset[:, j] + coef[:, j] * q[site.layout.column(j)]
        sq = st.level_sum(((y - m) ** 2)[:, None])[:, 0]
        return sq / np.maximum(counts, 1)

    rated = np.flatnonzero(counts > 0)
    first = int(rng.choice(rated))
    q = seeded(first, 0)
    p[_column_mask(site, 0, p.size)] = q[_column_mask(site, 0, p.size)]
    best = residual(q, 0)
    tries = 2 + int(np.log(st.k))
    for j in range(1, st.k):
        weight = np.where(counts > 0, best, 0.0)
        if weight.sum() <= 0:
            weight = (counts > 0).astype(float)
        candidates = rng.choice(st.n_levels, size=tries, p=weight / weight.sum())
        options = [(seeded(int(u), j), int(u)) for u in candidates]
        dists = [np.minimum(best, residual(qu, j)) for qu, _ in options]
        pick = int(np.argmin([d[counts > 0].sum() for d in dists]))
        mask = _column_mask(site, j, p.size)
        p[mask] = options[pick][0][mask]
        best = dists[pick]
    state.values[site.rv.name] = p.reshape(site.rv.shape)


def _column_mask(site: Site, j: int, size: int) -> np.ndarray:
    """The site's elements component j reads."""
    mask = np.zeros(size, dtype=bool)
    mask[site.layout.column(j)] = True
    return mask


def nonempty_components(responsibilities: np.ndarray) -> int:
    """Components that are the most probable one of at least one level."""
    k = responsibilities.shape[1]
    return int(np.count_nonzero(np.bincount(responsibilities.argmax(1), minlength=k)))


def fit(
    density: Any,
    model: Model,
    settings: Any,
    init: dict[str, np.ndarray],
    progress: bool,
    label: str = "em",
):
    """The methods table's kernel (``needs_density=False``: computed from the model alone).

    The loss trace is the negative log posterior per iteration, the quantity map's trace is.
    """
    from specrec.backends import FitResult
    from specrec.optimisers import StepProgress

    bar = StepProgress(label, settings.steps, progress)
    out = run(model, init, settings.steps, settings.tol, progress=bar.update if progress else None)
    bar.close()
    posterior = {rv.name: np.asarray(out.values[rv.name])[None, None] for rv in model.latents}
    info: dict[str, object] = {
        "em": {
            "iterations": int(out.log_posterior.size),
            "converged": bool(out.converged),
            "log_likelihood": out.log_likelihood,
            "log_posterior": float(out.log_posterior[-1]),
        }
    }
    if model.mixture is not None:  # over the levels with training rows, as the summary counts
        st = structure(model)
        seen = slice(None) if st.levels is None else np.unique(st.levels)
        info["em"]["nonempty_components"] = nonempty_components(out.responsibilities[seen])  # type: ignore[index]
    return FitResult("em", posterior, loss=-out.log_posterior, info=info)
