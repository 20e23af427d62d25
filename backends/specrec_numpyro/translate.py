"""specrec Model -> a NumPyro model function.  Names map; semantics come from the core's walk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from specrec.model.ir import Model, RandomVariable
from specrec.model.walk import walk_model


class JaxOps:
    def const(self, value: np.ndarray) -> jnp.ndarray:
        return jnp.asarray(value)

    def gather(self, x: jnp.ndarray, index: jnp.ndarray, axis: int) -> jnp.ndarray:
        return jnp.take(x, index, axis=axis)

    def sum(self, x: jnp.ndarray, axis: int) -> jnp.ndarray:
        return jnp.sum(x, axis=axis)

    def dimshuffle(self, x: jnp.ndarray, pattern: tuple[int | str, ...]) -> jnp.ndarray:
        perm = [p for p in pattern if p != "x"]
        y = jnp.transpose(x, perm) if jnp.ndim(x) else x
        it = iter(y.shape)
        return jnp.reshape(y, [1 if p == "x" else next(it) for p in pattern])

    exp = staticmethod(jnp.exp)
    log = staticmethod(jnp.log)
    log1p = staticmethod(jnp.log1p)
    sqrt = staticmethod(jnp.sqrt)
    abs = staticmethod(jnp.abs)
    sigmoid = staticmethod(jax.nn.sigmoid)
    softplus = staticmethod(jax.nn.softplus)

    def segment_sum(self, x: jnp.ndarray, segment_ids: jnp.ndarray, num_segments: int) -> Any:
        return jax.ops.segment_sum(x, segment_ids, num_segments=num_segments)


OPS = JaxOps()

#: specrec distribution name -> NumPyro constructor taking specrec's argument names.
DISTRIBUTIONS: dict[str, Callable[..., dist.Distribution]] = {
    "Normal": lambda mu, sigma: dist.Normal(mu, sigma),
    "HalfNormal": lambda sigma: dist.HalfNormal(sigma),
    "HalfCauchy": lambda beta: dist.HalfCauchy(beta),
    "Exponential": lambda lam: dist.Exponential(lam),
    "Gamma": lambda alpha, beta: dist.Gamma(alpha, beta),
    "InverseGamma": lambda alpha, beta: dist.InverseGamma(alpha, beta),
    "LogNormal": lambda mu, sigma: dist.LogNormal(mu, sigma),
    "StudentT": lambda nu, mu, sigma: dist.StudentT(nu, mu, sigma),
    "Beta": lambda alpha, beta: dist.Beta(alpha, beta),
    "Uniform": lambda lower, upper: dist.Uniform(lower, upper),
    "Poisson": lambda mu: dist.Poisson(mu),
    "NegativeBinomial": lambda mu, alpha: dist.NegativeBinomial2(mu, alpha),
    "Bernoulli": lambda p: dist.Bernoulli(probs=p),
    "Categorical": lambda p: dist.Categorical(probs=p / jnp.sum(p, -1, keepdims=True)),
    # --- aggregates, count/positive likelihoods, covariates (issue 5) ---
    # specrec's psi is the probability of the base component; NumPyro's gate is its complement.
    "ZeroInflatedPoisson": lambda psi, mu: dist.ZeroInflatedPoisson(gate=1 - psi, rate=mu),
    "ZeroInflatedNegativeBinomial": lambda psi, mu, alpha: dist.ZeroInflatedNegativeBinomial2(
        mu, alpha, gate=1 - psi
    ),
    "HurdleLogNormal": lambda psi, mu, sigma: Hurdle(psi, dist.LogNormal(mu, sigma)),
    "HurdleGamma": lambda psi, alpha, beta: Hurdle(psi, dist.Gamma(alpha, beta)),
}


class Hurdle(dist.Distribution):
    """0 with probability 1 - psi, else a draw from a positive ``base`` (NumPyro has none)."""

    support = dist.constraints.nonnegative

    def __init__(self, psi: Any, base: dist.Distribution):
        self.psi, self.base = psi, base
        shape = jnp.broadcast_shapes(jnp.shape(psi), base.batch_shape)
        super().__init__(batch_shape=shape)

    def log_prob(self, value: Any) -> Any:
        safe = jnp.where(value > 0, value, 1.0)
        positive = jnp.log(self.psi) + self.base.log_prob(safe)
        return jnp.where(value == 0, jnp.log1p(-self.psi), positive)

    def sample(self, key: Any, sample_shape: tuple[int, ...] = ()) -> Any:
        k_gate, k_base = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        draw = jnp.broadcast_to(self.base.sample(k_base, sample_shape), shape)
        return jnp.where(jax.random.uniform(k_gate, shape) < self.psi, draw, 0.0)


def model_fn(model: Model, dtype: Any = jnp.float32) -> Callable[[], None]:
    """A NumPyro model function with the training rows baked in as device arrays."""
    rows = model.data
    row_arrays = {f"index:{k}": jnp.asarray(v) for k, v in rows.index.items()}
    row_arrays |= {f"column:{k}": jnp.asarray(v, dtype=dtype) for k, v in rows.columns.items()}
    # Categorical indexes its probabilities with the observations: they must be integers
    categorical = model.likelihood.dist.support.kind == "categorical"
    y = jnp.asarray(rows.y, dtype=jnp.int32 if categorical else dtype)

    def sample(rv: RandomVariable, args: dict[str, Any]) -> Any:
        d = DISTRIBUTIONS[rv.distribution](**args)
        if rv.shape:
            d = d.expand(rv.shape).to_event(len(rv.shape))
        return numpyro.sample(rv.name, d)

    def observe(rv: RandomVariable, args: dict[str, Any]) -> Any:
        with numpyro.plate("obs", y.shape[0]):
            return numpyro.sample(rv.name, DISTRIBUTIONS[rv.distribution](**args), obs=y)

    def fn() -> None:
        walk_model(model, OPS, sample, observe, row_arrays=row_arrays)

    return fn
