"""Which NUTS should the PyMC backend use by default?  Every installed ``inference.sampler``.

    .venv/bin/python benchmarks/pymc_samplers.py [--spec specs/quickstart.yaml]
        [--samplers pymc,numpyro,nutpie,blackjax] [--set KEY=VALUE ...]

Each sampler fits the same spec (its simulated data, split and seed) with the PyMC backend's
NUTS, 2 chains x 300 warm-up + 300 draws by default, through ``specrec.fitting.fit`` as the CLI
does.  Reported per sampler: fit and compile seconds, the worst bulk ESS per second over the
parameters and over the predictions, divergences, max R-hat and test RMSE.  The fastest sampler
that works is the one ``DEFAULT_SAMPLERS`` in ``backends/specrec_pymc/backend.py`` should list
first.  Writes ``benchmarks/results/pymc-samplers.json`` and ``.md`` with machine and versions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from record import RESULTS, ROOT, describe, library_versions, publish

BUDGET = [
    "inference.method=nuts",
    "inference.chains=2",
    "inference.warmup=300",
    "inference.draws=300",
]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spec", default=str(ROOT / "specs" / "quickstart.yaml"))
    ap.add_argument("--samplers", default="pymc,numpyro,nutpie,blackjax")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=str(RESULTS / "pymc-samplers.json"))
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    args = ap.parse_args()

    from specrec.fitting import fit

    rows = []
    for sampler in args.samplers.split(","):
        sets = [*BUDGET, f"inference.sampler={sampler}", *args.set]
        print(f"== {sampler}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            run = fit(args.spec, backend="pymc", overrides=sets, out=None, progress=False)
        except Exception as exc:  # one failing sampler is reported, the others still run
            rows.append({"sampler": sampler, "error": f"{type(exc).__name__}: {exc}"})
            continue
        m, d = run.metrics, run.metrics["diagnostics"]
        fit_s = m["timing"]["fit_s"]
        rows.append(
            {
                "sampler": sampler,
                "fit_s": fit_s,
                "compile_s": m["timing"]["compile_s"],
                "wall_s": time.perf_counter() - t0,
                "ess_bulk_min_per_s": d.get("ess_bulk_min", float("nan")) / fit_s,
                "pred_ess_bulk_min_per_s": d.get("pred_ess_bulk_min", float("nan")) / fit_s,
                "divergences": d.get("divergences"),
                "rhat_max": d.get("rhat_max"),
                "test_rmse": m["metrics"]["test"]["rmse"],
            }
        )
        print(f"   {fit_s:.1f} s, RMSE {rows[-1]['test_rmse']:.4f}", file=sys.stderr, flush=True)
    publish(
        args.out,
        "pymc nuts samplers",
        rows,
        markdown,
        note=args.note,
        versions=library_versions("pymc", "pytensor", "numpyro", "jax", "nutpie", "blackjax"),
        spec=args.spec,
        overrides=[*BUDGET, *args.set],
    )
    return 0


def markdown(result: dict) -> str:
    lines = [
        f"# PyMC backend: NUTS samplers ({result['date']})",
        "",
        describe(result),
        "",
        f"Spec `{Path(result['spec']).name}`, {', '.join(result['overrides'])}.",
        "",
        "| sampler | fit s | compile s | min ESS/s (params) | min ESS/s (predictions) "
        "| divergences | max R-hat | test RMSE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['sampler']} | failed: {r['error'][:100]} | | | | | | |")
            continue
        lines.append(
            f"| {r['sampler']} | {r['fit_s']:.1f} | {r['compile_s']:.1f} "
            f"| {r['ess_bulk_min_per_s']:.1f} | {r['pred_ess_bulk_min_per_s']:.1f} "
            f"| {r['divergences']} | {r['rhat_max']:.3f} | {r['test_rmse']:.4f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
