"""``specrec compare``: one spec on several backends, same data, split and seed, side by side.

With several methods (``--methods gibbs,nuts``) each backend fits the spec with each method, one
row per (backend, method) labelled ``backend/method``; two MCMC methods (Gibbs and NUTS) are
then held to the same test as two backends' NUTS: posterior means of the hyperparameters and
of the test-pair predictions within ``agreement.Z_FLAG`` Monte Carlo standard errors.

Each backend is fitted with ``specrec.fitting.fit`` exactly as ``specrec fit`` would (each writes
its own run directory), from one resolved spec so no backend can see a different setting.  A
backend that fails is a row with its error, not the end of the comparison: the point is to see
which backend does what.  The numbers come from each run's metrics.json, so the comparison
uses the backend-blind evaluator's numbers and nothing a backend reports about itself.

Written atomically to ``<out>/<spec name>/compare-<timestamp>-<random>/``: ``compare.json`` and
``compare.png``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from specrec import agreement, fitting, parity, rundir
from specrec.backends import available_names
from specrec.errors import SpecrecError, UsageError
from specrec.evaluate.metrics import coverages
from specrec.spec.load import LoadedSpec

FILES = {"report": "compare.json", "plot": "compare.png"}


@dataclass
class Row:
    """One backend's line of the comparison (None: not measured, or the fit failed)."""

    backend: str
    ok: bool
    label: str | None = None  # "backend/method" when several methods are compared (else None)
    version: str | None = None
    method: str | None = None
    test_rmse: float | None = None
    test_mae: float | None = None
    coverage: float | None = None
    divergences: int | None = None
    rhat_max: float | None = None
    pred_rhat_max: float | None = None
    ess_bulk_min: float | None = None
    pred_ess_bulk_min: float | None = None
    ess_per_s: float | None = None
    fit_s: float | None = None
    compile_s: float | None = None
    us_per_eval: float | None = None
    run_dir: str | None = None
    error: str | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)


@dataclass
class Comparison:
    """The comparison report (compare.json's content), its folder, and the runs behind it."""

    path: Path | None
    report: dict
    runs: dict[str, fitting.Run]

    @property
    def ok(self) -> bool:
        """Every backend fitted and they all saw the same spec, data and split."""
        return all(r["ok"] for r in self.report["rows"]) and self.report["fingerprints_match"]


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SpecrecError) else f"{type(exc).__name__}: {exc}"


def row_from_run(name: str, run: fitting.Run, label: str | None = None) -> Row:
    m = run.metrics
    test, diag, t = m["metrics"]["test"], m["diagnostics"], m["timing"]
    cov_key = next((k for k, _ in coverages(test)), None)
    return Row(
        backend=name,
        ok=True,
        label=label,
        version=m["backend"]["version"],
        method=m["inference"]["method"],
        test_rmse=test["rmse"],
        test_mae=test["mae"],
        coverage=test[cov_key] if cov_key else None,
        divergences=diag.get("divergences"),
        rhat_max=diag.get("rhat_max"),
        pred_rhat_max=diag.get("pred_rhat_max"),
        ess_bulk_min=diag.get("ess_bulk_min"),
        pred_ess_bulk_min=diag.get("pred_ess_bulk_min"),
        ess_per_s=diag.get("ess_per_s"),
        fit_s=t["fit_s"],
        compile_s=t["compile_s"],
        run_dir=str(run.path) if run.path is not None else None,
        fingerprints={
            "spec": m["spec"]["sha256"],
            "data": m["data"]["fingerprint"],
            "split": m["split"]["fingerprint"],
        },
    )


def _mismatches(rows: list[Row]) -> list[str]:
    """Which fingerprints differ between the fitted rows (empty: a fair comparison)."""
    out = []
    fitted = [r for r in rows if r.ok]
    for key in ("spec", "data", "split"):
        seen = {r.label or r.backend: r.fingerprints.get(key) for r in fitted}
        if len(set(seen.values())) > 1:
            out.append(
                f"{key} fingerprints differ: " + ", ".join(f"{b} {v}" for b, v in seen.items())
            )
    return out


def _time_evaluations(loaded: LoadedSpec, data: str | None, runs: dict, rows: list[Row]) -> None:
    """Fill ``us_per_eval`` per row: float64 log density + gradient, same model and point."""
    model = next((r.model for r in runs.values() if r.model is not None), None)
    if model is None:
        try:
            from specrec.data.source import load_data
            from specrec.model.lower import lower

            ds, split = load_data(loaded, data)
            model = lower(loaded, ds.take(split.train))
        except Exception:  # every fit failed already, and for the same reason
            return
    timed: dict[str, float | None] = {}  # one timing per backend, whatever the method
    for row in rows:
        if row.backend in timed:
            row.us_per_eval = timed[row.backend]
            continue
        try:
            row.us_per_eval = parity.time_backend(
                model, row.backend, seed=loaded.spec.inference.seed
            )
        except Exception as exc:  # timing is extra information; its failure is reported, not fatal
            row.us_per_eval = None
            note = f"log density timing failed: {_error_text(exc)}"
            row.error = f"{row.error}; {note}" if row.error else note
        timed[row.backend] = row.us_per_eval


def _agreement(runs: dict[str, fitting.Run], seed: int) -> dict:
    usable = {n: r for n, r in runs.items() if r.model is not None and r.test_rows is not None}
    if len(usable) < 2:
        return {"pairs": [], "flagged": [], "errors": [], "note": "fewer than two fitted backends"}
    first = next(iter(usable.values()))
    assert first.test_rows is not None
    pick = agreement.pick_pairs(len(first.test_rows), seed)
    estimates = []
    for name, run in usable.items():
        assert run.model is not None and run.test_rows is not None
        method = run.metrics["inference"]["method"]
        rmse = run.metrics["metrics"]["test"]["rmse"]
        estimates.append(
            agreement.estimate(name, method, run.model, run.data, run.test_rows, pick, rmse)
        )
    return agreement.agreement(estimates)


def compare(
    spec: str | Path | LoadedSpec,
    backends: list[str] | None = None,
    *,
    method: str | None = None,
    methods: list[str] | None = None,
    data: str | None = None,
    seed: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    out: str | Path | None = "runs",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Fit ``spec`` on each backend in order and write the comparison (``out=None``: nothing).

    ``methods``: fit each backend with each of these methods in turn (instead of ``method``);
    the spec is resolved once per method, from the same file and overrides.
    """
    if methods and method:
        raise UsageError("give --method or --methods, not both")
    several = bool(methods) and len(methods or []) > 1
    loaded_by = {
        m: fitting.resolve_spec(spec, method=m, seed=seed, overrides=list(overrides))
        for m in (methods or [method])
    }
    loaded = next(iter(loaded_by.values()))
    s = loaded.spec
    names = list(backends) if backends else available_names()
    say = log or (lambda msg: None)
    runs: dict[str, fitting.Run] = {}
    rows: list[Row] = []
    for name in names:
        for spec_m in loaded_by.values():
            label = f"{name}/{spec_m.spec.inference.method}" if several else None
            key = label or name
            say(f"--- {key} ---")
            try:
                run = fitting.fit(
                    spec_m, backend=name, data=data, out=out, progress=progress, log=log
                )
            except Exception as exc:  # one backend's failure is a result; the others still run
                rows.append(
                    Row(
                        backend=name,
                        ok=False,
                        label=label,
                        method=spec_m.spec.inference.method,
                        error=_error_text(exc),
                    )
                )
                say(f"{key} failed: {_error_text(exc)}")
                continue
            runs[key] = run
            rows.append(row_from_run(name, run, label))
    say("timing log density + gradient on each backend")
    _time_evaluations(loaded, data, runs, rows)
    say("checking posterior agreement")
    agree = _agreement(runs, s.inference.seed)
    mismatches = _mismatches(rows)
    first = next(iter(runs.values()), None)
    report = {
        "specrec_format": rundir.FORMAT,
        "kind": "compare",
        "spec": {"name": s.name, "sha256": loaded.sha256, "file": loaded.file},
        "method": ",".join(x.spec.inference.method for x in loaded_by.values()),
        "methods": [x.spec.inference.method for x in loaded_by.values()],
        "seed": s.inference.seed,
        "data": first.metrics["data"] if first else None,
        "split": first.metrics["split"] if first else None,
        "fingerprints_match": not mismatches,
        "mismatches": mismatches,
        "baselines": first.metrics["baselines"] if first else {},
        "rows": [asdict(r) for r in rows],
        "agreement": agree,
        "command": sys.argv,
    }
    path = None
    if out is not None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = rundir.write_run(
            Path(out) / s.name,
            f"compare-{stamp}-{os.urandom(3).hex()}",
            lambda tmp: _write(tmp, report),
        )
    return Comparison(path, report, runs)


def _write(folder: Path, report: dict) -> None:
    from specrec.evaluate import plots

    rows = report["rows"]
    plots.plot_comparison(
        [r.get("label") or r["backend"] for r in rows],
        [r["test_rmse"] for r in rows],
        [r["fit_s"] for r in rows],
        [r["compile_s"] for r in rows],
        {k: v["rmse"] for k, v in report["baselines"].items()},
        folder / FILES["plot"],
    )
    rundir.write_json(folder / FILES["report"], report)
