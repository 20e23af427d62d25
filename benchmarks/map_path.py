"""Test RMSE along a MAP optimisation: does stopping early ever beat the converged MAP?

    .venv/bin/python benchmarks/map_path.py --data ../shared/data/ml-100k [--spec hpmf]
        [--backends numpyro] [--steps 10,20,35,50,70,100,200,400,800,1500,3000]

Every point is a real ``specrec.fit`` with ``method=map`` and ``steps=N`` from the same seed, so
the points lie on one optimisation path (Adam from the same start).  Train and test RMSE at each
point show where the MAP starts to overfit: when the test RMSE never reaches a target along the
whole path, neither a longer fit nor early stopping can reach it with this model.
Writes ``benchmarks/results/map-path.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
import time

from record import RESULTS, ROOT, describe, publish

DEFAULT_STEPS = "10,20,35,50,70,100,200,400,800,1500,3000"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="ml-100k folder")
    ap.add_argument("--spec", default="hpmf", help="a spec of specs/movielens")
    ap.add_argument("--backends", default="numpyro")
    ap.add_argument("--steps", default=DEFAULT_STEPS)
    ap.add_argument("--out", default=str(RESULTS / "map-path.json"))
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    args = ap.parse_args()

    from specrec.fitting import fit

    rows = []
    for backend in args.backends.split(","):
        for steps in [int(s) for s in args.steps.split(",")]:
            print(f"== {args.spec} map {steps} steps on {backend}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            run = fit(
                ROOT / "specs" / "movielens" / f"{args.spec}.yaml",
                backend=backend,
                data=args.data,
                overrides=["inference.method=map", f"inference.steps={steps}"],
                out=None,
                progress=False,
            )
            m = run.metrics["metrics"]
            rows.append(
                {
                    "backend": backend,
                    "steps": steps,
                    "test_rmse": m["test"]["rmse"],
                    "train_rmse": m["train"]["rmse"],
                    "wall_s": time.perf_counter() - t0,
                }
            )
            print(f"   test {m['test']['rmse']:.4f}  train {m['train']['rmse']:.4f}")
    publish(args.out, "map path", rows, markdown, note=args.note, spec=args.spec)
    return 0


def markdown(result: dict) -> str:
    lines = [
        f"# Test RMSE along the MAP path of `{result['spec']}` ({result['date']})",
        "",
        describe(result),
        "",
        "| backend | Adam steps | train RMSE | test RMSE |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['steps']} | {r['train_rmse']:.4f} | {r['test_rmse']:.4f} |"
        )
    for backend in dict.fromkeys(r["backend"] for r in result["rows"]):
        best = min(
            (r for r in result["rows"] if r["backend"] == backend), key=lambda r: r["test_rmse"]
        )
        lines += [
            "",
            f"Lowest test RMSE on {backend} along the path: {best['test_rmse']:.4f} "
            f"after {best['steps']} steps.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
