"""The mixture of user types by em, against the independent numpy EM from the same starts.

    .venv/bin/python benchmarks/em.py [--users 1000] [--items 1000] [--density 0.82] [--k 12]
                                      [--starts 5] [--note '...']

``specs/netflix_mixture.yaml`` with its data simulated at ``users x items``, ``density``
observed (issue 19: 1000 x 1000 at 82 %, K = 12, equal true weights, spreads 0.5-0.83), fitted
by ``specrec fit --method em`` (the fit pipeline: run directory format, evaluator, report
metrics; ``init: assign``, ``starts`` restarts).  Each start is then given to
``specrec.testing.em`` (plain numpy, written apart from specrec's model code, with the spec's
priors so that it maximises the same objective) and the two log-likelihoods compared.
Targets: within 1e-6 relative; fit <= 10 s; evaluation <= 10 s.
Writes benchmarks/results/em.json and .md with machine and versions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from record import RESULTS, ROOT, describe, publish

SPEC = ROOT / "specs" / "netflix_mixture.yaml"
TARGETS = {"rel_diff": 1e-6, "fit_s": 10.0, "evaluate_s": 10.0}


def overrides(users: int, items: int, density: float, k: int, starts: int) -> list[str]:
    sds = ", ".join(f"{0.5 + 0.03 * j:.2f}" for j in range(k))
    return [
        f"data.sizes.user={users}",
        f"data.sizes.item={items}",
        f"data.density={density}",
        f"dims.type={k}",
        f"data.true.w=[{', '.join([f'{1 / k:.12f}'] * k)}]",
        f"data.true.sigma=[{sds}]",
        "inference.method=em",
        "inference.init=assign",
        f"inference.restarts={starts}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--density", type=float, default=0.82)
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    ap.add_argument("--out", default=str(RESULTS / "em.json"))
    args = ap.parse_args()

    from specrec import driver
    from specrec.fitting import fit
    from specrec.testing import em as ref

    sets = overrides(args.users, args.items, args.density, args.k, args.starts)
    t0 = time.perf_counter()
    run = fit(SPEC, backend="numpyro", overrides=sets, out=None, progress=False)
    wall = time.perf_counter() - t0
    m = run.metrics
    model, settings = run.model, run.loaded.spec.inference
    rows = model.data
    users, items = rows.index["user"], rows.index["item"]
    y = model.to_model_scale(rows.y)
    n_users, n_items = model.dims["user"].size, model.dims["item"].size
    priors = ref.Priors(a=1.0, m0=3.0, s0=1.5, alpha=4.0, beta=2.0)  # the spec's priors
    ours = m["restarts"]["log_likelihood"]
    out_rows = []
    ref_s = 0.0
    for i, seed in enumerate(m["restarts"]["seeds"]):
        start = driver.start_values(model, settings, seed)  # the start the fit used
        t1 = time.perf_counter()
        theirs = ref.gaussian_mixture_em(
            users,
            items,
            y,
            n_users,
            n_items,
            args.k,
            None,
            iters=settings.steps,
            tol=settings.tol,
            priors=priors,
            start=(start["w"], start["mu"], start["sigma"]),
        )
        ref_s += time.perf_counter() - t1
        out_rows.append(
            {
                "start": i,
                "seed": seed,
                "specrec_log_likelihood": ours[i],
                "reference_log_likelihood": theirs.log_likelihood,
                "rel_diff": abs(ours[i] - theirs.log_likelihood) / abs(theirs.log_likelihood),
                "specrec_nonempty": m["restarts"]["nonempty_components"][i],
                "reference_nonempty": int(np.count_nonzero(theirs.weights > 1e-6)),
                "reference_iterations": theirs.iterations,
            }
        )
    t = m["timing"]
    summary = {
        "ratings_train": len(rows),
        "fit_s": t["fit_s"],
        "evaluate_s": t["evaluate_s"],
        "wall_s": wall,
        "reference_fit_s": ref_s,
        "kept_start": m["restarts"]["chosen"],
        "log_likelihood": m["diagnostics"]["mixture"]["log_likelihood"],
        "nonempty_components": m["diagnostics"]["mixture"]["nonempty_components"],
        "iterations_kept_start": m["backend"]["em"]["iterations"],
        "test_rmse": m["metrics"]["test"]["rmse"],
        "max_rel_diff": max(r["rel_diff"] for r in out_rows),
    }
    summary["meets"] = {
        "rel_diff": summary["max_rel_diff"] <= TARGETS["rel_diff"],
        "fit_s": summary["fit_s"] <= TARGETS["fit_s"],
        "evaluate_s": summary["evaluate_s"] <= TARGETS["evaluate_s"],
    }
    publish(
        args.out,
        "em",
        out_rows,
        _markdown,
        note=args.note,
        versions=None,
        sizes={"users": args.users, "items": args.items, "density": args.density, "k": args.k},
        targets=TARGETS,
        summary=summary,
    )


def _markdown(result: dict) -> str:
    s, z = result["summary"], result["sizes"]
    lines = [
        f"# EM on the mixture of user types ({result['date']})",
        "",
        describe(result),
        "",
        f"`specs/netflix_mixture.yaml` simulated at {z['users']} users x {z['items']} items, "
        f"{z['density']:.0%} observed ({s['ratings_train']:,} training ratings), K = {z['k']}; "
        f"`--method em`, `init: assign`, {len(result['rows'])} starts, through the fit "
        "pipeline. The reference is `specrec.testing.em` (plain numpy) with the spec's priors, "
        "from each of the same starts.",
        "",
        "| start | seed | specrec em log-lik | reference log-lik | relative difference "
        "| non-empty (specrec / reference) | reference iterations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['start']} | {r['seed']} | {r['specrec_log_likelihood']:,.3f} | "
            f"{r['reference_log_likelihood']:,.3f} | {r['rel_diff']:.1e} | "
            f"{r['specrec_nonempty']} / {r['reference_nonempty']} | {r['reference_iterations']} |"
        )
    met = s["meets"]
    lines += [
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| largest relative log-likelihood difference | {s['max_rel_diff']:.1e} | <= 1e-6 | "
        f"{met['rel_diff']} |",
        f"| fit, all {len(result['rows'])} starts (s) | {s['fit_s']:.2f} | <= 10 | "
        f"{met['fit_s']} |",
        f"| evaluation (s) | {s['evaluate_s']:.2f} | <= 10 | {met['evaluate_s']} |",
        f"| reference EM, the same starts (s) | {s['reference_fit_s']:.2f} | - | - |",
        f"| whole fit call, data simulation included (s) | {s['wall_s']:.2f} | - | - |",
        "",
        f"Kept start {s['kept_start']} ({s['iterations_kept_start']} iterations): "
        f"log-likelihood {s['log_likelihood']:,.3f} with the type summed out, "
        f"{s['nonempty_components']} of {z['k']} types non-empty, test RMSE "
        f"{s['test_rmse']:.4f}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
