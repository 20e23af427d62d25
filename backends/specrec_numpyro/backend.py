"""Inference on NumPyro: map (AutoDelta + Adam), vi (AutoNormal + Adam), nuts."""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.infer import MCMC, NUTS, SVI, init_to_value
from numpyro.infer.autoguide import AutoDelta, AutoNormal
from numpyro.infer.util import potential_energy
from specrec_jax import cache

from specrec.backends import FitResult, LogDensity
from specrec.model.ir import Model
from specrec.model.reference import constrain
from specrec.progress import Counter
from specrec.spec.models import Inference
from specrec_numpyro.elbo import OrderedTraceELBO
from specrec_numpyro.gibbs import fit_gibbs
from specrec_numpyro.translate import DISTRIBUTIONS, device_rows, model_fn


def _run_svi(
    svi: SVI, key: Any, steps: int, progress: bool, label: str, rows: dict[str, Any]
) -> tuple[dict, np.ndarray, float]:
    """Optimise in compiled chunks of ``lax.scan``: progress without a Python call per step.

    ``SVI.run(progress_bar=True)`` dispatches every step from Python, which doubles the wall
    time of a 4000-step fit on 90,000 ratings; 20 scanned chunks cost one compile and ~nothing.
    The chunk is compiled ahead of time, so that compile time is measured apart from fitting;
    the training ``rows`` are an input of the compiled chunk, not constants baked into it.
    Returns (params, loss per step, compile seconds).
    """
    t0 = time.perf_counter()
    # compiled as one program: run eagerly, the guide's set-up (initialize_model, a value and
    # gradient to check the start) traced and lowered ~200 single-primitive programs, 1-3 s of
    # a quickstart map fit even when every one came from the persistent compilation cache (JAX
    # lowers before it looks a program up); jitted it is 13 programs in all, same fit
    state = jax.jit(svi.init)(key, rows)
    size = -(-steps // min(20, steps))
    sizes = [size] * (steps // size) + ([steps % size] if steps % size else [])

    def chunk(state: Any, data: dict[str, Any], n: int) -> tuple[Any, jnp.ndarray]:
        return jax.lax.scan(lambda s, _: svi.update(s, data), state, None, length=n)

    step = jax.jit(chunk, static_argnums=2)
    compiled = {n: step.lower(state, rows, n).compile() for n in set(sizes)}
    compile_s = time.perf_counter() - t0
    losses, done = [], 0
    line = Counter(progress)
    for n in sizes:
        state, part = compiled[n](state, rows)
        losses.append(np.asarray(part, dtype=float))
        done += n
        line.show(f"{label}: step {done}/{steps}  loss {float(part[-1]):.4g}")
    line.close()
    return svi.get_params(state), np.concatenate(losses), compile_s


#: JAX's own compile events: tracing to a jaxpr, lowering to MLIR, XLA's compile.
JAX_COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    }
)


@contextlib.contextmanager
def _jax_compile_time() -> Iterator[Callable[[], float]]:
    """Seconds JAX spends tracing and compiling inside the block, read from its monitoring
    events; yields a function returning the total so far.

    Tracing an outer function traces the inner jitted ones inside it, so the events' time
    spans nest; their union is counted, never a nested span twice.
    """
    spans: list[tuple[float, float]] = []

    def listen(event: str, start: float, end: float, **_: Any) -> None:
        if event in JAX_COMPILE_EVENTS:
            spans.append((start, end))

    def total() -> float:
        covered, reach = 0.0, float("-inf")
        for start, end in sorted(spans):
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        return covered

    jax.monitoring.register_event_time_span_listener(listen)
    try:
        yield total
    finally:
        jax.monitoring.unregister_event_time_span_listener(listen)


class NumPyroBackend:
    name = "numpyro"
    methods = ("map", "vi", "nuts", "gibbs")
    distributions = frozenset(DISTRIBUTIONS)  # the translation table's names
    features = frozenset({"mixture"})  # walk_model's MixtureObserver is implemented
    samplers = ("numpyro",)  # its own NUTS only

    def compile_cache(self) -> dict[str, object] | None:
        """JAX's persistent compilation cache (``specrec_jax.cache``) for the fit's report."""
        return cache.report()

    @property
    def version(self) -> str:
        return numpyro.__version__

    def unsupported(self, model: Model, settings: Inference) -> list[str]:
        return []  # nothing of its own beyond the core's checks (samplers included)

    def fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        """Fit in float32 (``model_fn``'s default dtype) whatever x64 state the process is in.

        Other libraries switch JAX's x64 mode on for the whole process (pytensor's JAX linker,
        used by the pymc backend, does at import); a numpyro fit after a pymc one in the same
        process (``specrec compare``, a study worker) must not silently become a float64 fit.
        """
        with jax.enable_x64(False):
            return self._fit(model, settings, init, progress)

    def _fit(
        self, model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
    ) -> FitResult:
        if settings.method == "gibbs":
            return fit_gibbs(model, settings, init, progress)
        fn = model_fn(model)
        init_values = {k: jnp.asarray(v, dtype=jnp.result_type(float)) for k, v in init.items()}
        key = jax.random.PRNGKey(settings.seed)
        if settings.method == "nuts":
            # NUTS traces and compiles inside MCMC.run: that time is measured where it is
            # spent (``_jax_compile_time``) and taken out of the wall time, instead of
            # compiling the log density a second time just to time it.
            t0 = time.perf_counter()
            with _jax_compile_time() as compile_s:
                result = self._nuts(fn, settings, init_values, key, progress)
            result.compile_s = compile_s()
            result.fit_s = max(0.0, time.perf_counter() - t0 - result.compile_s)
            return result
        t0 = time.perf_counter()
        result = self._svi(fn, model, settings, init_values, key, progress)
        result.fit_s = time.perf_counter() - t0 - result.compile_s
        return result

    def _svi(self, fn, model, settings, init, key, progress) -> FitResult:
        loc = init_to_value(values=init)
        guide = (
            AutoDelta(fn, init_loc_fn=loc)
            if settings.method == "map"
            else AutoNormal(fn, init_loc_fn=loc)
        )
        svi = SVI(fn, guide, numpyro.optim.Adam(settings.lr), OrderedTraceELBO())
        rows = device_rows(model)
        params, losses, compile_s = _run_svi(
            svi, key, settings.steps, progress, settings.method, rows
        )
        if settings.method == "map":
            point = guide.median(params)
            posterior = {k: np.asarray(v)[None, None] for k, v in point.items()}
        else:
            posterior = _guide_draws(model, params, settings.draws, jax.random.fold_in(key, 1))
        return FitResult(settings.method, posterior, loss=losses, compile_s=compile_s)

    def _nuts(self, fn, settings, init, key, progress) -> FitResult:
        kernel = NUTS(
            fn,
            target_accept_prob=settings.target_accept,
            max_tree_depth=settings.max_tree_depth,
            init_strategy=init_to_value(values=init),
        )
        # several chains: each on its own CPU device, one at a time with one device
        devices = jax.local_devices()[: min(settings.chains, jax.local_device_count())]
        mcmc = MCMC(
            kernel,
            num_warmup=settings.warmup,
            num_samples=settings.draws,
            num_chains=settings.chains,
            chain_method=_on_devices(devices, progress) if settings.chains > 1 else "sequential",
            # NumPyro draws no bar for a chain_method of ours (``_on_devices`` says when each
            # chain is done instead)
            progress_bar=progress and settings.chains == 1,
        )
        mcmc.run(
            key,
            extra_fields=(
                "diverging",
                "potential_energy",
                "energy",
                "num_steps",
                "accept_prob",
                "adapt_state.step_size",
            ),
        )
        samples = mcmc.get_samples(group_by_chain=True)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        n_steps = np.asarray(extra["num_steps"])
        stats = {
            "diverging": np.asarray(extra["diverging"], dtype=bool),
            "lp": -np.asarray(extra["potential_energy"], dtype=float),
            "n_steps": n_steps,  # the driver derives tree_depth from it
            "acceptance_rate": np.asarray(extra["accept_prob"], dtype=float),
            "step_size": np.asarray(extra["adapt_state.step_size"], dtype=float),
            "energy": np.asarray(extra["energy"], dtype=float),  # az.bfmi, az.plot_energy
        }
        posterior = {k: np.asarray(v) for k, v in samples.items()}
        info = {"chain_method": "parallel" if len(devices) > 1 else "sequential"}
        if settings.chains > 1:
            info["devices"] = len(devices)
        return FitResult("nuts", posterior, sample_stats=stats, info=info)

    def log_density(self, model: Model) -> LogDensity:
        """float64 log density and gradient; x64 is switched on only around these calls.

        A subsampled model (``model.batch_size``) draws a fresh minibatch at every call, so
        the value is the unbiased estimate minibatch vi optimises.
        """
        calls = itertools.count()
        with jax.enable_x64(True):
            fn = model_fn(model, dtype=jnp.float64)

            def f(z: dict[str, Any], key: Any) -> Any:
                return -potential_energy(handlers.seed(fn, key), (), {}, z)

            vg = jax.jit(jax.value_and_grad(f))

        def call(point: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
            with jax.enable_x64(True):
                z = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in point.items()}
                value, grad = vg(z, jax.random.PRNGKey(next(calls)))
                return float(value), {k: np.asarray(v) for k, v in grad.items()}

        return call


def _on_devices(devices: list[Any], progress: bool) -> Callable[[Callable], Callable]:
    """NumPyro's ``chain_method``: chain ``i`` runs on ``devices[i % len(devices)]``, as one
    program compiled for one device, so the chains run in parallel on a machine's cores
    (``specrec_jax.xla_flags.use_host_devices`` makes a CPU device per core) and in turn with
    one device, with the same draws bit for bit (``tests/backends/test_parallel_chains.py``).

    NumPyro's own ``"parallel"`` (a ``pmap`` over the chains) is not used: in JAX 0.10 a
    ``pmap`` over two devices is one program partitioned across them, whose draws differed
    from the same chains run one at a time in the last bits of the log density and then
    wholly, after 100 warm-up steps of the quickstart.  Dispatch is asynchronous, so the loop
    below returns before the chains are done; the next chain compiles while the first runs
    (that overlap counts as compile time in ``compile_s``, not in ``fit_s``).
    """

    def transform(f: Callable) -> Callable:
        chain = jax.jit(f)

        def run(xs: Any) -> Any:
            n = jax.tree.leaves(xs)[0].shape[0]
            if progress:
                on = f"{len(devices)} CPU devices at once" if len(devices) > 1 else "one by one"
                print(f"nuts: {n} chains, {on}", file=sys.stderr, flush=True)
            outs = []
            for i in range(n):
                device = devices[i % len(devices)]
                x = jax.device_put(jax.tree.map(partial(_take, i=i), xs), device)
                with jax.default_device(device):
                    outs.append(chain(x))
            if progress:
                for i, out in enumerate(outs):
                    jax.block_until_ready(out)
                    print(f"nuts: chain {i + 1}/{n} done", file=sys.stderr, flush=True)
            home = devices[0]
            return jax.tree.map(lambda *a: jnp.stack([jax.device_put(x, home) for x in a]), *outs)

        return run

    return transform


def _take(a: Any, i: int) -> Any:
    return a[i]


def _guide_draws(model: Model, params: dict[str, Any], n: int, key: Any) -> dict[str, np.ndarray]:
    """``n`` draws from the AutoNormal guide, constrained by the core's maps: (1, n, *shape).

    ``guide.sample_posterior`` runs the model under ``vmap`` to constrain the draws, which
    evaluates the likelihood on every training row for every draw: at 10M ratings that held
    draws x rows x factors floats (11 GB).  The guide is a Normal per unconstrained element,
    and the core knows each latent's map (the same one NumPyro's ``biject_to`` applies, as
    ``specrec check`` verifies), so the draws need only the guide's parameters.
    """
    out = {rv.name: np.empty((1, n, *rv.shape)) for rv in model.latents}
    z = {}
    for i, rv in enumerate(model.latents):
        loc = np.asarray(params[f"{rv.name}_auto_loc"], dtype=float)
        scale = np.asarray(params[f"{rv.name}_auto_scale"], dtype=float)
        eps = np.asarray(jax.random.normal(jax.random.fold_in(key, i), (n, *loc.shape)))
        z[rv.name] = loc + scale * eps
    for d in range(n):
        point = constrain(model, {name: v[d] for name, v in z.items()})
        for name, v in point.items():
            out[name][0, d] = v
    return out
