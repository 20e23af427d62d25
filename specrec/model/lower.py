"""Validated spec (+ training rows) -> ``Model``: names resolved, dims checked, shapes known.

This is the one walker from the spec language to the representation.  It parses every
expression, resolves each name (parameter, ``let`` helper, data column, dim), makes broadcasting
explicit, folds constants, computes data statistics from the training rows, orders the latent
variables topologically and reports *every* problem with its position in the file.  Without
data (``specrec validate``) it runs the same checks with placeholder sizes and statistics.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from specrec.data.dataset import Dataset
from specrec.errors import Problem, SpecError
from specrec.model import functions as F
from specrec.model.distributions import DISTRIBUTIONS, TRANSFORMS, Distribution
from specrec.model.ir import (
    OBS,
    RESPONSIBILITY,
    Align,
    Apply,
    Column,
    Const,
    Derived,
    Dim,
    Expr,
    Gather,
    Mixture,
    Model,
    ParamRef,
    RandomVariable,
    RowData,
    Segment,
    Sum,
    walk,
)
from specrec.model.walk import NUMPY_OPS, evaluate
from specrec.spec import expressions as E
from specrec.spec.load import LoadedSpec
from specrec.spec.models import DataDim
from specrec.spec.models import Mixture as MixtureSpec
from specrec.spec.positions import Path

PLACEHOLDER_SIZE = 3


class _Abort(Exception):
    """Stop lowering one expression; its problem is already recorded."""


@dataclass
class _Context:
    """Where an expression is being lowered: a prior (over ``target`` dims) or the likelihood."""

    path: Path
    row: bool
    target: tuple[str, ...] = ()
    let_stack: tuple[str, ...] = ()
    refs: set[str] = field(default_factory=set)


class _Lowering:
    def __init__(self, loaded: LoadedSpec, train: Dataset | None, simulating: bool = False):
        self.simulating = simulating
        self.loaded = loaded
        self.spec = loaded.spec
        self.pos = loaded.positions
        self.train = train
        self.problems: list[Problem] = []
        self.response = self.spec.response
        self.params = {n: self.spec.param(n) for n in self.spec.params}
        self.used_lets: set[str] = set()
        self.used_dims: set[str] = set()
        self.used_columns: set[str] = set()
        self.dims: dict[str, Dim] = {}
        self.asts: dict[Path, E.Node] = {}
        self.bad_dims: set[str] = set()  # params with a dims problem already reported
        # non-centred params: name -> (its value as an expression of <name>_raw, its refs)
        self.derived: dict[str, tuple[Derived, set[str]]] = {}
        self.raw_of: dict[str, str] = {}
        self.covariates: dict[str, Const] = {}
        self.bad_covariates: set[str] = set()

    # ---- reporting -------------------------------------------------------------------------------
    def problem(self, path: Path, message: str, node: E.Node | None = None, **kw) -> None:
        offset = node.offset if node is not None else 0
        self.problems.append(self.pos.problem(path, message, offset=offset, **kw))

    def fail(self, path: Path, message: str, node: E.Node | None = None, **kw) -> _Abort:
        self.problem(path, message, node, **kw)
        return _Abort()

    def suggest(self, name: str, options: list[str]) -> str | None:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}?" if close else None

    # ---- dims ------------------------------------------------------------------------------------
    def lower_dims(self) -> None:
        names = set(self.spec.dims)
        for clash in sorted(names & (set(self.params) | set(self.spec.let))):
            self.problem(
                ("dims", clash), f"{clash!r} is both a dim and a parameter or let name", key=True
            )
        taken = names | set(self.params) | set(self.spec.let)
        for clash in sorted(set(self.spec.data.covariates) & taken):
            self.problem(
                ("data", "covariates", clash),
                f"covariate {clash!r} has the name of a dim, parameter or let helper",
                key=True,
            )
        for name, d in self.spec.dims.items():
            if name == OBS:
                self.problem(("dims", name), f"{OBS!r} is reserved for observation rows", key=True)
                continue
            if isinstance(d, DataDim):
                if self.train is None:
                    coords = np.arange(PLACEHOLDER_SIZE)
                elif d.column not in self.train.codes:
                    cols = sorted(self.train.codes)
                    self.problem(
                        ("dims", name, "column"),
                        f"the data has no categorical column {d.column!r}",
                        expected=", ".join(cols) or "(none)",
                        found=repr(d.column),
                        hint=self.suggest(d.column, cols),
                    )
                    coords = np.arange(PLACEHOLDER_SIZE)
                else:
                    coords = self.train.levels[d.column]
                self.dims[name] = Dim(name, len(coords), coords, d.column)
            else:
                self.dims[name] = Dim(name, int(d), np.arange(int(d)), None)

    def check_evaluate(self) -> None:
        """The ranking settings must fit the data: a data dim to rank per, a usable threshold."""
        ranking = self.spec.evaluate.ranking
        data_dims = [n for n in self.spec.dims if self.is_data_dim(n)]
        if ranking.per is not None and ranking.per not in data_dims:
            self.problem(
                ("evaluate", "ranking", "per"),
                "ranking is per level of a data dim",
                expected=", ".join(data_dims) or "(no data dim)",
                found=repr(ranking.per),
                hint=self.suggest(ranking.per, data_dims),
            )
        value_range = self.spec.data.range
        if value_range is not None and not value_range[0] < ranking.threshold <= value_range[1]:
            self.problem(
                ("evaluate", "ranking", "threshold"),
                "no rating could be relevant, or every one would be",
                expected=f"a rating in ({value_range[0]:g}, {value_range[1]:g}] (data.range)",
                found=f"{ranking.threshold:g}",
            )

    def is_data_dim(self, name: str) -> bool:
        return name in self.dims and self.dims[name].column is not None

    # ---- expressions -----------------------------------------------------------------------------
    def parse(self, text: str, path: Path) -> E.Node:
        if path in self.asts:
            return self.asts[path]
        try:
            node = E.parse(text)
        except E.ParseError as exc:
            raise self.fail(
                path,
                f"cannot parse expression: {exc.message}",
                E.Num(0, exc.offset),
                found=repr(text),
            ) from None
        self.asts[path] = node
        return node

    def column_names(self) -> list[str]:
        if self.train is None:
            return [self.response]
        return [self.train.response, *self.train.numeric]

    def known_names(self) -> list[str]:
        return [*self.params, *self.spec.let, *self.column_names(), *self.spec.data.covariates]

    def covariate(self, name: str) -> Const:
        """A declared covariate as a constant over (dim,) or (dim, over), checked against data.

        Lowered once per spec (cached), and problems are reported at its declaration.
        """
        if name in self.covariates:
            return self.covariates[name]
        cov = self.spec.data.covariates[name]
        path = ("data", "covariates", name)
        if cov.of not in self.dims or not self.is_data_dim(cov.of):
            data_dims = [d for d in self.dims if self.is_data_dim(d)]
            raise self.fail(
                (*path, "of"),
                f"covariate {name!r} must describe a data dim",
                expected=", ".join(data_dims),
                found=repr(cov.of),
                hint=self.suggest(cov.of, data_dims),
            )
        d = self.dims[cov.of]
        if cov.over is not None and (cov.over not in self.dims or self.is_data_dim(cov.over)):
            fixed = [x for x in self.dims if not self.is_data_dim(x)]
            raise self.fail(
                (*path, "over"),
                f"covariate {name!r} runs over a fixed-size dim",
                expected=", ".join(fixed) or "(declare one under dims, e.g. genre: 19)",
                found=repr(cov.over),
            )
        dims = (cov.of,) if cov.over is None else (cov.of, cov.over)
        shape = tuple(self.dims[x].size for x in dims)
        if self.train is None:
            values = np.zeros(shape)
        else:
            attr = self.train.attributes.get(str(d.column), {}).get(name)
            if attr is None:
                have = sorted(self.train.attributes.get(str(d.column), {}))
                raise self.fail(
                    path,
                    f"the data has no covariate {name!r} for {d.column!r}",
                    expected=", ".join(have) or "(none: this source has no side data)",
                    found=repr(name),
                    hint=self.suggest(name, have),
                    key=True,
                )
            values = np.asarray(attr.values, dtype=float)
            if values.shape != shape:
                what = "a number" if cov.over is None else f"{shape[1]} values (dim {cov.over!r})"
                raise self.fail(
                    (*path, "over") if cov.over is not None else path,
                    f"covariate {name!r} has shape {values.shape[1:] or 'scalar'} per level, "
                    f"the spec expects {what}",
                    expected=f"{cov.over}: {values.shape[1]}" if values.ndim == 2 else "no over",
                    found=f"{cov.over}: {shape[1]}" if cov.over else "no over",
                )
            standardize = cov.standardize
            if standardize is None:
                standardize = values.ndim == 1 and len(np.unique(values)) > 2
            if standardize:
                sd = values.std(axis=0)
                values = (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        self.covariates[name] = Const(values, dims, name)
        return self.covariates[name]

    def lower_covariate(self, name: str, node: E.Name, ctx: _Context) -> Expr:
        if name in self.bad_covariates:
            raise _Abort()  # already reported at its declaration
        try:
            value = self.covariate(name)
        except _Abort:
            self.bad_covariates.add(name)
            raise
        self.used_dims.update(value.dims)
        dim = value.dims[0]
        if dim not in ctx.target:
            raise self.fail(
                ctx.path,
                f"covariate {name!r} has data dim {dim!r}; index it",
                node,
                hint=f"write {name}[{dim}]",
            )
        return value

    def lower(self, node: E.Node, ctx: _Context) -> Expr:
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

    def lower_name(self, node: E.Name, ctx: _Context) -> Expr:
        name = node.id
        if name in self.params:
            ctx.refs.add(name)
            if name in self.bad_dims:
                raise _Abort()  # its dims are already reported; anything more would be a guess
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
            sub = _Context(let_path, ctx.row, ctx.target, (*ctx.let_stack, name), ctx.refs)
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

    def lower_index(self, node: E.Index, ctx: _Context) -> Expr:
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
            _Context(ctx.path, ctx.row, (dim.id, *ctx.target), ctx.let_stack, ctx.refs),
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

    def lower_call(self, node: E.Call, ctx: _Context) -> Expr:
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

    def lower_segment(self, node: E.Call, ctx: _Context) -> Expr:
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
        inner = _Context(ctx.path, True, (OBS,), ctx.let_stack, ctx.refs)
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
            rows = row_data(self.train, self.dims, sorted(_columns_in(x)))
            codes = rows.index[dim.id]
        weights = F.segment_weights(node.func, codes, d.size)
        return Segment(x, dim.id, rows, weights, (dim.id, *x.dims[1:]))

    def arity(self, node: E.Call, n: int, ctx: _Context) -> None:
        if len(node.args) != n:
            raise self.fail(
                ctx.path,
                f"{node.func}() takes {n} argument{'s' * (n > 1)}, found {len(node.args)}",
                node,
            )

    def lower_statistic(self, node: E.Call, ctx: _Context) -> Expr:
        fn, label = node.func, E.to_text(node)
        grouped = fn in F.GROUPED_STATISTICS
        self.arity(node, 2 if grouped else 1, ctx)
        arg = node.args[0]
        if fn == "mean" and isinstance(arg, E.Call) and arg.func in F.GROUPED_STATISTICS:
            inner = self.lower_statistic(arg, ctx)
            return Const(np.asarray(np.mean(inner.value)), (), label)  # type: ignore[attr-defined]
        if not isinstance(arg, E.Name) or arg.id not in self.column_names():
            raise self.fail(
                ctx.path,
                f"{fn}() summarises a data column",
                arg,
                expected=", ".join(self.column_names()),
                found=E.to_text(arg),
            )
        col = arg.id
        if self.simulating and col == self.response:
            raise self.fail(
                ctx.path,
                f"{label} is not known before {col!r} is simulated",
                node,
                hint="use a constant here, or a parameter with a prior",
            )
        if self.train is None:
            values = np.ones(PLACEHOLDER_SIZE)
        else:
            values = self.train.y if col == self.train.response else self.train.numeric[col]
        if not grouped:
            try:
                return Const(np.asarray(F.scalar_statistic(fn, values)), (), label)
            except ValueError as exc:
                raise self.fail(ctx.path, f"{label}: {exc}", node) from None
        dim = node.args[1]
        if not isinstance(dim, E.Name) or not self.is_data_dim(dim.id):
            raise self.fail(ctx.path, f"{fn}() groups by a data dim", dim, found=E.to_text(dim))
        self.used_dims.add(dim.id)
        d = self.dims[dim.id]
        if self.train is None:
            return Const(np.ones(d.size), (dim.id,), label)
        other = [x for x in self.dims.values() if x.column and x.name != dim.id]
        try:
            vec = F.grouped_statistic(
                fn,
                values,
                self.train.codes[d.column],
                d.size,
                other[0].size if len(other) == 1 else None,
            )
        except ValueError as exc:
            raise self.fail(ctx.path, f"{label}: {exc}", node) from None
        return Const(vec, (dim.id,), label)

    # ---- distributions ---------------------------------------------------------------------------
    def lower_distribution(
        self, text: str, path: Path, ctx: _Context
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
            except _Abort:
                ok = False
        if not ok:
            raise _Abort()
        if dist.support.kind == "interval":
            lo, hi = args["lower"], args["upper"]
            placeholder = self.train is None and (
                _uses_statistic(given["lower"]) or _uses_statistic(given["upper"])
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

    def lower_arg(self, dist: Distribution, arg_name: str, node: E.Node, ctx: _Context) -> Expr:
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
        if not _depends_on_parameters(x):
            value = np.asarray(evaluate(x, {}, None, NUMPY_OPS), dtype=float)
            x = Const(value, x.dims, E.to_text(node))
            placeholder = self.train is None and _uses_statistic(node)
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
        if x.dims or not own or arg_event_dims != len(own) or _depends_on_parameters(x):
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
        ctx: _Context,
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
            ctx = _Context(path, row=False, target=tuple(p.dims))
            try:
                dist, args = self.lower_distribution(p.prior, path, ctx)
            except _Abort:
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

    def noncenter(
        self,
        name: str,
        dist: Distribution,
        args: dict[str, Expr],
        shape: tuple[int, ...],
        ctx: _Context,
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
                raise _Abort()
            state[name] = 1
            for dep in sorted(nodes[name][1]):
                visit(dep, [*stack, name])
            state[name] = 2
            ordered.append(nodes[name][0])

        for name in self.params:  # declaration order where dependencies allow (stable output)
            try:
                visit(self.raw_of.get(name, name), [])
            except _Abort:
                return []
        return ordered

    def lower_likelihood(self) -> tuple[RandomVariable | None, set[str]]:
        lik = self.spec.likelihood_spec()
        path: Path = ("likelihood", self.response)
        if not isinstance(self.spec.likelihood[self.response], str):
            path = (*path, "distribution")
        over = self.mixture_dim(lik.mixture)
        ctx = _Context(path, row=True, target=(OBS,) if over is None else (OBS, over))
        if lik.mixture is not None and over is None:
            return None, ctx.refs  # its arguments' dims depend on the mixture's dim
        try:
            dist, args = self.lower_distribution(lik.distribution, path, ctx)
        except _Abort:
            return None, ctx.refs
        if dist.mean is None:
            self.problem(path, f"{dist.name} has no finite mean, so it cannot predict ratings")
        low, high = _support_bounds(dist, args)
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
            )
        n = len(self.train) if self.train is not None else PLACEHOLDER_SIZE
        return RandomVariable(self.response, dist.name, args, (OBS,), (n,), observed=True), ctx.refs

    # ---- mixtures --------------------------------------------------------------------------------
    def mixture_path(self, key: str) -> Path:
        return ("likelihood", self.response, "mixture", key)

    def mixture_dim(self, mix: MixtureSpec | None) -> str | None:
        """The component dim of a mixture likelihood (checked), or None."""
        if mix is None:
            return None
        if mix.over not in self.spec.dims:
            hint = self.suggest(mix.over, list(self.spec.dims))
            self.problem(self.mixture_path("over"), f"unknown dim {mix.over!r}", hint=hint)
            return None
        if self.is_data_dim(mix.over):
            self.problem(
                self.mixture_path("over"),
                f"the components of a mixture are a fixed-size dim, {mix.over!r} is a data dim",
                hint="declare the number of components as a dim: type: 3",
            )
            return None
        self.used_dims.add(mix.over)
        if mix.per is not None:
            if mix.per not in self.spec.dims or not self.is_data_dim(mix.per):
                self.problem(
                    self.mixture_path("per"),
                    f"per must be a data dim, found {mix.per!r}",
                    expected=", ".join(d for d in self.spec.dims if self.is_data_dim(d)),
                )
                return None
            self.used_dims.add(mix.per)
            taken = f"{mix.over}_{RESPONSIBILITY}"
            if taken in self.params or taken in self.spec.let:
                self.problem(
                    ("params", taken) if taken in self.params else ("let", taken),
                    f"{taken!r} is the name of the mixture's responsibilities",
                    key=True,
                )
            if self.spec.inference.batch_size is not None:
                self.problem(
                    ("inference", "batch_size"),
                    f"minibatches cannot split a mixture per {mix.per!r}: each level's rows "
                    "share one component and must be in the same likelihood term",
                    hint="remove batch_size (full-batch vi), or mix per row (no per)",
                )
        return mix.over

    def lower_mixture(self, mix: MixtureSpec, refs: set[str]) -> Mixture | None:
        """The normalised log weights over the components (and over ``per``'s levels)."""
        path = self.mixture_path("weights")
        target = (mix.over,) if mix.per is None else (mix.per, mix.over)
        ctx = _Context(path, row=False, target=target, refs=refs)
        try:
            node = self.parse(str(mix.weights), path)
            w = self.lower(node, ctx)
        except _Abort:
            return None
        if not w.dims and not _depends_on_parameters(w):  # a number: equal weights
            value = float(np.asarray(evaluate(w, {}, None, NUMPY_OPS)))
            w = Const(np.full(self.dims[mix.over].size, value), (mix.over,), E.to_text(node))
        if mix.over not in w.dims or any(d not in target for d in w.dims):
            self.problem(
                path,
                "mixture weights must be a vector over the components",
                expected=f"dims ({mix.over})" + (f" or ({mix.per}, {mix.over})" if mix.per else ""),
                found=f"dims ({', '.join(w.dims)})" if w.dims else "no dims",
            )
            return None
        if w.dims != tuple(d for d in target if d in w.dims):
            w = Align(w, tuple(d for d in target if d in w.dims))
        if not _depends_on_parameters(w):
            value = np.asarray(evaluate(w, {}, None, NUMPY_OPS), dtype=float)
            if not np.all(value >= 0) or not np.all(value.sum(-1) > 0):
                self.problem(
                    path,
                    "mixture weights must be non-negative with a positive sum",
                    found=E.to_text(node),
                )
                return None
        total = Sum(w, mix.over, tuple(d for d in w.dims if d != mix.over))
        log_w = self.elementwise(
            "sub", (Apply("log", (w,), w.dims), Apply("log", (total,), total.dims))
        )
        rows = RowData(np.zeros(0), {}, {})  # filled with the training rows in run()
        return Mixture(mix.over, log_w, mix.per, rows)

    def run(self) -> Model:
        self.lower_dims()
        self.check_evaluate()
        nodes = self.lower_params()
        lik, lik_refs = self.lower_likelihood()
        lik_spec = self.spec.likelihood_spec()
        mixture = None
        if lik is not None and lik_spec.mixture is not None:
            mixture = self.lower_mixture(lik_spec.mixture, lik_refs)
        if self.derived:
            nodes = {n: (rv, self.expand_refs(refs)) for n, (rv, refs) in nodes.items()}
        reachable: set[str] = set()
        todo = list(lik_refs)
        while todo:
            n = todo.pop()
            if n in reachable:
                continue
            reachable.add(n)
            if n in nodes:
                todo += nodes[n][1]
            if n in self.derived:
                todo += self.derived[n][1]
        # a non-centred param used by another prior is reached through its <name>_raw
        reachable |= {n for n, raw in self.raw_of.items() if raw in reachable}
        # Uses inside an expression that failed are unknown: report unused names only when
        # every prior and the likelihood were lowered.
        complete = lik is not None and all(n in nodes or n in self.derived for n in self.params)
        if complete:
            for name in self.params:
                if name not in reachable:
                    self.problem(
                        ("params", name),
                        f"parameter {name!r} is never used by the likelihood",
                        key=True,
                    )
        for name in self.spec.data.covariates:
            if name not in self.covariates and complete and not self.problems:
                self.problem(
                    ("data", "covariates", name), f"covariate {name!r} is never used", key=True
                )
        for name in self.spec.let:
            if name not in self.used_lets and complete:
                self.problem(("let", name), f"let helper {name!r} is never used", key=True)
        for name in self.dims:
            if name not in self.used_dims and complete and not self.problems:
                self.problem(("dims", name), f"dim {name!r} is declared but never used", key=True)
        latents = self.order(nodes) if not self.problems else []
        if self.problems or lik is None:
            raise SpecError(self.problems or [self.pos.problem(("likelihood",), "no likelihood")])
        if self.train is None:
            rows = RowData(np.zeros(PLACEHOLDER_SIZE), {}, {})
        else:
            rows = row_data(self.train, self.dims, self.used_columns)
        derived = tuple(
            replace(d, expr=self.substitute(d.expr))
            for name in self.params
            if name in self.derived
            for d in [self.derived[name][0]]
        )
        return Model(
            self.spec.name,
            self.dims,
            tuple(self.substituted(rv) for rv in latents),
            self.substituted(lik),
            rows,
            self.response,
            self.spec.data.range,
            response_shift=self.spec.likelihood_spec().shift,
            response_scale=self.spec.likelihood_spec().scale,
            derived=derived,
            mixture=None
            if mixture is None
            else replace(mixture, log_weights=self.substitute(mixture.log_weights), rows=rows),
        )


def row_data(ds: Dataset, dims: dict[str, Dim], columns: set[str] | list[str]) -> RowData:
    index = {
        name: ds.codes[d.column] for name, d in dims.items() if d.column and d.column in ds.codes
    }
    return RowData(
        np.asarray(ds.y, dtype=float),
        {k: np.asarray(v, dtype=np.int64) for k, v in index.items()},
        {c: np.asarray(ds.numeric[c], dtype=float) for c in columns},
    )


def _depends_on_parameters(e: Expr) -> bool:
    return any(isinstance(x, (ParamRef, Column)) for x in walk(e))


def _columns_in(e: Expr) -> set[str]:
    """The data columns a row expression reads (a segment carries its own copy of them)."""
    return {x.name for x in walk(e) if isinstance(x, Column)}


def _uses_statistic(node: E.Node) -> bool:
    if isinstance(node, E.Call):
        return (
            node.func in F.SCALAR_STATISTICS
            or node.func in F.GROUPED_STATISTICS
            or any(_uses_statistic(a) for a in node.args)
        )
    if isinstance(node, E.BinOp):
        return _uses_statistic(node.left) or _uses_statistic(node.right)
    if isinstance(node, E.Neg):
        return _uses_statistic(node.operand)
    return False


def _support_bounds(dist: Distribution, args: dict[str, Expr]) -> tuple[Any, Any]:
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


def lower(loaded: LoadedSpec, train: Dataset | None = None, *, simulating: bool = False) -> Model:
    """Lower a validated spec; ``train`` gives sizes, coordinates and statistics."""
    return _Lowering(loaded, train, simulating).run()


def check(loaded: LoadedSpec) -> None:
    """All semantic checks that need no data (``specrec validate``)."""
    lower(loaded, None)
