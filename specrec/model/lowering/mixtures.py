"""Mixtures: the component dim (and the data dim whose levels share a component) of a mixture
likelihood, and its weights as normalised log weights."""

from __future__ import annotations

import numpy as np

from specrec.model.ir import RESPONSIBILITY, Align, Apply, Const, Mixture, RowData, Sum
from specrec.model.lowering.parameters import ParameterPass
from specrec.model.lowering.state import Abort, Context, depends_on_parameters
from specrec.model.walk import NUMPY_OPS, evaluate
from specrec.spec import expressions as E
from specrec.spec.models import Mixture as MixtureSpec
from specrec.spec.positions import Path


class MixturePass(ParameterPass):
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
        ctx = Context(path, row=False, target=target, refs=refs)
        try:
            node = self.parse(str(mix.weights), path)
            w = self.lower(node, ctx)
        except Abort:
            return None
        if not w.dims and not depends_on_parameters(w):  # a number: equal weights
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
        if not depends_on_parameters(w):
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
