"""The PMF notebook's figures on MovieLens 100k: running test RMSE and Frobenius-norm traces.

    flock /work/bench.lock .venv/bin/python benchmarks/notebook_figures.py --data ../shared/data/ml-100k

Fits ``specs/movielens/hpmf.yaml`` with NUTS on NumPyro (1 chain, 300 warmup + 300 draws, the
budget of ``benchmarks/movielens.py``) through ``specrec.fit(..., report=True)``, the same code
path as ``specrec fit --report``, then copies the report's figures to ``benchmarks/results/``
(``notebook_running_rmse.png``, ``notebook_frobenius.png``, and the calibration, RMSE-by-activity
and hyperparameter figures) and writes ``notebook_figures.json`` / ``.md`` with the numbers the
evaluator reports (test RMSE, log predictive density, interval coverage, ranking, PSIS-LOO,
R-hat/ESS), the machine and library versions.  The run directory itself goes to a temporary
folder: it holds the posterior, which is not committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile

from movielens import NUTS_BUDGET
from record import RESULTS, ROOT, machine, now, write

FIGURES = {
    "running_rmse.png": "notebook_running_rmse.png",
    "frobenius.png": "notebook_frobenius.png",
    "calibration.png": "notebook_calibration.png",
    "rmse_by_activity.png": "notebook_rmse_by_activity.png",
    "hyperparameters.png": "notebook_hyperparameters.png",
}


def _markdown(out: dict) -> str:
    m, d = out["metrics"], out["diagnostics"]
    test, loo, rank = m["test"], m["loo"], m["test"]["ranking"]
    cov = ", ".join(f"{k} %: {v:.3f}" for k, v in test["interval_coverage"].items())
    lines = [
        "# PMF notebook figures on MovieLens 100k (HPMF, NUTS on NumPyro)",
        "",
        f"`{out['command']}` on {out['date']}; spec `specs/movielens/hpmf.yaml`, "
        f"{out['budget']}, random 90/10 split (seed 42).",
        "",
        "| figure | file |",
        "|---|---|",
        *(f"| {k.removesuffix('.png')} | `{v}` |" for k, v in FIGURES.items()),
        "",
        "| number | value |",
        "|---|---|",
        f"| test RMSE | {test['rmse']:.4f} |",
        f"| running RMSE after the first draw / at the end | {out['running_rmse_first']:.4f} / "
        f"{out['running_rmse_last']:.4f} |",
        f"| test log predictive density per rating | {test['log_predictive_density']:.4f} |",
        f"| interval coverage | {cov} |",
        f"| precision@{rank['k']} / random (relevant >= {rank['threshold']:g}) | "
        f"{rank['precision']:.3f} / {rank['precision_random']:.3f} |",
        f"| recall@{rank['k']} / random | {rank['recall']:.3f} / {rank['recall_random']:.3f} |",
        f"| NDCG@{rank['k']} ({rank['n_lists']} users) | {rank['ndcg']:.3f} |",
    ]
    if "skipped" in loo:
        lines.append(f"| PSIS-LOO | skipped: {loo['skipped']} |")
    else:
        lines.append(
            f"| PSIS-LOO elpd (se), per rating | {loo['elpd_loo']:.1f} ({loo['se']:.1f}), "
            f"{loo['elpd_loo_per_rating']:.4f} |"
        )
        lines.append(
            f"| Pareto k > {loo['good_k']:.2f} / > 1 | {loo['n_pareto_k_above_good']} / "
            f"{loo['n_pareto_k_above_1']} ratings |"
        )
    lines += [
        f"| R-hat max, predictions (1 chain: split R-hat) | {d['pred_rhat_max']:.3f} |",
        f"| ESS bulk min, predictions | {d['pred_ess_bulk_min']:.1f} |",
        f"| divergences | {d['divergences']} |",
        f"| fit / compile / wall s | {out['timing']['fit_s']:.0f} / "
        f"{out['timing']['compile_s']:.0f} / {out['timing']['wall_s']:.0f} |",
        "",
        f"Machine: {out['machine'].get('cpu')}, {out['machine'].get('cpus')} CPUs, "
        f"{out['machine'].get('memory_gb')} GB, load average "
        f"{(out['machine'].get('load_average_at_start') or ['?'])[0]} at start"
        + (f"; {out['machine']['note']}" if out["machine"].get("note") else "")
        + ".",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in out["versions"].items()),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="ml-100k folder")
    ap.add_argument("--backend", default="numpyro")
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    args = ap.parse_args()

    from specrec.fitting import fit

    with tempfile.TemporaryDirectory() as runs:
        run = fit(
            ROOT / "specs" / "movielens" / "hpmf.yaml",
            backend=args.backend,
            method="nuts",
            data=args.data,
            overrides=NUTS_BUDGET,
            out=runs,
            progress=False,
            report=True,
        )
        assert run.path is not None
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name, target in FIGURES.items():
            shutil.copyfile(run.path / "report" / name, RESULTS / target)
        curves = json.loads((run.path / "curves.json").read_text())
    m = run.metrics
    out = {
        "command": " ".join(["python", *sys.argv]),
        "date": now(),
        "budget": ", ".join(NUTS_BUDGET),
        "backend": m["backend"],
        "metrics": m["metrics"],
        "baselines": m["baselines"],
        "diagnostics": m["diagnostics"],
        "timing": m["timing"],
        "running_rmse_first": curves["running_rmse"][0],
        "running_rmse_last": curves["running_rmse"][-1],
        "figures": FIGURES,
        "machine": machine(args.note),
        "versions": m["versions"],
    }
    write(RESULTS / "notebook_figures.json", out, _markdown(out))
    print(_markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
