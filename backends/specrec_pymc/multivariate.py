"""What PyMC lacks for the core's vector- and matrix-valued latents: LKJ on a correlation
Cholesky factor, a Wishart on a Cholesky factor, and the stick-breaking map of a simplex.

PyMC has ``LKJCholeskyCov`` (a covariance with its own scales) but no prior on a correlation
factor alone, and no transform for one; its ``Wishart`` is over the matrix itself, with no
unconstrained map NUTS could use.  Both priors and their transforms are written here in pytensor,
following the
core's numpy reference (``specrec.model.multivariate``, NumPyro's definitions) term by term, so
the unconstrained space and the density agree with the other backends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform


class CorrCholeskyTransform(Transform):
    """d(d-1)/2 reals -> a d x d correlation Cholesky factor: tanh, then signed stick-breaking."""

    name = "corr_cholesky"

    def __init__(self, d: int):
        self.d = d
        self.rows, self.cols = np.tril_indices(d, -1)
        self.rows2, self.cols2 = np.tril_indices(d, -2)

    def backward(self, value: Any, *inputs: Any) -> Any:
        t = pt.tanh(value)
        r = pt.zeros((*value.shape[:-1], self.d, self.d))
        r = pt.set_subtensor(r[..., self.rows, self.cols], t)
        cum = pt.cumprod(pt.sqrt(1 - r**2), axis=-1)
        shifted = pt.concatenate([pt.ones_like(cum[..., :1]), cum[..., :-1]], axis=-1)
        return (r + pt.eye(self.d)) * shifted

    def forward(self, value: Any, *inputs: Any) -> Any:
        z1m = 1 - pt.cumsum(value**2, axis=-1)
        shifted = pt.concatenate([pt.ones_like(z1m[..., :1]), z1m[..., :-1]], axis=-1)
        t = value[..., self.rows, self.cols] / pt.sqrt(shifted[..., self.rows, self.cols])
        return pt.arctanh(t)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        y = self.backward(value)
        z1m = 1 - pt.cumsum(y**2, axis=-1)
        stick = 0.5 * pt.sum(pt.log(z1m[..., self.rows2, self.cols2]), axis=-1)
        tanh = -2 * pt.sum(value + pt.softplus(-2 * value) - np.log(2.0), axis=-1)
        return stick + tanh


def _lkj_cholesky_logp(value: Any, eta: Any, _size: Any) -> Any:
    d = int(value.type.shape[-1])  # static: the spec's dim size
    i = np.arange(1, d)
    order = 2 * pt.shape_padright(eta) - ((3 - d) + i)
    unnorm = pt.sum(order * pt.log(value[..., i, i]), axis=-1)
    dm1 = d - 1
    alpha = eta + 0.5 * dm1
    multigammaln = dm1 * (dm1 - 1) / 4 * np.log(np.pi) + sum(
        pt.gammaln(alpha - 0.5 + (1 - j) / 2) for j in range(1, dm1 + 1)
    )
    norm = 0.5 * dm1 * np.log(np.pi) + multigammaln - pt.gammaln(alpha) * dm1
    return unnorm - norm


def _cholesky_factor(
    name: str, param: Any, logp: Any, transform: Transform, shape: tuple[int, ...], kw: dict
) -> Any:
    """A ``CustomDist`` over d x d Cholesky factors with one scalar parameter.

    PyMC infers a multivariate support's shape from the parameters' signature: a length-d vector
    of zeros carries the matrix size (the scalar parameter alone cannot). The caller's
    ``default_transform`` is replaced by the core's map sized for this variable.
    """
    kw.pop("default_transform", None)
    return pm.CustomDist(
        name,
        param,
        np.zeros(shape[-1]),
        logp=logp,
        signature="(),(n)->(n,n)",
        shape=shape,
        default_transform=transform,
        **kw,
    )


def lkj_cholesky(name: str, eta: Any, *, shape: tuple[int, ...], **kw: Any) -> Any:
    """LKJ prior on a correlation Cholesky factor over the last two dims of ``shape``."""
    transform = CorrCholeskyTransform(shape[-1])
    return _cholesky_factor(name, eta, _lkj_cholesky_logp, transform, shape, kw)


class StickBreakingTransform(Transform):
    """K-1 reals -> K weights summing to 1, the core's map (NumPyro's; PyMC's own ``simplex``
    transform is a different map, so the same unconstrained point would mean other weights)."""

    name = "stick_breaking"

    @staticmethod
    def _shifted(value: Any) -> Any:
        k = value.shape[-1]
        return value - pt.log(k - pt.arange(k))

    def backward(self, value: Any, *inputs: Any) -> Any:
        frac = pt.sigmoid(self._shifted(value))
        remaining = pt.cumprod(1 - frac, axis=-1)
        ones = pt.ones_like(frac[..., :1])
        return pt.concatenate([frac, ones], axis=-1) * pt.concatenate([ones, remaining], axis=-1)

    def forward(self, value: Any, *inputs: Any) -> Any:
        head = value[..., :-1]
        remaining = pt.maximum(1 - pt.cumsum(head, axis=-1), np.finfo(float).tiny)
        k = head.shape[-1]
        return pt.log(head / remaining) + pt.log(k - pt.arange(k))

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        x = self._shifted(value)
        y = self.backward(value)
        return pt.sum(pt.log(y[..., :-1]) + pt.log(pt.sigmoid(x)) - x, axis=-1)


class LowerCholeskyTransform(Transform):
    """d(d+1)/2 reals -> a d x d lower-triangular matrix: the strictly lower elements (row-major),
    then exp of the diagonal (NumPyro's LowerCholeskyTransform)."""

    name = "lower_cholesky"

    def __init__(self, d: int):
        self.d = d
        self.rows, self.cols = np.tril_indices(d, -1)
        self.n_off = len(self.rows)

    def backward(self, value: Any, *inputs: Any) -> Any:
        y = pt.zeros((*value.shape[:-1], self.d, self.d))
        y = pt.set_subtensor(y[..., self.rows, self.cols], value[..., : self.n_off])
        i = np.arange(self.d)
        return pt.set_subtensor(y[..., i, i], pt.exp(value[..., self.n_off :]))

    def forward(self, value: Any, *inputs: Any) -> Any:
        diag = pt.log(pt.diagonal(value, axis1=-2, axis2=-1))
        return pt.concatenate([value[..., self.rows, self.cols], diag], axis=-1)

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        return pt.sum(value[..., self.n_off :], axis=-1)


def _wishart_cholesky_logp(value: Any, nu: Any, _size: Any) -> Any:
    d = int(value.type.shape[-1])  # static: the spec's dim size
    i = np.arange(1, d + 1)
    diag = pt.diagonal(value, axis1=-2, axis2=-1)
    multigammaln = d * (d - 1) / 4 * np.log(np.pi) + sum(
        pt.gammaln(nu / 2 + (1 - j) / 2) for j in range(1, d + 1)
    )
    logp = (
        pt.sum((pt.shape_padright(nu) - i) * pt.log(diag), axis=-1)
        - 0.5 * pt.sum(pt.tril(value) ** 2, axis=(-2, -1))
        - (nu / 2 - 1) * d * np.log(2.0)
        - multigammaln
    )
    return pt.switch(pt.gt(nu, d - 1), logp, -np.inf)


def wishart_cholesky(name: str, nu: Any, *, shape: tuple[int, ...], **kw: Any) -> Any:
    """Cholesky factor of a Wishart(nu, I) matrix over the last two dims of ``shape``."""
    transform = LowerCholeskyTransform(shape[-1])
    return _cholesky_factor(name, nu, _wishart_cholesky_logp, transform, shape, kw)


def _mvnormal_precision_logp(value: Any, mu: Any, precision_chol: Any) -> Any:
    diff = value - mu
    z = pt.sum(precision_chol * pt.shape_padright(diff), axis=-2)  # precision_chol^T diff
    logdet = pt.sum(pt.log(pt.diagonal(precision_chol, axis1=-2, axis2=-1)), axis=-1)
    k = int(value.type.shape[-1])
    return -0.5 * pt.sum(z**2, axis=-1) + logdet - 0.5 * k * np.log(2 * np.pi)


def mvnormal_precision(name: str, mu: Any, precision_chol: Any, **kw: Any) -> Any:
    """Multivariate normal with precision ``precision_chol precision_chol^T``.

    ``pm.MvNormal(tau=...)`` inverts the precision with an unbatched op, which fails on the
    core's aligned (1, d, d) factors; the density is written out instead, as in the reference.
    """
    return pm.CustomDist(
        name, mu, precision_chol, logp=_mvnormal_precision_logp, signature="(n),(n,n)->(n)", **kw
    )
