"""Data terms: declared covariates and data statistics (``mean(rating)``, ``count(user)``),
which become constants computed from the training rows (placeholders without data)."""

from __future__ import annotations

import numpy as np

from specrec.model import functions as F
from specrec.model.ir import Const, Expr
from specrec.model.lowering.scope import ScopePass
from specrec.model.lowering.state import PLACEHOLDER_SIZE, Abort, Context
from specrec.spec import expressions as E


class DataTermsPass(ScopePass):
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

    def lower_covariate(self, name: str, node: E.Name, ctx: Context) -> Expr:
        if name in self.bad_covariates:
            raise Abort()  # already reported at its declaration
        try:
            value = self.covariate(name)
        except Abort:
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

    def lower_statistic(self, node: E.Call, ctx: Context) -> Expr:
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
