"""Log density + gradient cost: the spec-generated model vs a hand-written one, per backend.

    .venv/bin/python benchmarks/overhead.py --data ../shared/data/ml-100k [--backends numpyro,pyro,pymc]

HPMF (specs/movielens/hpmf.yaml, D = 10) on the 90,000 training ratings of the random split.
For each backend the spec-generated model (the backend's own translation of specrec's model
representation) and a hand-written model in the same PPL are compiled the same way and timed
at the same point, same dtype; both values are printed so their agreement is visible.
Writes benchmarks/results/overhead.json and .md with machine and versions.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from record import RESULTS, ROOT, describe, publish

REFERENCE_US = {  # ../shared/reference-figures.md, hand-written, this kind of machine
    ("numpyro", "float32"): 4971,
    ("numpyro", "float64"): 7903,
    ("pyro", "float64"): 21747,
    ("pymc", "float64"): 55861,
}


def paired_us(spec, hand, rounds: int = 15, batch_s: float = 0.2) -> dict:
    """Median microseconds per call of ``spec`` and ``hand``, timed in alternating batches,
    and the spec / hand ratio of each round (its median and range are what the table states:
    one ratio from one run moved from 1.04 to 1.25 between runs, so a single figure is noise).

    Timing one then the other lets a change of machine load (another process starting)
    land on one side only; alternating batches and taking medians puts any drift on both.
    """
    spec(), hand()
    n = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < batch_s / 2:
        hand()
        n += 1
    per = {"spec": [], "hand": []}
    for _ in range(rounds):
        for label, fn in (("spec", spec), ("hand", hand)):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            per[label].append((time.perf_counter() - t0) / n * 1e6)
    ratios = np.asarray(per["spec"]) / np.asarray(per["hand"])
    return {
        "spec_us": float(np.median(per["spec"])),
        "hand_us": float(np.median(per["hand"])),
        "ratio_median": float(np.median(ratios)),
        "ratio_range": [float(ratios.min()), float(ratios.max())],
        "rounds": rounds,
    }


def _timed(calls: dict) -> dict:
    """``{"spec": (fn, logp), "hand": (fn, logp)}`` -> ``{label: {"us", "logp"}}``."""
    t = paired_us(calls["spec"][0], calls["hand"][0])
    return {
        "spec": {"us": t["spec_us"], "logp": calls["spec"][1]},
        "hand": {"us": t["hand_us"], "logp": calls["hand"][1]},
        "ratio": {k: t[k] for k in ("ratio_median", "ratio_range", "rounds")},
    }


def load_model(data: str):
    from specrec.data.source import load_data
    from specrec.model.lower import lower
    from specrec.spec.load import load_spec

    loaded = load_spec(ROOT / "specs" / "movielens" / "hpmf.yaml")
    ds, split = load_data(loaded, data)
    return lower(loaded, ds.take(split.train))


def point(model, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {rv.name: rng.normal(0, 0.1, rv.shape) for rv in model.latents}


def bench_numpyro(model, z, dtype_name: str) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer.util import potential_energy
    from specrec_numpyro.translate import model_fn

    with jax.enable_x64(dtype_name == "float64"):
        dtype = jnp.float64 if dtype_name == "float64" else jnp.float32
        d = model.data
        u, i = jnp.asarray(d.index["user"]), jnp.asarray(d.index["item"])
        r = jnp.asarray(d.y, dtype=dtype)
        gm = float(np.mean(d.y))
        n_u, n_i, k = model.dims["user"].size, model.dims["item"].size, model.dims["factor"].size

        def hand():
            mu_u = numpyro.sample("mu_u", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
            U = numpyro.sample("U", dist.Normal(mu_u, 0.5).expand([n_u, k]).to_event(2))
            V = numpyro.sample("V", dist.Normal(0.0, 0.5).expand([n_i, k]).to_event(2))
            sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
            with numpyro.plate("obs", r.shape[0]):
                numpyro.sample("rating", dist.Normal(gm + (U[u] * V[i]).sum(-1), sigma), obs=r)

        zz = {kk: jnp.asarray(v, dtype=dtype) for kk, v in z.items()}
        out = {}
        for label, fn in (("spec", model_fn(model, dtype=dtype)), ("hand", hand)):
            vg = jax.jit(jax.value_and_grad(lambda p, fn=fn: -potential_energy(fn, (), {}, p)))
            val = float(vg(zz)[0])
            out[label] = (lambda vg=vg: jax.block_until_ready(vg(zz)), val)
        return _timed(out)


def bench_pyro(model, z) -> dict:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer.mcmc.util import initialize_model
    from specrec_pyro.backend import FIT_THREADS
    from specrec_pyro.translate import model_fn

    torch.set_num_threads(FIT_THREADS)  # as in a fit

    d = model.data
    u, i = torch.as_tensor(d.index["user"]), torch.as_tensor(d.index["item"])
    r = torch.as_tensor(d.y, dtype=torch.float64)
    gm = float(np.mean(d.y))
    n_u, n_i, k = model.dims["user"].size, model.dims["item"].size, model.dims["factor"].size
    f64 = dict(dtype=torch.float64)

    def hand():
        mu_u = pyro.sample("mu_u", dist.Normal(torch.zeros(k, **f64), 1.0).to_event(1))
        U = pyro.sample("U", dist.Normal(mu_u, 0.5).expand([n_u, k]).to_event(2))
        V = pyro.sample("V", dist.Normal(torch.zeros(n_i, k, **f64), 0.5).to_event(2))
        sigma = pyro.sample("sigma", dist.HalfNormal(torch.tensor(1.0, **f64)))
        with pyro.plate("obs", r.shape[0]):
            pyro.sample("rating", dist.Normal(gm + (U[u] * V[i]).sum(-1), sigma), obs=r)

    out = {}
    for label, fn in (("spec", model_fn(model, torch.float64)), ("hand", hand)):
        _, potential, _, _ = initialize_model(fn)

        def call(potential=potential):
            p = {kk: torch.as_tensor(v, **f64).requires_grad_() for kk, v in z.items()}
            e = potential(p)
            torch.autograd.grad(e, list(p.values()))
            return float(-e)

        out[label] = (call, call())
    return _timed(out)


def bench_pymc(model, z, mode: str | None) -> dict:
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from specrec_pymc.translate import build_model

    d = model.data
    gm = float(np.mean(d.y))
    coords = model.coords()
    with pytensor.config.change_flags(floatX="float64"):
        with pm.Model(coords=coords) as hand:
            mu_u = pm.Normal("mu_u", 0.0, 1.0, dims="factor")
            U = pm.Normal("U", mu_u, 0.5, dims=("user", "factor"))
            V = pm.Normal("V", 0.0, 0.5, dims=("item", "factor"))
            sigma = pm.HalfNormal("sigma", 1.0)
            mean = gm + (U[d.index["user"]] * V[d.index["item"]]).sum(-1)
            pm.Normal("rating", mean, sigma, observed=d.y)
        spec_model = build_model(model)
        out = {}
        for label, m in (("spec", spec_model), ("hand", hand)):
            inputs = m.value_vars
            logp = m.logp()
            fn = m.compile_fn(
                [logp, *pt.grad(logp, inputs)], inputs=inputs, point_fn=False, mode=mode
            )
            names = [v.name.replace("_log__", "") for v in inputs]
            vals = [z[n] for n in names]  # z is already in the unconstrained space
            out[label] = (lambda fn=fn, vals=vals: fn(*vals), float(fn(*vals)[0]))
        return _timed(out)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--backends", default="numpyro,pyro,pymc")
    ap.add_argument("--out", default=str(RESULTS / "overhead.json"))
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    args = ap.parse_args()

    model = load_model(args.data)
    z = point(model)
    rows = []
    for b in args.backends.split(","):
        cases = {
            "numpyro": [("float32", None), ("float64", None)],
            "pyro": [("float64", None)],
            "pymc": [("float64", None), ("float64", "NUMBA"), ("float64", "JAX")],
        }[b]
        for dtype, mode in cases:
            print(f"== {b} {dtype} {mode or ''}", file=sys.stderr, flush=True)
            try:
                if b == "numpyro":
                    res = bench_numpyro(model, z, dtype)
                elif b == "pyro":
                    res = bench_pyro(model, z)
                else:
                    res = bench_pymc(model, z, mode)
            except Exception as exc:
                rows.append(
                    {
                        "backend": b,
                        "dtype": dtype,
                        "mode": mode,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                continue
            rows.append(
                {
                    "backend": b,
                    "dtype": dtype,
                    "mode": mode or "default",
                    "spec_us": res["spec"]["us"],
                    "hand_us": res["hand"]["us"],
                    "ratio": res["ratio"]["ratio_median"],
                    "ratio_range": res["ratio"]["ratio_range"],
                    "rounds": res["ratio"]["rounds"],
                    "spec_logp": res["spec"]["logp"],
                    "hand_logp": res["hand"]["logp"],
                    "reference_hand_us": REFERENCE_US.get((b, dtype)) if not mode else None,
                }
            )
            print(
                f"   spec {res['spec']['us']:,.0f} us  hand {res['hand']['us']:,.0f} us",
                file=sys.stderr,
            )
    publish(
        args.out,
        "log density + gradient, HPMF D=10, 90,000 ratings",
        rows,
        markdown,
        note=args.note,
    )
    return 0


def _range(row: dict) -> str:
    lo_hi = row.get("ratio_range")
    if not lo_hi:
        return "one ratio"
    return f"{lo_hi[0]:.2f}-{lo_hi[1]:.2f} over {row.get('rounds', '?')}"


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = [
        f"# Log density + gradient overhead ({result['date']})",
        "",
        describe(result),
        "",
        "| backend | dtype | mode | spec-generated us | hand-written us "
        "| ratio: median (range over interleaved rounds) | log density (spec / hand) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['backend']} | {r['dtype']} | {r['mode']} | failed: {r['error'][:60]} | | | |"
            )
        else:
            lines.append(
                f"| {r['backend']} | {r['dtype']} | {r['mode']} | {r['spec_us']:,.0f} | {r['hand_us']:,.0f} | "
                f"{r['ratio']:.2f} ({_range(r)}) | {r['spec_logp']:.2f} / {r['hand_logp']:.2f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
