"""The shipped specs on simulated data, fitted on every backend with ``specrec compare``.

    .venv/bin/python benchmarks/simulated_families.py
        [--specs quickstart,group_means,netflix_mixture,watch_minutes,constrained_pmf]
        [--methods vi,nuts] [--backends numpyro,pymc,pyro]

The families whose data MovieLens 100k cannot give (watch minutes are counts; the Netflix
mixture and the group means have a known truth only when simulated) get their per-backend row
here: test RMSE, fit and compile time, and for NUTS divergences, R-hat and the posterior
agreement across backends that ``specrec compare`` checks.  Every spec is fitted by every
method asked for, with the spec's own budget (steps, warm-up, draws).  Writes ``benchmarks/results/simulated-families.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys

from record import RESULTS, ROOT, cell, describe, publish

SPECS = "quickstart,group_means,netflix_mixture,watch_minutes,constrained_pmf"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--specs", default=SPECS)
    ap.add_argument("--methods", default="vi,nuts")
    ap.add_argument("--backends", default="numpyro,pymc,pyro")
    ap.add_argument("--out", default=str(RESULTS / "simulated-families.json"))
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    args = ap.parse_args()

    from specrec.compare import compare

    rows = []
    for spec in args.specs.split(","):
        for method in args.methods.split(","):
            print(f"== {spec} {method}", file=sys.stderr, flush=True)
            try:
                c = compare(
                    ROOT / "specs" / f"{spec}.yaml",
                    args.backends.split(","),
                    method=method,
                    # restarts (a mixture spec's map) mean nothing to NUTS, which runs chains
                    overrides=["inference.restarts=1"] if method == "nuts" else [],
                    out=None,
                    progress=False,
                )
            except Exception as exc:  # a spec that cannot run is a row; the others still run
                rows.append(
                    {"spec": spec, "method": method, "backend": "-", "ok": False}
                    | {"error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            agree = c.report["agreement"]
            for r in c.report["rows"]:
                rows.append(
                    {"spec": spec, "method": method}
                    | {k: v for k, v in r.items() if k not in ("fingerprints", "run_dir")}
                    | {
                        "agreement_flagged": agree.get("flagged"),
                        "same_data": c.report["fingerprints_match"],
                        "baseline_rmse": c.report["baselines"].get("global_mean", {}).get("rmse"),
                    }
                )
    publish(args.out, "simulated families", rows, markdown, note=args.note)
    return 0


def markdown(result: dict) -> str:
    lines = [
        f"# Shipped specs on simulated data, every backend ({result['date']})",
        "",
        describe(result),
        "",
        "| spec | method | backend | test RMSE | global mean RMSE | fit s | compile s "
        "| divergences | max R-hat (predictions) | agreement flags |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if not r["ok"]:
            lines.append(
                f"| {r['spec']} | {r['method']} | {r['backend']} | failed: {r['error'][:80]} "
                "| | | | | | |"
            )
            continue
        flags = r["agreement_flagged"]
        lines.append(
            f"| {r['spec']} | {r['method']} | {r['backend']} {r['version']} "
            f"| {r['test_rmse']:.4f} | {cell(r['baseline_rmse'], '.4f')} | {r['fit_s']:.1f} "
            f"| {r['compile_s']:.1f} | {cell(r['divergences'], 'd')} "
            f"| {cell(r['pred_rhat_max'], '.3f')} | {len(flags) if flags is not None else '-'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
