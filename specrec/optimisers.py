"""Backend-neutral optimisers over a log density and its gradient: Adam MAP and mean-field ADVI.

A backend that compiles a log density (``Backend.log_density``) but has no optimiser of its own
gets ``map`` and ``vi`` from here, with the same constants as optax, numpyro and torch, so
``lr`` means the same step on every backend.  They work in the core's unconstrained space
(``specrec.model.distributions.TRANSFORMS``), start at the core's start mapped by
``reference.unconstrain``, and return constrained values mapped back by ``reference.constrain``:
the same maps ``specrec check`` verifies every backend's density against.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

from specrec.progress import Counter

if TYPE_CHECKING:
    from specrec.backends import Backend, FitResult, LogDensity
    from specrec.model.ir import Model
    from specrec.spec.models import Inference

#: Adam's constants, as in optax / numpyro.optim.Adam / torch.optim.Adam.
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8

#: Initial standard deviation of the mean-field guide, as numpyro's AutoNormal(init_scale=0.1).
GUIDE_INIT_SCALE = 0.1
HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))

#: Progress is reported every this many steps.
PROGRESS_EVERY = 100


class Adam:
    """Adam ascending an objective; ``params`` (a list of arrays) are updated in place."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.params = params
        self.lr = lr
        self.m = [np.zeros_like(p) for p in params]
        self.s = [np.zeros_like(p) for p in params]
        self.t = 0

    def ascend(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1t, b2t = 1 - ADAM_B1**self.t, 1 - ADAM_B2**self.t
        for i, g in enumerate(grads):
            self.m[i] = ADAM_B1 * self.m[i] + (1 - ADAM_B1) * g
            self.s[i] = ADAM_B2 * self.s[i] + (1 - ADAM_B2) * g * g
            self.params[i] += self.lr * (self.m[i] / b1t) / (np.sqrt(self.s[i] / b2t) + ADAM_EPS)


class StepProgress:
    """The step counter with the loss, updated every ``PROGRESS_EVERY`` steps (one
    ``progress.Counter`` line)."""

    def __init__(self, label: str, steps: int, enabled: bool):
        self.label, self.steps = label, steps
        self.line = Counter(enabled)

    def update(self, t: int, losses: np.ndarray) -> None:
        if (t + 1) % PROGRESS_EVERY == 0 or t + 1 == self.steps:
            self.line.show(f"{self.label}: step {t + 1}/{self.steps}  loss {losses[t]:.4g}")

    def close(self) -> None:
        self.line.close()


def accepts_jacobian(backend: Backend) -> bool:
    """Whether ``backend.log_density`` takes ``jacobian=`` (the MAP needs it switched off)."""
    fn = getattr(backend, "log_density", None)
    if fn is None:
        return False
    try:
        return "jacobian" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def compile_density(backend: Backend, model: Model, jacobian: bool) -> LogDensity:
    """The backend's compiled log density, with or without the Jacobian of the transforms."""
    if jacobian:
        return backend.log_density(model)
    return backend.log_density(model, jacobian=False)  # type: ignore[call-arg]


def flat_start(model: Model, init: dict[str, np.ndarray]) -> list[np.ndarray]:
    from specrec.model.reference import unconstrain

    z = unconstrain(model, init)
    return [
        np.array(z[rv.name], dtype=np.float64).reshape(rv.unconstrained_shape)
        for rv in model.latents
    ]


def as_point(model: Model, values: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {rv.name: v for rv, v in zip(model.latents, values, strict=True)}


def flat_grads(model: Model, g: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [
        np.asarray(g[rv.name], dtype=np.float64).reshape(rv.unconstrained_shape)
        for rv in model.latents
    ]


def adam_map(
    density: LogDensity,
    model: Model,
    settings: Inference,
    init: dict[str, np.ndarray],
    progress: bool,
    label: str = "map",
) -> FitResult:
    """The posterior mode by Adam on -log p(constrained values), from the core's start.

    ``density`` must be the log density without the Jacobian (``compile_density(...,
    jacobian=False)``), whose mode is that of the constrained values, as numpyro's AutoDelta and PyMC's
    find_MAP define the MAP.  (find_MAP's own start, U = V = 0, is a saddle of a factor model;
    the core's jittered start is not.)
    """
    from specrec.backends import FitResult
    from specrec.model.reference import constrain

    x = flat_start(model, init)
    adam = Adam(x, settings.lr)
    losses = np.empty(settings.steps)
    bar = StepProgress(label, settings.steps, progress)
    for t in range(settings.steps):
        logp, g = density(as_point(model, x))
        losses[t] = -logp
        if not np.isfinite(losses[t]):
            losses = losses[: t + 1]
            break
        adam.ascend(flat_grads(model, g))
        bar.update(t, losses)
    bar.close()
    point = constrain(model, as_point(model, x))
    posterior = {rv.name: np.asarray(point[rv.name])[None, None] for rv in model.latents}
    return FitResult("map", posterior, loss=losses)


def mean_field_advi(
    density: LogDensity,
    model: Model,
    settings: Inference,
    init: dict[str, np.ndarray],
    progress: bool,
    label: str = "vi",
) -> FitResult:
    """Mean-field ADVI: a Normal per unconstrained value, scale softplus(rho), fitted by Adam.

    The algorithm of ``pm.fit(method="advi")`` and numpyro's AutoNormal: one reparameterised
    draw per step, the Gaussian entropy in closed form, the guide started at the core's start
    with scale ``GUIDE_INIT_SCALE``.  The loss is the negative ELBO estimate of the step's draw,
    ``-(log p(z) - log q(z))``, the quantity numpyro and Pyro report.  ``settings.draws`` draws
    of the fitted guide are returned, constrained by the core's maps.
    """
    from specrec.backends import FitResult
    from specrec.model.reference import constrain

    rng = np.random.default_rng(settings.seed)
    mu = flat_start(model, init)
    rho = [np.full_like(m, _softplus_inverse(GUIDE_INIT_SCALE)) for m in mu]
    adam = Adam(mu + rho, settings.lr)
    n_values = sum(m.size for m in mu)
    losses = np.empty(settings.steps)
    bar = StepProgress(label, settings.steps, progress)
    for t in range(settings.steps):
        eps = [rng.standard_normal(m.shape) for m in mu]
        scale = [_softplus(r) for r in rho]
        z = [m + s * e for m, s, e in zip(mu, scale, eps, strict=True)]
        logp, g_point = density(as_point(model, z))
        g = flat_grads(model, g_point)
        log_q = (
            sum(float(np.sum(-0.5 * e * e - np.log(s))) for e, s in zip(eps, scale, strict=True))
            - HALF_LOG_2PI * n_values
        )
        losses[t] = log_q - logp
        if not np.isfinite(losses[t]):
            losses = losses[: t + 1]
            break
        # d ELBO / d mu = g;  d ELBO / d rho = (g * eps + 1 / scale) * softplus'(rho)
        g_rho = [
            (gi * e + 1.0 / s) * _sigmoid(r) for gi, e, s, r in zip(g, eps, scale, rho, strict=True)
        ]
        adam.ascend(g + g_rho)
        bar.update(t, losses)
    bar.close()
    scale = [_softplus(r) for r in rho]
    draws: dict[str, list[np.ndarray]] = {rv.name: [] for rv in model.latents}
    for _ in range(settings.draws):
        z = [m + s * rng.standard_normal(m.shape) for m, s in zip(mu, scale, strict=True)]
        for name, v in constrain(model, as_point(model, z)).items():
            draws[name].append(v)
    posterior = {name: np.stack(d)[None] for name, d in draws.items()}
    return FitResult("vi", posterior, loss=losses)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _softplus_inverse(y: float) -> float:
    return float(np.log(np.expm1(y)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))
