"""Inference on Pyro: map (AutoDelta + Adam), vi (AutoNormal + Adam), nuts.

The model itself comes from ``translate.model_fn``; this module only runs Pyro's inference and
hands back numpy arrays in specrec's shapes.  Fits run in float32 (speed); ``log_density``
runs in float64 because it is compared with the numpy reference to 1e-6.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import pyro
import torch
from pyro.infer import SVI, JitTrace_ELBO, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoNormal, init_to_value
from pyro.infer.mcmc.util import initialize_model
from pyro.ops.integrator import potential_grad
from pyro.optim import Adam
from tqdm.auto import tqdm

from specrec.backends import FitResult, LogDensity
from specrec.model.ir import Model
from specrec.model.reference import initial_values
from specrec.spec.models import Inference
from specrec_pyro.chains import Task, init_tensors, quiet_jit_warnings, run_chains
from specrec_pyro.translate import DISTRIBUTIONS, model_fn

FIT_DTYPE = torch.float32
#: Trace the potential energy (NUTS) and the ELBO (map, vi) with ``torch.jit.trace``: on the
#: quickstart model (CPU, torch 2.13) a NUTS gradient took 1.4 ms traced vs 3.3 ms eager and
#: an SVI step about half the time.  A model that fails to trace falls back to eager mode.
JIT = True
#: torch intra-op threads during a fit.  The ops here are gathers and scatter-adds over ~1e5
#: rows, which gain little from a second thread and lose badly when the cores are shared: on
#: the ML-100k HPMF gradient (traced, float32, 2-core machine with other work running) 47 ms
#: with 1 thread against 473 ms with 2.  ``pytest -n 2``, study workers and ``compare`` next
#: to another process all share cores.  ``SPECREC_TORCH_THREADS`` overrides it.
FIT_THREADS = int(os.environ.get("SPECREC_TORCH_THREADS", "1"))


@contextlib.contextmanager
def _torch_threads(n: int):
    """Run with ``n`` torch threads, restoring the caller's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PyroBackend:
    name = "pyro"
    methods = ("map", "vi", "nuts")
    distributions = frozenset(DISTRIBUTIONS)  # the translation table's names
    features = frozenset({"mixture"})  # walk_model's MixtureObserver is implemented
    samplers = ("pyro",)  # its own NUTS only

    @property
    def version(self) -> str:
        return pyro.__version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        return []  # nothing of its own beyond the core's checks (samplers included)

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        fn = model_fn(model, FIT_DTYPE)
        init_values = init_tensors(init, FIT_DTYPE)
        pyro.clear_param_store()
        pyro.set_rng_seed(settings.seed)
        with warnings.catch_warnings(), _torch_threads(FIT_THREADS):
            quiet_jit_warnings()  # torch 2.x deprecates torch.jit.trace (see JIT)
            compile_s, jit = self._compile_time(fn, init_values)
            t0 = time.perf_counter()
            if settings.method == "nuts":
                result = self._nuts(model, settings, init, progress, jit)
            else:
                result = self._svi(fn, model, settings, init_values, progress, jit)
            result.fit_s = time.perf_counter() - t0
        result.compile_s = compile_s
        result.info["jit"] = jit
        return result

    def _compile_time(
        self, fn: Callable[[], None], init: dict[str, torch.Tensor]
    ) -> tuple[float, bool]:
        """Time to build (trace) the potential function and get its value and gradient once.

        Also says whether tracing works for this model, so the fit can fall back to eager mode.
        """
        for jit in (True, False) if JIT else (False,):
            t0 = time.perf_counter()
            try:
                params, potential_fn, _, _ = initialize_model(
                    fn,
                    init_strategy=init_to_value(values=init),
                    jit_compile=jit,
                    skip_jit_warnings=True,
                    max_plate_nesting=1,  # the rows' plate; guessing it would sample the prior
                )
                potential_grad(potential_fn, params)
            except Exception:
                if not jit:
                    raise
                continue
            return time.perf_counter() - t0, jit
        raise AssertionError("unreachable")

    def _svi(
        self,
        fn: Callable[[], None],
        model: Model,
        settings: Inference,
        init: dict[str, torch.Tensor],
        progress: bool,
        jit: bool,
    ) -> FitResult:
        pyro.clear_param_store()
        pyro.set_rng_seed(settings.seed)
        loc = init_to_value(values=init)
        guide = (
            AutoDelta(fn, init_loc_fn=loc)
            if settings.method == "map"
            else AutoNormal(fn, init_loc_fn=loc)
        )
        elbo = JitTrace_ELBO(ignore_jit_warnings=True) if jit else Trace_ELBO()
        svi = SVI(fn, guide, Adam({"lr": settings.lr}), elbo)
        losses = np.empty(settings.steps)
        bar = tqdm(range(settings.steps), desc=f"pyro {settings.method}", disable=not progress)
        for i in bar:
            loss = svi.step()
            losses[i] = loss
            if not math.isfinite(loss):  # diverged: the driver says so; no use going on
                losses = losses[: i + 1]
                break
            if progress and i % 100 == 0:
                bar.set_postfix(loss=f"{loss:.4g}")
        if not math.isfinite(losses[-1]):  # nothing to draw from a guide of NaNs
            return FitResult(settings.method, {}, loss=losses)
        names = [rv.name for rv in model.latents]
        with torch.no_grad():
            if settings.method == "map":
                point = guide.median()
                posterior = {k: point[k].numpy()[None, None] for k in names}
            else:
                # Draw from the guide alone: running the model too would evaluate the
                # likelihood on every training row for every draw, for nothing.
                draws = Predictive(
                    guide, num_samples=settings.draws, return_sites=names, parallel=True
                )()
                posterior = {k: draws[k].numpy()[None] for k in names}
        return FitResult(settings.method, posterior, loss=losses)

    def _nuts(
        self,
        model: Model,
        settings: Inference,
        init: dict[str, np.ndarray],
        progress: bool,
        jit: bool,
    ) -> FitResult:
        task = Task(model, settings, init, FIT_DTYPE, jit, FIT_THREADS)
        runs, processes = run_chains(task, progress)
        posterior = {k: np.stack([run.samples[k] for run in runs]) for k in runs[0].samples}
        diverging, lp, step_size, n_steps, accept, energy = (
            np.array([[r[i] for r in run.records] for run in runs]) for i in range(6)
        )
        stats = {
            "diverging": diverging.astype(bool),
            "lp": lp.astype(float),
            "step_size": step_size.astype(float),
            "n_steps": n_steps.astype(int),  # the driver derives tree_depth from it
            "acceptance_rate": accept.astype(float),
            "energy": energy.astype(float),  # az.bfmi, az.plot_energy
        }
        # how the chains ran, counted from the processes that sent them back
        info: dict[str, object] = {"chain_method": "parallel" if processes > 1 else "sequential"}
        if settings.chains > 1:
            info["processes"] = processes
        return FitResult("nuts", posterior, sample_stats=stats, info=info)

    def log_density(self, model: Model) -> LogDensity:
        fn = model_fn(model, torch.float64)
        # the core's start, not a prior draw: an improper site (ordered) cannot be sampled
        start = initial_values(model, np.random.default_rng(0), 0.1)
        values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in start.items()}
        _, potential_fn, _, _ = initialize_model(
            fn, init_strategy=init_to_value(values=values), max_plate_nesting=1
        )

        def call(point: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
            z = {
                k: torch.as_tensor(np.asarray(v), dtype=torch.float64).clone().requires_grad_()
                for k, v in point.items()
            }
            logp = -potential_fn(z)
            names = list(z)
            grads = torch.autograd.grad(logp, [z[k] for k in names], allow_unused=True)
            out = {
                k: (np.zeros(np.shape(z[k])) if g is None else g.detach().numpy())
                for k, g in zip(names, grads, strict=True)
            }
            return float(logp.detach()), out

        return call
