"""Reading a child's argument as a function of one site, on any array library.

A site ``p`` of shape ``S`` is viewed as ``(G, D)``: ``G`` levels of its block dim (the data
dim whose levels are conditionally independent, users) and ``D`` coupled elements each (the
factors), or one block of all its elements.  A child (a latent or the likelihood) is viewed as
``J`` elements of ``E`` values each: rows for the likelihood, rows of its event dim for an
MvNormal, scalars otherwise.  The probes evaluate the child's argument with the core's walk at
``p = 0`` and ``p = e_k`` (``k < D``, every level at once), so ``D + 1`` evaluations give the
whole Jacobian of an affine map; the same code runs on numpy (the reference and the analysis)
and on jax.numpy (the NumPyro kernel), through ``Arrays``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from specrec.conjugacy import linalg
from specrec.model.ir import Model, RandomVariable
from specrec.model.walk import NUMPY_OPS, ArrayOps, evaluate


@dataclass
class Arrays:
    """An array namespace (``xp``), the walk's ops over it, and the training rows on it."""

    xp: Any
    ops: ArrayOps
    row_arrays: Mapping[str, Any] | None = None
    response: Any = None  # the likelihood's observations on the model scale
    loop: linalg.Loop = linalg.python_loop  # the D-step loops of ``linalg`` (JAX: fori_loop)
    #: the backend's batched LAPACK Cholesky where it is safe to call (None: ``linalg``'s)
    lapack_cholesky: Callable[[Any], Any] | None = None

    def cholesky(self, a: Any) -> Any:
        """Lower factors of the ``(..., d, d)`` matrices ``a``; NaN entries where one is not
        positive definite, as ``linalg.cholesky`` gives (a LAPACK that raises is not given)."""
        if self.lapack_cholesky is not None:
            return self.lapack_cholesky(a)
        return linalg.cholesky(self.xp, a, self.loop)

    def y(self, model: Model) -> Any:
        if self.response is not None:
            return self.response
        return self.xp.asarray(model.to_model_scale(model.data.y))


NUMPY = Arrays(np, NUMPY_OPS)


def is_likelihood(model: Model, rv: RandomVariable) -> bool:
    return rv.name == model.likelihood.name


def batch_dims(rv: RandomVariable) -> tuple[str, ...]:
    return rv.dims[: len(rv.dims) - rv.event_dims]


def choose_block(model: Model, rv: RandomVariable, kids: list[RandomVariable]) -> str | None:
    """The site's first dim when it is a data dim every child is indexed by, else None."""
    if not rv.dims or model.dims[rv.dims[0]].column is None:
        return None
    dim = rv.dims[0]
    for child in kids:
        if not is_likelihood(model, child) and dim not in batch_dims(child):
            return None
    return dim


def site_layout(model: Model, rv: RandomVariable, block: str | None) -> tuple[int, int]:
    """``(G, D)``: blocks and coupled elements per block."""
    size = int(np.prod(rv.shape, dtype=int))
    if block is None:
        return 1, size
    return rv.shape[0], size // rv.shape[0]


def child_shape(model: Model, child: RandomVariable) -> tuple[int, int]:
    """``(J, E)``: a child's elements and values per element."""
    if is_likelihood(model, child):
        return len(model.data), 1
    e = int(np.prod(child.shape[len(child.shape) - child.event_dims :], dtype=int))
    return int(np.prod(child.shape, dtype=int)) // e, e


def child_blocks(
    model: Model, rv: RandomVariable, child: RandomVariable, block: str | None
) -> np.ndarray | None:
    """The block (level of ``block``) each child element reads, or None for one block."""
    if block is None:
        return None
    if is_likelihood(model, child):
        return np.asarray(model.data.index[block], dtype=np.int64)
    dims = batch_dims(child)
    shape = child.shape[: len(dims)]
    return np.indices(shape)[dims.index(block)].reshape(-1).astype(np.int64)


def child_arg(
    arrays: Arrays, model: Model, child: RandomVariable, arg: str, values: Mapping[str, Any]
) -> Any:
    """The child's argument at ``values``, broadcast and flattened to ``(J, E, ...)``."""
    lik = is_likelihood(model, child)
    rows = model.data if lik else None
    row_arrays = arrays.row_arrays if lik else None
    x = evaluate(child.args[arg], values, rows, arrays.ops, row_arrays)
    j, e = child_shape(model, child)
    a = next(a for a in child.dist.args if a.name == arg)
    xp = arrays.xp
    if child.event_dims == 0:
        full = (len(model.data),) if lik else child.shape
        return xp.reshape(xp.broadcast_to(x, full), (j, 1))
    batch = child.shape[: len(child.shape) - child.event_dims]
    tail = child.shape[len(child.shape) - a.event_dims :] if a.event_dims else ()
    if a.event_dims == 2:
        tail = (e, e)
    return xp.reshape(xp.broadcast_to(x, (*batch, *tail)), (j, *tail) if tail else (j,))


def child_value(arrays: Arrays, model: Model, child: RandomVariable, values: Mapping) -> Any:
    """What the child's density is evaluated at, ``(J, E)``: observations or the latent."""
    j, e = child_shape(model, child)
    x = arrays.y(model) if is_likelihood(model, child) else values[child.name]
    return arrays.xp.reshape(x, (j, e))


def unit(xp: Any, rv: RandomVariable, g: int, d: int, k: int, base: float = 0.0) -> Any:
    """The site at ``base`` everywhere plus 1 in coupled element ``k`` of every block."""
    row = xp.eye(d)[k] + base
    return xp.reshape(xp.broadcast_to(row, (g, d)), rv.shape)


def mean_design(
    arrays: Arrays,
    model: Model,
    rv: RandomVariable,
    child: RandomVariable,
    arg: str,
    values: Mapping[str, Any],
    g: int,
    d: int,
) -> tuple[Any, Any]:
    """``(b, X)`` with ``arg(p) = b + X p[block]``: ``b`` is ``(J, E)``, ``X`` is ``(J, E, D)``."""
    xp = arrays.xp
    b = child_arg(arrays, model, child, arg, {**values, rv.name: xp.zeros(rv.shape)})
    cols = [
        child_arg(arrays, model, child, arg, {**values, rv.name: unit(xp, rv, g, d, k)}) - b
        for k in range(d)
    ]
    return b, xp.stack(cols, axis=-1)


def take_blocks(xp: Any, p: Any, blocks: Any) -> Any:
    """``p`` as ``(G, D)`` picked for each child element: ``(J, D)`` (or ``(1, D)``)."""
    return p if blocks is None else p[blocks]


def is_block_affine(
    arrays: Arrays,
    model: Model,
    rv: RandomVariable,
    child: RandomVariable,
    arg: str,
    values: Mapping[str, Any],
    blocks: np.ndarray | None,
    g: int,
    d: int,
) -> bool:
    """Whether the probes predict the argument at a random site value (an affine map)."""
    b, x = mean_design(arrays, model, rv, child, arg, values, g, d)
    p = np.random.default_rng(7).normal(0, 1.5, (g, d))
    want = child_arg(arrays, model, child, arg, {**values, rv.name: p.reshape(rv.shape)})
    got = b + np.einsum("jed,jd->je", x, take_blocks(np, p, blocks))
    return bool(np.allclose(got, want, rtol=1e-6, atol=1e-8 * (1 + np.abs(want).max())))


def scalar_map(
    model: Model,
    rv: RandomVariable,
    child: RandomVariable,
    arg: str,
    power: float,
    values: Mapping[str, Any],
    blocks: np.ndarray | None,
    g: int,
    d: int,
) -> np.ndarray | None:
    """Which coupled element each child element reads, when ``arg**power = k * p[that]``;
    None when the argument is not of that form (numpy only: decided before sampling)."""

    def t(p: np.ndarray) -> np.ndarray:
        a = child_arg(NUMPY, model, child, arg, {**values, rv.name: p})
        with np.errstate(all="ignore"):
            return np.asarray(a, float).reshape(-1) ** power

    ones = np.ones(rv.shape)
    base = t(ones)
    which = np.full(base.shape, -1)
    for k in range(d):
        moved = ~np.isclose(t(unit(np, rv, g, d, k, base=1.0)), base, rtol=1e-9)
        if np.any(which[moved] >= 0):
            return None
        which[moved] = k
    if np.any(which < 0) or not np.all(np.isfinite(base)):
        return None
    p = np.random.default_rng(7).uniform(0.5, 2.0, (g, d))
    got = (
        base * take_blocks(np, p, blocks)[np.arange(len(base)) if blocks is not None else 0, which]
    )
    return which if np.allclose(t(p.reshape(rv.shape)), got, rtol=1e-6) else None


def scalar_is_identity(
    model: Model, rv: RandomVariable, child: RandomVariable, arg: str, values: Mapping[str, Any]
) -> bool:
    """Whether the child's argument is the site's element itself (``k = 1``: Beta-Bernoulli)."""
    a = child_arg(NUMPY, model, child, arg, {**values, rv.name: np.ones(rv.shape)})
    return bool(np.allclose(a, 1.0))


def is_linear_factor(
    model: Model, rv: RandomVariable, child: RandomVariable, values: Mapping[str, Any]
) -> bool:
    """Whether the child's precision factor is ``A @ L`` with ``A`` free of the site ``L``."""
    d = rv.shape[-1]
    a = child_arg(NUMPY, model, child, "precision_chol", {**values, rv.name: np.eye(d)})
    rng = np.random.default_rng(7)
    lower = np.tril(rng.normal(size=(d, d)), -1) + np.diag(rng.uniform(0.5, 2.0, d))
    want = child_arg(NUMPY, model, child, "precision_chol", {**values, rv.name: lower})
    return bool(np.allclose(a @ lower, want, rtol=1e-6, atol=1e-9))
