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

A matrix that is not positive definite gives NaN entries (the square root of a negative
pivot), which the samplers report as non-finite draws, instead of raising mid-trace.
"""

from __future__ import annotations

from typing import Any


def cholesky(xp: Any, a: Any) -> Any:
    """Lower factor ``L`` with ``L L^T = a`` for ``a`` of shape ``(..., d, d)``."""
    d = a.shape[-1]
    rows = xp.arange(d)
    cols: list[Any] = []
    for j in range(d):
        v = a[..., :, j]
        if cols:
            done = xp.stack(cols, axis=-1)  # (..., d, j): the columns found so far
            v = v - xp.sum(done * done[..., j : j + 1, :], axis=-1)
        cols.append(xp.where(rows >= j, v / xp.sqrt(v[..., j : j + 1]), 0.0))
    return xp.stack(cols, axis=-1)


def solve_lower(xp: Any, lower: Any, b: Any) -> Any:
    """``X`` with ``lower @ X = b``; ``b`` is ``(..., d, k)``."""
    d = lower.shape[-1]
    out: list[Any] = []
    for i in range(d):
        r = b[..., i, :]
        if out:
            r = r - xp.sum(lower[..., i, :i, None] * xp.stack(out, axis=-2), axis=-2)
        out.append(r / lower[..., i, i, None])
    return xp.stack(out, axis=-2)


def solve_upper_t(xp: Any, lower: Any, b: Any) -> Any:
    """``X`` with ``lower^T @ X = b``; ``b`` is ``(..., d, k)``."""
    d = lower.shape[-1]
    out: list[Any] = []  # rows d-1, d-2, ... as they are found
    for i in reversed(range(d)):
        r = b[..., i, :]
        if out:
            later = xp.stack(out[::-1], axis=-2)  # rows i+1 .. d-1
            r = r - xp.sum(lower[..., i + 1 :, i, None] * later, axis=-2)
        out.append(r / lower[..., i, i, None])
    return xp.stack(out[::-1], axis=-2)


def inverse_from_cholesky(xp: Any, lower: Any) -> Any:
    """``(L L^T)^-1 = L^-T L^-1`` from the factor ``L``."""
    d = lower.shape[-1]
    eye = xp.broadcast_to(xp.eye(d), lower.shape)
    inv_l = solve_lower(xp, lower, eye)
    return xp.swapaxes(inv_l, -1, -2) @ inv_l


def spd_inverse(xp: Any, a: Any) -> Any:
    """The inverse of a symmetric positive definite ``a``, through its Cholesky factor."""
    return inverse_from_cholesky(xp, cholesky(xp, a))
