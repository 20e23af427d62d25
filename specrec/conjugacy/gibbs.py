"""The numpy Gibbs sampler: the reference every backend's Gibbs kernel is checked against.

A sweep visits the sites in the analysis' order and replaces each by a draw from its full
conditional given the current values of all others: a closed-form draw (``conditionals``)
where the analysis found one, else a slice step.  The slice step (Neal 2003, stepping out
and shrinkage, width 1) runs in the site's unconstrained space on the reference log density
(Jacobians included), one element at a time; each element's step leaves its full conditional
invariant, so the sweep leaves the posterior invariant.  Chains start from the same point with
independent random streams, as NumPyro's MCMC does with ``init_to_value``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from specrec.backends import FitResult
from specrec.conjugacy import augment
from specrec.conjugacy import conditionals as cond
from specrec.conjugacy.analysis import Update, analyse
from specrec.conjugacy.probe import NUMPY
from specrec.model.ir import Model
from specrec.model.reference import constrain, log_density, unconstrain
from specrec.progress import Counter
from specrec.spec.models import Inference

MAX_STEPS_OUT = 32


def refusal_reasons(model: Model, settings: Inference) -> list[str]:
    """Why Gibbs cannot run this model with these settings (empty: it can)."""
    reasons = []
    if settings.batch_size is not None:
        reasons.append("gibbs uses every row in every sweep; drop batch_size (a vi setting)")
    return reasons


def slice_1d(
    logp: Callable[[float], float], x0: float, lp0: float, rng: np.random.Generator, w: float = 1.0
) -> tuple[float, float]:
    """One univariate slice-sampling step from ``x0`` (log density ``lp0``): (x, logp(x))."""
    level = lp0 + np.log(rng.uniform())
    left = x0 - w * rng.uniform()
    right = left + w
    for _ in range(MAX_STEPS_OUT):
        if logp(left) <= level:
            break
        left -= w
    for _ in range(MAX_STEPS_OUT):
        if logp(right) <= level:
            break
        right += w
    while True:
        x = rng.uniform(left, right)
        lp = logp(x)
        if lp > level:
            return x, lp
        if x < x0:
            left = x
        else:
            right = x


def slice_site(
    model: Model, values: dict[str, np.ndarray], name: str, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Slice steps on every unconstrained element of site ``name`` in turn."""
    z = unconstrain(model, values)
    site = z[name].astype(float).copy()
    flat = site.reshape(-1)

    def logp_at(i: int) -> Callable[[float], float]:
        def f(x: float) -> float:
            flat[i] = x
            lp = log_density(model, {**z, name: site})[0]
            return lp if np.isfinite(lp) else -np.inf

        return f

    lp = log_density(model, z)[0]
    for i in range(flat.size):
        f = logp_at(i)
        x, lp = slice_1d(f, float(flat[i]), lp, rng)
        flat[i] = x
    z[name] = site
    return {**values, name: constrain(model, z)[name]}


def sweep(
    model: Model,
    plans: list[cond.Plan],
    values: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One Gibbs sweep over every site."""
    random = cond.NumpyRandom(rng)
    for p in plans:
        name = p.update.param
        if p.update.conjugate:
            values = {**values, name: np.asarray(cond.draw(NUMPY, random, model, p, values))}
        else:
            values = slice_site(model, values, name, rng)
    return values


def slice_scale(
    p: augment.Plan, name: str, values: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Slice steps on each element of a mixture's scale site in ``log`` space, on its
    conditional given the sampled components (``augment.scale_log_density``)."""
    rv = p.model.latent(name)
    n, sq = augment.scale_stats(NUMPY, p, name, values, values[p.name])
    u = np.log(np.asarray(values[name], dtype=float).reshape(-1))
    for i in range(u.size):
        args = {a: v[i] for a, v in p.prior[name].items()}

        def f(x: float, i: int = i, args: dict = args) -> float:
            return float(
                augment.scale_log_density(
                    np, np.asarray(x), n[i], sq[i], lambda s: rv.dist.logpdf(s, **args)
                )
            )

        u[i] = slice_1d(f, float(u[i]), f(float(u[i])), rng)[0]
    return np.exp(u).reshape(rv.shape)


def augmented_sweep(
    p: augment.Plan,
    updates: list[Update],
    values: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One sweep of the data-augmentation sampler; ``values[p.name]`` holds the components."""
    random = cond.NumpyRandom(rng)
    values = dict(values)
    for u in updates:
        name = u.param
        if u.kind == "categorical":
            logits = augment.assignment_logits(NUMPY, p, values)
            values[name] = augment.draw_assignment(NUMPY, random, logits)
        elif u.kind == "dirichlet":
            alpha = augment.weight_params(NUMPY, p, values[p.name])
            values[name] = augment.draw_weights(NUMPY, random, alpha)
        elif u.kind == "normal":
            prec, h = augment.mean_params(NUMPY, p, name, values, values[p.name])
            values[name] = augment.draw_mean(NUMPY, random, p, name, prec, h)
        else:
            values[name] = slice_scale(p, name, values, rng)
    return values


def sample(
    model: Model,
    settings: Inference,
    init: dict[str, np.ndarray],
    progress: bool = False,
    updates: list[Update] | None = None,
) -> FitResult:
    """Run ``settings.chains`` chains of ``warmup + draws * thin`` sweeps, keeping every
    ``thin``-th after warm-up.

    ``updates`` (default: ``analyse(model)``) may be given to test a sampler against a
    deliberately wrong plan.  ``sample_stats["lp"]`` is the log density of each draw.
    """
    reasons = refusal_reasons(model, settings)
    if reasons:
        raise ValueError("; ".join(reasons))
    t0 = time.perf_counter()
    updates = analyse(model, settings.seed) if updates is None else updates
    mix = augment.plan(model) if augment.is_augmented(updates) else None
    plans = [] if mix else [cond.plan(model, u, settings.seed, batched_grams=True) for u in updates]
    compile_s = time.perf_counter() - t0
    names = [rv.name for rv in model.latents]
    chains, draws = settings.chains, settings.draws
    post = {rv.name: np.empty((chains, draws, *rv.shape)) for rv in model.latents}
    if mix:  # the sampled component of every level, reported beside the parameters
        post[mix.name] = np.empty((chains, draws, mix.n_levels), dtype=np.int64)
    lp = np.empty((chains, draws))
    t1 = time.perf_counter()
    line = Counter(progress)
    for c in range(chains):
        rng = np.random.default_rng([settings.seed, c])
        values = {n: np.asarray(init[n], dtype=float) for n in names}
        thin = settings.thin
        for i in range(settings.warmup + draws * thin):
            if mix:
                values = augmented_sweep(mix, updates, values, rng)
            else:
                values = sweep(model, plans, values, rng)
            k, skip = divmod(i - settings.warmup, thin)
            if i >= settings.warmup and skip == thin - 1:
                for n in post:
                    post[n][c, k] = values[n]
                params = {n: values[n] for n in names}
                lp[c, k] = log_density(model, unconstrain(model, params))[0]
            if (i + 1) % 50 == 0:
                line.show(f"gibbs chain {c}: sweep {i + 1}")
    line.close()
    return FitResult(
        "gibbs",
        post,
        sample_stats={"lp": lp},
        compile_s=compile_s,
        fit_s=time.perf_counter() - t1,
        info={
            "updates": [str(u) for u in updates],
            "slice_steps": [u.param for u in updates if not u.conjugate],
        },
    )
