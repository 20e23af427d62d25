"""What PyMC lacks for the core's vector- and matrix-valued latents: LKJ on a correlation
Cholesky factor, and the stick-breaking map of a simplex.

PyMC has ``LKJCholeskyCov`` (a covariance with its own scales) but no prior on a correlation
factor alone, and no transform for one.  Both are written here in pytensor, following the
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


def lkj_cholesky(name: str, eta: Any, *, shape: tuple[int, ...], **kw: Any) -> Any:
    """LKJ prior on a correlation Cholesky factor over the last two dims of ``shape``."""
    kw.pop("default_transform", None)  # the core's corr_cholesky map, with the size it needs
    d = shape[-1]
    # PyMC infers a multivariate support's shape from the parameters' signature: a length-d
    # vector of zeros carries the matrix size (eta alone cannot)
    return pm.CustomDist(
        name,
        eta,
        np.zeros(d),
        logp=_lkj_cholesky_logp,
        signature="(),(n)->(n,n)",
        shape=shape,
        default_transform=CorrCholeskyTransform(d),
        **kw,
    )


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
