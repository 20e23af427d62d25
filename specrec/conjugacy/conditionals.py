"""Closed-form full conditionals: their parameters and one draw, on numpy or jax.numpy.

Every function takes an ``Arrays`` (``probe``) and, to draw, a ``Random``; the numpy Gibbs
sampler and the NumPyro kernel call the same code, so the two cannot disagree on the maths.

* Gaussian (``normal``, ``mvnormal``): with prior precision ``P0`` and mean ``m0`` per block,
  and children ``y_j ~ N(b_j + X_j p[g_j], P_j^-1)``, the conditional of block ``g`` has
  precision ``P0 + sum_{j in g} X_j^T P_j X_j`` and precision-times-mean
  ``P0 m0 + sum_{j in g} X_j^T P_j (y_j - b_j)``; all blocks are factorised by one batched
  Cholesky and drawn as ``mean + C^-T z`` (no loop over users).
* Gamma on a precision ``tau_j = k_j p``: ``Gamma(a + n/2, b + sum k_j r_j^2 / 2)``;
  InverseGamma on a variance ``v_j = k_j p``: ``InverseGamma(a + n/2, b + sum r_j^2 / (2 k_j))``;
  Gamma on a Poisson rate ``k_j p``: ``Gamma(a + sum y_j, b + sum k_j)``; on an Exponential
  rate ``Gamma(a + n, b + sum k_j y_j)``; Beta on a Bernoulli ``p``:
  ``Beta(a + sum y_j, b + sum (1 - y_j))``.  Sums run per site element (segment sums).
* Wishart: ``L ~ WishartCholesky(nu)`` is ``Lambda = L L^T ~ Wishart(nu, I)``; children
  ``x_j ~ N(m_j, (A_j Lambda A_j^T)^-1)`` give ``Lambda | . ~ Wishart(nu + n, (I + S)^-1)``,
  ``S = sum_j w_j w_j^T``, ``w_j = A_j^T (x_j - m_j)``; drawn by Bartlett's decomposition,
  whose factor ``chol((I + S)^-1) B`` is lower triangular with a positive diagonal: ``L`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from specrec.conjugacy import grams, linalg, probe
from specrec.conjugacy.analysis import GAUSSIAN_CHILDREN, GAUSSIAN_PRIORS, SCALAR_PAIRS, Update
from specrec.conjugacy.probe import Arrays
from specrec.model.ir import Model, RandomVariable
from specrec.model.walk import evaluate

#: the update kinds drawn from a Gaussian conditional
GAUSSIAN_KINDS = frozenset(GAUSSIAN_PRIORS.values())


class Random(Protocol):
    """Standard draws on the array library of an ``Arrays``."""

    def normal(self, shape: tuple[int, ...]) -> Any: ...
    def gamma(self, alpha: Any) -> Any:
        """Gamma(alpha, 1) draws, one per element of ``alpha``."""
        ...

    def uniform(self, shape: tuple[int, ...]) -> Any:
        """Uniform draws in (0, 1]: never 0, whose ``log`` a Gumbel draw takes."""
        ...


class NumpyRandom:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.standard_normal(shape)

    def gamma(self, alpha: Any) -> np.ndarray:
        return self.rng.standard_gamma(np.asarray(alpha, dtype=float))

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        return 1.0 - self.rng.uniform(size=shape)  # in (0, 1], as the protocol asks


@dataclass
class Plan:
    """An ``Update`` with what its conditional needs that never changes while sampling:
    the site's ``(G, D)`` layout, each child's block per element and, for Gamma / Beta kinds,
    the site element each child element reads."""

    update: Update
    rv: RandomVariable
    kids: tuple[RandomVariable, ...]
    g: int
    d: int
    blocks: dict[str, np.ndarray | None] = field(default_factory=dict)
    which: dict[str, np.ndarray] = field(default_factory=dict)
    #: for a Gaussian site, each scalar child's rows grouped by block (``grams.layout``), so
    #: that its precision terms are batched products, not a segment sum; planned by samplers
    grams: dict[str, grams.Layout] = field(default_factory=dict)


def plan(model: Model, update: Update, seed: int = 0, batched_grams: bool = False) -> Plan:
    """``batched_grams``: also group each scalar child's rows by block (``Plan.grams``), which
    a sampler repays over its sweeps; a single pass (cavi's start) does without."""
    rv = model.latent(update.param)
    kids = tuple(
        model.likelihood if c == model.likelihood.name else model.latent(c) for c in update.children
    )
    g, d = probe.site_layout(model, rv, update.block)
    out = Plan(update, rv, kids, g, d)
    for child in kids:
        out.blocks[child.name] = probe.child_blocks(model, rv, child, update.block)
        blocks = out.blocks[child.name]
        scalar_child = child.distribution == "Normal"
        if batched_grams and update.kind in GAUSSIAN_KINDS and scalar_child and blocks is not None:
            out.grams[child.name] = grams.layout(blocks, g)
    if update.kind in ("gamma", "inverse_gamma", "beta"):
        from specrec.model.reference import initial_values

        values = initial_values(model, np.random.default_rng(seed), 1.0)
        for child in kids:
            arg, power, _ = SCALAR_PAIRS[(rv.distribution, child.distribution)]
            which = probe.scalar_map(
                model, rv, child, arg, power, values, out.blocks[child.name], g, d
            )
            assert which is not None, "the analysis accepted a map that is not proportional"
            out.which[child.name] = which
    return out


def _prior_args(arrays: Arrays, rv: RandomVariable, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: evaluate(e, values, None, arrays.ops) for k, e in rv.args.items()}


def _reduce(arrays: Arrays, x: Any, blocks: Any, g: int) -> Any:
    """Sum child-element terms into their blocks: ``(J, ...) -> (G, ...)``."""
    if blocks is None:
        return arrays.xp.sum(x, axis=0, keepdims=True)
    return arrays.ops.segment_sum(x, blocks, g)


def _child_precision(arrays: Arrays, model: Model, child: RandomVariable, values: Mapping) -> Any:
    """``(J, E, E)`` precision of each child element."""
    xp = arrays.xp
    if child.distribution == "Normal":
        s = probe.child_arg(arrays, model, child, "sigma", values)
        return (1.0 / s**2)[..., None]
    if child.distribution == "MvNormal":
        c = probe.child_arg(arrays, model, child, "chol", values)
        return linalg.inverse_from_cholesky(xp, c, arrays.loop)
    c = probe.child_arg(arrays, model, child, "precision_chol", values)
    return c @ xp.swapaxes(c, -1, -2)


def _symmetric_index(d: int) -> np.ndarray:
    """``(d, d)`` position of each matrix entry in the row-major upper triangle."""
    out = np.empty((d, d), dtype=np.int64)
    rows, cols = np.triu_indices(d)
    out[rows, cols] = np.arange(len(rows))
    out[cols, rows] = np.arange(len(rows))
    return out


def gaussian_params(
    arrays: Arrays, model: Model, p: Plan, values: Mapping[str, Any]
) -> tuple[Any, Any]:
    """Precision ``(G, D, D)`` and precision-times-mean ``(G, D)`` of the conditional."""
    xp, rv, g, d = arrays.xp, p.rv, p.g, p.d
    args = _prior_args(arrays, rv, values)
    mu0 = xp.reshape(xp.broadcast_to(args["mu"], rv.shape), (g, d))
    if rv.distribution == "Normal":
        tau0 = xp.reshape(xp.broadcast_to(1.0 / args["sigma"] ** 2, rv.shape), (g, d))
        prec = xp.eye(d) * tau0[:, :, None]
        h = tau0 * mu0
    else:
        key = "chol" if rv.distribution == "MvNormal" else "precision_chol"
        c = xp.reshape(xp.broadcast_to(args[key], (*rv.shape, d)), (g, d, d))
        if rv.distribution == "MvNormal":  # c is the covariance's factor
            prec = linalg.inverse_from_cholesky(xp, c, arrays.loop)
        else:
            prec = c @ xp.swapaxes(c, -1, -2)
        h = xp.einsum("gde,ge->gd", prec, mu0)
    for child in p.kids:
        arg = GAUSSIAN_CHILDREN[child.distribution]
        b, x = probe.mean_design(arrays, model, rv, child, arg, values, g, d)
        r = probe.child_value(arrays, model, child, values) - b
        pj = _child_precision(arrays, model, child, values)
        blocks = p.blocks[child.name]
        if pj.shape[-1] == 1:  # scalar children (likelihood rows): no E x E products
            tau, x1 = pj[:, 0, 0], x[:, 0, :]
            tau = xp.broadcast_to(tau, r.shape[:1])
            if child.name in p.grams:  # batched products per block (grams.py says why)
                xtpx_sum, xtpr_sum = grams.block_grams(
                    xp, x1, tau, tau * r[:, 0], p.grams[child.name]
                )
                prec, h = prec + xtpx_sum, h + xtpr_sum
                continue
            # only the d(d+1)/2 distinct products are summed into blocks
            rows, cols = np.triu_indices(d)
            tri = _reduce(arrays, tau[:, None] * x1[:, rows] * x1[:, cols], blocks, g)
            xtpx_sum = tri[:, _symmetric_index(d)]
            xtpr = (tau * r[:, 0])[:, None] * x1
        else:
            # batched matmuls, not a three-operand einsum: numpy's einsum loops over every
            # index at once (the Normal-Wishart rows' sweep spent most of its time there)
            xtp = xp.swapaxes(x, -1, -2) @ pj
            xtpx_sum = _reduce(arrays, xtp @ x, blocks, g)
            xtpr = (xtp @ r[..., None])[..., 0]
        prec = prec + xtpx_sum
        h = h + _reduce(arrays, xtpr, blocks, g)
    return prec, h


def gaussian_draw(arrays: Arrays, random: Random, rv: RandomVariable, prec: Any, h: Any) -> Any:
    xp = arrays.xp
    # with prec = C C^T: mean prec^-1 h = C^-T C^-1 h, noise C^-T z, so one draw is
    # C^-T (C^-1 h + z)
    chol = arrays.cholesky(prec)
    z = random.normal(h.shape)
    y = linalg.solve_lower(xp, chol, h[..., None], arrays.loop) + z[..., None]
    return xp.reshape(linalg.solve_upper_t(xp, chol, y, arrays.loop)[..., 0], rv.shape)


def scalar_params(
    arrays: Arrays, model: Model, p: Plan, values: Mapping[str, Any]
) -> tuple[Any, Any]:
    """Posterior (shape, rate) of a Gamma, (shape, scale) of an InverseGamma, (alpha, beta) of
    a Beta, one per site element (flattened)."""
    xp, rv = arrays.xp, p.rv
    n = int(np.prod(rv.shape, dtype=int))
    args = _prior_args(arrays, rv, values)
    a = xp.reshape(xp.broadcast_to(args["alpha"], rv.shape), (n,))
    b = xp.reshape(xp.broadcast_to(args["beta"], rv.shape), (n,))
    for child in p.kids:
        arg, power, _ = SCALAR_PAIRS[(rv.distribution, child.distribution)]
        ones = {**values, rv.name: xp.ones(rv.shape)}
        k = probe.child_arg(arrays, model, child, arg, ones)[:, 0] ** power
        y = probe.child_value(arrays, model, child, values)[:, 0]
        blocks, which = p.blocks[child.name], p.which[child.name]
        elem = which if blocks is None else blocks * p.d + which
        count = arrays.ops.segment_sum(xp.ones_like(y), elem, n)
        if child.distribution == "Normal":
            m = probe.child_arg(arrays, model, child, "mu", values)[:, 0]
            sq = (y - m) ** 2
            a = a + count / 2
            stat = k * sq if rv.distribution == "Gamma" else sq / k
            b = b + arrays.ops.segment_sum(stat, elem, n) / 2
        elif child.distribution == "Poisson":
            a = a + arrays.ops.segment_sum(y, elem, n)
            b = b + arrays.ops.segment_sum(k, elem, n)
        elif child.distribution == "Exponential":
            a = a + count
            b = b + arrays.ops.segment_sum(k * y, elem, n)
        else:  # Bernoulli
            ones_y = arrays.ops.segment_sum(y, elem, n)
            a, b = a + ones_y, b + count - ones_y
    return a, b


def scalar_draw(arrays: Arrays, random: Random, rv: RandomVariable, a: Any, b: Any) -> Any:
    xp = arrays.xp
    if rv.distribution == "Gamma":
        x = random.gamma(a) / b
    elif rv.distribution == "InverseGamma":
        x = b / random.gamma(a)
    else:
        g1, g2 = random.gamma(a), random.gamma(b)
        x = g1 / (g1 + g2)
    return xp.reshape(x, rv.shape)


def wishart_params(
    arrays: Arrays, model: Model, p: Plan, values: Mapping[str, Any]
) -> tuple[Any, Any]:
    """Degrees of freedom and ``I + S``, the inverse scale of ``Lambda``'s Wishart."""
    xp, rv = arrays.xp, p.rv
    d = rv.shape[-1]
    nu = _prior_args(arrays, rv, values)["nu"]
    inv_scale = xp.eye(d)
    for child in p.kids:
        eye = {**values, rv.name: xp.eye(d)}
        a = probe.child_arg(arrays, model, child, "precision_chol", eye)
        r = probe.child_value(arrays, model, child, values) - probe.child_arg(
            arrays, model, child, "mu", values
        )
        w = xp.einsum("jfe,jf->je", a, r)
        inv_scale = inv_scale + xp.einsum("je,jf->ef", w, w)
        nu = nu + probe.child_shape(model, child)[0]
    return nu, inv_scale


def wishart_draw(
    arrays: Arrays, random: Random, rv: RandomVariable, nu: Any, inv_scale: Any
) -> Any:
    xp = arrays.xp
    d = rv.shape[-1]
    c = arrays.cholesky(linalg.spd_inverse(xp, inv_scale, arrays.loop))
    chi2 = 2.0 * random.gamma((nu - xp.arange(d)) / 2.0)
    bartlett = xp.tril(random.normal((d, d)), -1) + xp.diag(xp.sqrt(chi2))
    return c @ bartlett


def draw(arrays: Arrays, random: Random, model: Model, p: Plan, values: Mapping[str, Any]) -> Any:
    """One draw of the site from its closed-form full conditional."""
    kind = p.update.kind
    if kind in GAUSSIAN_KINDS:
        return gaussian_draw(arrays, random, p.rv, *gaussian_params(arrays, model, p, values))
    if kind == "wishart":
        return wishart_draw(arrays, random, p.rv, *wishart_params(arrays, model, p, values))
    return scalar_draw(arrays, random, p.rv, *scalar_params(arrays, model, p, values))
