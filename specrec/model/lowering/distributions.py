"""Distributions and event dims: a prior or likelihood call checked against the distributions
table (arguments, constraints, supports), its arguments aligned to the variable's batch and
event dims, constant arguments folded and checked before fitting."""

from __future__ import annotations

from typing import Any

import numpy as np

from specrec.model.distributions import DISTRIBUTIONS, Distribution
from specrec.model.ir import Align, Const, Expr
from specrec.model.lowering.expressions import ExpressionPass
from specrec.model.lowering.state import Abort, Context, depends_on_parameters, uses_statistic
from specrec.model.walk import NUMPY_OPS, evaluate
from specrec.spec import expressions as E
from specrec.spec.positions import Path


class DistributionPass(ExpressionPass):
    # ---- distributions ---------------------------------------------------------------------------
    def lower_distribution(
        self, text: str, path: Path, ctx: Context
    ) -> tuple[Distribution, dict[str, Expr]]:
        node = self.parse(text, path)
        if not isinstance(node, E.Call) or node.func not in DISTRIBUTIONS:
            what = node.func if isinstance(node, E.Call) else E.to_text(node)
            raise self.fail(
                path,
                f"expected a distribution, found {what!r}",
                node,
                expected="one of " + ", ".join(DISTRIBUTIONS),
                hint=self.suggest(what, list(DISTRIBUTIONS)),
            )
        dist = DISTRIBUTIONS[node.func]
        if ctx.row and dist.event_dims:
            raise self.fail(
                path,
                f"{dist.name} is multivariate; a likelihood has one value per row",
                node,
                hint="use it as the prior of a parameter over a fixed-size dim",
            )
        names = dist.arg_names
        if len(node.args) > len(names):
            raise self.fail(
                path,
                f"{dist.signature()} takes {len(names)} arguments, found {len(node.args)}",
                node,
            )
        given: dict[str, E.Node] = dict(zip(names, node.args, strict=False))
        offsets = node.kwarg_offsets or tuple(v.offset for _, v in node.kwargs)
        for (k, v), k_off in zip(node.kwargs, offsets, strict=True):
            at = E.Name(k, k_off)
            if k not in names:
                raise self.fail(
                    path,
                    f"{dist.name} has no argument {k!r}",
                    at,
                    expected=dist.signature(),
                    hint=self.suggest(k, list(names)),
                )
            if k in given:
                raise self.fail(path, f"argument {k!r} given twice", at)
            given[k] = v
        missing = [n for n in names if n not in given]
        if missing:
            raise self.fail(
                path,
                f"{dist.name} is missing {', '.join(missing)}",
                node,
                expected=dist.signature(),
            )
        args: dict[str, Expr] = {}
        ok = True
        for a in dist.args:
            try:
                args[a.name] = self.lower_arg(dist, a.name, given[a.name], ctx)
            except Abort:
                ok = False
        if not ok:
            raise Abort()
        if dist.support.kind == "interval":
            lo, hi = args["lower"], args["upper"]
            placeholder = self.train is None and (
                uses_statistic(given["lower"]) or uses_statistic(given["upper"])
            )
            if (
                isinstance(lo, Const)
                and isinstance(hi, Const)
                and not placeholder
                and not np.all(lo.value < hi.value)
            ):
                raise self.fail(
                    path,
                    f"{dist.name} needs lower < upper",
                    node,
                    found=f"lower = {lo.label}, upper = {hi.label}",
                )
        return dist, args

    def lower_arg(self, dist: Distribution, arg_name: str, node: E.Node, ctx: Context) -> Expr:
        spec_arg = next(a for a in dist.args if a.name == arg_name)
        x = self.lower(node, ctx)
        whole = E.Num(0, E.start(node))  # where the argument's text starts
        target = ctx.target
        if dist.event_dims and not spec_arg.event_dims:
            target = target[: len(target) - dist.event_dims]  # one value per batch element
        extra = [d for d in x.dims if d not in target]
        if spec_arg.event_dims:
            x = self.constant_over_event(dist, spec_arg.event_dims, x, target)
            extra = [d for d in x.dims if d not in target]
            target, extra = self.event_target(dist, arg_name, x, target, extra, whole, ctx)
        if extra:
            if ctx.row:
                hint = f"reduce {extra[0]!r} with dot() or sum()"
            else:
                hint = f"add {extra[0]!r} to this parameter's dims"
            where = "the likelihood is over" if ctx.row else "this parameter has"
            have = f"dims ({', '.join(ctx.target)})" if ctx.target else "no dims"
            raise self.fail(
                ctx.path,
                f"{dist.name}'s {arg_name} has dims ({', '.join(x.dims)}), but {where} {have}",
                whole,
                hint=hint,
            )
        if x.dims and x.dims != target:
            x = Align(x, target)
        if not depends_on_parameters(x):
            value = np.asarray(evaluate(x, {}, None, NUMPY_OPS), dtype=float)
            x = Const(value, x.dims, E.to_text(node))
            placeholder = self.train is None and uses_statistic(node)
            if (
                not placeholder
                and spec_arg.constraint.kind not in ("interval",)
                and not spec_arg.constraint.check(value)
            ):
                found = E.to_text(node)
                if value.size == 1 and found != f"{value.item():g}":
                    found += f" = {value.item():g}"  # a computed value: say what it came to
                raise self.fail(
                    ctx.path,
                    f"{dist.name}'s {arg_name} is outside its constraint",
                    whole,
                    expected=spec_arg.constraint.description,
                    found=found,
                )
            if spec_arg.constraint.kind == "dof" and not placeholder and len(ctx.target) >= 2:
                size = self.dims[ctx.target[-1]].size  # the d of a d x d matrix
                if not np.all(value > size - 1):
                    raise self.fail(
                        ctx.path,
                        f"{dist.name}'s {arg_name} must exceed {size - 1} for a "
                        f"{size} x {size} matrix",
                        whole,
                        expected=f"a number > {size - 1}",
                        found=E.to_text(node),
                    )
        return x

    def constant_over_event(
        self, dist: Distribution, arg_event_dims: int, x: Expr, target: tuple[str, ...]
    ) -> Expr:
        """A constant number where a vector over the variable's own event dims is expected (a
        multivariate normal's mean 0): the same value in every coordinate, as a Const over them."""
        own = target[len(target) - dist.event_dims :] if dist.event_dims else ()
        if x.dims or not own or arg_event_dims != len(own) or depends_on_parameters(x):
            return x
        value = np.asarray(evaluate(x, {}, None, NUMPY_OPS), dtype=float)
        return Const(np.full(tuple(self.dims[d].size for d in own), value), own)

    def event_target(
        self,
        dist: Distribution,
        arg_name: str,
        x: Expr,
        target: tuple[str, ...],
        extra: list[str],
        whole: E.Node,
        ctx: Context,
    ) -> tuple[tuple[str, ...], list[str]]:
        """The dims a vector/matrix argument is aligned to, and its dims left unexplained.

        An argument has ``event_dims`` trailing dims: those of the variable's own event (an
        MvNormal's mu over the variable's last dim) and, beyond them, new ones (Categorical's
        categories; the second dim of a Cholesky factor, which must have the same size).
        """
        spec_arg = next(a for a in dist.args if a.name == arg_name)
        own = target[len(target) - dist.event_dims :] if dist.event_dims else ()
        n_new = spec_arg.event_dims - len(own)
        missing = [d for d in own if d not in x.dims]
        bad = len(extra) != n_new or any(self.is_data_dim(d) for d in extra) or missing
        if not bad and n_new and own and self.dims[extra[0]].size != self.dims[own[-1]].size:
            bad = True
        if bad:
            if spec_arg.event_dims == 1 and not own:
                expected = "a vector over one fixed-size dim"
            elif spec_arg.event_dims == 1:
                expected = f"a vector over {own[-1]!r}"
            else:
                expected = (
                    f"a matrix over ({own[-1]!r}, a second fixed-size dim of size "
                    f"{self.dims[own[-1]].size})"
                )
            raise self.fail(
                ctx.path,
                f"{dist.name}'s {arg_name} must be {expected}",
                whole,
                expected=expected,
                found=(f"dims ({', '.join(x.dims)})" if x.dims else "no dims")
                + "".join(f", {d}: {self.dims[d].size}" for d in extra if d in self.dims),
            )
        return (*target, *extra), []

    def check_value_dims(self, name: str, dist: Distribution, constraint: str | None) -> bool:
        """A vector- or matrix-valued parameter's trailing dims: fixed-size, matrices square."""
        dims = list(self.params[name].dims)
        n = dist.event_dims or (1 if constraint == "ordered" else 0)
        if not n:
            return True
        if n == 2:
            what = f"a matrix ({dist.name})"
            expected = "[..., a, b]: a and b distinct fixed-size dims of the same size"
            must = "its last two dims must be distinct fixed-size dims of the same size"
        else:
            what = "an ordered vector" if constraint == "ordered" else f"a vector ({dist.name})"
            expected = "[..., a fixed-size dim]"
            must = "its last dim must be a fixed-size dim"
        tail = dims[len(dims) - n :] if len(dims) >= n else dims
        ok = len(dims) >= n and not any(self.is_data_dim(d) for d in tail)
        if ok and n == 2:
            ok = self.dims[tail[0]].size == self.dims[tail[1]].size
        if not ok:
            found = ", ".join(f"{d}: {self.dims[d].size}" for d in tail) if tail else "no dims"
            self.problem(
                ("params", name, "dims") if dims else self.param_path(name),
                f"{name} is {what}: {must}",
                expected=expected,
                found=f"({found})",
            )
        return ok


def support_bounds(dist: Distribution, args: dict[str, Expr]) -> tuple[Any, Any]:
    """The bounds an interval support is checked against before fitting.

    Literal bounds are known; bounds that depend on parameters are not, and then only
    finiteness can be checked (the density itself is -inf outside them at a given point).
    """
    if dist.support.kind != "interval":
        return None, None
    lo, hi = args.get("lower"), args.get("upper")
    if isinstance(lo, Const) and isinstance(hi, Const):
        return lo.value, hi.value
    return -np.inf, np.inf
