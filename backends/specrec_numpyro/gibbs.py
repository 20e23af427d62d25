"""Gibbs sampling on JAX: the core's conditionals in jax.numpy, compiled as one program.

The updates are the core's (``specrec.conjugacy.conditionals``, which take an array
namespace), so this kernel and the numpy reference cannot differ in their maths.  A sweep
visits the sites in the analysis' order; a site without a closed form gets slice steps
(Neal 2003: stepping out, then shrinkage, width 1) on each of its unconstrained elements,
on NumPyro's log density of the model plus the Jacobian of the site's transform.  Warm-up
and draws are one ``lax.scan`` over sweeps, chains are ``vmap``-ed, and the whole run is
compiled ahead of time so that ``compile_s`` is measured apart from ``fit_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import transforms as T
from numpyro.infer.util import log_density, potential_energy, unconstrain_fn

from specrec.backends import FitResult
from specrec.conjugacy import analyse, augment
from specrec.conjugacy import conditionals as cond
from specrec.conjugacy.analysis import Update
from specrec.conjugacy.probe import Arrays
from specrec.errors import FitError
from specrec.model.ir import Model, RandomVariable
from specrec.model.walk import evaluate
from specrec.spec.models import Inference
from specrec_numpyro.translate import DISTRIBUTIONS, OPS, RESPONSE, device_rows, model_fn

MAX_STEPS_OUT = 32
MAX_SHRINK = 64

#: the core's transforms (``specrec.model.distributions.TRANSFORMS``) as NumPyro transforms
TRANSFORMS: dict[str, Callable[[], T.Transform]] = {
    "identity": lambda: T.IdentityTransform(),
    "log": lambda: T.ExpTransform(),
    "logit": lambda: T.SigmoidTransform(),
    "ordered": lambda: T.OrderedTransform(),
    "corr_cholesky": lambda: T.CorrCholeskyTransform(),
    "stick_breaking": lambda: T.StickBreakingTransform(),
    "lower_cholesky": lambda: T.LowerCholeskyTransform(),
}


class JaxRandom:
    """``conditionals.Random`` on a PRNG key, split at every draw (inside one trace)."""

    def __init__(self, key: Any):
        self.key = key

    def _next(self) -> Any:
        self.key, sub = jax.random.split(self.key)
        return sub

    def normal(self, shape: tuple[int, ...]) -> Any:
        return jax.random.normal(self._next(), shape)

    def gamma(self, alpha: Any) -> Any:
        return _gamma(self._next(), jnp.asarray(alpha, jnp.result_type(float)))

    def uniform(self, shape: tuple[int, ...]) -> Any:
        return 1.0 - jax.random.uniform(self._next(), shape)  # in (0, 1]


def _gamma(key: Any, alpha: Any) -> Any:
    """Gamma(alpha, 1) draws by Marsaglia and Tsang's (2000) rejection method, all elements at
    once: every round proposes for the elements not yet accepted, until none is left (about
    one round in 20 rejects an element).  Exact, like ``jax.random.gamma``, whose
    per-element loop took most of the compile time of a Wishart update (1.3 of 1.5 CPU s).
    Shapes below 1 draw at ``alpha + 1`` and scale by ``U^(1/alpha)`` (in logs: float32
    ``U^20`` underflows).  The acceptance test ``log u < x^2/2 + d (1 - v + log v)`` is
    rewritten as ``3 d r(c x)`` with ``r(t) = log1p(t) - t + t^2/2 - t^3/3`` (a series where
    ``t`` is small): its terms of size ``d`` cancel, and in float32 at ``d`` = 5000 the
    direct form is noise."""
    key, k_boost = jax.random.split(key)
    boosted = jnp.where(alpha < 1, alpha + 1, alpha)
    d = boosted - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def propose(state: tuple) -> tuple:
        i, out, todo = state
        k_x, k_u = jax.random.split(jax.random.fold_in(key, i))
        x = jax.random.normal(k_x, alpha.shape)
        u = jax.random.uniform(k_u, alpha.shape)
        t = c * x
        ok = (t > -1) & (
            (u < 1 - 0.0331 * x**4) | (jnp.log(u) < 3 * d * _log1p_tail(jnp.where(t > -1, t, 0.0)))
        )
        take = todo & ok
        return i + 1, jnp.where(take, d * (1 + t) ** 3, out), todo & ~take

    start = (0, jnp.zeros_like(alpha), jnp.ones(alpha.shape, bool))
    _, g, _ = jax.lax.while_loop(lambda s: jnp.any(s[2]), propose, start)
    log_u = jnp.log(jax.random.uniform(k_boost, alpha.shape))
    return jnp.where(alpha < 1, jnp.exp(jnp.log(g) + log_u / alpha), g)


def _log1p_tail(t: Any) -> Any:
    """``log1p(t) - t + t^2/2 - t^3/3``, accurate for small ``t`` (its series there)."""
    series = sum((-1) ** (k + 1) * t**k / k for k in range(4, 13))
    return jnp.where(jnp.abs(t) < 0.1, series, jnp.log1p(t) - t + t**2 / 2 - t**3 / 3)


def _fori_loop(n: int, step: Callable[[Any, Any], Any], init: Any) -> Any:
    """``linalg.Loop`` as one compiled loop body, not ``n`` unrolled copies."""
    return jax.lax.fori_loop(0, n, step, init)


def serial_cholesky() -> Callable[[Any], Any]:
    """jaxlib's batched LAPACK Cholesky, each call made to wait for the one before it.

    jaxlib 0.10's batched LAPACK kernels split their batch over XLA's intra-op thread pool
    and block until it is done: two of them that XLA's scheduler starts at once (two sites'
    precisions that do not depend on each other) each hold one of a 2-core machine's two pool
    threads and wait for the other's tasks forever.  Adding ``0 *`` an element of the previous
    factor to the next input is a real data dependency (XLA keeps ``0 * x`` for floats, as
    ``x`` may be NaN), so no two factorisations of one sweep are ever in flight together.
    Measured on the 2-core machine: four independent batched factorisations beside matrix
    products hung within a few calls; chained, 200 calls ran.  Matrix products beside one
    factorisation never hung, and a global switch of the scheduler made NUTS 20 % slower.

    The factorisation is the Gibbs sweep's costliest step at larger ``D``: 0.04 s for the
    1682 item precisions of BPMF at D = 50, against 0.26 s for ``linalg``'s column loop.
    """
    last: Any = None  # an element of the previous factor, once there is one

    def cholesky(a: Any) -> Any:
        nonlocal last
        out = jnp.linalg.cholesky(a if last is None else a + 0.0 * last)
        last = out.reshape(-1)[0]
        return out

    return cholesky


def unsupported(model: Model, updates: list[Update]) -> list[str]:
    """Sites this kernel cannot slice (an interval support needs its bounds' transform)."""
    return [
        f"gibbs on numpyro: no slice step for {u.param}'s {model.latent(u.param).transform} "
        "transform"
        for u in updates
        if not u.conjugate and model.latent(u.param).transform not in TRANSFORMS
    ]


def _slice_1d(key: Any, logp: Callable[[Any], Any], x0: Any, lp0: Any) -> tuple[Any, Any]:
    """One univariate slice step from ``x0`` (log density ``lp0``): (x, logp(x))."""
    k_level, k_left, k_shrink = jax.random.split(key, 3)
    level = lp0 + jnp.log(jax.random.uniform(k_level))
    left = x0 - jax.random.uniform(k_left)
    right = left + 1.0

    def step(direction: float) -> Callable[[tuple[Any, Any]], tuple[Any, Any]]:
        return lambda s: (s[0] + direction, s[1] + 1)

    def outside(s: tuple[Any, Any]) -> Any:
        return (s[1] < MAX_STEPS_OUT) & (logp(s[0]) > level)

    left = jax.lax.while_loop(outside, step(-1.0), (left, 0))[0]
    right = jax.lax.while_loop(outside, step(1.0), (right, 0))[0]

    def shrink(s: tuple) -> tuple:
        key, lo, hi, _, _, n = s
        key, sub = jax.random.split(key)
        x = jax.random.uniform(sub, minval=lo, maxval=hi)
        lp = logp(x)
        lo = jnp.where((lp <= level) & (x < x0), x, lo)
        hi = jnp.where((lp <= level) & (x >= x0), x, hi)
        return key, lo, hi, x, lp, n + 1

    def rejected(s: tuple) -> Any:
        return (s[4] <= level) & (s[5] < MAX_SHRINK)

    init = (k_shrink, left, right, x0, level - 1.0, 0)
    _, _, _, x, lp, _ = jax.lax.while_loop(rejected, shrink, init)
    ok = lp > level  # a step that ran out of shrinks stays where it was
    return jnp.where(ok, x, x0), jnp.where(ok, lp, lp0)


def _slice_site(
    key: Any, rv: RandomVariable, values: dict[str, Any], joint: Callable[[dict], Any]
) -> Any:
    """Slice steps on each unconstrained element of ``rv`` in turn."""
    t = TRANSFORMS[rv.transform]()
    z0 = t.inv(values[rv.name])
    shape = z0.shape

    def logp_flat(z_flat: Any) -> Any:
        z = jnp.reshape(z_flat, shape)
        x = t(z)
        lp = joint({**values, rv.name: x}) + jnp.sum(t.log_abs_det_jacobian(z, x))
        return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)

    def element(i: int, carry: tuple) -> tuple:
        z, lp, key = carry
        key, sub = jax.random.split(key)
        xi, lp = _slice_1d(sub, lambda v: logp_flat(z.at[i].set(v)), z[i], lp)
        return z.at[i].set(xi), lp, key

    z = jnp.reshape(z0, (-1,))
    z, _, _ = jax.lax.fori_loop(0, z.size, element, (z, logp_flat(z), key))
    return t(jnp.reshape(z, shape))


def _slice_elements(key: Any, logp: Callable[[Any], Any], x0: Any) -> Any:
    """One slice step on every element of ``x0`` at once, for a density that factorises over
    the elements (``logp`` maps ``(n,)`` to ``(n,)``): each element has its own level and
    interval, and the loops run until every element is done, so it is ``n`` independent
    univariate slice steps (Neal 2003), not a step on their joint density."""
    k_level, k_left, k_shrink = jax.random.split(key, 3)
    lp0 = logp(x0)
    level = lp0 + jnp.log(jax.random.uniform(k_level, x0.shape))
    left = x0 - jax.random.uniform(k_left, x0.shape)

    def step_out(direction: float, start: Any) -> Any:
        def go(s: tuple) -> Any:
            return (s[1] < MAX_STEPS_OUT) & (logp(s[0]) > level)

        def body(s: tuple) -> tuple:
            more = go(s)
            return s[0] + direction * more, s[1] + more

        return jax.lax.while_loop(
            lambda s: jnp.any(go(s)), body, (start, jnp.zeros(x0.shape, int))
        )[0]

    lo, hi = step_out(-1.0, left), step_out(1.0, left + 1.0)

    def shrink(s: tuple) -> tuple:
        key, lo, hi, x, done, n = s
        key, sub = jax.random.split(key)
        prop = jax.random.uniform(sub, x0.shape, minval=lo, maxval=hi)
        ok = logp(prop) > level
        take = ~done & ok
        miss = ~done & ~ok
        lo = jnp.where(miss & (prop < x0), prop, lo)
        hi = jnp.where(miss & (prop >= x0), prop, hi)
        return key, lo, hi, jnp.where(take, prop, x), done | take, n + 1

    init = (k_shrink, lo, hi, x0, jnp.zeros(x0.shape, bool), 0)
    out = jax.lax.while_loop(lambda s: jnp.any(~s[4]) & (s[5] < MAX_SHRINK), shrink, init)
    return out[3]  # an element that ran out of shrinks stays where it was


def _mixture_scale(key: Any, p: augment.Plan, arrays: Arrays, name: str, values: dict) -> Any:
    """A mixture's scale site given the components: slice steps in ``log`` space on its
    one-dimensional conditional per element (``augment.scale_log_density``)."""
    rv = p.model.latent(name)
    n, sq = augment.scale_stats(arrays, p, name, values, values[p.name])
    prior = DISTRIBUTIONS[rv.distribution](**{a: jnp.asarray(v) for a, v in p.prior[name].items()})

    def logp(u: Any) -> Any:
        return augment.scale_log_density(jnp, u, n, sq, prior.log_prob)

    u = _slice_elements(key, logp, jnp.log(jnp.reshape(values[name], (-1,))))
    return jnp.reshape(jnp.exp(u), rv.shape)


def _augmented_step(
    p: augment.Plan, arrays: Arrays, u: Update, key: Any, values: dict[str, Any]
) -> Any:
    """One update of the data-augmentation sweep (``augment``)."""
    random, z = JaxRandom(key), values[p.name]
    if u.kind == "categorical":
        logits = augment.assignment_logits(arrays, p, values)
        return augment.draw_assignment(arrays, random, logits).astype(z.dtype)
    if u.kind == "dirichlet":
        return augment.draw_weights(arrays, random, augment.weight_params(arrays, p, z))
    if u.kind == "normal":
        prec, h = augment.mean_params(arrays, p, u.param, values, z)
        return augment.draw_mean(arrays, random, p, u.param, prec, h)
    return _mixture_scale(key, p, arrays, u.param, values)


def _node_log_prob(model: Model, arrays: Arrays, rv: RandomVariable, values: dict) -> Any:
    """The summed log density of one node (a latent's prior, or the likelihood's rows)."""
    if rv.name == model.likelihood.name:
        args = {
            k: evaluate(e, values, model.data, OPS, arrays.row_arrays) for k, e in rv.args.items()
        }
        return jnp.sum(DISTRIBUTIONS[rv.distribution](**args).log_prob(arrays.response))
    args = {k: evaluate(e, values, None, OPS) for k, e in rv.args.items()}
    event = rv.shape[len(rv.shape) - rv.event_dims :]
    extra = {"event_shape": event} if rv.dist.event_dims else {}
    return jnp.sum(DISTRIBUTIONS[rv.distribution](**args, **extra).log_prob(values[rv.name]))


def _local_log_density(model: Model, arrays: Arrays, p: cond.Plan, values: dict) -> Any:
    """The site's full conditional up to a constant: its prior and its children's densities,
    so a slice step on the noise scale skips every factor prior of the model."""
    return sum(_node_log_prob(model, arrays, rv, values) for rv in (p.rv, *p.kids))


def make_sweep(
    model: Model, updates: list[Update], rows: dict[str, Any], seed: int = 0
) -> tuple[Callable[[dict[str, Any], Any, dict[str, Any]], dict[str, Any]], dict[str, Any]]:
    """``(sweep, inputs)``: ``sweep(values, key, inputs) -> values`` is one Gibbs sweep,
    traceable by jit, scan and vmap.

    Every array the size of the data (the training rows, each child's block per row) is in
    ``inputs``, an argument of the compiled program, never a constant closed over: XLA folds
    and copies constants at compile time; for BPMF's sweep on ML-100k the constants made the
    program text 4.3 MB instead of 0.7 MB and its compile about twice as long (38 s against
    22 s, measured one after the other on the loaded 2-core machine).
    """
    mix = augment.plan(model) if augment.is_augmented(updates) else None
    plans = [] if mix else [cond.plan(model, u, seed, batched_grams=True) for u in updates]
    inputs = {
        "rows": rows,
        "blocks": [{k: v for k, v in p.blocks.items() if v is not None} for p in plans],
        "which": [dict(p.which) for p in plans],
        "grams": [dict(p.grams) for p in plans],
        "mixture": {} if mix is None else mix.arrays(),
    }
    fn = model_fn(model)

    def sweep(values: dict[str, Any], key: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        rows = inputs["rows"]
        arrays = Arrays(
            jnp,
            OPS,
            {k: v for k, v in rows.items() if k != RESPONSE},
            response=rows[RESPONSE],
            loop=_fori_loop,
            lapack_cholesky=serial_cholesky(),
        )

        def joint(values: dict[str, Any]) -> Any:
            return log_density(fn, (rows,), {}, values)[0]

        if mix is not None:  # the components are sampled: every update is of its own kind
            p = mix.with_arrays(inputs["mixture"])
            for u, k in zip(updates, jax.random.split(key, len(updates)), strict=True):
                new = _augmented_step(p, arrays, u, k, values)
                values = {**values, u.param: jnp.asarray(new, values[u.param].dtype)}
            return values

        traced = [
            replace(p, blocks={**p.blocks, **b}, which=w, grams=gm)
            for p, b, w, gm in zip(
                plans, inputs["blocks"], inputs["which"], inputs["grams"], strict=True
            )
        ]
        for p, k in zip(traced, jax.random.split(key, len(traced)), strict=True):
            if p.update.conjugate:
                new = cond.draw(arrays, JaxRandom(k), model, p, values)
            elif model.mixture is None:
                target = partial(_local_log_density, model, arrays, p)
                new = _slice_site(k, p.rv, values, target)
            else:  # the summed-out choice couples every site to the whole likelihood
                new = _slice_site(k, p.rv, values, joint)
            values = {**values, p.rv.name: jnp.asarray(new, values[p.rv.name].dtype)}
        return values

    return sweep, inputs


def fit_gibbs(
    model: Model, settings: Inference, init: dict[str, np.ndarray], progress: bool
) -> FitResult:
    """``settings.chains`` chains of ``warmup + draws * thin`` sweeps from ``init``, keeping
    every ``thin``-th after warm-up.

    ``sample_stats["lp"]`` is each kept draw's log density (unconstrained, Jacobians
    included: NUTS' ``lp`` and the core sampler's), computed in the same program after the
    sweeps, so ArviZ's tools that read ``sample_stats`` find the group and a trace of ``lp``
    shows a chain still drifting."""
    t0 = time.perf_counter()
    updates = analyse(model, settings.seed)
    reasons = unsupported(model, updates)
    if reasons:
        raise FitError("; ".join(reasons))
    rows = device_rows(model)
    sweep, inputs = make_sweep(model, updates, rows, settings.seed)
    dtype = jnp.result_type(float)
    start = {rv.name: jnp.asarray(init[rv.name], dtype) for rv in model.latents}
    if augment.is_augmented(updates):  # drawn first in every sweep; the start is never read
        mix = augment.plan(model)
        start[mix.name] = jnp.zeros(mix.n_levels, jnp.int32)

    warmup, draws, thin = settings.warmup, settings.draws, settings.thin

    def chain(key: Any, start: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        # one scan over warm-up and draws (the sweep is traced and compiled once, not once per
        # phase); sweep i after warm-up lands in slot (i - warmup) // thin, so each slot ends
        # holding the last sweep of its group of thin, and warm-up sweeps write slot 0 until
        # the first kept draw overwrites it
        kept = {k: jnp.zeros((draws, *v.shape), v.dtype) for k, v in start.items()}

        def step(carry: tuple, i: Any) -> tuple:
            values, kept = carry
            # sweep i's key depends on i alone, so thin=2 keeps exactly every second sweep
            # of the thin=1 chain with the same seed
            values = sweep(values, jax.random.fold_in(key, i), inputs)
            slot = jnp.maximum(i - warmup, 0) // thin
            kept = {
                n: jax.lax.dynamic_update_index_in_dim(kept[n], values[n], slot, 0) for n in kept
            }
            return (values, kept), None

        return jax.lax.scan(step, (start, kept), jnp.arange(warmup + draws * thin))[0][1]

    fn = model_fn(model)
    names = [rv.name for rv in model.latents]

    def log_prob(values: dict[str, Any], rows: dict[str, Any]) -> Any:
        # NUTS' ``lp``: the log joint of the unconstrained point, Jacobians included
        params = {n: values[n] for n in names}
        return -potential_energy(fn, (rows,), {}, unconstrain_fn(fn, (rows,), {}, params))

    def chain_and_lp(key: Any, start: dict[str, Any], inputs: dict[str, Any]) -> tuple:
        kept = chain(key, start, inputs)
        # one draw at a time (lax.map): draws x rows at once would not fit at scale
        lp = jax.lax.map(lambda v: log_prob(v, inputs["rows"]), kept)
        return kept, lp

    keys = jax.random.split(jax.random.PRNGKey(settings.seed), settings.chains)
    program = jax.jit(jax.vmap(chain_and_lp, in_axes=(0, None, None)))
    run = program.lower(keys, start, inputs).compile()
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    out, lp = jax.block_until_ready(run(keys, start, inputs))
    fit_s = time.perf_counter() - t1
    posterior = {
        k: np.asarray(v, dtype=np.int64 if v.dtype == jnp.int32 else float) for k, v in out.items()
    }
    for name, v in posterior.items():
        if not np.all(np.isfinite(v)):
            raise FitError(f"gibbs: non-finite draws of {name}")
    return FitResult(
        "gibbs",
        posterior,
        sample_stats={"lp": np.asarray(lp, dtype=float)},  # as the core's gibbs reports
        compile_s=compile_s,
        fit_s=fit_s,
        info={
            "updates": [str(u) for u in updates],
            "slice_steps": [u.param for u in updates if not u.conjugate],
        },
    )
