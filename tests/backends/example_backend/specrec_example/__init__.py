"""A minimal third-party specrec backend: MAP with scipy on specrec's own numpy reference.

It implements the whole ``specrec.backends.Backend`` protocol in one small class, so it shows
what a new backend owes specrec:

* ``name`` (its entry-point name), ``methods`` (the methods of ``specrec.methods`` it runs
  natively), ``version``; every other method with a core kernel (map and vi: Adam and
  mean-field ADVI over ``log_density``) it gets from specrec, unless it narrows them with
  ``core_methods``;
* ``unsupported(model, settings)``: reasons of its own it cannot fit, reported before any work
  (the core adds the common ones: the method offered, undeclared distributions, minibatches
  outside vi, undeclared features);
* ``log_density(model)``: the float64 log joint density, Jacobians included, and its
  gradient at a point of the unconstrained space (``specrec check`` compares it with the
  reference, so this is what makes a backend trustworthy);
* ``fit(model, settings, init, progress)``: plain arrays in a ``FitResult``; specrec builds
  the InferenceData, evaluates and writes the run.  The fit driver calls it only for a method
  it names in ``methods``, and checks what it returns (a finite loss, the posterior's shape):
  a backend repeats none of that.

A real backend translates the model into its PPL by walking it with
``specrec.model.walk.walk_model`` over its own array type (see ``specrec_numpyro``).  This one
evaluates the numpy reference directly and differentiates it by central finite differences,
which is exact enough for ``check`` but costs two evaluations per parameter: it offers only
``map`` and suits only small models.  The conformance suite therefore marks its vi and nuts
cases as expected failures, with the reason taken from ``methods``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import optimize

from specrec.backends import FitResult, LogDensity
from specrec.model.distributions import DISTRIBUTIONS, to_constrained
from specrec.model.ir import Model, RandomVariable
from specrec.model.reference import log_density as reference_log_density
from specrec.model.reference import unconstrain
from specrec.model.walk import NUMPY_OPS, walk_model
from specrec.spec.models import Inference

__version__ = "0.1.0"


def _bounds(rv: RandomVariable, args: dict[str, Any]) -> tuple[Any, Any]:
    return (args["lower"], args["upper"]) if rv.transform == "interval" else (None, None)


# --8<-- [start:log_joint]
def log_joint(
    model: Model, z: dict[str, np.ndarray], jacobian: bool
) -> tuple[float, dict[str, np.ndarray]]:
    """log p(data, params) at unconstrained ``z``; also the constrained values.

    ``jacobian=False`` is the density of the constrained values themselves, whose mode is the
    MAP (as numpyro's AutoDelta and PyMC's find_MAP define it); ``True`` is the density of
    ``z``, which ``log_density`` must return.
    """
    total = 0.0

    def sample(rv: RandomVariable, args: dict[str, Any]) -> np.ndarray:
        nonlocal total
        x, logdet = to_constrained(rv.transform, z[rv.name], *_bounds(rv, args))
        total += float(np.sum(rv.dist.logpdf(x, **args)))
        if jacobian:
            total += float(np.sum(logdet))
        return x

    def observe(rv: RandomVariable, args: dict[str, Any]) -> None:
        nonlocal total
        total += float(np.sum(rv.dist.logpdf(model.data.y, **args)))

    values = walk_model(model, NUMPY_OPS, sample, observe)
    return total, {rv.name: values[rv.name] for rv in model.latents}


def fd_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, central: bool = True
) -> np.ndarray:
    """Finite differences, one coordinate at a time.

    Central differences (error ~h^2, far below ``check``'s 1e-5) for ``log_density``; the
    optimiser is content with forward ones (error ~sqrt(eps)) at half the cost.
    """
    g = np.empty_like(x)
    f0 = None if central else f(x)
    for i in range(x.size):
        step = (1e-6 if central else 1.5e-8) * max(1.0, abs(x[i]))
        up = x.copy()
        up[i] += step
        if central:
            dn = x.copy()
            dn[i] -= step
            g[i] = (f(up) - f(dn)) / (2 * step)
        else:
            g[i] = (f(up) - f0) / step
    return g


# --8<-- [end:log_joint]
class _Flat:
    """Dict of named unconstrained arrays <-> one flat vector (what scipy's optimisers want).

    Unconstrained shapes: an LKJ Cholesky factor over d x d has only d(d-1)/2 free numbers.
    """

    def __init__(self, model: Model) -> None:
        self.shapes = {rv.name: rv.unconstrained_shape for rv in model.latents}
        self.sizes = {k: int(np.prod(s, dtype=int)) for k, s in self.shapes.items()}

    def flatten(self, d: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(d[k], float).reshape(-1) for k in self.shapes])

    def unflatten(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for k, shape in self.shapes.items():
            out[k] = x[i : i + self.sizes[k]].reshape(shape)
            i += self.sizes[k]
        return out


# --8<-- [start:backend]
class ExampleBackend:
    name = "example"
    methods = ("map",)
    # Its finite-difference gradient costs two evaluations per parameter: the core's
    # optimisers (vi over any log density) would take minutes here, so it accepts none.
    core_methods = frozenset()
    distributions = frozenset(DISTRIBUTIONS)  # the numpy reference implements the whole table

    @property
    def version(self) -> str:
        return __version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        # Every distribution of the table is supported (the reference implements them all),
        # and the core refuses a batch_size for map; what is left is the example's own.
        if settings.sampler is not None:
            return [f"sampler {settings.sampler!r}: the example backend has no sampler"]
        return []

    def log_density(self, model: Model) -> LogDensity:
        flat = _Flat(model)

        def value(x: np.ndarray) -> float:
            return reference_log_density(model, flat.unflatten(x))[0]

        def call(point: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
            x = flat.flatten(point)
            return value(x), flat.unflatten(fd_gradient(value, x))

        return call

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        t0 = time.perf_counter()  # only map gets here: the driver calls fit for ``methods`` only
        flat = _Flat(model)

        def loss(x: np.ndarray) -> float:
            return -log_joint(model, flat.unflatten(x), jacobian=False)[0]

        losses: list[float] = []
        result = optimize.minimize(
            loss,
            flat.flatten(unconstrain(model, init)),
            jac=lambda x: fd_gradient(loss, x, central=False),
            method="L-BFGS-B",
            options={"maxiter": settings.steps, "ftol": 1e-7},  # a MAP need not be exact to 1e-9
            callback=lambda intermediate_result: losses.append(float(intermediate_result.fun)),
        )
        if not losses or losses[-1] != result.fun:  # the trace ends where the optimiser ended
            losses.append(float(result.fun))  # (a loss gone to NaN: the driver says so)
        _, point = log_joint(model, flat.unflatten(result.x), jacobian=False)
        posterior = {k: np.asarray(v, dtype=float)[None, None] for k, v in point.items()}
        return FitResult(
            "map",
            posterior,
            loss=np.asarray(losses),
            fit_s=time.perf_counter() - t0,
            info={"optimizer": "L-BFGS-B", "iterations": int(result.nit)},
        )


# --8<-- [end:backend]
