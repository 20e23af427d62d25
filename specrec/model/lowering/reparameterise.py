"""Reparameterisation: non-centred parameters become a standard-normal ``<name>_raw`` latent and
a derived value, substituted into every expression that uses them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from specrec.model.distributions import Distribution
from specrec.model.ir import Align, Const, Derived, Expr, ParamRef, RandomVariable
from specrec.model.lowering.distributions import DistributionPass
from specrec.model.lowering.state import Context


class ReparameterisePass(DistributionPass):
    def noncenter(
        self,
        name: str,
        dist: Distribution,
        args: dict[str, Expr],
        shape: tuple[int, ...],
        ctx: Context,
        out: dict[str, tuple[RandomVariable, set[str]]],
    ) -> None:
        """``X ~ Normal(mu, sigma)`` -> ``X_raw ~ Normal(0, 1)`` and ``X = mu + sigma * X_raw``.

        Done once here, so every backend samples the same standard-normal latent and the
        unconstrained space (and so ``check`` parity) is the same everywhere.
        """
        path = ("params", name, "noncentered")
        if dist.name != "Normal":
            self.problem(
                path,
                f"{name} cannot be non-centred: only a Normal(mu, sigma) prior can",
                expected="Normal(mu, sigma)",
                found=dist.name,
                hint="remove noncentered, or give a Normal prior",
            )
            return
        raw = f"{name}_raw"
        if raw in self.params or raw in self.spec.let or raw in self.spec.dims:
            self.problem(
                path,
                f"non-centring {name} needs the name {raw!r}, which is already taken",
                hint=f"rename {raw}",
            )
            return
        dims = tuple(self.params[name].dims)
        std = {"mu": Const(np.asarray(0.0), (), "0"), "sigma": Const(np.asarray(1.0), (), "1")}
        out[raw] = (RandomVariable(raw, "Normal", std, dims, shape), set())
        scaled = self.elementwise("mul", (args["sigma"], ParamRef(raw, dims)))
        value = self.elementwise("add", (args["mu"], scaled))
        if value.dims != dims:
            value = Align(value, dims)
        self.derived[name] = (Derived(name, value, dims, shape), {*ctx.refs, raw})
        self.raw_of[name] = raw

    def expand_refs(self, refs: set[str], seen: frozenset[str] = frozenset()) -> set[str]:
        """References with each non-centred param replaced by what its value depends on."""
        out: set[str] = set()
        for r in refs:
            if r in self.derived and r not in seen:
                out |= self.expand_refs(self.derived[r][1], seen | {r})
            elif r not in self.derived:
                out.add(r)
        return out

    def substitute(self, e: Expr) -> Expr:
        """``e`` with every non-centred param replaced by its expression of ``<name>_raw``."""
        if isinstance(e, ParamRef) and e.name in self.derived:
            return self.substitute(self.derived[e.name][0].expr)
        return e.map_children(self.substitute)

    def substituted(self, rv: RandomVariable) -> RandomVariable:
        return replace(rv, args={k: self.substitute(v) for k, v in rv.args.items()})
