"""The one fit driver: everything between a lowered model and a backend's arrays, once.

``fit``, ``compare``, studies, ``sbc``, the conformance suite and the benchmarks all call
``run_inference``; a backend receives a ready model (subsampled when minibatches are asked
for) and a start, and returns arrays.  The driver owns what must mean the same on every
backend:

* the checks before any work (``backends.refusal_reasons``: the method offered, declared
  distributions and features, minibatches, the backend's own reasons);
* the start (``inference.init``: uniform, a prior draw, or a map fit of the same backend);
* restarts (several starts, keep the lowest final loss);
* the kernel: the backend's native one, or the method's backend-neutral one
  (``specrec.methods``) over the backend's compiled log density;
* what is checked and derived after (a finite loss, posterior shapes, sampler statistics);
* timing, defined once (``Timing``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from specrec import backends, interrupt, methods
from specrec.backends import Backend, FitResult
from specrec.errors import BackendError, FitError
from specrec.model.ir import Model
from specrec.model.reference import initial_values
from specrec.optimisers import compile_density
from specrec.spec.models import Inference


@dataclass
class Timing:
    """Seconds, defined once for every backend and method.

    ``compile_s``: building and compiling the model's programs before inference runs (a
    sampler that compiles inside its own run and cannot tell the parts apart, as PyMC's
    ``pm.sample`` does, leaves that part in ``fit_s``; the backend docs say which).
    ``fit_s``: inference itself, every restart and the map start included.  ``evaluate_s``:
    predictions, metrics and diagnostics.  ``wall_s``: the whole call, from loading the data to
    the written run directory.
    """

    compile_s: float = 0.0
    fit_s: float = 0.0
    evaluate_s: float = 0.0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Inferred:
    """What the driver hands back: the kept fit, and how it was reached."""

    result: FitResult
    restarts: dict | None = None
    init_fit: dict | None = None
    kernel: str = "native"  # or "core": the method's backend-neutral kernel


Say = Callable[[str], None]


def check_method(backend: Backend, settings: Inference) -> None:
    """Raise a BackendError when ``backend`` does not offer the method at all: checked before the
    data is loaded, so the cheapest refusal comes first (``check`` repeats it with the rest)."""
    reasons = backends.method_reasons(backend, settings)
    if reasons:
        raise BackendError(reasons[0])


def check(backend: Backend, model: Model, settings: Inference) -> None:
    """Raise a BackendError with every reason ``backend`` cannot fit this, before any work."""
    reasons = backends.refusal_reasons(backend, model, settings)
    if reasons:
        name = getattr(backend, "name", "backend")
        raise BackendError(f"backend {name!r} cannot fit {model.name!r}: " + "; ".join(reasons))


def run_kernel(
    backend: Backend, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
) -> FitResult:
    """One fit from one start, by the native kernel or the core one; then checked and derived.

    On a worker thread when the CLI asked for it (``specrec.interrupt``), so that Ctrl-C is
    answered at once even inside one long compiled loop.
    """
    return interrupt.call(_run_kernel, backend, model, settings, init, progress)


def _run_kernel(
    backend: Backend, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
) -> FitResult:
    m = methods.get(settings.method)
    t0 = time.perf_counter()
    if settings.method in tuple(backend.methods):
        result = backend.fit(model, settings, init, progress)
    else:
        assert m.kernel is not None, settings.method
        density = compile_density(backend, model, m.jacobian) if m.needs_density else None
        compile_s = time.perf_counter() - t0
        result = m.kernel(density, model, settings, init, progress, f"{backend.name} {m.name}")
        result.compile_s = compile_s
        result.fit_s = time.perf_counter() - t0 - compile_s
        result.info["kernel"] = "core"
    result.info.setdefault("kernel", "native")
    return finish(backend, model, settings, result)


def finish(backend: Backend, model: Model, settings: Inference, result: FitResult) -> FitResult:
    """What every fit is checked for and given, whichever kernel made it.

    A loss that is no longer finite means the optimiser diverged: the fit is an error, not a
    result.  The posterior must have the method's (chain, draw) shape under every latent's name.
    Sampler statistics get their ArviZ dtypes, and ``tree_depth`` is derived from ``n_steps``
    (depth = floor(log2(steps)) + 1) where a sampler reports only the step count.
    """
    m = methods.get(settings.method)
    name = getattr(backend, "name", "backend")
    if m.loss_trace:
        loss = None if result.loss is None else np.asarray(result.loss, dtype=float)
        if loss is None or loss.size == 0:
            raise FitError(f"{name} {m.name} returned no loss trace")
        if not np.all(np.isfinite(loss[-10:])):
            raise FitError(
                f"{m.name} diverged: the loss became {loss[-1]} at step {loss.size} "
                "(try a smaller lr)"
            )
    want = m.shape(settings)
    for rv in model.latents:
        if rv.name not in result.posterior:
            raise FitError(f"{name} {m.name} returned no draws of {rv.name!r}")
        got = np.shape(result.posterior[rv.name])
        if tuple(got[:2]) != want:
            raise FitError(
                f"{name} {m.name} returned {rv.name} with {got[:2]} (chain, draw); "
                f"{m.name} with these settings gives {want}"
            )
    stats = dict(result.sample_stats)
    if "n_steps" in stats and "tree_depth" not in stats:
        steps = np.asarray(stats["n_steps"])
        stats["tree_depth"] = np.floor(np.log2(np.maximum(steps, 1))).astype(np.int64) + 1
    for k, dtype in (("diverging", bool), ("n_steps", np.int64), ("tree_depth", np.int64)):
        if k in stats:
            stats[k] = np.asarray(stats[k]).astype(dtype)
    result.sample_stats = stats
    return result


def final_loss(result: FitResult) -> float:
    """The loss a fit ended at: the mean of its last 5 % of steps (vi's loss is noisy)."""
    if result.loss is None or np.size(result.loss) == 0:
        return float("inf")
    loss = np.asarray(result.loss, dtype=float)
    return float(np.mean(loss[-max(1, loss.size // 20) :]))


def start_values(model: Model, settings: Inference, seed: int) -> dict[str, np.ndarray]:
    """The constrained start of seed ``seed``: uniform within ``init_radius`` in the
    unconstrained space, a prior draw (``init: prior``, distinct mixture components), the
    M-step of a random assignment of a mixture's levels (``init: assign``, ``conjugacy.em``),
    or the factors of ``dot(U[user], V[item])`` at a truncated SVD of the residuals (``init:
    svd``, ``conjugacy.spectral``)."""
    rng = np.random.default_rng(seed)
    if settings.init == "assign":
        from specrec.conjugacy import em

        return em.assignment_start(model, rng)
    if settings.init == "svd":
        from specrec.conjugacy import spectral

        return spectral.svd_start(model, rng, settings.init_radius)
    return initial_values(model, rng, settings.init_radius, from_prior=settings.init == "prior")


def restart_reports(model: Model, settings: Inference, results: list[FitResult]) -> dict:
    """Every start's result beyond its loss, for a mixture fitted to a point: the data
    log-likelihood (component summed out, no priors) and the non-empty components of each, so
    a start that emptied components is seen, not only the one kept."""
    if model.mixture is None or methods.get(settings.method).produces != "point":
        return {}
    from specrec.model import mixture

    def report(r: FitResult) -> dict:
        own = r.info.get("em")  # em has computed both at its point already
        if isinstance(own, dict) and "nonempty_components" in own:
            return own
        point = {rv.name: np.asarray(r.posterior[rv.name])[0, 0] for rv in model.latents}
        return mixture.point_report(model, point)

    reports = [report(r) for r in results]
    return {k: [rep[k] for rep in reports] for k in ("log_likelihood", "nonempty_components")}


def map_start(
    backend: Backend,
    model: Model,
    settings: Inference,
    values: dict[str, np.ndarray],
    progress: bool,
) -> tuple[dict[str, np.ndarray], FitResult]:
    """``inference.init: map``: fit map from ``values`` (same backend, steps, lr and seed) and
    return its point, the start of the fit that follows, with the map fit itself.

    The PMF notebook starts NUTS at the MAP estimate: warm-up then spends its iterations
    adapting the step size near the posterior's bulk instead of travelling there through deep
    trees, which on a factor model is most of the cost of a cold start.
    """
    pre_settings = settings.model_copy(
        update={"method": "map", "init": "uniform", "batch_size": None}
    )
    pre = run_kernel(backend, model, pre_settings, values, progress)
    point = {rv.name: np.asarray(pre.posterior[rv.name])[0, 0] for rv in model.latents}
    return point, pre


def run_inference(
    backend: Backend,
    model: Model,
    settings: Inference,
    *,
    progress: bool = False,
    say: Say | None = None,
    checked: bool = False,
) -> Inferred:
    """Fit ``model`` with ``settings`` on ``backend``: checks, starts, restarts, kernel.

    Start ``i`` of ``settings.restarts`` uses seed ``seed + i`` for its initial values and its
    inference, and the fit with the lowest final loss is kept; its ``fit_s`` and ``compile_s``
    are the sums over every start (and the map fits that gave the starts), so a reported time
    is what the user waited.  ``checked``: the caller has already run ``check``.
    """
    tell = say or (lambda msg: None)
    if not checked:
        check(backend, model, settings)
    ready = model.subsampled(settings.batch_size)
    map_fits: list[FitResult] = []

    def one(seed: int) -> FitResult:
        s = settings if seed == settings.seed else settings.model_copy(update={"seed": seed})
        values = start_values(ready, s, seed)
        if s.init == "map":
            tell(f"init: map ({s.steps} steps) before {s.method}")
            values, pre = map_start(backend, model, s, values, progress)
            map_fits.append(pre)
        return run_kernel(backend, ready, s, values, progress)

    n = settings.restarts
    if n == 1:
        result, restarts = one(settings.seed), None
    else:
        results = [one(settings.seed + i) for i in range(n)]
        losses = [final_loss(r) for r in results]
        best = int(np.argmin(losses))
        result = results[best]
        result.fit_s = float(sum(r.fit_s for r in results))
        result.compile_s = float(sum(r.compile_s for r in results))
        restarts = {
            "losses": losses,
            "chosen": best,
            "seeds": [settings.seed + i for i in range(n)],
            **restart_reports(ready, settings, results),
        }
    init_fit = None
    if map_fits:
        map_s = float(sum(p.fit_s for p in map_fits))
        result.fit_s += map_s
        result.compile_s += sum(p.compile_s for p in map_fits)
        init_fit = {
            "method": "map",
            "fit_s": map_s,
            "final_loss": [final_loss(p) for p in map_fits],
        }
    return Inferred(result, restarts, init_fit, str(result.info["kernel"]))
