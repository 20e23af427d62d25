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
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from specrec import rundir
from specrec.errors import FitError, UsageError
from specrec.evaluate import checks, plots
from specrec.evaluate.fields import METRICS_FIELDS
from specrec.evaluate.metrics import coverages

REPORT_DIR = "report"
PAGE = "report.html"


def _read_run(run_dir: Path) -> tuple[dict, dict]:
    metrics_file = run_dir / rundir.FILES["metrics"]
    if not metrics_file.is_file():
        raise UsageError(
            f"{run_dir} is not a run directory: it has no {rundir.FILES['metrics']} "
            "(give a folder written by `specrec fit`, e.g. runs/<spec name>/<run id>)"
        )
    rundir.check_sizes(run_dir)
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
            "RMSE of the posterior mean after each draw, on an axis scaled to the curve; "
            "baselines in that range are dashed lines, the others are named with their RMSE.",
            lambda p: plots.plot_running_rmse(curves["running_rmse"], base, p),
        )
    if "loss" in curves:
        conv = metrics["diagnostics"].get("loss_convergence") or {}
        add(
            "loss.png",
            "Loss trace",
            f"Negative ELBO per step (a log axis when it spans orders of magnitude); "
            f"converged: {_cell(conv.get('converged'))} "
            f"(relative change {_rel(conv.get('rel_change'))}).",
            lambda p: plots.plot_loss(curves["loss"], p),
        )
    table = _read_predictions(run_dir, metrics)
    if table is not None:
        response = table.columns[list(table.columns).index("mean") - 1]
        add(
            "observed_vs_predicted.png",
            "Observed vs predicted",
            "Test ratings and the posterior-mean predictions: step histograms on the same bins "
            "(left) and empirical CDFs (right).",
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
            f"Test RMSE by how many training ratings the {' or '.join(by_activity)} had; "
            "buckets cut at quantiles of the test rows' training counts "
            "(0: cold start), so each holds about as many test ratings.",
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


# -- numbers as words ---------------------------------------------------------------------------


def _cell(v: object) -> str:
    """One value as the page shows it: booleans as yes/no (never Python's True), floats to
    four significant digits (also inside lists), null as a dash."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "0" if v == 0 else f"{v:.4g}"  # 0 for -0.0 too
    if isinstance(v, list):
        return ", ".join(_cell(x) for x in v)
    return "-" if v is None else str(v)


def _fmt(v: object, digits: int) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return _cell(v)
    text = f"{v:.{digits}f}"
    return text.removeprefix("-") if float(text) == 0 else text


# -- what each key means, placeholders filled ------------------------------------------------


def _template(key: str) -> tuple[str, str, dict[str, str]] | None:
    """``(entry, description, {placeholder: the key's part})`` of the METRICS_FIELDS entry
    that documents ``key`` (as ``fields.describe`` finds it), or None when none does."""
    for name, text in METRICS_FIELDS.items():
        parts = re.split(r"(<[^>]+>)", name)
        names = [p[1:-1] for p in parts if p.startswith("<")]
        regex = "".join(r"([^.]+)" if p.startswith("<") else re.escape(p) for p in parts if p)
        found = re.fullmatch(regex, key)
        if found:
            return name, text, dict(zip(names, found.groups(), strict=True))
        if name.endswith("<key>") and key.startswith(name[:-5]):
            return name, text, {"key": key[len(name) - 5 :]}
    return None


def _either(values: list[str]) -> str:
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _fill(text: str, bound: dict[str, list[str]], dims: list[str]) -> str:
    """``text`` with each ``<placeholder>`` replaced by what it stands for on this page: the
    key's own part (``<dim>`` of ``cold_start_test_rows.user`` is user; several keys described
    at once: "user or item"), else for ``<dim>`` the run's data dims (``<dim>_mean``:
    "user_mean, item_mean"), else the placeholder's name as a word."""

    def one(found: re.Match) -> str:
        name, suffix, ratio = found.group(1), found.group(2), found.group(3)
        if bound.get(name):
            values = _either(bound[name])
            several = len(set(bound[name])) > 1
            return (f"({values})" if several and ratio else values) + suffix  # (50 or 95)/100
        if name == "dim" and dims:
            return ", ".join(f"{d}{suffix}" for d in dims)
        return name + suffix

    return re.sub(r"<([a-z_]+)>(\w*)(?=(/)?)", one, text)


def _dims(metrics: dict) -> list[str]:
    test = (metrics.get("metrics") or {}).get("test") or {}
    cold = (metrics.get("metrics") or {}).get("cold_start_test_rows") or {}
    found = list(test.get("rmse_by_activity") or {}) or list(cold)
    return [str(d) for d in found]


def _description(keys: list[str], dims: list[str]) -> str:
    """The one description of ``keys`` (all documented by the same entry), filled."""
    found = [t for t in map(_template, keys) if t is not None]
    if not found:
        return ""
    bound: dict[str, list[str]] = {}
    for _, _, parts in found:
        for name, value in parts.items():
            bound.setdefault(name, []).append(value)
    return _fill(found[0][1], bound, dims)


# -- tables of every number ------------------------------------------------------------------


def _is_leaf(v: object) -> bool:
    return not isinstance(v, dict) or not v


def _records(node: dict) -> tuple[list[tuple[str, ...]], list[str]] | None:
    """Rows and columns when ``node`` is a set of like records, shown as one small table:
    ``{name: {field: value}}`` with the same fields (baselines, hyperparameters), the same one
    level deeper (``rmse_by_activity``: dim, bucket), or like scalars ``{name: value}``
    (``interval_coverage``: 50, 80, 95; the caller checks that one entry documents them)."""
    if len(node) < 2:
        return None
    if all(_is_leaf(v) for v in node.values()):
        return [(str(k),) for k in node], ["value"]
    for depth in (1, 2):
        rows: list[tuple[str, ...]] = []
        fields: list[list[str]] = []
        if _walk(node, (), depth, rows, fields) and len(rows) >= 2:
            return rows, fields[0]
    return None


def _walk(d: object, path: tuple, left: int, rows: list, fields: list) -> bool:
    """Collect into ``rows`` the paths ``left`` levels below ``d`` to dicts of plain values
    with the same keys (``fields[0]``); False as soon as ``d`` has any other shape."""
    if not isinstance(d, dict) or not d:
        return False
    if left == 0:
        if not all(_is_leaf(v) for v in d.values()):
            return False
        keys = [str(k) for k in d]
        fields.append(keys)
        rows.append(path)
        return keys == fields[0]
    return all(_walk(v, (*path, str(k)), left - 1, rows, fields) for k, v in d.items())


def _get(node: dict, path: tuple[str, ...]) -> object:
    for part in path:
        node = {str(k): v for k, v in node.items()}[part]
    return node


def _block(prefix: str, node: dict, shape: tuple, dims: list[str]) -> str:
    """A set of like records as one row: the small table, and each column's meaning once."""
    rows, fields = shape
    scalar = fields == ["value"]
    first = _template(".".join([prefix, *rows[0]] + ([] if scalar else [fields[0]])))
    names = [p for p in re.findall(r"<([a-z_]+)>", first[0])] if first else []
    depth = len(rows[0])
    heads = (names[-depth - (0 if scalar else 1) :][:depth] if names else []) or ["key"] * depth
    heads = (heads + ["key"] * depth)[:depth]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [*heads, *fields])
    body = "".join(
        "<tr>"
        + "".join(f"<td><code>{html.escape(p)}</code></td>" for p in row)
        + "".join(
            f"<td class=num>{html.escape(_cell(_get(node, row if scalar else (*row, f))))}</td>"
            for f in fields
        )
        + "</tr>"
        for row in rows
    )
    meanings = []
    for f in fields:
        keys = [".".join([prefix, *row] + ([] if scalar else [f])) for row in rows]
        text = _description(keys, dims)
        if text:
            meanings.append(
                text if scalar else f"<code>{html.escape(f)}</code>: " + html.escape(text)
            )
    desc = html.escape(meanings[0]) if scalar and meanings else "; ".join(meanings)
    return (
        f"<tr><td><code>{html.escape(prefix)}</code></td>"
        f"<td><table class=inner><tr>{head}</tr>{body}</table></td><td>{desc}</td></tr>"
    )


def _rows(node: object, prefix: str, dims: list[str]) -> list[str]:
    if not isinstance(node, dict) or not node:
        text = _description([prefix], dims)
        return [
            f"<tr><td><code>{html.escape(prefix)}</code></td>"
            f"<td class=num>{html.escape(_cell(node))}</td><td>{html.escape(text)}</td></tr>"
        ]
    shape = _records(node) if prefix else None
    if shape is not None and (shape[1] != ["value"] or _one_entry(node, prefix)):
        return [_block(prefix, node, shape, dims)]
    out = []
    for k, v in node.items():
        out += _rows(v, f"{prefix}.{k}" if prefix else str(k), dims)
    return out


def _one_entry(node: dict, prefix: str) -> bool:
    """Whether every key of ``node`` is documented by the same entry (one meaning for all)."""
    found = {(_template(f"{prefix}.{k}") or ("", "", {}))[0] for k in node}
    return len(found) == 1 and "" not in found


def _table(title: str, section: object, prefix: str, dims: list[str]) -> str:
    rows = "".join(_rows(section, prefix, dims)) if section else ""
    return f"<h2>{html.escape(title)}</h2><table>{rows}</table>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin-bottom:1em;font-size:90%}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.inner{margin:0;font-size:100%}table.inner td,table.inner th{border:0;padding:1px 6px}
tr.model td{font-weight:bold}tr.best td{background:#f3f3f3}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
.warn{color:#a00;font-weight:bold}.expected{color:#444}.meta{color:#555}
"""


# -- the summary at the top --------------------------------------------------------------------


def _headline(metrics: dict) -> str:
    """The model's test and train RMSE and MAE above every baseline's; the best baseline
    shaded, and one sentence on whether the model beats it."""
    m = metrics.get("metrics") or {}
    test, train = m.get("test") or {}, m.get("train") or {}
    base = {k: v for k, v in (metrics.get("baselines") or {}).items() if isinstance(v, dict)}

    def rmse(v: dict) -> float:
        r = v.get("rmse")
        return float(r) if isinstance(r, int | float) else float("inf")

    best = min(base, key=lambda k: rmse(base[k])) if base else None
    rows = [("model (test)", test, "model"), ("model (train)", train, "")]
    rows += [(k, v, "best" if k == best else "") for k, v in base.items()]
    body = "".join(
        (f"<tr class={cls}>" if cls else "<tr>")
        + f"<td>{html.escape(str(name))}</td>"
        + "".join(f"<td class=num>{html.escape(_fmt(v.get(c), 4))}</td>" for c in ("rmse", "mae"))
        + "</tr>"
        for name, v, cls in rows
    )
    table = f"<table><tr><th></th><th class=num>RMSE</th><th class=num>MAE</th></tr>{body}</table>"
    if best is None or not isinstance(test.get("rmse"), int | float):
        return table
    gap = float(test["rmse"]) - rmse(base[best])
    verdict = (
        f"The model's test RMSE is {abs(gap):.4f} below the best baseline ({best})."
        if gap < 0
        else f"The best baseline ({best}) has a test RMSE {gap:.4f} below the model's."
    )
    return table + f"<p>{html.escape(verdict)}</p>"


def _key_numbers(metrics: dict) -> list[tuple[str, str]]:
    """``[(what, value)]``: the numbers a reader wants first, in words."""
    m = metrics.get("metrics") or {}
    test = m.get("test") or {}
    d = metrics.get("diagnostics") or {}
    out: list[tuple[str, str]] = []
    for k, level in coverages(test):
        if test[k] is not None:
            out.append((f"{level} % predictive interval coverage (test)", _fmt(test[k], 3)))
    if test.get("log_predictive_density") is not None:
        out.append(
            ("log predictive density per test rating", _fmt(test["log_predictive_density"], 3))
        )
    cov = test.get("interval_coverage") or {}
    if isinstance(cov, dict) and cov:
        out.append(
            ("interval coverage (test)", ", ".join(f"{k} %: {_fmt(v, 3)}" for k, v in cov.items()))
        )
    r = test.get("ranking")
    if isinstance(r, dict) and r.get("precision") is not None:
        out.append(
            (
                f"ranking per {r.get('per')} (top {r.get('k')}, relevant >= "
                f"{_cell(r.get('threshold'))}, {r.get('n_lists')} lists)",
                f"precision {_fmt(r.get('precision'), 3)} "
                f"(random {_fmt(r.get('precision_random'), 3)}), "
                f"recall {_fmt(r.get('recall'), 3)} (random {_fmt(r.get('recall_random'), 3)}), "
                f"NDCG {_fmt(r.get('ndcg'), 3)}",
            )
        )
    loo = m.get("loo") or {}
    if isinstance(loo, dict) and loo.get("skipped"):
        out.append(("PSIS-LOO", f"skipped: {loo['skipped']}"))
    elif isinstance(loo, dict) and loo.get("elpd_loo") is not None:
        out.append(
            (
                "PSIS-LOO elpd (training ratings)",
                f"{_fmt(loo['elpd_loo'], 1)} (se {_fmt(loo.get('se'), 1)}, "
                f"{_fmt(loo.get('elpd_loo_per_rating'), 3)} per {_unit(loo)}), "
                f"p_loo {_fmt(loo.get('p_loo'), 1)}",
            )
        )
    cold = m.get("cold_start_test_rows") or {}
    if isinstance(cold, dict) and any(cold.values()):
        out.append(
            ("cold-start test ratings", ", ".join(f"{k} {_cell(v)}" for k, v in cold.items()))
        )
    if d.get("rhat_max") is not None or d.get("pred_rhat_max") is not None:
        out.append(("divergent transitions", _cell(d.get("divergences"))))
        out.append(
            (
                "R-hat max: parameters, predictions",
                f"{_fmt(d.get('rhat_max'), 3)}, {_fmt(d.get('pred_rhat_max'), 3)}",
            )
        )
        out.append(
            (
                "bulk ESS min: parameters, predictions",
                f"{_fmt(d.get('ess_bulk_min'), 1)}, {_fmt(d.get('pred_ess_bulk_min'), 1)}",
            )
        )
        if d.get("bfmi"):
            out.append(("BFMI per chain", ", ".join(_fmt(b, 2) for b in d["bfmi"])))
    if d.get("loss_final") is not None:
        conv = d.get("loss_convergence") or {}
        out.append(("final loss", _fmt(d["loss_final"], 1)))
        out.append(
            (
                "loss converged",
                f"{_cell(conv.get('converged'))} (relative change {_rel(conv.get('rel_change'))})",
            )
        )
    t = metrics.get("timing") or {}
    parts = [
        f"{name} {_fmt(t.get(k), 1)} s"
        for name, k in (
            ("fit", "fit_s"),
            ("compile", "compile_s"),
            ("evaluate", "evaluate_s"),
            ("wall", "wall_s"),
        )
        if t.get(k) is not None
    ]
    if parts:
        out.append(("time", ", ".join(parts)))
    return out


def _unit(loo: dict) -> str:
    """What PSIS-LOO leaves out, in words: a rating, or a level of the mixture's per dim."""
    unit = loo.get("unit")
    return "rating" if unit in (None, "row") else str(unit)


def _rel(v: object) -> str:
    return f"{v:.2g}" if isinstance(v, float) and not isinstance(v, bool) else _cell(v)


def _verdict(metrics: dict) -> str:
    """Real warnings in red, one per line; what is expected of the model (rotation of the
    factors, label switching) said once, not in red; else that there is no real warning."""
    d = metrics.get("diagnostics") or {}
    warn: list[str] = []
    expected: list[str] = []
    verdict = d.get("verdict")
    if isinstance(verdict, dict):
        warn += [str(w) for w in verdict.get("warnings") or []]
        expected += [str(e) for e in verdict.get("expected") or []]
    loo = (metrics.get("metrics") or {}).get("loo") or {}
    if isinstance(loo, dict) and loo.get("warning"):
        good = loo.get("good_k")
        warn.append(
            f"PSIS-LOO: {loo.get('n_pareto_k_above_good')} training ratings have Pareto k above "
            f"{_fmt(good, 2)}; elpd_loo is unreliable"
        )
    conv = d.get("loss_convergence") or {}
    if isinstance(conv, dict) and conv.get("converged") is False:
        warn.append(
            f"the loss has not settled (relative change {_rel(conv.get('rel_change'))} between "
            "its last two windows, above 1e-3): run more steps"
        )
    parts = ["<h2>Verdict</h2>"]
    if warn:
        parts.append(
            "<ul>"
            + "".join(f"<li class=warn>WARNING: {html.escape(w)}</li>" for w in warn)
            + "</ul>"
        )
    else:
        parts.append("<p>No real warning.</p>")
    for e in dict.fromkeys(expected):
        parts.append(f"<p class=expected>Expected, not a warning: {html.escape(e)}</p>")
    return "".join(parts)


def _meta(metrics: dict, run_name: str | None) -> str:
    """One line: the run's name (never a path: the page may be built in a staging folder),
    seed, split and data."""
    split = metrics.get("split") or {}
    data = metrics.get("data") or {}
    facts = []
    if run_name:
        facts.append(f"run <code>{html.escape(str(run_name))}</code>")
    if metrics.get("seed") is not None:
        facts.append(f"seed {html.escape(_cell(metrics.get('seed')))}")
    if split:
        facts.append(
            f"split {html.escape(_cell(split.get('kind')))}: "
            f"{html.escape(_cell(split.get('n_train')))} training, "
            f"{html.escape(_cell(split.get('n_test')))} test ratings"
        )
    if data.get("source") is not None:
        facts.append(f"data {html.escape(_cell(data.get('source')))}")
    return f"<p class=meta>{'; '.join(facts)}</p>" if facts else ""


def _summary(metrics: dict) -> str:
    """The top of the page as HTML (the terminal's text lines are for the terminal): the
    headline table, the key numbers in words, and the verdict."""
    rows = "".join(
        f"<tr><td>{html.escape(what)}</td><td>{html.escape(value)}</td></tr>"
        for what, value in _key_numbers(metrics)
    )
    return (
        "<h2>Summary</h2>"
        + _headline(metrics)
        + (f"<table>{rows}</table>" if rows else "")
        + _verdict(metrics)
    )


def _parameters(diagnostics: dict) -> str:
    """The az.summary table of every non-row parameter."""
    table = diagnostics.get("parameters") or {}
    if not table:
        return ""
    cols = list(dict.fromkeys(c for row in table.values() for c in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["parameter", *cols])
    rows = "".join(
        f"<tr><td><code>{html.escape(label)}</code></td>"
        + "".join(f"<td class=num>{html.escape(_cell(row.get(c)))}</td>" for c in cols)
        + "</tr>"
        for label, row in table.items()
    )
    return f"<h2>Parameters (az.summary)</h2><table><tr>{head}</tr>{rows}</table>"


#: the run's own files the page links to (relative to report/, so valid where the run ends up)
RUN_FILES = ("metrics", "predictions", "posterior", "spec")


def _files(folder: Path) -> str:
    """Links to the run's files, relative to ``RUN/report/report.html``; only those present."""
    run = folder.parent
    links = [
        f'<a href="../{html.escape(rundir.FILES[k])}">{html.escape(rundir.FILES[k])}</a>'
        for k in RUN_FILES
        if k in rundir.FILES and (run / rundir.FILES[k]).is_file()
    ]
    return f"<p class=meta>Files of the run: {', '.join(links)}</p>" if links else ""


def render_html(
    metrics: dict, folder: Path, figures: list[tuple], run_name: str | None = None
) -> str:
    """The page: summary and verdict, parameters, figures embedded as base64 PNG (each linked
    to its file beside the page), then every number with its meaning, described once."""
    title = (
        f"{metrics['spec']['name']}: {metrics['inference']['method']} on "
        f"{metrics['backend']['name']} {metrics['backend']['version']}"
    )
    dims = _dims(metrics)
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _meta(metrics, run_name),
        _files(Path(folder)),
        _summary(metrics),
        _parameters(metrics.get("diagnostics") or {}),
    ]
    parts += [f"<p>{html.escape(note)}</p>" for note in checks.notes(metrics)]
    for name, fig_title, caption in figures:
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h2>{html.escape(fig_title)}</h2>"
            f'<a href="{html.escape(name)}"><img alt="{html.escape(fig_title)}" '
            f'src="data:image/png;base64,{data}"></a>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append(_table("Test and train metrics", metrics["metrics"], "metrics", dims))
    parts.append(_table("Baselines", metrics.get("baselines", {}), "baselines", dims))
    shown = ("parameters", "verdict")  # the table and the verdict above
    diag = {k: v for k, v in metrics["diagnostics"].items() if k not in shown}
    parts.append(_table("Diagnostics", diag, "diagnostics", dims))
    parts.append(_table("Timing", metrics.get("timing", {}), "timing", dims))
    provenance = {k: metrics[k] for k in ("data", "split", "versions") if k in metrics}
    parts.append(_table("Provenance", provenance, "", dims))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def write_report(run_dir: str | os.PathLike[str], run_name: str | None = None) -> Path:
    """Build ``RUN_DIR/report/`` (PNG figures + ``report.html``) atomically; return the page.

    ``run_name`` is the name the run directory has for good (``fit --report`` builds the report
    inside the run's staging folder, before the run is renamed into place); the default is
    ``RUN_DIR``'s own name.  The page names no absolute path and links only relative to
    ``report/``, so nothing on it points at the staging folder.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"run directory {run} does not exist")
    metrics, curves = _read_run(run)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-report-", dir=run))
    tmp.chmod(rundir.dir_mode())  # mkdtemp makes it private; a report is meant to be shared
    try:
        figures = make_figures(run, tmp, metrics, curves)
        page = render_html(metrics, tmp, figures, run_name or run.name)
        path = tmp / PAGE
        path.write_text(page, encoding="utf-8")
        final = run / REPORT_DIR
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-report-", dir=run))
            os.replace(final, old / REPORT_DIR)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if why := rundir.no_room(exc):  # a figure's writer names no file: say which report
            raise FitError(
                f"could not write the report to {run / REPORT_DIR}: {why}; nothing was kept "
                "and the run is unchanged"
            ) from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / PAGE
