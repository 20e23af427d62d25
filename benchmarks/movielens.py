"""MovieLens 100k accuracy and time for the specs in specs/movielens, beside hand-written fits.

    .venv/bin/python benchmarks/movielens.py --data ../shared/data/ml-100k [--backends numpyro]
        [--runs hpmf:vi,hpmf:map,pmf:map,biased_mf:vi,hpmf:nuts] [--split random|u1]
        [--set inference.max_tree_depth=8 ...]

Each run is a real ``specrec.fit`` (same code path as the CLI) on the random 90/10 split
(``default_rng(42).permutation`` over u.data rows, first 10,000 = test) or on u1.base/u1.test.
The hand-written reference of each row (``references.py``: the same model in a few lines of
NumPyro, Pyro, PyMC or numpy) runs in the same invocation, once per reference, so the ratio
``fit / reference`` is measured on one machine at one load (``--no-references`` skips them).
Writes ``benchmarks/results/movielens.json`` (figures, machine, versions) and
``benchmarks/results/movielens.md`` (a table). Run one benchmark at a time: the machine is small.
"""

from __future__ import annotations

import argparse
import sys
import time

from record import RESULTS, ROOT, describe, publish
from references import load_split, reference_for

#: (spec, method) -> (test RMSE at most, fit seconds at most); a target "ref+0.005" is relative
#: to the hand-written reference measured in the same run (references.py)
TARGETS = {
    ("hpmf", "vi"): (0.915, 60.0),
    ("hpmf", "nuts"): (0.905, None),
    ("pmf", "map"): ("ref+0.005", None),  # within 0.005 of the notebook's find_MAP
    ("bpmf_lkj", "nuts"): (0.895, 1200.0),
    ("bpmf_nw", "gibbs"): (0.8915, 5.0),
}
NUTS_BUDGET = ["inference.chains=1", "inference.warmup=300", "inference.draws=300"]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="ml-100k folder")
    ap.add_argument("--backends", default="numpyro")
    ap.add_argument("--runs", default="hpmf:vi,hpmf:map,pmf:map,biased_mf:vi")
    ap.add_argument("--split", default="random", choices=["random", "u1"])
    ap.add_argument("--out", default=str(RESULTS / "movielens.json"))
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a spec override applied to every run, after the benchmark's own (repeatable)",
    )
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    ap.add_argument(
        "--no-references",
        action="store_true",
        help="skip the hand-written reference fits (references.py) run beside specrec's",
    )
    args = ap.parse_args()

    from specrec import methods
    from specrec.fitting import fit

    rows = []
    measured: dict[str, dict] = {}  # reference label -> its fit, run once per invocation
    split = None
    for backend in args.backends.split(","):
        for item in args.runs.split(","):
            spec, method = item.split(":")
            sets = [f"inference.method={method}"]
            if not methods.get(method).restarts:  # a mixture spec's map restarts; samplers
                sets.append("inference.restarts=1")  # run chains instead
            if method == "nuts":
                sets += NUTS_BUDGET
            if args.split == "u1":
                sets += ["data.split={kind: files, train: u1.base, test: u1.test}"]
            sets += args.set
            print(f"== {spec} {method} on {backend}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                run = fit(
                    ROOT / "specs" / "movielens" / f"{spec}.yaml",
                    backend=backend,
                    data=args.data,
                    overrides=sets,
                    out=None,
                    progress=False,
                )
            except Exception as exc:  # one failing run is reported, the others still run
                rows.append(
                    {
                        "spec": spec,
                        "method": method,
                        "backend": backend,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                continue
            wall_s = time.perf_counter() - t0  # specrec's own: before any reference runs
            m = run.metrics
            ref = {"label": None, "test_rmse": None, "fit_s": None}
            found = (
                None
                if args.no_references or args.split != "random"
                else reference_for(spec, method, backend)
            )
            if found is not None:
                label, reference = found
                if label not in measured:
                    print(f"   reference: {label}", file=sys.stderr, flush=True)
                    split = split or load_split(args.data)
                    try:
                        measured[label] = reference(*split)
                    except Exception as exc:  # a broken reference loses no specrec row
                        print(f"   reference failed: {exc!r}", file=sys.stderr, flush=True)
                        measured[label] = {"test_rmse": None, "fit_s": None}
                ref = {"label": label, **measured[label]}
            target = TARGETS.get((spec, method), (None, None))
            target_rmse = target[0]
            if isinstance(target_rmse, str):  # relative to the reference measured now
                target_rmse = None if ref["test_rmse"] is None else ref["test_rmse"] + 0.005
            rmse = m["metrics"]["test"]["rmse"]
            rows.append(
                {
                    "spec": spec,
                    "method": method,
                    "backend": backend,
                    "split": m["split"]["kind"],
                    "overrides": sets,
                    "test_rmse": rmse,
                    "test_mae": m["metrics"]["test"]["mae"],
                    "coverage_90": m["metrics"]["test"].get("coverage_90"),
                    "fit_s": m["timing"]["fit_s"],
                    "compile_s": m["timing"]["compile_s"],
                    "wall_s": wall_s,
                    "reference": ref["label"],
                    "reference_rmse": ref["test_rmse"],
                    "reference_fit_s": ref["fit_s"],
                    "fit_ratio": None if not ref["fit_s"] else m["timing"]["fit_s"] / ref["fit_s"],
                    "target_rmse": target_rmse,
                    "target_fit_s": target[1],
                    "meets_target": None
                    if target_rmse is None
                    else bool(
                        rmse <= target_rmse
                        and (target[1] is None or m["timing"]["fit_s"] <= target[1])
                    ),
                    "diagnostics": {
                        k: v for k, v in m["diagnostics"].items() if not isinstance(v, (list, dict))
                    },
                    "baselines": {k: v["rmse"] for k, v in m["baselines"].items()},
                }
            )
            print(
                f"   test RMSE {rows[-1]['test_rmse']:.4f}  fit {rows[-1]['fit_s']:.1f} s",
                file=sys.stderr,
            )
    publish(args.out, "movielens-100k", rows, markdown, note=args.note)
    return 0


def markdown(result: dict) -> str:
    lines = [
        f"# MovieLens 100k ({result['date']})",
        "",
        describe(result),
        "",
        "| spec | method | backend | test RMSE | fit s | compile s | wall s "
        "| reference (same run): RMSE, fit s | fit / reference | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(
                f"| {r['spec']} | {r['method']} | {r['backend']} "
                f"| failed: {r['error'][:80]} | | | | | | | |"
            )
            continue
        ref = (
            f"{r['reference']}: {r['reference_rmse']:.4f}, {r['reference_fit_s']:.1f}"
            if r.get("reference_rmse") is not None
            else "-"
        )
        ratio = f"{r['fit_ratio']:.2f}x" if r.get("fit_ratio") else "-"
        tgt = (
            f"<= {r['target_rmse']:.4f}"
            + (f" in <= {r['target_fit_s']:.0f} s" if r["target_fit_s"] else "")
            if r["target_rmse"]
            else "-"
        )
        met = "-" if r["meets_target"] is None else ("yes" if r["meets_target"] else "no")
        lines.append(
            f"| {r['spec']} | {r['method']} | {r['backend']} | {r['test_rmse']:.4f} "
            f"| {r['fit_s']:.1f} | {r['compile_s']:.1f} | {r['wall_s']:.1f} | {ref} | {ratio} "
            f"| {tgt} | {met} |"
        )
    if result["rows"] and "baselines" in result["rows"][0]:
        b = result["rows"][0]["baselines"]
        lines += [
            "",
            "Baselines on the same split: " + ", ".join(f"{k} {v:.4f}" for k, v in b.items()),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
