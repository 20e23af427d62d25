"""Expressions and shapes: each spec expression becomes an IR expression whose dims are known,
with broadcasting made explicit (``Align``), gathers by data dims and segment aggregates."""

from __future__ import annotations

import numpy as np

from specrec.model import functions as F
from specrec.model.distributions import DISTRIBUTIONS
from specrec.model.ir import (
    OBS,
    Align,
    Apply,
    Column,
    Const,
    Expr,
    Gather,
    ParamRef,
    RowData,
    Segment,
    Sum,
)
from specrec.model.lowering.data_terms import DataTermsPass
from specrec.model.lowering.state import PLACEHOLDER_SIZE, Abort, Context, columns_in, row_data
from specrec.spec import expressions as E
from specrec.spec.models import DataDim


class ExpressionPass(DataTermsPass):
    def lower(self, node: E.Node, ctx: Context) -> Expr:
        if isinstance(node, E.Num):
            return Const(np.asarray(node.value), (), E.to_text(node))
        if isinstance(node, E.Name):
            return self.lower_name(node, ctx)
        if isinstance(node, E.Neg):
            x = self.lower(node.operand, ctx)
            return Apply("neg", (x,), x.dims)
        if isinstance(node, E.BinOp):
            a, b = self.lower(node.left, ctx), self.lower(node.right, ctx)
            op = {"+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow"}[node.op]
            return self.elementwise(op, (a, b))
        if isinstance(node, E.Index):
            return self.lower_index(node, ctx)
        return self.lower_call(node, ctx)

    def elementwise(self, fn: str, args: tuple[Expr, ...]) -> Expr:
        target: list[str] = []
        for a in args:
            target += [d for d in a.dims if d not in target]
        if OBS in target:
            target.remove(OBS)
            target.insert(0, OBS)
        t = tuple(target)
        aligned = tuple(a if a.dims in ((), t) else Align(a, t) for a in args)
        return Apply(fn, aligned, t)

    def lower_name(self, node: E.Name, ctx: Context) -> Expr:
        name = node.id
        if name in self.params:
            ctx.refs.add(name)
            if name in self.bad_dims:
                raise Abort()  # its dims are already reported; anything more would be a guess
            dims = tuple(self.params[name].dims)
            data_dims = [d for d in dims if self.is_data_dim(d) and d not in ctx.target]
            if data_dims:
                how = f"{name}[{data_dims[0]}]"
                where = "in the likelihood" if ctx.row else "here"
                raise self.fail(
                    ctx.path,
                    f"{name!r} has data dim {data_dims[0]!r}; index it {where}",
                    node,
                    hint=f"write {how}"
                    if ctx.row
                    else f"{name} can only be used by a parameter over {data_dims[0]!r}",
                )
            return ParamRef(name, dims)
        if name in self.spec.let:
            if name in ctx.let_stack:
                cycle = " -> ".join([*ctx.let_stack, name])
                raise self.fail(
                    ctx.path, f"let helpers refer to each other in a cycle: {cycle}", node
                )
            self.used_lets.add(name)
            let_path = ("let", name)
            inner = self.parse(str(self.spec.let[name]), let_path)
            sub = Context(let_path, ctx.row, ctx.target, (*ctx.let_stack, name), ctx.refs)
            return self.lower(inner, sub)
        if name in self.spec.data.covariates:
            return self.lower_covariate(name, node, ctx)
        if name in self.spec.dims:
            raise self.fail(
                ctx.path,
                f"dim {name!r} used as a value",
                node,
                hint=f"index a parameter by it: X[{name}]",
            )
        if name == self.response:
            raise self.fail(
                ctx.path,
                f"the observed column {name!r} cannot be used as a value",
                node,
                hint=f"use a statistic such as mean({name})",
            )
        id_dims = [
            n for n, d in self.spec.dims.items() if isinstance(d, DataDim) and d.column == name
        ]
        if id_dims and name not in self.column_names():
            raise self.fail(
                ctx.path,
                f"{name!r} is the id column of dim {id_dims[0]!r}, not a value",
                node,
                hint=f"index a parameter by the dim: X[{id_dims[0]}]",
            )
        if name in self.column_names():
            if not ctx.row:
                raise self.fail(
                    ctx.path, f"data column {name!r} can only be used in the likelihood", node
                )
            self.used_columns.add(name)
            return Column(name)
        raise self.fail(
            ctx.path,
            f"undefined name {name!r}",
            node,
            expected="a parameter, a let helper or a data column",
            hint=self.suggest(name, self.known_names()),
        )

    def lower_index(self, node: E.Index, ctx: Context) -> Expr:
        # The dim first: an unknown or wrong dim would otherwise surface as a confusing
        # complaint about the value being indexed.
        if len(node.dims) != 1:
            raise self.fail(ctx.path, "index by one data dim at a time", node.dims[1])
        dim = node.dims[0]
        if dim.id not in self.spec.dims:
            raise self.fail(
                ctx.path,
                f"unknown dim {dim.id!r}",
                dim,
                hint=self.suggest(dim.id, list(self.spec.dims)),
            )
        if not self.is_data_dim(dim.id):
            raise self.fail(
                ctx.path, f"{dim.id!r} is a fixed-size dim; only data dims index rows", dim
            )
        base_node = node.base
        if (
            isinstance(base_node, E.Name)
            and base_node.id in self.params
            and base_node.id not in self.bad_dims
            and dim.id not in self.params[base_node.id].dims
        ):
            p = base_node.id
            raise self.fail(
                ctx.path,
                f"cannot index {p!r} by {dim.id!r}: {p} has dims "
                f"({', '.join(self.params[p].dims)})",
                dim,
            )
        base = self.lower(
            base_node,
            Context(ctx.path, ctx.row, (dim.id, *ctx.target), ctx.let_stack, ctx.refs),
        )
        if dim.id not in base.dims:
            raise self.fail(
                ctx.path,
                f"cannot index by {dim.id!r}: the value has dims ({', '.join(base.dims)})",
                dim,
            )
        if not ctx.row:
            raise self.fail(
                ctx.path, "indexing by a data dim is only possible in the likelihood", node
            )
        if OBS in base.dims:
            raise self.fail(ctx.path, "a value is already indexed by a data dim", node)
        self.used_dims.add(dim.id)
        dims = tuple(OBS if d == dim.id else d for d in base.dims)
        return Gather(base, dim.id, dims)

    def lower_call(self, node: E.Call, ctx: Context) -> Expr:
        fn = node.func
        if fn in DISTRIBUTIONS:
            raise self.fail(
                ctx.path,
                f"{fn} is a distribution; it can only be a whole prior or likelihood",
                node,
            )
        if fn not in F.ALL_FUNCTIONS:
            raise self.fail(
                ctx.path,
                f"unknown function {fn!r}",
                node,
                hint=self.suggest(fn, [*F.ALL_FUNCTIONS, *DISTRIBUTIONS]),
            )
        if node.kwargs:
            raise self.fail(ctx.path, f"{fn}() takes no keyword arguments", node)
        if fn in F.ELEMENTWISE_FUNCTIONS:
            self.arity(node, 1, ctx)
            x = self.lower(node.args[0], ctx)
            return Apply(fn, (x,), x.dims)
        if fn == "dot":
            self.arity(node, 2, ctx)
            a, b = self.lower(node.args[0], ctx), self.lower(node.args[1], ctx)
            shared = [d for d in a.dims if d in b.dims and d != OBS and not self.is_data_dim(d)]
            if not shared:
                raise self.fail(
                    ctx.path,
                    "dot() of values that share no fixed-size dim",
                    node,
                    expected="two values over the same factor dim",
                    found=f"({', '.join(a.dims)}) and ({', '.join(b.dims)})",
                )
            out: Expr = self.elementwise("mul", (a, b))
            for d in shared:
                out = Sum(out, d, tuple(x for x in out.dims if x != d))
            return out
        if fn == "sum":
            self.arity(node, 2, ctx)
            x = self.lower(node.args[0], ctx)
            dim = node.args[1]
            if not isinstance(dim, E.Name) or dim.id not in x.dims or self.is_data_dim(dim.id):
                raise self.fail(
                    ctx.path, "sum(x, dim) needs a fixed-size dim of x", node, found=E.to_text(dim)
                )
            return Sum(x, dim.id, tuple(d for d in x.dims if d != dim.id))
        if fn in F.SEGMENT_FUNCTIONS:
            return self.lower_segment(node, ctx)
        return self.lower_statistic(node, ctx)

    def lower_segment(self, node: E.Call, ctx: Context) -> Expr:
        """``segment_mean(x, dim)``: x is lowered as a row expression on the training rows."""
        self.arity(node, 2, ctx)
        dim = node.args[1]
        if not isinstance(dim, E.Name) or not self.is_data_dim(dim.id):
            raise self.fail(
                ctx.path,
                f"{node.func}() aggregates per level of a data dim",
                dim,
                expected=", ".join(d for d in self.dims if self.is_data_dim(d)),
                found=E.to_text(dim),
            )
        inner = Context(ctx.path, True, (OBS,), ctx.let_stack, ctx.refs)
        x = self.lower(node.args[0], inner)
        if OBS not in x.dims:
            raise self.fail(
                ctx.path,
                f"{node.func}() needs a row expression: index a parameter by a data dim",
                node.args[0],
                hint=f"for example {node.func}(V[item], {dim.id})",
            )
        if x.dims[0] != OBS:
            x = Align(x, (OBS, *(d for d in x.dims if d != OBS)))
        self.used_dims.add(dim.id)
        d = self.dims[dim.id]
        if self.train is None:
            codes = np.arange(PLACEHOLDER_SIZE) % d.size
            rows = RowData(np.zeros(PLACEHOLDER_SIZE), {n: codes for n in self.dims}, {})
        else:
            rows = row_data(self.train, self.dims, sorted(columns_in(x)))
            codes = rows.index[dim.id]
        weights = F.segment_weights(node.func, codes, d.size)
        return Segment(x, dim.id, rows, weights, (dim.id, *x.dims[1:]))
