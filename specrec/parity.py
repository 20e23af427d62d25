"""``specrec check``: one spec means one model on every backend.

At several random points of the unconstrained space (float64) each backend's log joint density,
Jacobians included, is compared with the numpy reference (``specrec.model.reference``), and
its gradient with a central finite difference of the reference along a random direction in
each node's block.  A disagreement names the node: the reference's per-node terms say which
term a value error could come from, and the gradient block that disagrees says where it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from specrec import backends
from specrec.backends import LogDensity
from specrec.model.ir import Model
from specrec.model.reference import log_density as reference_log_density

RTOL = 1e-6
GRAD_RTOL = 1e-5  # finite differences in float64 are good to about 1e-8 relative; leave room


@dataclass
class ParityResult:
    backend: str
    ok: bool
    max_rel_error: float
    max_grad_rel_error: float
    problems: list[str] = field(default_factory=list)
    us_per_eval: float | None = None
    error: str | None = None


def random_point(model: Model, rng: np.random.Generator, scale: float) -> dict[str, np.ndarray]:
    return {rv.name: rng.normal(0.0, scale, rv.unconstrained_shape) for rv in model.latents}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


def check_backend(
    model: Model, name: str, n_points: int = 3, seed: int = 0, scale: float = 0.5
) -> ParityResult:
    try:
        logp = backends.get(name).log_density(model)
    except Exception as exc:  # reported per backend; the others are still checked
        return ParityResult(name, False, np.inf, np.inf, error=f"{type(exc).__name__}: {exc}")
    rng = np.random.default_rng(seed)
    worst, worst_grad, problems = 0.0, 0.0, []
    for k in range(n_points):
        z = random_point(model, rng, scale)
        ref, parts = reference_log_density(model, z)
        value, grad = logp(z)
        err = _rel(value, ref)
        worst = max(worst, err)
        if not err <= RTOL:
            problems.append(
                f"point {k}: log density {value:.10g}, reference {ref:.10g} (relative error {err:.2e}); "
                f"reference terms: " + ", ".join(f"{n} {v:.6g}" for n, v in parts.items())
            )
        for rv in model.latents:
            v = rng.normal(size=rv.unconstrained_shape)
            v /= max(np.linalg.norm(v), 1e-12)
            h = 1e-5
            up = {**z, rv.name: z[rv.name] + h * v}
            dn = {**z, rv.name: z[rv.name] - h * v}
            fd = (reference_log_density(model, up)[0] - reference_log_density(model, dn)[0]) / (
                2 * h
            )
            got = float(np.sum(np.asarray(grad[rv.name]).reshape(rv.unconstrained_shape) * v))
            gerr = abs(got - fd) / max(1.0, abs(fd))
            worst_grad = max(worst_grad, gerr)
            if not gerr <= GRAD_RTOL:
                problems.append(
                    f"point {k}: node {rv.name!r}: gradient along a random direction {got:.8g}, "
                    f"reference {fd:.8g} (relative error {gerr:.2e})"
                )
    us = time_evaluations(logp, random_point(model, rng, scale))
    return ParityResult(name, not problems, worst, worst_grad, problems, us)


def time_evaluations(
    logp: LogDensity, point: dict[str, np.ndarray], budget_s: float = 0.5
) -> float:
    """Microseconds per steady-state log density + gradient call at ``point``.

    One untimed call first so a lazy compile is never counted; then at least 5 and at most 200
    calls or ``budget_s`` seconds, whichever ends first, so a slow backend still finishes fast.
    """
    logp(point)
    n, t0 = 0, time.perf_counter()
    while n < 5 or (time.perf_counter() - t0 < budget_s and n < 200):
        logp(point)
        n += 1
    return (time.perf_counter() - t0) / n * 1e6


def time_backend(model: Model, name: str, seed: int = 0, scale: float = 0.5) -> float:
    """``time_evaluations`` for one backend's float64 log density of ``model`` at a random point.

    The same point (same seed) for every backend, so the numbers are comparable across them.
    """
    logp = backends.get(name).log_density(model)
    return time_evaluations(logp, random_point(model, np.random.default_rng(seed), scale))


def check(model: Model, names: list[str], n_points: int = 3, seed: int = 0) -> list[ParityResult]:
    return [check_backend(model, n, n_points, seed) for n in names]
