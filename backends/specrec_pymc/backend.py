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

#: Tried in order when ``settings.sampler`` is None: the first whose module imports is used.
#: Measured on the quickstart spec (2,592 rows, 2 chains x 300 warm-up + 300 draws, 2 cores):
#: numpyro through PyMC 25.7 s, PyMC's own NUTS 31.1 s in two processes and 43.7 s in one
#: (same draws either way).  On tiny data (324 rows) JAX's compile dominates and PyMC's own
#: NUTS is faster (6 s against 15 s), but the models people fit are not tiny.
DEFAULT_SAMPLERS = ("numpyro", "pymc")

#: Adam's constants, as in optax / numpyro.optim.Adam, so ``lr`` means the same on every backend.
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8

#: Initial standard deviation of the mean-field guide, as numpyro's AutoNormal(init_scale=0.1).
GUIDE_INIT_SCALE = 0.1

Grad = Callable[[list[np.ndarray]], tuple[float, list[np.ndarray]]]


def _default_sampler() -> str:
    return next(s for s in DEFAULT_SAMPLERS if importlib.util.find_spec(SAMPLERS[s]) is not None)


def _float64() -> Any:
    """Build and compile in float64 whatever the user's pytensor config says (parity needs it)."""
    return pytensor.config.change_flags(floatX="float64")


def _compile_logp_dlogp(pm_model: pm.Model, jacobian: bool) -> Grad:
    """One compiled function: unconstrained values (``value_vars`` order) -> logp, grads."""
    inputs = pm_model.value_vars
    logp = pm_model.logp(jacobian=jacobian)
    grads = pt.grad(logp, inputs)
    fn = pm_model.compile_fn([logp, *grads], inputs=inputs, point_fn=False)

    def call(values: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        out = fn(*values)
        return float(out[0]), [np.asarray(g) for g in out[1:]]

    return call


def _constrained_fn(pm_model: pm.Model, model: Model) -> Callable[..., list[np.ndarray]]:
    """Unconstrained values -> each latent's constrained value, through PyMC's own transforms."""
    by_name = {v.name: v for v in pm_model.unobserved_value_vars}
    outs = [by_name[rv.name] for rv in model.latents]
    return pm_model.compile_fn(
        outs, inputs=pm_model.value_vars, point_fn=False, on_unused_input="ignore"
    )


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

    @property
    def version(self) -> str:
        return pm.__version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        reasons = []
        for rv in (*model.latents, model.likelihood):
            if rv.distribution not in DISTRIBUTIONS:
                reasons.append(f"distribution {rv.distribution} is not supported by pymc")
        if settings.batch_size is not None:
            reasons.append("minibatch vi (batch_size) is not implemented yet")
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
        return reasons

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        with _float64():
            pm_model = build_model(model)
            t0 = time.perf_counter()
            # MAP is the mode of the posterior itself (no Jacobian), as find_MAP and
            # numpyro's AutoDelta define it; the compiled function is reused by _map.
            grad = _compile_logp_dlogp(pm_model, jacobian=settings.method != "map")
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            if settings.method == "map":
                result = self._map(pm_model, model, settings, init, grad)
            elif settings.method == "vi":
                result = self._vi(pm_model, model, settings, init, progress)
            elif settings.method == "nuts":
                result = self._nuts(pm_model, model, settings, init, progress)
            else:
                raise FitError(f"the pymc backend has no method {settings.method!r}")
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
    ) -> FitResult:
        """Adam on -log p from the jittered init (find_MAP's own start, U=V=0, is a saddle)."""
        x = _unconstrain(pm_model, init)
        m = [np.zeros_like(a) for a in x]
        s = [np.zeros_like(a) for a in x]
        losses = np.empty(settings.steps)
        for t in range(1, settings.steps + 1):
            logp, g = grad(x)
            losses[t - 1] = -logp
            b1t, b2t = 1 - ADAM_B1**t, 1 - ADAM_B2**t
            for i, gi in enumerate(g):
                # ascend logp == descend the loss -logp
                m[i] = ADAM_B1 * m[i] + (1 - ADAM_B1) * gi
                s[i] = ADAM_B2 * s[i] + (1 - ADAM_B2) * gi * gi
                x[i] = x[i] + settings.lr * (m[i] / b1t) / (np.sqrt(s[i] / b2t) + ADAM_EPS)
        _check_finite(losses, settings)
        point = _constrained_fn(pm_model, model)(*x)
        posterior = {
            rv.name: np.asarray(v, dtype=np.float64)[None, None]
            for rv, v in zip(model.latents, point, strict=True)
        }
        return FitResult("map", posterior, loss=losses)

    def _vi(
        self,
        pm_model: pm.Model,
        model: Model,
        settings: Inference,
        init: dict[str, np.ndarray],
        progress: bool,
    ) -> FitResult:
        """Mean-field ADVI with Adam from the jittered init.

        PyMC's default optimiser (adagrad_window) and its default start (U = V = 0) leave this
        kind of model where it started; Adam at ``lr`` from the core's start is what moves it.
        The guide starts with scale ``GUIDE_INIT_SCALE`` (numpyro's AutoNormal default) rather
        than PyMC's softplus(0) = 0.69, which on the quickstart spec left sigma at ~1.6 after
        1000 steps (0.63 with 0.1, as on numpyro).
        """
        names = value_names(pm_model, model)
        approx = pm.fit(
            n=settings.steps,
            method="advi",
            model=pm_model,
            obj_optimizer=pm.adam(learning_rate=settings.lr),
            start=dict(init),
            start_sigma={v: GUIDE_INIT_SCALE for v in names.values()},
            random_seed=settings.seed,
            progressbar=progress,
        )
        losses = np.asarray(approx.hist, dtype=float)
        _check_finite(losses, settings)
        idata = approx.sample(settings.draws, random_seed=settings.seed + 1)
        posterior = {
            rv.name: np.asarray(idata.posterior[rv.name].values, dtype=np.float64)
            for rv in model.latents
        }
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
        else:
            kwargs["target_accept"] = settings.target_accept
            if sampler == "numpyro":
                kwargs["nuts_sampler_kwargs"] = {
                    "jitter": False,
                    "nuts_kwargs": {"max_tree_depth": settings.max_tree_depth},
                }
            elif sampler == "blackjax":  # untested here: blackjax is not installed
                kwargs["nuts_sampler_kwargs"] = {"jitter": False}
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
        posterior = {
            rv.name: np.asarray(idata.posterior[rv.name].values, dtype=np.float64)
            for rv in model.latents
        }
        raw = idata.sample_stats
        stats = {k: np.asarray(raw[k].values) for k in SAMPLE_STATS if k in raw}
        if sampler == "numpyro" and "lp" in stats:
            # PyMC's numpyro bridge files numpyro's potential energy (-logp) under "lp".
            stats["lp"] = -stats["lp"]
        for k, dtype in (("diverging", bool), ("n_steps", np.int64), ("tree_depth", np.int64)):
            if k in stats:
                stats[k] = stats[k].astype(dtype)
        info = {"sampler": sampler}
        return FitResult("nuts", posterior, sample_stats=stats, info=info)

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


def _check_finite(losses: np.ndarray, settings: Inference) -> None:
    if not np.all(np.isfinite(losses[-10:])):
        raise FitError(
            f"{settings.method} diverged: the loss became {losses[-1]} (try a smaller lr)"
        )
