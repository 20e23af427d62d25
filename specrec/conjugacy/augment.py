"""Gibbs on a mixture likelihood by data augmentation: each level's component drawn, not summed.

With the component ``z_l`` of every level ``l`` of ``per`` (a user's type) made a variable of
the sampler, the full conditionals of a mixture model separate (Diebolt and Robert 1994):

* ``z_l | .`` is categorical, ``P(z_l = k) ∝ w_k prod_{rows of l} N(y | m_k, s_k)``: the log-sum-
  exp of the same ``(levels, K)`` table EM's E-step normalises, drawn by the Gumbel-max trick;
* ``w | z`` is ``Dirichlet(a + n)``, ``n_k`` the levels of type ``k``;
* a Normal-prior site in the likelihood's mean, given ``z``, sees one Gaussian row per rating
  (the row's own component), each reading one element: an independent Normal per element,
  precision ``tau0 + sum c^2 / s^2`` and precision-times-mean ``tau0 m0 + sum c (y - b) / s^2``
  (``m = b + c p[which]``, found by probing the mean at ``p = 0`` and ``p = 1``);
* a positive site the likelihood's scale is proportional to (``s = c p[which]``) has, given
  ``z`` and the means, the conditional ``prior(p) p^-n exp(-S / (2 p^2))`` per element, from
  each element's count ``n`` and sum of squares ``S``.  That is an inverse-gamma in ``p^2``;
  no prior the specs can write on the scale itself (InverseGamma, Gamma, HalfNormal on ``p``)
  makes it a standard family, so it gets a slice step on ``log p``, exact, on this
  one-dimensional density (not on the whole likelihood).

Which sites play which role is the EM kernel's analysis (``em.structure``): one place decides
what a mixture's sites are.  The maths is written once on an ``Arrays`` namespace, so the numpy
reference (``gibbs``) and the NumPyro kernel run the same conditionals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from specrec.conjugacy import em
from specrec.conjugacy.probe import Arrays
from specrec.model.ir import Model
from specrec.model.walk import evaluate

HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))


def assignment_name(model: Model) -> str:
    """The sampled components' variable: ``z``, unless a parameter already has that name."""
    taken = {rv.name for rv in model.latents} | {d.name for d in model.derived}
    assert model.mixture is not None
    return "z" if "z" not in taken else f"z_{model.mixture.dim}"


@dataclass
class Plan:
    """What the augmented sweep needs of a mixture model, found once before sampling.

    ``levels`` is each training row's level of ``per`` (each row its own level without
    ``per``); ``which[site]`` the element of the site each (row, component) reads (``-1``: none).
    Both are the size of the data, so a compiled kernel takes them as inputs.
    """

    model: Model
    name: str
    k: int
    n_levels: int
    levels: Any
    which: dict[str, Any]
    weights: str | None
    means: tuple[str, ...]
    scales: tuple[str, ...]
    prior: dict[str, dict[str, np.ndarray]]

    def arrays(self) -> dict[str, Any]:
        """The data-sized arrays (for a kernel's inputs)."""
        return {"levels": self.levels, "which": dict(self.which)}

    def with_arrays(self, arrays: Mapping[str, Any]) -> Plan:
        from dataclasses import replace

        return replace(self, levels=arrays["levels"], which=dict(arrays["which"]))


def reasons(model: Model) -> list[str]:
    """Why the mixture's component cannot be sampled (empty: it can); em's reasons."""
    if model.mixture is None:
        return ["the likelihood is not a mixture"]
    return em.refusal_reasons(model)


def plan(model: Model) -> Plan:
    st = em.structure(model)
    n = len(model.data)
    levels = st.levels if st.levels is not None else np.arange(n, dtype=np.int64)
    which = {}
    for site in (*st.means, *st.scales):
        lay = site.layout
        cols = [lay.column(j) for j in range(st.k)]
        which[site.rv.name] = np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.int64)
    prior = {
        name: {
            a: np.broadcast_to(v, model.latent(name).shape).reshape(-1).astype(float)
            for a, v in args.items()
        }
        for name, args in st.prior_args.items()
    }
    return Plan(
        model,
        assignment_name(model),
        st.k,
        st.n_levels,
        np.asarray(levels, dtype=np.int64),
        which,
        None if st.weights is None else st.weights.name,
        tuple(s.rv.name for s in st.means),
        tuple(s.rv.name for s in st.scales),
        prior,
    )


# --- the conditionals, on any array namespace ------------------------------------------------


def component_arg(arrays: Arrays, model: Model, arg: str, values: Mapping[str, Any]) -> Any:
    """The likelihood's argument ``arg`` per (row, component): ``(rows, K)``."""
    x = evaluate(model.likelihood.args[arg], values, model.data, arrays.ops, arrays.row_arrays)
    k = model.dims[model.mixture.dim].size  # type: ignore[union-attr]
    return arrays.xp.broadcast_to(x, (len(model.data), k))


def log_weights(arrays: Arrays, model: Model, values: Mapping[str, Any]) -> Any:
    assert model.mixture is not None
    return evaluate(model.mixture.log_weights, values, None, arrays.ops)


def row_log_prob(arrays: Arrays, y: Any, mean: Any, sd: Any) -> Any:
    """Normal log density of every row under every component, ``(rows, K)``."""
    xp = arrays.xp
    return -HALF_LOG_2PI - xp.log(sd) - 0.5 * ((y[:, None] - mean) / sd) ** 2


def assignment_logits(arrays: Arrays, p: Plan, values: Mapping[str, Any]) -> Any:
    """``(levels, K)``: ``log w_k`` plus the level's rows' log density under component ``k``,
    the unnormalised log conditional of each level's component."""
    m = p.model
    lp = row_log_prob(
        arrays,
        arrays.y(m),
        component_arg(arrays, m, "mu", values),
        component_arg(arrays, m, "sigma", values),
    )
    return arrays.ops.segment_sum(lp, p.levels, p.n_levels) + log_weights(arrays, m, values)


def draw_assignment(arrays: Arrays, random: Any, logits: Any) -> Any:
    """One categorical draw per level by the Gumbel-max trick (no normalisation needed)."""
    xp = arrays.xp
    u = random.uniform(logits.shape)
    return xp.argmax(logits - xp.log(-xp.log(u)), axis=1)


def counts(arrays: Arrays, p: Plan, z: Any) -> Any:
    """Levels of each component, ``(K,)``."""
    return arrays.ops.segment_sum(arrays.xp.ones(z.shape), z, p.k)


def weight_params(arrays: Arrays, p: Plan, z: Any) -> Any:
    """The Dirichlet conditional's concentration ``a + n``."""
    assert p.weights is not None
    return p.prior[p.weights]["a"] + counts(arrays, p, z)


def draw_weights(arrays: Arrays, random: Any, alpha: Any) -> Any:
    g = random.gamma(alpha)
    return g / arrays.xp.sum(g)


def _picked(arrays: Arrays, x: Any, zr: Any) -> Any:
    """``x[row, z of the row's level]``: ``(rows, K) -> (rows,)``."""
    return arrays.xp.take_along_axis(x, zr[:, None], axis=1)[:, 0]


def _element(arrays: Arrays, p: Plan, name: str, zr: Any) -> tuple[Any, Any]:
    """The element of site ``name`` each row reads under its component (clipped to 0 where it
    reads none) and whether it reads one."""
    e = _picked(arrays, p.which[name], zr)
    return arrays.xp.maximum(e, 0), e >= 0


def mean_params(
    arrays: Arrays, p: Plan, name: str, values: Mapping[str, Any], z: Any
) -> tuple[Any, Any]:
    """Precision and precision-times-mean of each element of Normal-prior mean site ``name``
    given the components ``z``, flattened ``(size,)`` each."""
    xp, m = arrays.xp, p.model
    rv = m.latent(name)
    size = int(np.prod(rv.shape, dtype=int))
    zr = z[p.levels]
    b = _picked(arrays, component_arg(arrays, m, "mu", {**values, name: xp.zeros(rv.shape)}), zr)
    ones = {**values, name: xp.ones(rv.shape)}
    c = _picked(arrays, component_arg(arrays, m, "mu", ones), zr) - b
    sd = _picked(arrays, component_arg(arrays, m, "sigma", values), zr)
    elem, reads = _element(arrays, p, name, zr)
    wt = xp.where(reads, 1.0 / sd**2, 0.0)
    prior = p.prior[name]
    tau0 = 1.0 / prior["sigma"] ** 2
    prec = tau0 + arrays.ops.segment_sum(wt * c * c, elem, size)
    h = tau0 * prior["mu"] + arrays.ops.segment_sum(wt * c * (arrays.y(m) - b), elem, size)
    return prec, h


def draw_mean(arrays: Arrays, random: Any, p: Plan, name: str, prec: Any, h: Any) -> Any:
    xp = arrays.xp
    x = h / prec + random.normal(h.shape) / xp.sqrt(prec)
    return xp.reshape(x, p.model.latent(name).shape)


def scale_stats(
    arrays: Arrays, p: Plan, name: str, values: Mapping[str, Any], z: Any
) -> tuple[Any, Any]:
    """Each element's row count ``n`` and scaled sum of squares ``S = sum ((y - m) / c)^2``
    given the components (the likelihood's scale is ``c p[which]``)."""
    xp, m = arrays.xp, p.model
    rv = m.latent(name)
    size = int(np.prod(rv.shape, dtype=int))
    zr = z[p.levels]
    c = _picked(arrays, component_arg(arrays, m, "sigma", {**values, name: xp.ones(rv.shape)}), zr)
    mean = _picked(arrays, component_arg(arrays, m, "mu", values), zr)
    elem, reads = _element(arrays, p, name, zr)
    one = xp.where(reads, 1.0, 0.0)
    n = arrays.ops.segment_sum(one, elem, size)
    sq = arrays.ops.segment_sum(one * ((arrays.y(m) - mean) / c) ** 2, elem, size)
    return n, sq


def scale_log_density(xp: Any, u: Any, n: Any, sq: Any, prior_log_pdf: Any) -> Any:
    """The scale's conditional in ``u = log p`` up to a constant, elementwise: the prior, the
    Jacobian ``p``, and the rows' ``p^-n exp(-S / (2 p^2))``."""
    s = xp.exp(u)
    lp = prior_log_pdf(s) + u - n * u - sq / (2.0 * s * s)
    return xp.where(xp.isfinite(lp), lp, -xp.inf)


# --- what ``explain`` says ---------------------------------------------------------------------


def updates(model: Model) -> list:
    """The augmented sweep's updates, in order: the components, the weights, the mean sites,
    the scale sites."""
    from specrec.conjugacy.analysis import Update

    mix = model.mixture
    assert mix is not None
    p = plan(model)
    lik = model.likelihood.name
    per = mix.per or "row"
    out = [
        Update(
            p.name,
            "categorical",
            f"discrete {mix.dim} per {per}: each component's log density of the {per}'s rows "
            f"plus its log weight, normalised by log-sum-exp",
            (lik,),
            mix.per,
        )
    ]
    if p.weights is not None:
        why = f"Dirichlet prior; categorical {mix.dim}s ({p.name})"
        out.append(Update(p.weights, "dirichlet", why, (p.name,)))
    for name in p.means:
        why = f"Normal prior; Normal likelihood given {p.name}, mean affine in {name}"
        out.append(Update(name, "normal", why, (lik,)))
    for name in p.scales:
        dist = model.latent(name).distribution
        why = (
            f"{dist} prior on a Normal scale is not conjugate; a slice step on its conditional "
            f"given {p.name} (each element's count and sum of squares)"
        )
        out.append(Update(name, "slice", why, (lik,)))
    return out


def is_augmented(updates: list) -> bool:
    return any(u.kind == "categorical" for u in updates)
