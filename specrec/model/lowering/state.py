"""The shared state of lowering, and how it reports: every pass reads and extends this.

Lowering is a chain of passes over one state (``lower.py`` composes them): names and scope,
data terms (covariates, statistics), expressions and shapes, distributions and event dims,
reparameterisation, parameters and the likelihood, mixtures, lint.  Each pass is a class that
builds on the ones before it; a problem found anywhere is recorded with its position in the
file (``problem``), and ``Abort`` stops lowering the one expression it was found in, so every
problem of a spec is reported at once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np

from specrec.data.dataset import Dataset
from specrec.errors import Problem
from specrec.model import functions as F
from specrec.model.ir import Column, Const, Derived, Dim, Expr, ParamRef, RowData, walk
from specrec.spec import expressions as E
from specrec.spec.load import LoadedSpec
from specrec.spec.positions import Path

PLACEHOLDER_SIZE = 3


class Abort(Exception):
    """Stop lowering one expression; its problem is already recorded."""


@dataclass
class Context:
    """Where an expression is being lowered: a prior (over ``target`` dims) or the likelihood."""

    path: Path
    row: bool
    target: tuple[str, ...] = ()
    let_stack: tuple[str, ...] = ()
    refs: set[str] = field(default_factory=set)


class LoweringState:
    """What every pass shares: the spec, the training rows, what has been used, the problems."""

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

    def fail(self, path: Path, message: str, node: E.Node | None = None, **kw) -> Abort:
        self.problem(path, message, node, **kw)
        return Abort()

    def suggest(self, name: str, options: list[str]) -> str | None:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}?" if close else None

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

    def arity(self, node: E.Call, n: int, ctx: Context) -> None:
        if len(node.args) != n:
            raise self.fail(
                ctx.path,
                f"{node.func}() takes {n} argument{'s' * (n > 1)}, found {len(node.args)}",
                node,
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


def depends_on_parameters(e: Expr) -> bool:
    return any(isinstance(x, (ParamRef, Column)) for x in walk(e))


def columns_in(e: Expr) -> set[str]:
    """The data columns a row expression reads (a segment carries its own copy of them)."""
    return {x.name for x in walk(e) if isinstance(x, Column)}


def uses_statistic(node: E.Node) -> bool:
    """Whether a data statistic appears anywhere in ``node`` (its value is a placeholder
    without data, so constraints on it are checked only with data)."""
    if isinstance(node, E.Call) and (
        node.func in F.SCALAR_STATISTICS or node.func in F.GROUPED_STATISTICS
    ):
        return True
    return any(uses_statistic(c) for c in E.children(node))
