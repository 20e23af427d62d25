"""Which latent parameters have a closed-form full conditional, and which one.

The full conditional of a site ``p`` is its prior times the density of every node whose
arguments use ``p`` (its children: other latents and the likelihood).  It has a closed form
when the prior and every child form a conjugate pair *and* the child's argument depends on
``p`` in the one way the pair needs: a Normal mean affine in ``p``, a Normal precision
proportional to ``p``, a Poisson rate proportional to ``p``, a precision Cholesky factor
``A @ L`` linear in ``L``.

That dependence is decided by the derivative trick before sampling, not by pattern matching
on the expression: an affine map has a constant Jacobian, so the child's argument, evaluated
with the numpy reference at ``p = 0`` and at the unit probes ``p = e_d``, predicts its value
at random ``p`` exactly, at two random values of every other parameter.  A map that is not of
the required form fails that prediction and the site falls back to a slice step.  The probes
also give, for each child element, which element (or block row) of ``p`` it reads, which is
what lets the samplers update all user rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specrec.conjugacy import probe
from specrec.model.ir import Expr, Model, ParamRef, RandomVariable, walk
from specrec.model.reference import initial_values

#: Update kinds and how ``explain`` names them.
KINDS = {
    "normal": "Normal conditional",
    "mvnormal": "MvNormal conditional",
    "gamma": "Gamma conditional",
    "inverse_gamma": "InverseGamma conditional",
    "beta": "Beta conditional",
    "wishart": "Wishart conditional",
    "categorical": "categorical conditional",
    "dirichlet": "Dirichlet conditional",
    "slice": "slice step",
}

GAUSSIAN_PRIORS = {"Normal": "normal", "MvNormal": "mvnormal", "MvNormalPrecision": "mvnormal"}
#: child distribution -> (its mean argument, its other arguments)
GAUSSIAN_CHILDREN = {
    "Normal": "mu",
    "MvNormal": "mu",
    "MvNormalPrecision": "mu",
}
#: (prior, child distribution) -> (child argument, power t with arg**t = k * p, description)
SCALAR_PAIRS: dict[tuple[str, str], tuple[str, float, str]] = {
    ("Gamma", "Normal"): ("sigma", -2.0, "Normal precision proportional to"),
    ("InverseGamma", "Normal"): ("sigma", 2.0, "Normal variance proportional to"),
    ("Gamma", "Poisson"): ("mu", 1.0, "Poisson rate proportional to"),
    ("Gamma", "Exponential"): ("lam", 1.0, "Exponential rate proportional to"),
    ("Beta", "Bernoulli"): ("p", 1.0, "Bernoulli probability equal to"),
}
SCALAR_KINDS = {"Gamma": "gamma", "InverseGamma": "inverse_gamma", "Beta": "beta"}
#: the most elements of a site updated as one Gaussian block (a D x D precision)
MAX_BLOCK = 256


@dataclass(frozen=True)
class Update:
    """How one latent is updated in a Gibbs sweep, and why.

    ``children`` are the nodes whose density the conditional includes (the likelihood by its
    name); ``block`` is the data dim whose levels are drawn independently, all at once (user
    rows given item rows), or None when the site is one block.
    """

    param: str
    kind: str
    reason: str
    children: tuple[str, ...] = ()
    block: str | None = None

    @property
    def conjugate(self) -> bool:
        return self.kind != "slice"

    def __str__(self) -> str:
        return f"{self.param}: {KINDS[self.kind]} ({self.reason})"


def references(expr: Expr) -> set[str]:
    """Names of the parameters an expression reads (through gathers, sums and segments)."""
    return {e.name for e in walk(expr) if isinstance(e, ParamRef)}


def children(model: Model, name: str) -> list[RandomVariable]:
    """The nodes whose arguments read ``name``: later latents, then the likelihood."""
    nodes = [*model.latents, model.likelihood]
    return [rv for rv in nodes if any(name in references(e) for e in rv.args.values())]


def analyse(model: Model, seed: int = 0) -> list[Update]:
    """One ``Update`` per latent, in the order a sweep visits them: sites of the likelihood
    first (user rows, then item rows), then their hyperparameters.

    A mixture whose sites EM understands is sampled by data augmentation (``augment``): its
    components are drawn, which makes the other sites' conditionals closed forms; any other
    mixture keeps its component summed out and every site gets a slice step."""
    why: list[str] = []
    if model.mixture is not None:
        from specrec.conjugacy import augment

        why = augment.reasons(model)
        if not why:
            return augment.updates(model)
    rng = np.random.default_rng(seed)
    points = [initial_values(model, rng, 1.0) for _ in range(2)]
    updates = [
        _summed_out(model, rv, why) if _in_mixture(model, rv) else _analyse_site(model, rv, points)
        for rv in model.latents
    ]
    lik = model.likelihood.name
    return sorted(updates, key=lambda u: (lik not in u.children,))


def _in_mixture(model: Model, rv: RandomVariable) -> bool:
    mix = model.mixture
    return mix is not None and (
        any(c.name == model.likelihood.name for c in children(model, rv.name))
        or rv.name in references(mix.log_weights)
    )


def _summed_out(model: Model, rv: RandomVariable, reasons: list[str]) -> Update:
    names = tuple(c.name for c in children(model, rv.name))
    why = "it enters a mixture likelihood whose component is summed out, not sampled: "
    return Update(rv.name, "slice", why + "; ".join(reasons), names)


def _analyse_site(model: Model, rv: RandomVariable, points: list[dict]) -> Update:
    kids = children(model, rv.name)
    names = tuple(c.name for c in kids)
    if not kids:
        return Update(rv.name, "slice", f"{rv.distribution} prior and no child uses it", names)
    if rv.distribution in GAUSSIAN_PRIORS:
        return _gaussian(model, rv, kids, points)
    if rv.distribution in SCALAR_KINDS:
        return _scalar(model, rv, kids, points)
    if rv.distribution == "WishartCholesky":
        return _wishart(model, rv, kids, points)
    uses = [
        f"the {a} of the {c.distribution} {_child_desc(model, c)}"
        for c in kids
        for a, e in c.args.items()
        if rv.name in references(e)
    ]
    why = f"{rv.distribution} prior on {' and '.join(uses)} is not conjugate"
    return Update(rv.name, "slice", why, names)


def _child_desc(model: Model, child: RandomVariable) -> str:
    return "likelihood" if child.name == model.likelihood.name else f"prior of {child.name}"


def _gaussian(model: Model, rv: RandomVariable, kids: list, points: list[dict]) -> Update:
    names = tuple(c.name for c in kids)
    kind = GAUSSIAN_PRIORS[rv.distribution]
    block = probe.choose_block(model, rv, kids)
    g, d = probe.site_layout(model, rv, block)
    if rv.dist.event_dims and rv.shape[1 if block else 0 :] != rv.shape[-1:]:
        return Update(
            rv.name, "slice", f"{rv.distribution} rows are not the site's last dim", names
        )
    if d > MAX_BLOCK:
        why = f"{rv.distribution} prior, but a block of {d} coupled elements is too large"
        return Update(rv.name, "slice", why, names)
    parts = []
    for child in kids:
        mean_arg = GAUSSIAN_CHILDREN.get(child.distribution)
        if mean_arg is None:
            why = f"{child.distribution} {_child_desc(model, child)} is not Gaussian"
            return Update(rv.name, "slice", f"{rv.distribution} prior; {why}", names)
        for arg, e in child.args.items():
            if arg != mean_arg and rv.name in references(e):
                why = f"{rv.name} is in the {arg} of the {_child_desc(model, child)}"
                return Update(rv.name, "slice", f"{rv.distribution} prior; {why}", names)
        blocks = probe.child_blocks(model, rv, child, block)
        for values in points:
            if not probe.is_block_affine(
                probe.NUMPY, model, rv, child, mean_arg, values, blocks, g, d
            ):
                why = f"the {_child_desc(model, child)} mean is not affine in {rv.name}"
                return Update(rv.name, "slice", f"{rv.distribution} prior; {why}", names)
        where = f"[{block}]" if block else ""
        parts.append(
            f"{child.distribution} {_child_desc(model, child)}, mean affine in {rv.name}{where}"
        )
    reason = f"{rv.distribution} prior; " + "; ".join(parts)
    return Update(rv.name, kind, reason, names, block)


def _scalar(model: Model, rv: RandomVariable, kids: list, points: list[dict]) -> Update:
    names = tuple(c.name for c in kids)
    block = probe.choose_block(model, rv, kids)
    g, d = probe.site_layout(model, rv, block)
    parts = []
    for child in kids:
        pair = SCALAR_PAIRS.get((rv.distribution, child.distribution))
        if pair is None:
            why = f"{rv.distribution} prior on a {child.distribution} {_child_desc(model, child)}"
            return Update(rv.name, "slice", f"{why} is not conjugate", names)
        arg, power, desc = pair
        used = [a for a, e in child.args.items() if rv.name in references(e)]
        if used != [arg]:
            where = " and ".join(used)
            why = f"{rv.distribution} prior on the {where} of a {child.distribution}"
            return Update(rv.name, "slice", f"{why} is not conjugate", names)
        if d > MAX_BLOCK:
            return Update(rv.name, "slice", f"{rv.name} has too many elements to probe", names)
        blocks = probe.child_blocks(model, rv, child, block)
        ok = all(
            probe.scalar_map(model, rv, child, arg, power, values, blocks, g, d) is not None
            for values in points
        )
        if not ok:
            what = {-2.0: "precision (sigma^-2)", 2.0: "variance (sigma^2)"}.get(power, arg)
            why = f"the {child.distribution} {what} is not proportional to {rv.name}"
            return Update(
                rv.name, "slice", f"{rv.distribution} prior; {why} (not conjugate)", names
            )
        if rv.distribution == "Beta" and not probe.scalar_is_identity(
            model, rv, child, arg, points[0]
        ):
            why = f"the Bernoulli probability is not {rv.name} itself"
            return Update(rv.name, "slice", f"Beta prior; {why} (not conjugate)", names)
        parts.append(f"{child.distribution} {_child_desc(model, child)}, {desc} {rv.name}")
    reason = f"{rv.distribution} prior; " + "; ".join(parts)
    return Update(rv.name, SCALAR_KINDS[rv.distribution], reason, names, block)


def _wishart(model: Model, rv: RandomVariable, kids: list, points: list[dict]) -> Update:
    names = tuple(c.name for c in kids)
    if len(rv.shape) != 2:
        return Update(rv.name, "slice", "a batch of Wishart matrices is not handled", names)
    parts = []
    for child in kids:
        if child.distribution != "MvNormalPrecision":
            why = f"WishartCholesky prior; {child.distribution} {_child_desc(model, child)}"
            return Update(rv.name, "slice", f"{why} is not a precision-form Normal", names)
        if rv.name in references(child.args["mu"]):
            why = f"{rv.name} is in the mean of the {_child_desc(model, child)}"
            return Update(rv.name, "slice", f"WishartCholesky prior; {why}", names)
        if not all(probe.is_linear_factor(model, rv, child, values) for values in points):
            why = f"the precision factor of the {_child_desc(model, child)} is not A @ {rv.name}"
            return Update(rv.name, "slice", f"WishartCholesky prior; {why}", names)
        parts.append(
            f"MvNormalPrecision {_child_desc(model, child)} with precision A {rv.name} {rv.name}^T A^T"
        )
    reason = "WishartCholesky prior (Wishart on the precision); " + "; ".join(parts)
    return Update(rv.name, "wishart", reason, names)
