"""Minibatch vi and cavi at scale: time to converge and peak memory at 1M to 100M ratings.

    flock /tmp/bench.lock .venv/bin/python benchmarks/scale.py \
        [--runs numpyro:1M,numpyro:1M:full,numpyro:3M,numpyro:10M,pyro:1M,pymc:1M] \
        [--work /tmp/specrec-scale] [--batch-size 100000] [--steps 3000]
    flock /tmp/bench.lock .venv/bin/python benchmarks/scale.py --out benchmarks/results/scale-cavi.json \
        --runs numpyro:1M:cavi,numpyro:10M:cavi,numpyro:10M --sweeps 30
    .venv/bin/python benchmarks/scale.py --stages numpyro:10M --steps 40   # a cheap pilot

A run is ``BACKEND:SIZE[:MODE]``: no mode is minibatch vi (``--batch-size``, ``--steps``,
``--lr``), ``full`` is full-batch vi, ``cavi`` is coordinate-ascent VI (every row each sweep, at
most ``--sweeps`` ELBOs; issue 19's target is 30), started by ``--init`` (``inference.init``:
``uniform``, or ``svd``, the factors at a truncated SVD of the ratings).

Data: ``specs/scale.yaml`` (PMF, D = 16, a global mean) scaled to 100k users x 20k items (500k
users from 50M ratings up: issue 19's Netflix-size case) and simulated with ``specrec data
simulate`` into Parquet (true values beside it).  Each run is a
real ``specrec.fitting.fit`` of that spec reading the Parquet file (random 90/10 split), in its
own child process so each peak RSS (``getrusage``) is that run's alone.  Reported per run:

* ``converge_s``: compile time + fit time up to the step after which the loss (smoothed over
  ``steps / 50`` steps) stays within 1 % of its final value (mean of the last 5 % of steps),
  the fit's per-step time taken as uniform; for cavi, the whole fit (it stops at convergence)
  and its number of sweeps;
* ``fit_s``, ``total_s`` (data loading, lowering, fit and the full evaluation), peak RSS;
* test RMSE against the observed test ratings and against the noise-free truth
  (``mu + U V^T`` at the true values) on every test row, and the oracle RMSE of the truth.

Writes ``benchmarks/results/scale.json`` and ``scale.md`` with machine and versions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from record import RESULTS, ROOT, machine, now, write

SPEC = ROOT / "specs" / "scale.yaml"
SIZES = {"user": 100_000, "item": 20_000}
#: from this many ratings up, 500k users (issue 19: "simulate 500k users x 20k items")
NETFLIX_ROWS = 50_000_000
SUFFIX = {"M": 1_000_000, "k": 1_000}


def _rows(label: str) -> int:
    return int(float(label[:-1]) * SUFFIX[label[-1]]) if label[-1] in SUFFIX else int(label)


def sizes(label: str) -> dict[str, int]:
    return SIZES | {"user": 500_000} if _rows(label) >= NETFLIX_ROWS else SIZES


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _simulate(work: Path, label: str) -> dict:
    """Write the Parquet file for ``label`` rows (once) in a child; its time and peak RSS."""
    out = work / f"ratings-{label}.parquet"
    if out.exists():
        return {"file": str(out), "cached": True}
    sets = [f"--set=data.sizes.{k}={v}" for k, v in sizes(label).items()]
    cmd = [sys.executable, "-m", "specrec.cli", "data", "simulate", str(SPEC), "--out", str(out)]
    cmd += ["--ratings", str(_rows(label)), *sets]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"file": str(out), "seconds": time.perf_counter() - t0, "children_peak_rss_mb": usage}


def converged_step(loss: np.ndarray, rel: float = 0.01) -> int:
    """First step after which the smoothed loss stays within ``rel`` of its final value."""
    w = max(10, loss.size // 50)
    smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
    final = float(np.mean(loss[-max(1, loss.size // 20) :]))
    outside = np.flatnonzero(np.abs(smooth - final) > rel * abs(final))
    return int(outside[-1] + 1 + w) if outside.size else w


def _derived_spec(cfg: dict) -> Path:
    """specs/scale.yaml reading the Parquet file, with the run's inference settings."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["name"] = f"scale-{cfg['label']}"
    raw["data"] = {
        "source": "file",
        "path": cfg["file"],
        "split": {"kind": "random", "test_fraction": 0.1, "seed": 42},
    }
    if cfg.get("method") == "cavi":
        raw["inference"] = {"method": "cavi", "steps": cfg["steps"], "draws": cfg["draws"]}
        raw["inference"]["init"] = cfg.get("init", "uniform")
    else:
        raw["inference"] |= {
            "batch_size": cfg["batch_size"],
            "steps": cfg["steps"],
            "lr": cfg["lr"],
            "draws": cfg["draws"],
        }
    init = "" if cfg.get("init", "uniform") == "uniform" else f"-{cfg['init']}"
    spec = (
        Path(cfg["work"]) / f"{raw['name']}-{cfg['backend']}-{cfg.get('method', 'vi')}{init}.yaml"
    )
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    return spec


def child(cfg: dict) -> dict:
    """One fit, in this (child) process: figures as a dict."""
    from specrec.evaluate.evaluator import predict_rows
    from specrec.evaluate.thinning import thin_draws
    from specrec.fitting import fit
    from specrec.model.reference import predict_draws

    t0 = time.perf_counter()
    run = fit(_derived_spec(cfg), backend=cfg["backend"], out=None, progress=False)
    total_s = time.perf_counter() - t0
    m, model, rows = run.metrics, run.model, run.test_rows
    assert model is not None and rows is not None
    loss = np.asarray(run.idata.loss["loss"].values, dtype=float)
    cavi = cfg.get("method") == "cavi"
    k = loss.size if cavi else converged_step(loss)
    timing = m["timing"]
    post = {rv.name: np.asarray(run.idata.posterior[rv.name].values) for rv in model.latents}
    point = predict_rows(model, thin_draws(post, 2000), rows, None, None, False)[0]
    truth = np.load(Path(cfg["file"]).with_name(Path(cfg["file"]).stem + ".truth.npz"))
    true_mean, _ = predict_draws(model, {k: truth[k][None, None] for k in truth.files}, rows)
    true_mean = true_mean[0, 0]
    return {
        **{k: cfg[k] for k in ("backend", "label", "rows", "batch_size", "steps", "lr", "draws")},
        "method": cfg.get("method", "vi"),
        "init": cfg.get("init", "uniform"),
        "sizes": sizes(cfg["label"]),
        "sweeps": m["backend"]["cavi"]["sweeps"] if cavi else None,
        "converged": m["backend"]["cavi"]["converged"] if cavi else None,
        "evaluate_s": timing["evaluate_s"],
        "n_train": m["split"]["n_train"],
        "n_params": model.n_params(),
        "compile_s": timing["compile_s"],
        "fit_s": timing["fit_s"],
        "total_s": total_s,
        "converged_step": k,
        "converge_s": timing["compile_s"] + timing["fit_s"] * min(k, loss.size) / loss.size,
        "loss_final": float(np.mean(loss[-max(1, loss.size // 20) :])),
        "test_rmse": m["metrics"]["test"]["rmse"],
        "rmse_vs_truth": float(np.sqrt(np.mean((point - true_mean) ** 2))),
        "oracle_rmse": float(np.sqrt(np.mean((rows.y - true_mean) ** 2))),
        "sigma_mean": float(post["sigma"].mean()),
        "sigma_true": float(truth["sigma"]),
        "peak_rss_mb": _peak_rss_mb(),
        "versions": m["versions"],
        "commit": _commit(),
    }


def _commit() -> str:
    """The code a row was measured with (rows of one results file may come from several runs)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def stages(cfg: dict) -> dict:
    """Peak RSS and time after each stage of a fit (load, lower, compile + a few steps), with
    no evaluation: the cheap pilot ``--stages`` prints."""
    from specrec import backends, driver
    from specrec.data.source import load_data
    from specrec.model.lower import lower
    from specrec.spec.load import load_spec

    t0 = time.perf_counter()
    out: dict = {}
    loaded = load_spec(_derived_spec(cfg))
    ds, split = load_data(loaded)
    out["load"] = (time.perf_counter() - t0, _peak_rss_mb())
    model = lower(loaded, ds.take(split.train))
    out["lower"] = (time.perf_counter() - t0, _peak_rss_mb())
    # through the fit driver, as every fit: it subsamples the model for a minibatch run
    result = driver.run_inference(backends.get(cfg["backend"]), model, loaded.spec.inference).result
    out["fit"] = (time.perf_counter() - t0, _peak_rss_mb())
    out["compile_s"], out["step_s"] = result.compile_s, result.fit_s / cfg["steps"]
    return out


def _markdown(report: dict) -> str:
    lines = [
        "# vi and cavi at scale",
        "",
        f"{report['date']}; {report['machine']}. PMF, D = 16, "
        f"{SIZES['user']:,} users x {SIZES['item']:,} items (500,000 users from "
        f"{NETFLIX_ROWS // 1_000_000}M ratings up), simulated (known truth), "
        "random 90/10 split; one run each (the machine block gives the load average when the "
        "last run started; rows carry the commit they were measured at).",
        "",
        "| backend | method | ratings | batch | steps | converge s | fit s | s / step "
        "| evaluate s | total s | peak RSS MB | test RMSE | RMSE vs truth | oracle RMSE | code |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['label']} | | | failed: {r['error'][:80]} |")
            continue
        method = r.get("method", "vi")
        shown_method = (
            method if r.get("init", "uniform") == "uniform" else f"{method}, init {r['init']}"
        )
        batch = "full" if r["batch_size"] is None else f"{r['batch_size']:,}"
        steps = r["steps"]
        if method == "cavi":
            batch, steps = "full", f"{r['sweeps']} sweeps" + ("" if r["converged"] else " (max)")
        n_steps = r["sweeps"] if method == "cavi" else r["steps"]
        evaluate = f"{r['evaluate_s']:.0f}" if "evaluate_s" in r else ""
        lines.append(
            f"| {r['backend']} | {shown_method} | {r['label']} | {batch} | {steps} "
            f"| {r['converge_s']:.0f} | {r['fit_s']:.0f} | {r['fit_s'] / max(1, n_steps):.2f} "
            f"| {evaluate} | {r['total_s']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['test_rmse']:.4f} | {r['rmse_vs_truth']:.4f} | {r['oracle_rmse']:.4f} "
            f"| {r.get('commit', '15409fa')} |"
        )
    lines += ["", "Data generation (`specrec data simulate`, chunked Parquet writer):", ""]
    for label, d in report["data"].items():
        if "seconds" in d:
            lines.append(f"- {label}: {d['seconds']:.0f} s")
    return "\n".join(lines) + "\n"


def _run_key(r: dict) -> tuple:
    """What a results row measures: a new row replaces an older one with the same key."""
    return (
        r["backend"],
        r["label"],
        r.get("method", "vi"),
        r.get("batch_size"),
        r.get("init", "uniform"),
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", default="numpyro:1M,numpyro:1M:full,numpyro:3M,numpyro:10M")
    ap.add_argument("--work", default="/tmp/specrec-scale")
    ap.add_argument("--batch-size", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--sweeps", type=int, default=30, help="cavi: at most this many ELBOs")
    ap.add_argument("--init", default="uniform", help="cavi: inference.init (uniform, svd, ...)")
    ap.add_argument("--out", default=str(RESULTS / "scale.json"))
    ap.add_argument("--stages", metavar="BACKEND:SIZE", help="pilot: RSS per stage, no eval")
    ap.add_argument("--note", default="", help="what else ran on the machine, say")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.stages:
        backend, label = args.stages.split(":")
        cfg = {"backend": backend, "label": label, "file": _simulate(work, label)["file"]}
        cfg |= {"work": str(work), "batch_size": args.batch_size, "steps": args.steps}
        cfg |= {"lr": args.lr, "draws": args.draws}
        print(json.dumps(stages(cfg)))
        return 0
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {"runs": [], "data": {}}
    report |= {"date": now(), "machine": machine(args.note)}
    for item in args.runs.split(","):
        backend, label, *mode = item.split(":")
        method = "cavi" if mode == ["cavi"] else "vi"
        data = _simulate(work, label)
        report["data"].setdefault(label, data)
        cfg = {
            "backend": backend,
            "label": label,
            "rows": _rows(label),
            "file": data["file"],
            "work": str(work),
            "method": method,
            "batch_size": None if mode in (["full"], ["cavi"]) else args.batch_size,
            "steps": args.sweeps if method == "cavi" else args.steps,
            "lr": args.lr,
            "draws": args.draws,
            "init": args.init if method == "cavi" else "uniform",
        }
        print(f"== {item}", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True
        )
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode == 0 and lines:
            row = json.loads(lines[-1][len("RESULT ") :])
        else:
            row = {**cfg, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "?"}
        print(json.dumps({k: v for k, v in row.items() if k != "versions"}), file=sys.stderr)
        report["runs"] = [r for r in report["runs"] if _run_key(r) != _run_key(row)] + [row]
        write(out, report, _markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
