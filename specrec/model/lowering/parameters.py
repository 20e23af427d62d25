"""Parameters and the likelihood: each prior lowered over its dims, checked for what a latent
can be (continuous, with a transform), ordered topologically; the likelihood checked against
the observed ratings."""

from __future__ import annotations

import numpy as np

from specrec.errors import SpecError
from specrec.model.distributions import TRANSFORMS
from specrec.model.ir import OBS, Model, RandomVariable
from specrec.model.lowering.distributions import support_bounds
from specrec.model.lowering.reparameterise import ReparameterisePass
from specrec.model.lowering.state import PLACEHOLDER_SIZE, Abort, Context
from specrec.model.walk import NUMPY_OPS, evaluate
from specrec.spec.positions import Path


class ParameterPass(ReparameterisePass):
    # ---- the model -------------------------------------------------------------------------------
    def param_path(self, name: str) -> Path:
        return (
            ("params", name)
            if isinstance(self.spec.params[name], str)
            else ("params", name, "prior")
        )

    def lower_params(self) -> dict[str, tuple[RandomVariable, set[str]]]:
        out = {}
        for name, p in self.params.items():
            path = self.param_path(name)
            ok = True
            for i, d in enumerate(p.dims):
                if d not in self.spec.dims:
                    self.problem(
                        ("params", name, "dims", i),
                        f"unknown dim {d!r}",
                        hint=self.suggest(d, list(self.spec.dims)),
                    )
                    ok = False
                elif d in p.dims[:i]:
                    self.problem(("params", name, "dims", i), f"dim {d!r} listed twice")
                    ok = False
                else:
                    self.used_dims.add(d)
            if not ok:
                self.bad_dims.add(name)
                continue
            ctx = Context(path, row=False, target=tuple(p.dims))
            try:
                dist, args = self.lower_distribution(p.prior, path, ctx)
            except Abort:
                continue
            if dist.discrete:
                self.problem(
                    path,
                    f"{name} has a discrete prior ({dist.name}); "
                    "discrete latent parameters cannot be fitted by map, vi or nuts",
                    hint="marginalise the discrete variable in the likelihood",
                )
                continue
            if dist.support.kind not in TRANSFORMS:
                self.problem(
                    path,
                    f"{name} has a prior ({dist.name}) with support {dist.support.description!r}, "
                    "which has no map to the unconstrained space",
                    hint=f"{dist.name} can be a likelihood, not a latent parameter",
                )
                continue
            if p.constraint == "ordered" and (dist.support.kind != "real" or dist.event_dims):
                self.problem(
                    ("params", name, "constraint"),
                    f"constraint ordered needs a prior over all real numbers, found {dist.name}",
                    expected="a univariate prior with real support, e.g. Normal(0, 3)",
                    found=f"{dist.name} on {dist.support.description}",
                )
                continue
            if not self.check_value_dims(name, dist, p.constraint):
                continue
            shape = tuple(self.dims[d].size for d in p.dims)
            if p.noncentered:
                self.noncenter(name, dist, args, shape, ctx, out)
                continue
            rv = RandomVariable(
                name, dist.name, args, tuple(p.dims), shape, constraint=p.constraint
            )
            out[name] = (rv, ctx.refs)
        return out

    def order(self, nodes: dict[str, tuple[RandomVariable, set[str]]]) -> list[RandomVariable]:
        ordered: list[RandomVariable] = []
        state: dict[str, int] = {}

        def visit(name: str, stack: list[str]) -> None:
            if state.get(name) == 2 or name not in nodes:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*stack[stack.index(name) :], name])
                self.problem(
                    self.param_path(name), f"parameters depend on each other in a cycle: {cycle}"
                )
                raise Abort()
            state[name] = 1
            for dep in sorted(nodes[name][1]):
                visit(dep, [*stack, name])
            state[name] = 2
            ordered.append(nodes[name][0])

        for name in self.params:  # declaration order where dependencies allow (stable output)
            try:
                visit(self.raw_of.get(name, name), [])
            except Abort:
                return []
        return ordered

    def lower_likelihood(self) -> tuple[RandomVariable | None, set[str]]:
        lik = self.spec.likelihood_spec()
        path: Path = ("likelihood", self.response)
        if not isinstance(self.spec.likelihood[self.response], str):
            path = (*path, "distribution")
        over = self.mixture_dim(lik.mixture)
        ctx = Context(path, row=True, target=(OBS,) if over is None else (OBS, over))
        if lik.mixture is not None and over is None:
            return None, ctx.refs  # its arguments' dims depend on the mixture's dim
        try:
            dist, args = self.lower_distribution(lik.distribution, path, ctx)
        except Abort:
            return None, ctx.refs
        if dist.mean is None:
            self.problem(path, f"{dist.name} has no finite mean, so it cannot predict ratings")
        low, high = support_bounds(dist, args)
        y = (self.train.y - lik.shift) / lik.scale if self.train is not None else None
        if y is not None and not self.simulating and not dist.support.check(y, low, high):
            bad = ~dist.support.mask(y, low, high)
            first, n_bad = float(y[np.argmax(bad)]), int(bad.sum())
            scaled = lik.shift != 0 or lik.scale != 1
            what = (
                f"({self.response} - {lik.shift:g}) / {lik.scale:g}"
                if scaled
                else f"the observed {self.response!r}"
            )
            self.problem(
                path,
                f"{dist.name} cannot hold {what}",
                expected=dist.support.description,
                found=f"{first:g}" + (f" and {n_bad - 1} more" if n_bad > 1 else ""),
                hint=whole_number_hint(self.train.y, dist.support.kind),
            )
        n = len(self.train) if self.train is not None else PLACEHOLDER_SIZE
        return RandomVariable(self.response, dist.name, args, (OBS,), (n,), observed=True), ctx.refs

    def check_categories(self, model: Model) -> None:
        """A likelihood over K categories fed ratings above K - 1: found before fitting.

        K is the size of the vector argument's last dim (cutpoints over a dim of 4: 5
        categories), known only once the dims have sizes, so this runs on the lowered model.
        Without it the fit failed with "cannot find valid initial parameters".
        """
        lik = model.likelihood
        if lik.dist.support.kind != "categorical" or self.train is None or self.simulating:
            return
        spec = self.spec.likelihood_spec()
        for arg in lik.dist.args:
            if arg.event_dims != 1 or arg.name not in EXTRA_CATEGORIES:
                continue
            zeros = {rv.name: np.zeros(rv.shape) for rv in model.latents}
            with np.errstate(all="ignore"):
                value = evaluate(lik.args[arg.name], zeros, model.data, NUMPY_OPS)
            k = int(np.shape(value)[-1]) + EXTRA_CATEGORIES[arg.name]
            y = (self.train.y - spec.shift) / spec.scale
            above = y > k - 1
            if not np.any(above):
                return
            path: Path = ("likelihood", self.response)
            if not isinstance(self.spec.likelihood[self.response], str):
                path = (*path, "distribution")
            scaled = spec.shift != 0 or spec.scale != 1
            what = (
                f"({self.response} - {spec.shift:g}) / {spec.scale:g}" if scaled else self.response
            )
            self.problem(
                path,
                f"{lik.dist.name} has {k} categories (its {arg.name} over a dim of "
                f"{k - EXTRA_CATEGORIES[arg.name]}) but {what} reaches {float(y.max()):g}",
                expected=f"a category index 0..{k - 1}",
                found=f"{float(y[above][0]):g}"
                + (f" and {int(above.sum()) - 1} more" if above.sum() > 1 else ""),
                hint=whole_number_hint(self.train.y, "categorical"),
            )
            raise SpecError(self.problems)


#: a categorical likelihood's vector argument -> categories beyond its last dim's size
#: (Categorical's weights p: one per category; OrderedLogistic's cutpoints: one fewer)
EXTRA_CATEGORIES = {"p": 0, "cutpoints": 1}


#: steps a rating scale is commonly written in (stars, half stars, quarter points, tenths)
RATING_STEPS = (1.0, 0.5, 0.25, 0.1)


def whole_number_hint(y: np.ndarray, kind: str) -> str | None:
    """For a likelihood over categories fed a regular grid of values (half stars 0.5..5), the
    ``shift`` and ``scale`` that make them 0, 1, 2, ...

    Half-star data under an ordinal likelihood is the usual case: the user needs the map to
    categories and the number of cutpoints it implies.  (A count likelihood is not offered
    the same map: ratings are not counts, and rescaling them into counts changes the model.)"""
    if kind != "categorical":
        return None
    v = np.asarray(y, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    for step in RATING_STEPS:
        k = (v - lo) / step
        if np.allclose(k, np.round(k), atol=1e-6):
            n = round((hi - lo) / step) + 1
            return (
                f"the observed values run {lo:g}..{hi:g} in steps of {step:g}: shift: {lo:g} "
                f"and scale: {step:g} make them the categories 0..{n - 1} ({n} categories: an "
                f"ordinal's cut dim has size {n - 1})"
            )
    return None
