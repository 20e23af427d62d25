"""The backend-neutral model representation that every spec lowers to.

It is the one home of model semantics.  A backend walks ``Model.latents`` in order, evaluates
each node's argument expressions with ``specrec.model.walk.evaluate`` over its own array type,
and emits its own sample statement; it never looks at the YAML.  Every expression carries its
named dims, and broadcasting is made explicit at lowering (``Align``), so a backend only needs
gather, sum, dimshuffle and elementwise maths.

``OBS`` is the dim of observation rows: likelihood expressions live on it, and indexing a
parameter by a data dim (``U[user]``) gathers along that dim with each row's code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from specrec.model.distributions import (
    DISTRIBUTIONS,
    TRANSFORMS,
    Distribution,
    unconstrained_shape,
)

OBS = "obs"


class Expr:
    """A node of a model expression; ``dims`` name the axes of its value.

    Every node states its direct sub-expressions once (``children``, ``map_children``), so a
    generic traversal (collect names, substitute, graft) is written once (``walk``) and cannot
    miss a node kind; only evaluators that give each kind its meaning dispatch on the type.
    """

    dims: tuple[str, ...]

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions, in order."""
        raise NotImplementedError(type(self).__name__)

    def map_children(self, fn: Callable[[Expr], Expr]) -> Expr:
        """A copy with each child replaced by ``fn(child)``; a node without children is itself."""
        raise NotImplementedError(type(self).__name__)


class _Leaf(Expr):
    def children(self) -> tuple[Expr, ...]:
        return ()

    def map_children(self, fn: Callable[[Expr], Expr]) -> Expr:
        return self


class _Unary(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def map_children(self, fn: Callable[[Expr], Expr]) -> Expr:
        return replace(self, operand=fn(self.operand))  # type: ignore[type-var]


def walk(e: Expr) -> Iterator[Expr]:
    """``e`` and every expression below it, depth first, parents before children."""
    yield e
    for child in e.children():
        yield from walk(child)


@dataclass(frozen=True)
class Const(_Leaf):
    """A number or an array computed once (literals, data statistics)."""

    value: np.ndarray = field(compare=False)
    dims: tuple[str, ...] = ()
    label: str = ""  # how it was written (``mean(rating)``) for messages and the resolved spec


@dataclass(frozen=True)
class ParamRef(_Leaf):
    name: str
    dims: tuple[str, ...]


@dataclass(frozen=True)
class Column(_Leaf):
    """A numeric data column, one value per observation row."""

    name: str
    dims: tuple[str, ...] = (OBS,)


@dataclass(frozen=True)
class Gather(_Unary):
    """``operand[dim]``: pick, for each observation row, the level of ``dim`` that row has."""

    operand: Expr
    dim: str
    dims: tuple[str, ...]


@dataclass(frozen=True)
class Apply(Expr):
    """Elementwise function of same-dims (or scalar) operands: add sub mul div pow neg exp ..."""

    fn: str
    args: tuple[Expr, ...]
    dims: tuple[str, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def map_children(self, fn: Callable[[Expr], Expr]) -> Expr:
        return replace(self, args=tuple(fn(a) for a in self.args))


@dataclass(frozen=True)
class Sum(_Unary):
    operand: Expr
    dim: str
    dims: tuple[str, ...]


@dataclass(frozen=True)
class Align(_Unary):
    """Reorder ``operand``'s axes to follow ``dims`` and insert size-1 axes for dims it lacks."""

    operand: Expr
    dims: tuple[str, ...]

    @property
    def pattern(self) -> tuple[int | str, ...]:
        """A pytensor-style dimshuffle pattern: source axis index, or 'x' for a new axis."""
        src = self.operand.dims
        return tuple(src.index(d) if d in src else "x" for d in self.dims)


@dataclass(frozen=True)
class Segment(_Unary):
    """An aggregate over the training rows of each level of a data dim (``segment_mean``).

    ``operand`` is a row expression (its dims start with ``OBS``) evaluated on ``rows``, the
    training rows, whatever rows the enclosing expression is evaluated on: a user's offset in
    constrained PMF is the mean over the items that user rated in training, also when
    predicting test rows.  Rows are summed per level and multiplied by ``weights`` (one per
    level: 1 for a sum, 1/count for a mean, 0 for a level with no rows), which are data
    constants.  The result has dims ``(dim, *operand dims other than OBS)``.
    """

    operand: Expr
    dim: str
    rows: RowData = field(compare=False)
    weights: np.ndarray = field(compare=False)
    dims: tuple[str, ...]


ELEMENTWISE = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "neg": 1,
    "exp": 1, "log": 1, "sigmoid": 1, "softplus": 1, "sqrt": 1, "abs": 1, "log1p": 1,
}  # fmt: skip


@dataclass(frozen=True)
class Dim:
    name: str
    size: int
    coords: np.ndarray = field(compare=False)
    column: str | None = None  # the data column whose codes index it (None: a fixed-size dim)


@dataclass(frozen=True)
class RandomVariable:
    """One sample statement: ``name ~ distribution(args)`` over ``dims``.

    Argument expressions are aligned to ``dims`` (plus trailing event dims) or are scalars, so
    a backend can hand them to its distribution constructor as they are.
    """

    name: str
    distribution: str
    args: dict[str, Expr]
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    observed: bool = False
    constraint: str | None = None  # a support narrower than the distribution's (``ordered``)

    @property
    def dist(self) -> Distribution:
        return DISTRIBUTIONS[self.distribution]

    @property
    def support_kind(self) -> str:
        return self.constraint or self.dist.support.kind

    @property
    def transform(self) -> str:
        """How this latent maps to the unconstrained space (the same on every backend)."""
        return TRANSFORMS[self.support_kind]

    @property
    def event_dims(self) -> int:
        """Trailing dims that form one value (an MvNormal row, a matrix, an ordered vector)."""
        return max(self.dist.event_dims, 1 if self.constraint == "ordered" else 0)

    @property
    def unconstrained_shape(self) -> tuple[int, ...]:
        return unconstrained_shape(self.transform, self.shape)


@dataclass(frozen=True)
class RowData:
    """The observation rows a model is evaluated on: training rows to fit, test rows to predict."""

    y: np.ndarray
    index: dict[str, np.ndarray]  # data dim name -> int64 code per row
    columns: dict[str, np.ndarray]  # numeric column name -> float64 value per row

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, rows: np.ndarray | slice) -> RowData:
        """The rows at ``rows`` (a minibatch; a slice gives views, for chunks of a big set)."""
        return RowData(
            self.y[rows],
            {k: v[rows] for k, v in self.index.items()},
            {k: v[rows] for k, v in self.columns.items()},
        )


@dataclass(frozen=True)
class Mixture:
    """The likelihood is a finite mixture over the fixed-size dim ``dim``, its choice summed out.

    The likelihood's arguments are aligned to ``(OBS, dim)``: component k's distribution of each
    row.  ``log_weights`` (normalised over ``dim``; dims ``(dim,)`` or ``(per, dim)``) are the
    log prior probabilities of the components.  Without ``per`` each row picks a component:
    ``log p(y) = sum_rows logsumexp_k (log w_k + log p_k(y_row))``.  With ``per`` every row of
    a level of that data dim shares one component (a user's type):
    ``log p(y) = sum_levels logsumexp_k (log w_k + sum_{rows of the level} log p_k(y_row))``.

    ``rows`` are the training rows: a level's posterior component probabilities
    (responsibilities) come from them, also when predicting its test rows, as for ``Segment``.
    """

    dim: str
    log_weights: Expr
    per: str | None
    rows: RowData = field(compare=False)


#: Suffix of the derived variable holding each level's component probabilities per draw
RESPONSIBILITY = "responsibility"


@dataclass(frozen=True)
class Derived:
    """A value computed from the latents, not sampled: a non-centred parameter ``mu + sigma * z``.

    Every expression that uses it has it substituted at lowering, so backends never see it;
    the core evaluates it on each posterior draw so it appears in InferenceData by its name.
    """

    name: str
    expr: Expr
    dims: tuple[str, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Model:
    """A lowered spec: dims, latent variables in topological order, the likelihood and its rows."""

    name: str
    dims: dict[str, Dim]
    latents: tuple[RandomVariable, ...]
    likelihood: RandomVariable
    data: RowData
    response: str
    value_range: tuple[float, float] | None = None
    #: Minibatch vi: each evaluation of the likelihood sees ``batch_size`` rows drawn uniformly
    #: (with replacement) from ``data``, and its log density is multiplied by
    #: ``likelihood_scale`` so that the estimate is unbiased for the full-data value.  None: the
    #: likelihood is evaluated on every row, unscaled.
    batch_size: int | None = None

    @property
    def likelihood_scale(self) -> float:
        """Rows the likelihood stands for per row it evaluates: ``len(data) / batch_size``.

        Declared here once; backends only map it (NumPyro ``handlers.scale``, Pyro
        ``poutine.scale``, PyMC ``total_size``) and the numpy reference applies it.
        """
        return 1.0 if self.batch_size is None else len(self.data) / self.batch_size

    def subsampled(self, batch_size: int | None) -> Model:
        """The same model with its likelihood estimated on minibatches of ``batch_size`` rows."""
        if batch_size == self.batch_size:  # the same model (what was found of it still holds)
            return self
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if batch_size is not None and self.mixture is not None and self.mixture.per is not None:
            raise ValueError(
                f"minibatches cannot split a mixture per {self.mixture.per!r}: each level's rows "
                "share one component and must be in the same likelihood term"
            )
        return replace(self, batch_size=batch_size)

    #: the likelihood models (response - shift) / scale; predictions are mapped back
    response_shift: float = 0.0
    response_scale: float = 1.0

    def to_model_scale(self, y: np.ndarray) -> np.ndarray:
        """Observed values -> what the likelihood sees."""
        return (np.asarray(y, dtype=float) - self.response_shift) / self.response_scale

    def to_data_scale(self, x: np.ndarray) -> np.ndarray:
        """Likelihood values (means, draws) -> the observed column's scale.

        Unscaled responses come back as they are (no copy): the evaluator maps every draw of
        every row through here, and two passes over a draws x rows array were a tenth of it."""
        if self.response_shift == 0.0 and self.response_scale == 1.0:
            return np.asarray(x, dtype=float)
        return self.response_shift + self.response_scale * np.asarray(x, dtype=float)

    derived: tuple[Derived, ...] = ()
    mixture: Mixture | None = None

    @property
    def responsibility_name(self) -> str | None:
        """``<dim>_responsibility``: each level's posterior component probabilities, or None."""
        m = self.mixture
        return f"{m.dim}_{RESPONSIBILITY}" if m is not None and m.per is not None else None

    def hyperparameters(self) -> list[str]:
        """The latents indexed by no data dim: global means and scales, prior means, Wishart
        factors.  Few elements, shared by every user and item, so (up to the model's own
        symmetries) each is worth showing, comparing across backends and calibrating one by one;
        the evaluator's per-variable diagnostics and SBC's default checks start from this list
        (cross-backend agreement compares every small latent, ``agreement.compared_params``)."""
        return [rv.name for rv in self.latents if not any(self.dims[d].column for d in rv.dims)]

    def latent(self, name: str) -> RandomVariable:
        for rv in self.latents:
            if rv.name == name:
                return rv
        raise KeyError(name)

    def with_data(self, data: RowData) -> Model:
        """The same model on other rows (the test set); evaluated on all of them, unscaled."""
        return replace(self, data=data, batch_size=None)

    def coords(self) -> dict[str, np.ndarray]:
        return {name: d.coords for name, d in self.dims.items()}

    def n_params(self) -> int:
        return int(sum(np.prod(rv.unconstrained_shape, dtype=int) for rv in self.latents))
