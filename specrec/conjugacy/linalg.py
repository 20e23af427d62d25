"""Batched Cholesky factors and triangular solves of small matrices, in plain array operations.

The conditionals factorise one ``D x D`` precision per block (a user, an item) with ``D`` the
number of factors, so the matrices are many and tiny.  These routines unroll the ``D`` column
steps into whole-batch array operations on any array namespace ``xp`` (numpy, jax.numpy)
instead of calling LAPACK, for two reasons measured on jaxlib 0.10.2 with 2 cores:

* jaxlib's batched LAPACK kernels split their batch over XLA's intra-op thread pool and
  block until it is done; two of them scheduled at once (the Cholesky and the LU of
  ``solve`` on the same precision) each hold one of the pool's two threads and wait for the
  other's tasks forever, so a Gibbs run on MovieLens 100k hung in its first sweep;
* a ``D``-step loop of ``(G, D)`` vector operations is as fast as ``G`` LAPACK calls on
  ``10 x 10`` matrices and fuses with the code around it.

At ``D = 50`` LAPACK's factorisation is several times faster than the column loop, so the JAX
kernel passes one whose calls are chained one after the other (``Arrays.lapack_cholesky``,
``specrec_numpyro.gibbs.serial_cholesky``), which the hang above cannot reach.

Each step has the same shapes (the factor found so far is the full matrix with its later
columns still zero, and a step adds its column through a mask), so the ``D`` steps can be
one compiled loop body: ``loop`` is a Python loop for numpy and ``lax.fori_loop`` in the
JAX kernel, where unrolling them made the sweep of BPMF (D = 10) several times slower to
compile.

A matrix that is not positive definite gives NaN entries (the square root of a negative
pivot), which the samplers report as non-finite draws, instead of raising mid-trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: ``loop(n, step, init)``: ``init`` passed through ``step(i, value)`` for i = 0 .. n-1.
Loop = Callable[[int, Callable[[Any, T], T], T], T]


def python_loop(n: int, step: Callable[[int, T], T], init: T) -> T:
    value = init
    for i in range(n):
        value = step(i, value)
    return value


def cholesky(xp: Any, a: Any, loop: Loop = python_loop) -> Any:
    """Lower factor ``L`` with ``L L^T = a`` for ``a`` of shape ``(..., d, d)``."""
    d = a.shape[-1]
    idx = xp.arange(d)

    def column(j: Any, low: Any) -> Any:
        # low's columns j.. are still zero, so the sum runs over the columns found so far
        v = a[..., :, j] - xp.sum(low * low[..., j, None, :], axis=-1)
        col = xp.where(idx >= j, v / xp.sqrt(v[..., j, None]), 0.0)
        return low + xp.where(idx == j, col[..., :, None], 0.0)

    return loop(d, column, xp.zeros_like(a))


def solve_lower(xp: Any, lower: Any, b: Any, loop: Loop = python_loop) -> Any:
    """``X`` with ``lower @ X = b``; ``b`` is ``(..., d, k)``."""
    idx = xp.arange(lower.shape[-1])

    def row(i: Any, x: Any) -> Any:  # x's rows i.. are still zero
        r = b[..., i, :] - xp.sum(lower[..., i, :, None] * x, axis=-2)
        return x + xp.where((idx == i)[:, None], (r / lower[..., i, i, None])[..., None, :], 0.0)

    return loop(lower.shape[-1], row, xp.zeros_like(b))


def solve_upper_t(xp: Any, lower: Any, b: Any, loop: Loop = python_loop) -> Any:
    """``X`` with ``lower^T @ X = b``; ``b`` is ``(..., d, k)``."""
    d = lower.shape[-1]
    idx = xp.arange(d)

    def row(t: Any, x: Any) -> Any:  # rows d-1, d-2, ...; x's rows ..i are still zero
        i = d - 1 - t
        r = b[..., i, :] - xp.sum(lower[..., :, i, None] * x, axis=-2)
        return x + xp.where((idx == i)[:, None], (r / lower[..., i, i, None])[..., None, :], 0.0)

    return loop(d, row, xp.zeros_like(b))


def inverse_from_cholesky(xp: Any, lower: Any, loop: Loop = python_loop) -> Any:
    """``(L L^T)^-1 = L^-T L^-1`` from the factor ``L``."""
    d = lower.shape[-1]
    eye = xp.broadcast_to(xp.eye(d), lower.shape)
    inv_l = solve_lower(xp, lower, eye, loop)
    return xp.swapaxes(inv_l, -1, -2) @ inv_l


def spd_inverse(xp: Any, a: Any, loop: Loop = python_loop) -> Any:
    """The inverse of a symmetric positive definite ``a``, through its Cholesky factor."""
    return inverse_from_cholesky(xp, cholesky(xp, a, loop), loop)
