"""Validated spec (+ training rows) -> ``Model``: names resolved, dims checked, shapes known.

This is the one walker from the spec language to the representation.  It parses every
expression, resolves each name (parameter, ``let`` helper, data column, dim), makes broadcasting
explicit, folds constants, computes data statistics from the training rows, orders the latent
variables topologically and reports *every* problem with its position in the file.  Without
data (``specrec validate``) it runs the same checks with placeholder sizes and statistics.

The work is a chain of passes over one shared state, one module each under
``specrec.model.lowering`` (each builds on the ones before it): ``state`` (what is shared, how
problems are reported), ``scope`` (dims and name clashes), ``data_terms`` (covariates and data
statistics), ``expressions`` (expressions and shapes), ``distributions`` (priors and
likelihoods, event dims, constant folding), ``reparameterise`` (non-centring), ``parameters``
(priors, ordering, the likelihood), ``mixtures`` and ``lint`` (what is declared but unused).
This module composes them into one model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from specrec.data.dataset import Dataset
from specrec.errors import SpecError
from specrec.model.ir import Model, RowData
from specrec.model.lowering.lint import LintPass
from specrec.model.lowering.state import PLACEHOLDER_SIZE, row_data
from specrec.spec.load import LoadedSpec

__all__ = ["PLACEHOLDER_SIZE", "check", "lower", "row_data"]


class _Lowering(LintPass):
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
        self.report_unused(nodes, lik, lik_refs)
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
        model = Model(
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
        self.check_categories(model)
        self.check_svd_start(model)
        return model

    def check_svd_start(self, model: Model) -> None:
        """``inference.init: svd`` needs two factor matrices in the likelihood's mean, found in
        the model representation (``conjugacy.spectral``), with data or without."""
        if self.spec.inference.init != "svd":
            return
        from specrec.conjugacy import spectral

        pair, found = spectral.factor_pair(model)
        if pair is None:
            raise SpecError(
                [
                    self.pos.problem(
                        ("inference", "init"),
                        "init: svd starts the factor matrices of the likelihood's mean at an "
                        "SVD of the ratings, and this model has none",
                        expected=spectral.EXPECTED,
                        found=found,
                        hint="use init: uniform (or another start) for this model",
                    )
                ]
            )


def lower(loaded: LoadedSpec, train: Dataset | None = None, *, simulating: bool = False) -> Model:
    """Lower a validated spec; ``train`` gives sizes, coordinates and statistics."""
    return _Lowering(loaded, train, simulating).run()


def check(loaded: LoadedSpec) -> None:
    """All semantic checks that need no data (``specrec validate``)."""
    lower(loaded, None)


def check_with_data(loaded: LoadedSpec, data: str | None = None) -> str:
    """The checks of ``check`` plus those that need the rows (``specrec validate --data``):
    read the data and split it as ``fit`` would and lower the spec on the training rows, so
    a wrong column, an unknown category or a likelihood that cannot hold the ratings (half
    stars under an ordinal) is found without fitting.  Returns what was read, for the user."""
    from specrec.data.source import load_data

    ds, split = load_data(loaded, data)
    model = lower(loaded, ds.take(split.train))
    return (
        f"{len(ds)} rows read, {len(split.train)} train / {len(split.test)} test, "
        f"{model.n_params()} parameters"
    )
