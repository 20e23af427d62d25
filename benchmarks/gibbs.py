"""Gibbs on MovieLens 100k against issue 18's targets, beside the samplers it must beat.

    .venv/bin/python benchmarks/gibbs.py --data ../shared/data/ml-100k [--cases bpmf10,bpmf50,hpmf]
        [--nuts-warmup 300] [--nuts-draws 300] [--note '...']

One invocation, the random 90/10 split, the NumPyro backend, through the fit pipeline:

- ``bpmf10``: ``bpmf_nw`` (D = 10) by ``--method gibbs``, 200 sweeps (50 warm-up), beside the
  hand-written numpy BPMF Gibbs sampler of ``references.py`` (the BPMF paper's algorithm) run with
  the same sweeps in the same process.  Target: test RMSE <= 0.8915 in <= 5 s fit, <= 5 s compile.
- ``bpmf50``: the same at D = 50 (``dims.factor``, ``dims.factor2`` and both Wishart degrees of
  freedom set to 50).  Target: <= 0.8874 in <= 60 s.
- ``hpmf``: ``hpmf`` by gibbs (sigma by slice steps), 2 chains x (300 + 300), beside NumPyro NUTS on
  the same spec and chains.  Targets: test RMSE <= 0.900, R-hat on predictions < 1.01, fit <= 60 s,
  minimum bulk ESS per second on predictions >= 20x NUTS's.

Writes ``benchmarks/results/gibbs.json`` and ``gibbs.md``.  Run it alone (``flock
/tmp/bench.lock``): the NUTS reference takes minutes and every ratio is measured in this one run.
"""

from __future__ import annotations

import argparse
import sys
import time

from record import RESULTS, ROOT, cell, describe, publish, sampler_figures
from references import load_split, numpy_bpmf_gibbs

SWEEPS, BURN = 200, 50
D50 = [
    "dims.factor=50",
    "dims.factor2=50",
    "params.L_u.prior=WishartCholesky(50)",
    "params.L_v.prior=WishartCholesky(50)",
]
#: case -> (spec, factors D, the case's spec overrides, target RMSE, fit s, compile s)
CASES = {
    "bpmf10": ("bpmf_nw", 10, [], 0.8915, 5.0, 5.0),
    "bpmf50": ("bpmf_nw", 50, D50, 0.8874, 60.0, None),
    "hpmf": ("hpmf", 10, [], 0.900, 60.0, None),
}


def fit_row(spec: str, method: str, sets: list[str], data: str) -> dict:
    from specrec.fitting import fit

    print(f"== {spec} {method} {' '.join(sets)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    run = fit(
        ROOT / "specs" / "movielens" / f"{spec}.yaml",
        backend="numpyro",
        data=data,
        overrides=[f"inference.method={method}", *sets],
        out=None,
        progress=False,
    )
    row = {
        "spec": spec,
        "method": method,
        "overrides": sets,
        **sampler_figures(run, time.perf_counter() - t0),
    }
    print(f"   {row}", file=sys.stderr, flush=True)
    return row


def bpmf_case(case: str, args: argparse.Namespace, split: tuple) -> list[dict]:
    spec, d, sets, rmse_max, fit_max, compile_max = CASES[case]
    budget = [f"inference.warmup={BURN}", f"inference.draws={SWEEPS - BURN}", "inference.chains=1"]
    row = fit_row(spec, "gibbs", [*sets, *budget], args.data)
    print(f"   reference: numpy BPMF Gibbs, D = {d}", file=sys.stderr, flush=True)
    ref = numpy_bpmf_gibbs(*split, d=d, sweeps=SWEEPS, burn=BURN)
    row.update(
        case=case,
        budget=f"1 chain x {SWEEPS} sweeps ({BURN} warm-up)",
        reference="numpy BPMF Gibbs (references.py), same sweeps",
        reference_rmse=ref["test_rmse"],
        reference_fit_s=ref["fit_s"],
        target=f"<= {rmse_max} in <= {fit_max:g} s fit"
        + (f", <= {compile_max:g} s compile" if compile_max else ""),
        met=bool(
            row["test_rmse"] <= rmse_max
            and row["fit_s"] <= fit_max
            and (compile_max is None or (row["compile_s"] or 0.0) <= compile_max)
        ),
    )
    return [row]


def hpmf_case(args: argparse.Namespace) -> list[dict]:
    _, _, _, rmse_max, fit_max, _ = CASES["hpmf"]
    gibbs = fit_row("hpmf", "gibbs", _budget(300, 300, args.chains), args.data)
    nuts = fit_row(
        "hpmf", "nuts", _budget(args.nuts_warmup, args.nuts_draws, args.chains), args.data
    )
    ratio = (
        gibbs["pred_ess_per_s"] / nuts["pred_ess_per_s"]
        if gibbs.get("pred_ess_per_s") and nuts.get("pred_ess_per_s")
        else None
    )
    gibbs.update(
        case="hpmf",
        budget=f"{args.chains} chains x (300 + 300)",
        reference="NumPyro NUTS, this spec (next row)",
        reference_rmse=nuts["test_rmse"],
        reference_fit_s=nuts["fit_s"],
        ess_per_s_vs_nuts=ratio,
        target=f"<= {rmse_max}, pred R-hat < 1.01, <= {fit_max:g} s fit, pred ESS/s >= 20x NUTS",
        met=bool(
            gibbs["test_rmse"] <= rmse_max
            and gibbs["pred_rhat_max"] is not None
            and gibbs["pred_rhat_max"] < 1.01
            and gibbs["fit_s"] <= fit_max
            and ratio is not None
            and ratio >= 20
        ),
    )
    nuts.update(
        case="hpmf",
        budget=f"{args.chains} chains x ({args.nuts_warmup} + {args.nuts_draws})",
        reference=None,
        target=None,
        met=None,
    )
    return [gibbs, nuts]


def _budget(warmup: int, draws: int, chains: int) -> list[str]:
    return [f"inference.warmup={warmup}", f"inference.draws={draws}", f"inference.chains={chains}"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="the ml-100k folder")
    ap.add_argument("--cases", default="bpmf10,bpmf50,hpmf")
    ap.add_argument("--chains", type=int, default=2, help="hpmf's chains, both samplers")
    ap.add_argument("--nuts-warmup", type=int, default=300)
    ap.add_argument("--nuts-draws", type=int, default=300)
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    ap.add_argument("--out", default=str(RESULTS / "gibbs.json"))
    args = ap.parse_args()
    split = load_split(args.data)
    rows: list[dict] = []
    for case in args.cases.split(","):
        rows += hpmf_case(args) if case == "hpmf" else bpmf_case(case, args, split)
    publish(args.out, "gibbs", rows, _markdown, note=args.note)


def _markdown(result: dict) -> str:
    lines = [
        f"# Gibbs on MovieLens 100k against issue 18's targets ({result['date']})",
        "",
        describe(result),
        "",
        "Random 90/10 split, NumPyro backend, through the fit pipeline; each reference ran in "
        "the same invocation. R-hat and ESS are on the test predictions (rotation invariant); "
        "ESS/s is the minimum bulk ESS over predictions per second of fit.",
        "",
        "| case | method | budget | test RMSE | fit s | compile s | wall s | pred R-hat max | "
        "pred ESS/s | reference: RMSE, fit s | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ref = (
            "-"
            if r.get("reference_rmse") is None
            else f"{r['reference']}: {r['reference_rmse']:.4f}, {r['reference_fit_s']:.1f}"
        )
        ratio = r.get("ess_per_s_vs_nuts")
        ess = cell(r.get("pred_ess_per_s"), ".1f") + (
            f" ({ratio:.1f}x NUTS)" if ratio is not None else ""
        )
        met = "-" if r.get("met") is None else ("yes" if r["met"] else "no")
        lines.append(
            f"| {r['case']} | {r['method']} | {r['budget']} | {r['test_rmse']:.4f} | "
            f"{r['fit_s']:.1f} | {cell(r['compile_s'], '.1f')} | {r['wall_s']:.1f} | "
            f"{cell(r['pred_rhat_max'], '.3f')} | {ess} | {ref} | {r.get('target') or '-'} | "
            f"{met} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
