"""What Pyro lacks for the core's Wishart prior on a Cholesky factor.

torch's ``Wishart`` is over the matrix itself, and ``biject_to(lower_cholesky)`` maps a full
d x d matrix (its upper triangle ignored), so neither gives the core's unconstrained space of
d(d+1)/2 numbers.  Here are the core's ``lower_cholesky`` map (NumPyro's LowerCholeskyTransform,
element for element) under its own constraint, and the density of ``specrec.model.multivariate``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pyro.distributions as dist
import torch
from torch.distributions import biject_to, constraints
from torch.distributions.transforms import Transform


class _LowerCholeskyFactor(constraints._LowerCholesky):
    """``lower_cholesky`` under a type of its own, so ``biject_to`` picks the core's map."""


lower_cholesky_factor = _LowerCholeskyFactor()


class LowerCholeskyTransform(Transform):
    """d(d+1)/2 reals -> a d x d lower-triangular matrix: the strictly lower elements (row-major),
    then exp of the diagonal."""

    domain = constraints.real_vector
    codomain = lower_cholesky_factor
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LowerCholeskyTransform)

    @staticmethod
    def _size(n: int) -> int:
        return round((math.sqrt(1 + 8 * n) - 1) / 2)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        d = self._size(x.shape[-1])
        rows, cols = np.tril_indices(d, -1)
        y = x.new_zeros((*x.shape[:-1], d, d))
        y[..., rows, cols] = x[..., : len(rows)]
        return y + torch.diag_embed(torch.exp(x[..., len(rows) :]))

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        rows, cols = np.tril_indices(y.shape[-1], -1)
        diag = torch.diagonal(y, dim1=-2, dim2=-1)
        return torch.cat([y[..., rows, cols], torch.log(diag)], -1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        d = y.shape[-1]
        return x[..., x.shape[-1] - d :].sum(-1)

    def forward_shape(self, shape: Any) -> Any:
        d = self._size(shape[-1])
        return torch.Size((*shape[:-1], d, d))

    def inverse_shape(self, shape: Any) -> Any:
        d = shape[-1]
        return torch.Size((*shape[:-2], d * (d + 1) // 2))


biject_to.register(_LowerCholeskyFactor)(lambda constraint: LowerCholeskyTransform())


class WishartCholesky(dist.TorchDistribution):
    """L with L L^T ~ Wishart(nu, I), d x d (the core's ``WishartCholesky``)."""

    arg_constraints: ClassVar[dict[str, Any]] = {}
    support = lower_cholesky_factor

    def __init__(self, nu: torch.Tensor, d: int):
        self.nu = torch.as_tensor(nu)
        super().__init__(self.nu.shape, torch.Size((d, d)), validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        d = value.shape[-1]
        i = torch.arange(1, d + 1, dtype=value.dtype)
        diag = torch.diagonal(value, dim1=-2, dim2=-1)
        nu = self.nu
        multigammaln = torch.special.multigammaln(torch.clamp(nu, min=d) / 2, d)
        logp = (
            ((nu[..., None] - i) * torch.log(diag)).sum(-1)
            - 0.5 * torch.tril(value).pow(2).sum((-2, -1))
            - (nu / 2 - 1) * d * math.log(2.0)
            - multigammaln
        )
        return torch.where(nu > d - 1, logp, torch.full_like(logp, -math.inf))

    def sample(self, sample_shape: Any = ()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        d = self.event_shape[-1]
        with torch.no_grad():
            out = torch.randn((*shape, d, d), dtype=self.nu.dtype).tril(-1)
            df = self.nu[..., None] - torch.arange(d, dtype=self.nu.dtype)
            chi2 = dist.Chi2(df.expand((*shape, d))).sample()
            return out + torch.diag_embed(chi2.sqrt())


def mvnormal_precision(mu: torch.Tensor, precision_chol: torch.Tensor) -> dist.MultivariateNormal:
    """Multivariate normal with precision ``precision_chol precision_chol^T``."""
    return dist.MultivariateNormal(mu, precision_matrix=precision_chol @ precision_chol.mT)
