"""Inference on PyMC: map (Adam on the compiled log density), vi (mean-field ADVI), nuts.

Every fit builds a fresh ``pm.Model`` (``translate.build_model``) and returns plain arrays in
specrec's names; specrec builds the InferenceData itself, so nothing PyMC-specific leaks out.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_fn

from specrec.backends import SAMPLE_STATS, FitResult, LogDensity
from specrec.errors import FitError
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

#: Adam's constants, as in optax / numpyro.optim.Adam, so ``lr`` means the same on every backend.
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8

#: Initial standard deviation of the mean-field guide, as numpyro's AutoNormal(init_scale=0.1).
GUIDE_INIT_SCALE = 0.1
HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))

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


def _constrained_fn(pm_model: pm.Model, model: Model) -> Callable[..., list[np.ndarray]]:
    """Unconstrained values -> each latent's constrained value, through PyMC's own transforms."""
    by_name = {v.name: v for v in pm_model.unobserved_value_vars}
    outs = [by_name[rv.name] for rv in model.latents]
    fn = _compile_runnable(pm_model, outs, pm_model.value_vars, on_unused_input="ignore")
    return lambda *values: [np.asarray(v, dtype=np.float64) for v in fn(*values)]


def _unconstrain(pm_model: pm.Model, init: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Constrained init -> unconstrained values in ``value_vars`` order, by PyMC's transforms.

    This is PyMC's own initial-point machinery with the init as overrides and no jitter, so
    the start is exactly the point the core chose, mapped by the transforms PyMC will use.
    """
    ipfn = make_initial_point_fn(
        model=pm_model, overrides=dict(init), jitter_rvs=set(), return_transformed=True
    )
    point = ipfn(0)
    return [np.array(point[v.name], dtype=np.float64) for v in pm_model.value_vars]


def _cores(chains: int) -> int:
    """Processes for PyMC's own sampler: one per chain, unless forking would be unsafe.

    PyMC forks its chain processes; forking a process in which JAX or torch already started
    their thread pools can deadlock, so then the chains run in this process instead.
    """
    if any(m in sys.modules for m in ("jax", "torch")):
        return 1
    return min(chains, os.cpu_count() or 1)


class PyMCBackend:
    name = "pymc"
    methods = ("map", "vi", "nuts")
    distributions = frozenset(DISTRIBUTIONS)  # the translation table's names
    features = frozenset({"mixture"})  # walk_model's MixtureObserver is implemented

    @property
    def version(self) -> str:
        return pm.__version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        reasons = []
        sampler = settings.sampler
        if sampler is not None:
            if sampler not in SAMPLERS:
                reasons.append(
                    f"sampler {sampler!r} is unknown to the pymc backend; "
                    f"choose one of {', '.join(SAMPLERS)}"
                )
            elif importlib.util.find_spec(SAMPLERS[sampler]) is None:
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
        model = model.subsampled(settings.batch_size)
        if settings.method not in self.methods:
            raise FitError(f"the pymc backend has no method {settings.method!r}")
        with _float64():
            t0 = time.perf_counter()
            pm_model = build_model(model)
            if settings.method == "nuts":
                # The sampler compiles its own log density inside pm.sample (that time is in
                # fit_s); compiling ours too would only cost seconds for nothing.
                compile_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                result = self._nuts(pm_model, model, settings, init, progress)
            else:
                # MAP is the mode of the posterior itself (no Jacobian), as find_MAP and
                # numpyro's AutoDelta define it; map and vi both run on this one function.
                grad = _compile_logp_dlogp(pm_model, jacobian=settings.method != "map")
                compile_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                optimise = self._map if settings.method == "map" else self._vi
                result = optimise(pm_model, model, settings, init, grad, progress)
        result.fit_s = time.perf_counter() - t0
        result.compile_s = compile_s
        return result

    def _map(
        self,
        pm_model: pm.Model,
        model: Model,
        settings: Inference,
        init: dict[str, np.ndarray],
        grad: Grad,
        progress: bool,
    ) -> FitResult:
        """Adam on -log p from the jittered init (find_MAP's own start, U=V=0, is a saddle)."""
        x = _unconstrain(pm_model, init)
        adam = _Adam(x, settings.lr)
        losses = np.empty(settings.steps)
        bar = _Progress(settings, progress)
        for t in range(settings.steps):
            logp, g = grad(x)
            losses[t] = -logp
            adam.ascend(g)
            bar.update(t, losses)
        bar.close()
        _check_finite(losses, settings)
        point = _constrained_fn(pm_model, model)(*x)
        posterior = {rv.name: v[None, None] for rv, v in zip(model.latents, point, strict=True)}
        return FitResult("map", posterior, loss=losses)

    def _vi(
        self,
        pm_model: pm.Model,
        model: Model,
        settings: Inference,
        init: dict[str, np.ndarray],
        grad: Grad,
        progress: bool,
    ) -> FitResult:
        """Mean-field ADVI with Adam from the jittered init, over PyMC's compiled log density.

        The same algorithm as ``pm.fit(method="advi")`` (a Normal per unconstrained value with
        scale softplus(rho), one reparameterised draw per step, the Gaussian entropy in closed
        form), run by this loop so that the log density is compiled once with the fastest
        linker (``COMPILE_MODES``): ``pm.fit`` compiles its step with the C linker, and the JAX
        linker cannot compile its random draws.  On ML-100k HPMF that is the difference between
        ~175 s and ~30 s for 4000 steps.  PyMC's default optimiser (adagrad_window) and start
        (U = V = 0) leave this kind of model where it started; Adam at ``lr`` from the core's
        start moves it.  The guide starts with scale ``GUIDE_INIT_SCALE`` as numpyro's
        AutoNormal does (PyMC's softplus(0) = 0.69 left sigma at ~1.6 after 1000 steps on the
        quickstart spec, against 0.63 with 0.1).  The loss is the negative ELBO estimate of the
        step's draw, ``-(log p(z) - log q(z))``, the quantity numpyro and Pyro report.
        """
        rng = np.random.default_rng(settings.seed)
        mu = _unconstrain(pm_model, init)
        rho = [np.full_like(m, _softplus_inverse(GUIDE_INIT_SCALE)) for m in mu]
        adam = _Adam(mu + rho, settings.lr)
        n_values = sum(m.size for m in mu)
        losses = np.empty(settings.steps)
        bar = _Progress(settings, progress)
        for t in range(settings.steps):
            eps = [rng.standard_normal(m.shape) for m in mu]
            scale = [_softplus(r) for r in rho]
            z = [m + s * e for m, s, e in zip(mu, scale, eps, strict=True)]
            logp, g = grad(z)
            log_q = (
                sum(
                    float(np.sum(-0.5 * e * e - np.log(s))) for e, s in zip(eps, scale, strict=True)
                )
                - HALF_LOG_2PI * n_values
            )
            losses[t] = log_q - logp
            # d ELBO / d mu = g;  d ELBO / d rho = (g * eps + 1 / scale) * softplus'(rho)
            g_rho = [
                (gi * e + 1.0 / s) * _sigmoid(r)
                for gi, e, s, r in zip(g, eps, scale, rho, strict=True)
            ]
            adam.ascend(g + g_rho)
            bar.update(t, losses)
        bar.close()
        _check_finite(losses, settings)
        scale = [_softplus(r) for r in rho]
        to_constrained = _constrained_fn(pm_model, model)
        draws: list[list[np.ndarray]] = [[] for _ in model.latents]
        for _ in range(settings.draws):
            z = [m + s * rng.standard_normal(m.shape) for m, s in zip(mu, scale, strict=True)]
            for i, v in enumerate(to_constrained(*z)):
                draws[i].append(v)
        posterior = {rv.name: np.stack(d)[None] for rv, d in zip(model.latents, draws, strict=True)}
        return FitResult("vi", posterior, loss=losses)

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
        for k, dtype in (("diverging", bool), ("n_steps", np.int64), ("tree_depth", np.int64)):
            if k in stats:
                stats[k] = stats[k].astype(dtype)
        return FitResult("nuts", posterior, sample_stats=stats, info={"sampler": sampler})

    def log_density(self, model: Model) -> LogDensity:
        with _float64():
            pm_model = build_model(model)
            grad = _compile_logp_dlogp(pm_model, jacobian=True)
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
        kwargs["nuts_sampler_kwargs"] = {
            "jitter": False,
            "nuts_kwargs": {"max_tree_depth": settings.max_tree_depth},
        }
    elif sampler == "blackjax":
        # pmap over chains needs a device per chain; this is a CPU with one JAX device.
        kwargs["target_accept"] = settings.target_accept
        kwargs["nuts_sampler_kwargs"] = {"jitter": False, "chain_method": "vectorized"}
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


class _Adam:
    """Adam ascending an objective, as optax / numpyro.optim.Adam / torch define it.

    Shared by map and vi, with the constants of the other backends, so ``lr`` means the same
    step everywhere.  ``params`` are updated in place.
    """

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


class _Progress:
    """A tqdm bar for the optimisers, updated every 100 steps with the recent loss."""

    def __init__(self, settings: Inference, progress: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=settings.steps, desc=f"pymc {settings.method}", disable=not progress)

    def update(self, t: int, losses: np.ndarray) -> None:
        if (t + 1) % 100 == 0 or t + 1 == self.bar.total:
            self.bar.update(t + 1 - self.bar.n)
            self.bar.set_postfix(loss=f"{losses[t]:.4g}", refresh=False)

    def close(self) -> None:
        self.bar.close()


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _softplus_inverse(y: float) -> float:
    return float(np.log(np.expm1(y)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _check_finite(losses: np.ndarray, settings: Inference) -> None:
    if not np.all(np.isfinite(losses[-10:])):
        raise FitError(
            f"{settings.method} diverged: the loss became {losses[-1]} (try a smaller lr)"
        )
