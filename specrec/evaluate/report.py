"""``specrec report RUN_DIR``: the run's figures and one self-contained HTML page.

Everything is read back from the run directory (metrics.json, curves.json, predictions.csv,
posterior.nc), so a report can be made long after the fit, on another machine, for any backend.
The page embeds its figures as ``data:`` URIs and has no script and no external link, so it
opens offline and can be mailed as one file.

The run's own files are never touched: the report is built in a ``.tmp-report-*`` folder inside
the run and renamed to ``report/`` in one step (a previous report is moved aside first and then
deleted), so a crash leaves either the old report or the new one, never half of one.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from specrec import rundir
from specrec.errors import UsageError
from specrec.evaluate import checks, plots
from specrec.evaluate.fields import describe

REPORT_DIR = "report"
PAGE = "report.html"


def _read_run(run_dir: Path) -> tuple[dict, dict]:
    metrics_file = run_dir / rundir.FILES["metrics"]
    if not metrics_file.is_file():
        raise UsageError(
            f"{run_dir} is not a run directory: it has no {rundir.FILES['metrics']} "
            "(give a folder written by `specrec fit`, e.g. runs/<spec name>/<run id>)"
        )
    metrics = rundir.read_json(run_dir, "metrics")
    found = metrics.get("specrec_format")
    if not isinstance(found, int) or found > rundir.FORMAT:
        raise UsageError(
            f"{run_dir} has run format {found!r}; this specrec reads formats up to "
            f"{rundir.FORMAT} (upgrade specrec to report on it)"
        )
    curves_file = run_dir / rundir.FILES["curves"]
    curves = rundir.read_json(run_dir, "curves") if curves_file.is_file() else {}
    with rundir.reading(run_dir, "curves"):
        return metrics, {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}


def _open_idata(run_dir: Path):
    """posterior.nc, opened lazily (groups are read when used), or None when there is none."""
    path = run_dir / rundir.FILES["posterior"]
    if not path.is_file():
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    with rundir.reading(run_dir, "posterior"):
        return az.from_netcdf(str(path))


def _hyperparameter_draws(idata, run_dir: Path, names: list[str]) -> dict[str, np.ndarray]:
    """``label -> (chain, draw)`` for every element of the named variables in posterior.nc."""
    if not names or idata is None:
        return {}
    with rundir.reading(run_dir, "posterior"):
        posterior = idata.posterior
        posterior.load()
    out: dict[str, np.ndarray] = {}
    for name in names:
        values = np.asarray(posterior[name].values, dtype=np.float64)
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        for j in range(flat.shape[2]):
            label = name if flat.shape[2] == 1 else f"{name}[{j}]"
            out[label] = flat[:, :, j]
    return out


def _read_predictions(run_dir: Path, metrics: dict) -> pd.DataFrame | None:
    """predictions.csv by the reader ``predict`` uses (None if the run has none), so a truncated
    or short file is a damaged run here too, never a plot of the rows that survived.  The
    report plots the response and mean columns alone, so no id column is read as text and no
    model is lowered (which would read the training rows a report otherwise never opens)."""
    from specrec.run import read_predictions

    n_test = (metrics.get("split") or {}).get("n_test")
    return read_predictions(run_dir, [], n_test)


def make_figures(run_dir: Path, folder: Path, metrics: dict, curves: dict) -> list[tuple]:
    """Write every figure the run's data allows to ``folder``; ``[(file, title, caption)]``."""
    made: list[tuple[str, str, str]] = []

    def add(name: str, title: str, caption: str, draw) -> None:
        draw(folder / name)
        made.append((name, title, caption))

    norms = {k.removeprefix("frobenius_"): v for k, v in curves.items() if "frobenius_" in k}
    if norms:
        add(
            "frobenius.png",
            "Frobenius norms",
            "Norm of each factor matrix per draw; flat, overlapping chains suggest convergence.",
            lambda p: plots.plot_frobenius(norms, p),
        )
    if "running_rmse" in curves:
        base = {k: v["rmse"] for k, v in metrics.get("baselines", {}).items() if k != "uniform"}
        add(
            "running_rmse.png",
            "Running test RMSE",
            "RMSE of the posterior mean after each draw, against the baselines (dashed).",
            lambda p: plots.plot_running_rmse(curves["running_rmse"], base, p),
        )
    if "loss" in curves:
        conv = metrics["diagnostics"].get("loss_convergence") or {}
        add(
            "loss.png",
            "Loss trace",
            f"Negative ELBO per step; converged: "
            f"{conv.get('converged')} (relative change {conv.get('rel_change')}).",
            lambda p: plots.plot_loss(curves["loss"], p),
        )
    table = _read_predictions(run_dir, metrics)
    if table is not None:
        response = table.columns[list(table.columns).index("mean") - 1]
        add(
            "observed_vs_predicted.png",
            "Observed vs predicted",
            "Test ratings and the posterior-mean predictions on the same bins.",
            lambda p: plots.plot_observed_vs_predicted(table[response], table["mean"], p),
        )
    if "calibration_nominal" in curves:
        add(
            "calibration.png",
            "Calibration",
            "Coverage of central predictive intervals of the "
            "test ratings against their nominal level; below the diagonal = overconfident.",
            lambda p: plots.plot_calibration(
                curves["calibration_nominal"], curves["calibration_observed"], p
            ),
        )
    by_activity = metrics["metrics"]["test"].get("rmse_by_activity")
    if by_activity:
        add(
            "rmse_by_activity.png",
            "RMSE by activity",
            "Test RMSE by how many training ratings the user (item) had.",
            lambda p: plots.plot_rmse_by_activity(by_activity, p),
        )
    idata = _open_idata(run_dir)
    hyper = list(metrics["diagnostics"].get("hyperparameters") or {})
    draws = _hyperparameter_draws(idata, run_dir, hyper)
    if draws:
        add(
            "hyperparameters.png",
            "Hyperparameters",
            "Trace and per-chain rank histogram of each hyperparameter element.",
            lambda p: plots.plot_hyperparameters(draws, p),
        )
    if idata is not None:
        with rundir.reading(run_dir, "posterior"):
            made += checks.predictive_figures(idata, metrics, folder)
            made += checks.energy_figure(idata, metrics, folder)
    return made


def _flatten(d: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(d, dict):
        out: list[tuple[str, object]] = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, d)]


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return "-" if v is None else str(v)


def _table(title: str, section: object, prefix: str) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td class=num>{html.escape(_cell(v))}</td>"
        f"<td>{html.escape(describe(k) or '')}</td></tr>"
        for k, v in _flatten(section, prefix)
    )
    return f"<h2>{html.escape(title)}</h2><table>{rows}</table>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin-bottom:1em;font-size:90%}
td{border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}.warn{color:#a00;font-weight:bold}
"""


def _parameter_parts(diagnostics: dict) -> list[str]:
    """The verdict (real warnings in red) and the az.summary table of every non-row parameter."""
    out = []
    verdict = diagnostics.get("verdict")
    if verdict is not None:
        out += [f"<p class=warn>WARNING: {html.escape(w)}</p>" for w in verdict["warnings"]]
        out += [f"<p>Expected, not a warning: {html.escape(e)}</p>" for e in verdict["expected"]]
        if not verdict["warnings"]:
            out.append("<p>Verdict: no real convergence warning.</p>")
    table = diagnostics.get("parameters") or {}
    if table:
        cols = list(dict.fromkeys(c for row in table.values() for c in row))
        head = "".join(f"<td><b>{html.escape(c)}</b></td>" for c in ["parameter", *cols])
        rows = "".join(
            f"<tr><td><code>{html.escape(label)}</code></td>"
            + "".join(f"<td class=num>{html.escape(_cell(row.get(c)))}</td>" for c in cols)
            + "</tr>"
            for label, row in table.items()
        )
        out.append(f"<h2>Parameters (az.summary)</h2><table><tr>{head}</tr>{rows}</table>")
    return out


def render_html(metrics: dict, folder: Path, figures: list[tuple], summary: str) -> str:
    """The page: summary, figures embedded as base64 PNG, then every number with its meaning."""
    title = (
        f"{metrics['spec']['name']}: {metrics['inference']['method']} on "
        f"{metrics['backend']['name']} {metrics['backend']['version']}"
    )
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(summary)}</pre>",
    ]
    loo = metrics["metrics"].get("loo") or {}
    if loo.get("warning"):
        parts.append(
            f"<p class=warn>PSIS-LOO: {loo['n_pareto_k_above_good']} training ratings have "
            f"Pareto k above {loo['good_k']:.2f}; elpd_loo is unreliable.</p>"
        )
    parts += _parameter_parts(metrics["diagnostics"])
    parts += [f"<p>{html.escape(note)}</p>" for note in checks.notes(metrics)]
    for name, fig_title, caption in figures:
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h2>{html.escape(fig_title)}</h2>"
            f'<img alt="{html.escape(fig_title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append(_table("Test and train metrics", metrics["metrics"], "metrics"))
    parts.append(_table("Baselines", metrics.get("baselines", {}), "baselines"))
    diag = {k: v for k, v in metrics["diagnostics"].items() if k != "parameters"}
    parts.append(_table("Diagnostics", diag, "diagnostics"))
    parts.append(_table("Timing", metrics.get("timing", {}), "timing"))
    parts.append(
        _table(
            "Provenance", {k: metrics[k] for k in ("data", "split", "versions") if k in metrics}, ""
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | os.PathLike[str]) -> Path:
    """Build ``RUN_DIR/report/`` (PNG figures + ``report.html``) atomically; return the page."""
    from specrec.summary import fit_summary

    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"run directory {run} does not exist")
    metrics, curves = _read_run(run)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-report-", dir=run))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a report is meant to be shared
    try:
        figures = make_figures(run, tmp, metrics, curves)
        page = render_html(metrics, tmp, figures, fit_summary(metrics, run))
        (tmp / PAGE).write_text(page, encoding="utf-8")
        final = run / REPORT_DIR
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-report-", dir=run))
            os.replace(final, old / REPORT_DIR)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / PAGE
