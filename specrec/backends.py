"""The protocol a backend implements, and the registry that finds backends by entry point.

Built-in backends register under the ``specrec.backends`` entry-point group exactly as a
third-party package would (xarray's plugin pattern): discovery is cached, a plugin that fails
to import becomes a warning rather than a crash, and an unknown name lists the installed ones
and the ``pip install`` that adds a missing one.

A backend only translates: it receives the lowered ``Model`` and the shared ``Inference``
settings, walks the model with ``specrec.model.walk.walk_model`` over its own arrays, runs its
inference, and returns plain arrays in a ``FitResult``.  specrec turns that into InferenceData
(``specrec.inference``), so names, dims and coords are identical whatever the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from specrec import methods
from specrec.model.ir import Model
from specrec.spec.models import Inference

#: ArviZ's sampler-statistic vocabulary; every backend reports (a subset of) these names.
#: ``energy`` (the Hamiltonian at each draw, what ``az.bfmi`` and ``az.plot_energy`` read) is
#: reported by every built-in NUTS (NumPyro, PyMC's samplers, Pyro's through the hooks of
#: ``specrec_pyro.chains.RecordingNUTS``); it is not one a method requires.
SAMPLE_STATS = (*methods.HMC_STATS, "energy")


@dataclass
class FitResult:
    """What a backend hands back: arrays only, in specrec's names and shapes.

    ``posterior[name]`` is (chain, draw, *shape) in the constrained space; ``sample_stats``
    arrays are (chain, draw); ``loss`` is the per-step objective of map/vi (negative ELBO or
    negative log density).  ``compile_s`` is the time to build and compile the model, as far
    as the backend can tell it apart (a sampler that compiles inside its own run, as PyMC's
    ``pm.sample`` does, leaves that part in ``fit_s``); ``fit_s`` is the wall time of
    inference itself.  Never compile anything twice just to time it.
    """

    method: str
    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    loss: np.ndarray | None = None
    compile_s: float = 0.0
    fit_s: float = 0.0
    info: dict[str, object] = field(default_factory=dict)


LogDensity = Callable[[dict[str, np.ndarray]], tuple[float, dict[str, np.ndarray]]]


@runtime_checkable
class Backend(Protocol):
    """What specrec needs from a backend.

    A backend may also declare ``distributions``: the names of the table
    (``specrec.model.distributions.DISTRIBUTIONS``) it translates, as a frozenset.  It is
    optional, so that a plugin written before it existed still loads; the docs' distributions
    reference reads it through ``supported_distributions``.

    ``methods`` are the methods it runs natively (``fit`` dispatches on ``settings.method``);
    the fit driver (``specrec.driver``) gives it every other method of ``specrec.methods`` that
    has a backend-neutral kernel, over ``log_density`` (``offered_methods``), and hands ``fit``
    a ready model: subsampled when ``batch_size`` is set, checked by ``refusal_reasons``.
    ``log_density`` may take ``jacobian: bool = True``; without it the core's MAP (which needs
    the density of the constrained values) is not offered.  ``samplers`` (optional): the NUTS
    implementations ``inference.sampler`` may name on it; any other name is refused in the core.
    ``compile_cache()`` (optional): a persistent compilation cache's folder and counters so far
    (``{"dir", "lookups", "hits", "written"}``, or None when it has none yet); the core reports
    their change during a fit as ``metrics.backend.compile_cache``.
    """

    name: str
    methods: tuple[str, ...]

    @property
    def version(self) -> str: ...

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        """Reasons of this backend's own that it cannot fit this model with these settings
        (empty: it can).  The checks common to every backend (declared distributions,
        minibatches, features) are ``refusal_reasons``'s, which adds these to them."""
        ...

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult: ...

    def log_density(self, model: Model) -> LogDensity:
        """Log joint density and gradient at an unconstrained point, in float64.

        The unconstrained map is the one in ``specrec.model.distributions.TRANSFORMS``.
        """
        ...


def offers(backend: Backend, name: str) -> bool:
    """Whether ``backend`` can run method ``name``: natively (``backend.methods``), or by the
    method's backend-neutral kernel (``specrec.methods``) over the backend's log density, which
    must take ``jacobian=`` when the kernel wants none (the MAP).  A backend whose density is
    too slow to optimise over declares ``core_methods`` (the core kernels it accepts)."""
    if name in tuple(getattr(backend, "methods", ())):
        return True
    if name not in methods.names():
        return False
    m = methods.get(name)
    if m.kernel is None or (m.needs_density and not hasattr(backend, "log_density")):
        return False
    allowed = getattr(backend, "core_methods", None)  # a backend may narrow what it is given
    if allowed is not None and name not in allowed:
        return False
    from specrec.optimisers import accepts_jacobian

    return not m.needs_density or m.jacobian or accepts_jacobian(backend)


def offered_methods(backend: Backend) -> tuple[str, ...]:
    """Every method ``backend`` can run, in the table's order (native names the table does not
    know last, so a plugin ahead of the core still shows what it has)."""
    known = [n for n in methods.names() if offers(backend, n)]
    extra = [n for n in getattr(backend, "methods", ()) if n not in known]
    return tuple(known + extra)


def method_reasons(backend: Backend, settings: Inference) -> list[str]:
    """Why ``backend`` cannot run ``settings.method`` (empty: it can)."""
    if offers(backend, settings.method):
        return []
    name = getattr(backend, "name", "this backend")
    return [
        f"{name} does not offer method {settings.method!r} "
        f"(it offers {', '.join(offered_methods(backend)) or 'none'})"
    ]


def sampler_reasons(backend: Backend, settings: Inference) -> list[str]:
    """Why ``inference.sampler`` cannot be used on ``backend`` (it declares ``samplers``)."""
    offered = getattr(backend, "samplers", None)
    if settings.sampler is None or offered is None or settings.sampler in offered:
        return []
    name = getattr(backend, "name", "this backend")
    return [
        f"sampler {settings.sampler!r} is unknown to the {name} backend; "
        f"choose one of {', '.join(offered)}"
    ]


def minibatch_reasons(settings: Inference, model: Model | None = None) -> list[str]:
    """Why ``batch_size`` cannot be honoured with these settings (empty: it can).

    Minibatches estimate an objective without bias (``Model.likelihood_scale``) only for the
    methods whose row says so (vi); NUTS and MAP as specrec runs them need the exact log
    density, so a batch size there is a spec mistake.  A mixture summed out per level cannot
    be split: each level's rows share one component and must be in the same likelihood term.
    """
    if settings.batch_size is None:
        return []
    m = methods.get(settings.method) if settings.method in methods.names() else None
    if m is not None and not m.minibatch:
        takes = [x.name for x in methods.all_methods() if x.minibatch]
        return [
            f"batch_size (minibatch) applies to method {', '.join(takes)} only, "
            f"not {settings.method}"
        ]
    mix = None if model is None else model.mixture
    if mix is not None and mix.per is not None:
        return [
            f"minibatches cannot split a mixture per {mix.per!r}: each level's rows share one "
            "component and must be in the same likelihood term"
        ]
    return []


def method_model_reasons(model: Model, settings: Inference) -> list[str]:
    """Why ``settings.method`` cannot fit ``model`` at all, whichever backend (the row's
    ``Method.refusal_reasons``: the structure a closed-form kernel needs)."""
    if settings.method not in methods.names():
        return []
    return methods.get(settings.method).refusal_reasons(model, settings)


def start_reasons(model: Model, settings: Inference) -> list[str]:
    """Why the start ``settings.init`` asks for cannot be made for ``model``: ``assign`` is
    the M-step of a random assignment of the mixture's levels, which needs em's structure;
    ``svd`` needs two factor matrices in the likelihood's mean (``conjugacy.spectral``)."""
    if settings.init == "svd":
        from specrec.conjugacy import spectral

        return [f"init: svd: {r}" for r in spectral.reasons(model)]
    if settings.init != "assign":
        return []
    from specrec.conjugacy import em

    return [f"init: assign: {r}" for r in em.refusal_reasons(model)]


def supported_distributions(backend: Backend) -> frozenset[str] | None:
    """The distributions ``backend`` declares it translates, or None when it does not say."""
    declared = getattr(backend, "distributions", None)
    return None if declared is None else frozenset(declared)


#: Model features a backend must declare (``features = frozenset({...})``) to be given them;
#: a plugin written before a feature existed is then refused with a clear message, not a crash.
FEATURES = {"mixture": "mixture likelihoods (likelihood.mixture)"}


def feature_reasons(backend: Backend, model: Model) -> list[str]:
    """Why ``backend`` cannot fit ``model``'s features (empty when it can)."""
    declared = frozenset(getattr(backend, "features", ()))
    name = getattr(backend, "name", "this backend")
    needed = ["mixture"] if model.mixture is not None else []
    return [
        f"{name} does not declare support for {FEATURES[f]}" for f in needed if f not in declared
    ]


def distribution_reasons(backend: Backend, model: Model) -> list[str]:
    """The model's distributions ``backend`` declares it does not translate (empty when it
    translates them all, or declares nothing: then its own ``unsupported`` must say)."""
    declared = supported_distributions(backend)
    if declared is None:
        return []
    name = getattr(backend, "name", "this backend")
    return [
        f"distribution {rv.distribution} is not supported by {name}"
        for rv in (*model.latents, model.likelihood)
        if rv.distribution not in declared
    ]


def refusal_reasons(backend: Backend, model: Model, settings: Inference) -> list[str]:
    """Everything that stops ``backend`` fitting ``model`` with ``settings`` (empty when it can).

    The checks that mean the same on every backend live here, once: the method offered, the
    distributions it declares, minibatches where the method takes none, the structure the
    method's kernel needs (``Method.refusal_reasons``) and the start needs (``init:
    assign``), the model features it declares.  ``backend.unsupported`` adds only what is its
    own (its samplers, say).  A reason given twice (a plugin that also
    checks minibatches itself) is reported once.
    """
    reasons = (
        method_reasons(backend, settings)
        + distribution_reasons(backend, model)
        + minibatch_reasons(settings, model)
        + method_model_reasons(model, settings)
        + start_reasons(model, settings)
        + sampler_reasons(backend, settings)
        + backend.unsupported(model, settings)
        + feature_reasons(backend, model)
    )
    return list(dict.fromkeys(reasons))


# The registry lives in its own module so that listing backends imports neither numpy nor the
# model; it is re-exported here, where callers have always found it.
from specrec.registry import (  # noqa: E402
    GROUP,
    BackendInfo,
    BackendWarning,
    available_names,
    backend_distribution,
    backend_versions,
    get,
    installed,
    plugins,
    refresh,
    unavailable,
)

__all__ = [
    "GROUP",
    "SAMPLE_STATS",
    "Backend",
    "BackendInfo",
    "BackendWarning",
    "FitResult",
    "LogDensity",
    "available_names",
    "backend_distribution",
    "backend_versions",
    "distribution_reasons",
    "feature_reasons",
    "get",
    "installed",
    "method_model_reasons",
    "method_reasons",
    "minibatch_reasons",
    "offered_methods",
    "offers",
    "plugins",
    "refresh",
    "refusal_reasons",
    "start_reasons",
    "supported_distributions",
    "unavailable",
]
