"""Inference on PyMC: nuts natively; map and vi by the core's optimisers over PyMC's density.

A compiled log density and gradient is all the core's Adam MAP and mean-field ADVI need
(``specrec.optimisers``), so this backend offers those methods without a loop of its own.

Every fit builds a fresh ``pm.Model`` (``translate.build_model``) and returns plain arrays in
specrec's names; specrec builds the InferenceData itself, so nothing PyMC-specific leaks out.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from specrec_jax import cache as jax_cache

from specrec.backends import SAMPLE_STATS, FitResult, LogDensity
from specrec.evaluate.threads import threads
from specrec.model.ir import Model
from specrec.spec.models import Inference
from specrec_pymc.translate import DISTRIBUTIONS, build_model, value_names

#: ``settings.sampler`` -> the module that must be importable for PyMC to use it.
SAMPLERS = {"pymc": "pymc", "numpyro": "numpyro", "blackjax": "blackjax", "nutpie": "nutpie"}

#: blackjax's NUTS default ``max_num_doublings``; PyMC's bridge does not pass another one on.
BLACKJAX_MAX_TREE_DEPTH = 10

#: Tried in order when ``settings.sampler`` is None: the first whose module imports is used.
#: Measured on the quickstart spec (2,592 rows, 2 chains x 300 warm-up + 300 draws, 2 cores):
#: numpyro through PyMC 25.7 s, PyMC's own NUTS 31.1 s in two processes and 43.7 s in one
#: (same draws either way).  On tiny data (324 rows) JAX's compile dominates and PyMC's own
#: NUTS is faster (6 s against 15 s), but the models people fit are not tiny.  All four samplers
#: on the quickstart (benchmarks/results/pymc-samplers.md): numpyro 10.2 s, nutpie 20.1 s,
#: blackjax 20.0 s, pymc 23.9 s, numpyro with the best ESS per second.
DEFAULT_SAMPLERS = ("numpyro", "pymc")

Grad = Callable[[list[np.ndarray]], tuple[float, list[np.ndarray]]]

#: pytensor linkers for the log density the optimisers (map, vi) and ``check`` call, fastest
#: first; the first whose module imports is used.  Measured on ML-100k HPMF (90,000 ratings,
#: float64, log density + gradient, benchmarks/results/overhead.md): JAX 4.7 ms, NUMBA 12 ms,
#: the default C linker 32 ms.  A map or vi fit is thousands of such calls.
COMPILE_MODES = (("JAX", "jax"), ("NUMBA", "numba"))


def _compile_mode() -> str | None:
    """The fastest installed linker (None: pytensor's default C linker)."""
    for mode, module in COMPILE_MODES:
        if importlib.util.find_spec(module) is not None:
            if mode == "JAX":
                import jax

                # pytensor's JAX linker computes in float64 only when x64 is on; it switches
                # x64 on itself at import, unless it was first imported under floatX=float32.
                jax.config.update("jax_enable_x64", True)
                jax_cache.enable()
            return mode
    return None


def _default_sampler() -> str:
    return next(s for s in DEFAULT_SAMPLERS if importlib.util.find_spec(SAMPLERS[s]) is not None)


def _blackjax_too_new() -> bool:
    from importlib.metadata import version

    major, minor = (int(p) for p in version("blackjax").split(".")[:2])
    return (major, minor) >= (1, 6)


def _float64() -> Any:
    """Build and compile in float64 whatever the user's pytensor config says (parity needs it)."""
    return pytensor.config.change_flags(floatX="float64")


def _compile_logp_dlogp(pm_model: pm.Model, jacobian: bool) -> Grad:
    """One compiled function: unconstrained values (``value_vars`` order) -> logp, grads."""
    inputs = pm_model.value_vars
    logp = pm_model.logp(jacobian=jacobian)
    grads = pt.grad(logp, inputs)
    with warnings.catch_warnings():
        # JAX keeps its own copy of a minibatch's random generator and advances it per call
        # (the minibatch conformance tests see fresh rows each call): nothing to act on.
        warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
        fn = _compile_runnable(pm_model, [logp, *grads], inputs)

    def call(values: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        out = fn(*values)
        return float(out[0]), [np.asarray(g, dtype=np.float64) for g in out[1:]]

    return call


def _compile_runnable(
    pm_model: pm.Model, outputs: list, inputs: list, **kwargs: Any
) -> Callable[..., Any]:
    """``compile_fn`` with the fastest linker that runs this graph at the model's initial point.

    pytensor's JAX linker cannot trace every graph: an ``Alloc`` whose shape is computed at run
    time fails inside ``jax.jit`` (seen with a two-component Dirichlet-weighted mixture).  The
    next linker computes the same function, only slower, so a graph JAX refuses falls back to
    it instead of failing the fit; pytensor's default C linker is the last resort and raises.
    """
    fast = [_compile_mode()]
    if fast[0] == "JAX" and importlib.util.find_spec("numba") is not None:
        fast.append("NUMBA")
    start = pm_model.initial_point()
    point = [start[v.name] for v in inputs]
    for mode in (m for m in fast if m is not None):
        fn = pm_model.compile_fn(outputs, inputs=inputs, point_fn=False, mode=mode, **kwargs)
        try:
            fn(*point)
        except Exception:  # this linker cannot run the graph: try the next one
            continue
        return fn
    return pm_model.compile_fn(outputs, inputs=inputs, point_fn=False, mode=None, **kwargs)


def _cores(chains: int) -> int:
    """Processes for PyMC's own sampler: one per chain, unless forking would be unsafe.

    PyMC forks its chain processes; forking a process in which JAX or torch already started
    their thread pools can deadlock, so then the chains run in this process instead.  The cores
    are the process's share (``threads``: its CPU affinity, or a study worker's OMP_NUM_THREADS),
    not the machine's.
    """
    if any(m in sys.modules for m in ("jax", "torch")):
        return 1
    return min(chains, threads())


class PyMCBackend:
    name = "pymc"
    methods = ("nuts",)  # map and vi: the core's optimisers over log_density
    distributions = frozenset(DISTRIBUTIONS)  # the translation table's names
    features = frozenset({"mixture"})  # walk_model's MixtureObserver is implemented
    samplers = tuple(SAMPLERS)

    def compile_cache(self) -> dict[str, object] | None:
        """JAX's persistent compilation cache (``specrec_jax.cache``) for the fit's report."""
        return jax_cache.report()

    @property
    def version(self) -> str:
        return pm.__version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        reasons = []
        sampler = settings.sampler
        if sampler in SAMPLERS:  # another name is refused by the core (``samplers``)
            if importlib.util.find_spec(SAMPLERS[sampler]) is None:
                reasons.append(
                    f"sampler {sampler!r} is not installed (pip install {SAMPLERS[sampler]})"
                )
            elif sampler == "blackjax" and _blackjax_too_new():
                reasons.append(
                    "blackjax >= 1.6 breaks PyMC's bridge to it (pymc-devs/pymc#8367); "
                    "pip install 'blackjax<1.6' or choose another sampler"
                )
            elif sampler == "blackjax" and settings.max_tree_depth != BLACKJAX_MAX_TREE_DEPTH:
                reasons.append(
                    "sampler 'blackjax' through PyMC cannot set the tree depth "
                    f"(it is always {BLACKJAX_MAX_TREE_DEPTH}); drop inference.max_tree_depth "
                    "or choose another sampler"
                )
        return reasons

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        """NUTS; map and vi are the core's optimisers over ``log_density`` (``specrec.methods``).

        The sampler compiles its own log density inside ``pm.sample``, so that compile time is
        in ``fit_s``; ``compile_s`` is the time to build the ``pm.Model``.
        """
        with _float64():
            t0 = time.perf_counter()
            pm_model = build_model(model)
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = self._nuts(pm_model, model, settings, init, progress)
        result.fit_s = time.perf_counter() - t0
        result.compile_s = compile_s
        return result

    def _nuts(
        self,
        pm_model: pm.Model,
        model: Model,
        settings: Inference,
        init: dict[str, np.ndarray],
        progress: bool,
    ) -> FitResult:
        sampler = settings.sampler or _default_sampler()
        if sampler == "nutpie":
            stats, posterior = _sample_nutpie(pm_model, model, settings, init, progress)
        else:
            stats, posterior = _sample_pm(pm_model, model, settings, init, progress, sampler)
        return FitResult("nuts", posterior, sample_stats=stats, info={"sampler": sampler})

    def log_density(self, model: Model, jacobian: bool = True) -> LogDensity:
        """PyMC's compiled log density and gradient (fastest linker, ``COMPILE_MODES``).

        ``jacobian=False`` is the density of the constrained values, whose mode is the MAP as
        find_MAP defines it; the core's optimisers run map and vi on this one function.
        """
        with _float64():
            pm_model = build_model(model)
            grad = _compile_logp_dlogp(pm_model, jacobian=jacobian)
        names = value_names(pm_model, model)
        latent_of = {v: k for k, v in names.items()}
        order = [latent_of[v.name] for v in pm_model.value_vars]
        shapes = {rv.name: rv.unconstrained_shape for rv in model.latents}

        def call(point: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
            values = [np.asarray(point[k], dtype=np.float64).reshape(shapes[k]) for k in order]
            logp, g = grad(values)
            return logp, {k: gi.reshape(shapes[k]) for k, gi in zip(order, g, strict=True)}

        return call


def _sample_pm(
    pm_model: pm.Model,
    model: Model,
    settings: Inference,
    init: dict[str, np.ndarray],
    progress: bool,
    sampler: str,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``pm.sample`` with PyMC's own NUTS or its numpyro / blackjax bridge."""
    kwargs: dict[str, Any] = {}
    if sampler == "pymc":
        # "adapt_diag", not the default "jitter+adapt_diag": the core has already jittered
        # the start, and every backend starts every chain from exactly that point.  One
        # process per chain (up to the cores): 31 s against 44 s in one process on the
        # quickstart, and the draws are identical either way.
        kwargs |= {
            "init": "adapt_diag",
            "cores": _cores(settings.chains),
            "nuts": {
                "target_accept": settings.target_accept,
                "max_treedepth": settings.max_tree_depth,
            },
        }
    elif sampler == "numpyro":
        kwargs["target_accept"] = settings.target_accept
        # sequential, not the bridge's default "parallel": a process that imported the NumPyro
        # backend has a CPU device per core, and numpyro's pmap over them changed the NumPyro
        # backend's float32 draws (not reproduced through this float64 bridge; kept the same
        # program whatever the device count, as the NumPyro backend does)
        kwargs["nuts_sampler_kwargs"] = {
            "jitter": False,
            "chain_method": "sequential",
            "nuts_kwargs": {"max_tree_depth": settings.max_tree_depth},
        }
    elif sampler == "blackjax":
        # pmap over chains needs a device per chain; this is a CPU with one JAX device.
        kwargs["target_accept"] = settings.target_accept
        kwargs["nuts_sampler_kwargs"] = {"jitter": False, "chain_method": "vectorized"}
    if sampler in ("numpyro", "blackjax"):
        jax_cache.enable()  # these samplers compile with JAX
    with warnings.catch_warnings():
        # one CPU device: numpyro says it runs the chains sequentially, which is the intent
        warnings.filterwarnings("ignore", message="There are not enough devices")
        idata = pm.sample(
            draws=settings.draws,
            tune=settings.warmup,
            chains=settings.chains,
            random_seed=settings.seed,
            initvals=dict(init),
            progressbar=progress,
            quiet=not progress,
            nuts_sampler=sampler,
            model=pm_model,
            compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": False},
            **kwargs,
        )
    raw = idata.sample_stats
    stats = {k: np.asarray(raw[k].values) for k in SAMPLE_STATS if k in raw}
    if sampler == "numpyro" and "lp" in stats:
        # PyMC's numpyro bridge files numpyro's potential energy (-logp) under "lp".
        stats["lp"] = -stats["lp"]
    return stats, _posterior(idata, model)


#: nutpie's sample_stats names -> specrec's (the rest are already the same).
NUTPIE_STATS = {"logp": "lp", "depth": "tree_depth", "mean_tree_accept": "acceptance_rate"}


def _sample_nutpie(
    pm_model: pm.Model,
    model: Model,
    settings: Inference,
    init: dict[str, np.ndarray],
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """nutpie called directly: ``pm.sample(nuts_sampler="nutpie")`` drops ``initvals``.

    The log density is compiled with the fastest installed pytensor linker (JAX, else numba).
    """
    import nutpie

    backend = "jax" if _compile_mode() == "JAX" else "numba"
    compiled = nutpie.compile_pymc_model(
        pm_model,
        backend=backend,
        gradient_backend="jax" if backend == "jax" else "pytensor",
        initial_points=dict(init),
        jitter_rvs=set(),
    )
    idata = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.warmup,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        maxdepth=settings.max_tree_depth,
        progress_bar=progress,
    )
    raw = idata.sample_stats
    stats = {NUTPIE_STATS.get(k, k): np.asarray(raw[k].values) for k in raw.data_vars}
    stats = {k: v for k, v in stats.items() if k in SAMPLE_STATS}
    return stats, _posterior(idata, model)


def _posterior(idata: Any, model: Model) -> dict[str, np.ndarray]:
    return {
        rv.name: np.asarray(idata.posterior[rv.name].values, dtype=np.float64)
        for rv in model.latents
    }
