"""Where a fit starts: several optimiser starts keeping the best (``inference.restarts`` for map
and vi), and a start at a map fit (``inference.init: map``).

A mixture's optimiser can stop where a component is empty (no user's data pulls on its means,
so no gradient revives it), and EM users answer that with several random starts and the best
log-likelihood.  This is the same, on any backend: start ``i`` uses seed ``seed + i`` for its
initial values and its inference, and the fit with the lowest final loss is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from specrec.backends import Backend, FitResult
from specrec.model.ir import Model
from specrec.spec.models import Inference


def final_loss(result: FitResult) -> float:
    """The loss a fit ended at: the mean of its last 5 % of steps (vi's loss is noisy)."""
    if result.loss is None or np.size(result.loss) == 0:
        return float("inf")
    loss = np.asarray(result.loss, dtype=float)
    return float(np.mean(loss[-max(1, loss.size // 20) :]))


def fit_best_of(
    backend: Backend,
    model: Model,
    settings: Inference,
    start: Callable[[int], dict[str, np.ndarray]],
    progress: bool,
) -> tuple[FitResult, dict | None]:
    """Fit ``settings.restarts`` times (``start(seed)`` gives each one's initial values).

    Returns the best fit and, with more than one start, what was tried: every start's final
    loss, the index kept, and the summed fit time (the kept fit's ``fit_s`` is the total, so a
    reported fit time is what the user waited).
    """
    n = settings.restarts
    if n == 1:
        return backend.fit(model, settings, start(settings.seed), progress), None
    results = []
    for i in range(n):
        s = settings.model_copy(update={"seed": settings.seed + i})
        results.append(backend.fit(model, s, start(s.seed), progress))
    losses = [final_loss(r) for r in results]
    best = int(np.argmin(losses))
    kept = results[best]
    kept.fit_s = float(sum(r.fit_s for r in results))
    kept.compile_s = float(sum(r.compile_s for r in results))
    return kept, {"losses": losses, "chosen": best, "seeds": [settings.seed + i for i in range(n)]}


def map_start(
    backend: Backend,
    model: Model,
    settings: Inference,
    values: dict[str, np.ndarray],
    progress: bool,
) -> tuple[dict[str, np.ndarray], FitResult]:
    """``inference.init: map``: fit map from ``values`` (same backend, steps, lr and seed) and
    return its point, the start of the nuts or vi fit that follows, with the map fit itself.

    The PMF notebook starts NUTS at the MAP estimate: warm-up then spends its iterations
    adapting the step size near the posterior's bulk instead of travelling there through deep
    trees, which on a factor model is most of the cost of a cold start.
    """
    pre = backend.fit(
        model, settings.model_copy(update={"method": "map", "init": "uniform"}), values, progress
    )
    point = {rv.name: np.asarray(pre.posterior[rv.name])[0, 0] for rv in model.latents}
    return point, pre
