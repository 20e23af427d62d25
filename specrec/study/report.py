"""``study report``: the store's rows as a table (CSV, Parquet), a summary, plots and one HTML page.

Numbers come only from each cell's metrics.json (the backend-blind evaluator), never from what a
backend says about itself.  Every file is written to a temporary name and moved into place, so a
report folder never holds a half-written file; the HTML page embeds its images as data URIs and
can be mailed or committed on its own.

Files: ``cells.csv``/``cells.parquet`` (one row per cell, failed and pending ones included, plus
the baselines of each split; coverage by its metrics.json name, ``coverage_90``), ``summary.csv``
and ``summary.md`` (mean and sd of test RMSE and mean interval coverage over folds and seeds per
configuration, the second with machine and versions), ``rmse_vs_<key>.png`` per numeric grid key, ``rmse_vs_time.png``,
``rmse_mean_sd.png``, ``loo.csv`` (the PSIS-LOO ranking of the configurations with draws, per
split and seed: ``specrec.study.loo``) and ``report.html``.  A done cell whose run is damaged (its stored metrics
unreadable, its run directory gone or its metrics.json truncated: ``study.damage``) has status
``damaged`` with the reason in ``error``, is left out of the summary and listed on the page.
"""

from __future__ import annotations

import base64
import html
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from specrec.errors import UsageError
from specrec.evaluate.metrics import coverages
from specrec.registry import install_hint
from specrec.rundir import file_mode
from specrec.study import loo, plots
from specrec.study.damage import run_damage
from specrec.study.runner import Plan, study_status

CONFIG = ["label", "spec", "backend", "method"]


def default_report_dir(study_file: str | Path) -> Path:
    p = Path(study_file).resolve()
    return p.with_name(f"{p.stem}-report")


def cells_table(result: Plan) -> pd.DataFrame:
    """One row per planned cell, then one per (split, baseline) seen in the finished cells."""
    rows, baselines = [], {}
    keys = grid_keys(result)
    for c in result.cells:
        d = c.cell.describe()
        row = {k: d[k] for k in (*CONFIG, "seed", "split", "fold", "split_label")}
        row.update({k: d["grid"].get(k) for k in keys})
        damage = run_damage(c.row) if c.status == "done" else None
        row.update(status="damaged" if damage else c.status, cell_id=c.cell_id)
        m = c.row["metrics"] if c.row and c.status == "done" and not damage else None
        if m:
            test, diag, t = m["metrics"]["test"], m["diagnostics"], m["timing"]
            # by its own name (coverage_90: the level is part of the number), as metrics.json
            row.update({k: test[k] for k, _ in coverages(test)})
            row.update(
                test_rmse=test["rmse"],
                test_mae=test["mae"],
                divergences=diag.get("divergences"),
                rhat_max=diag.get("rhat_max"),
                ess_bulk_min=diag.get("ess_bulk_min"),
                fit_s=t["fit_s"],
                compile_s=t["compile_s"],
                wall_s=t.get("wall_s", t.get("total_s")),
                n_train=m["split"]["n_train"],
                n_test=m["split"]["n_test"],
                backend_version=m["backend"]["version"],
            )
            for name, b in m.get("baselines", {}).items():
                key = (name, d["split"], d["fold"], m["split"]["fingerprint"])
                baselines[key] = {
                    "label": name,
                    "spec": "baseline",
                    "backend": "-",
                    "method": "baseline",
                    "split": d["split"],
                    "fold": d["fold"],
                    "split_label": d["split_label"],
                    "status": "done",
                    "test_rmse": b["rmse"],
                    "test_mae": b["mae"],
                }
        if c.row:
            row.update(run_dir=c.row["run_dir"], error=damage or c.row["error"])
        rows.append(row)
    every = rows + list(baselines.values())
    table = pd.DataFrame(every)
    for k in keys:  # object columns: a grid of 5, 10, 20 stays integers beside the baselines' gaps
        table[k] = pd.Series([r.get(k) for r in every], dtype=object)
    for col in ("test_rmse", "fit_s", "run_dir", "error"):
        if col not in table:
            table[col] = None
    for col in ("seed", "divergences", "n_train", "n_test"):
        if col in table:
            table[col] = table[col].astype("Int64")  # baselines have none: keep integers integer
    return table


def coverage_columns(table: pd.DataFrame) -> list[str]:
    """The cells table's predictive-interval coverage columns (``coverage_90``, ...), in order
    of their level; every configuration's level is a column of its own."""

    def level(key_and_pct: tuple[str, str]) -> float:
        try:
            return float(key_and_pct[1])
        except ValueError:
            return float("inf")

    found = coverages(dict.fromkeys(str(c) for c in table.columns))
    return [key for key, _ in sorted(found, key=level)]


def summary_table(table: pd.DataFrame, grid: list[str]) -> pd.DataFrame:
    """Mean and sd of test RMSE, mean coverage of each interval level (``coverage_90_mean``)
    and mean fit time over folds and seeds, per configuration."""
    done = table[table["status"] == "done"].copy()
    covs = coverage_columns(table)
    if done.empty:
        return pd.DataFrame(
            columns=[*CONFIG, "split", "n", "rmse_mean", "rmse_sd"]
            + [f"{c}_mean" for c in covs]
            + ["fit_s_mean"]
        )
    keys = [*CONFIG, *grid, "split"]
    done[keys] = done[keys].map(str)  # None grid values and folds group as their own level
    for c in covs:  # a baseline's or a point fit's gap is NaN, left out of the mean
        done[c] = pd.to_numeric(done[c], errors="coerce")
    out = (
        done.groupby(keys, sort=False, dropna=False)
        .agg(
            n=("test_rmse", "size"),
            rmse_mean=("test_rmse", "mean"),
            rmse_sd=("test_rmse", "std"),
            **{f"{c}_mean": (c, "mean") for c in covs},
            fit_s_mean=("fit_s", "mean"),
        )
        .reset_index()
    )
    return out


#: Characters that start Markdown markup inside a line (emphasis, code, links, strike-through,
#: table cells); each is written with a backslash so that it shows as itself.  An underscore
#: between two letters or digits starts no emphasis (``coverage_90`` stays as it is).
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def _md(text: object) -> str:
    """Text a user wrote (a name, a label, a grid value) as Markdown that shows it literally:
    HTML escaped (a ``<script>`` in a label stays text), Markdown's own markup backslashed
    (``*x*`` is not emphasis, ``[a](b)`` not a link), pipes kept inside their cell."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def summary_markdown(
    result: Plan, table: pd.DataFrame, grid: list[str], comparison: loo.StudyComparison
) -> str:
    """One line per configuration, one column per split family: RMSE mean +- sd (n), fit s;
    then the PSIS-LOO ranking of each split and seed."""
    done = table[table["status"] == "done"].copy()
    keys = [*CONFIG, *grid]
    families = list(dict.fromkeys(done["split"]))
    covs = coverage_columns(table)
    head = ["model", "method", "backend", *grid, *(f"{f} RMSE" for f in families)]
    head += [f"{f} {c}" for c in covs for f in families] + ["fit s"]
    head = [_md(h) for h in head]
    lines = [
        f"# Study {_md(result.study.study.name)} ({datetime.now(timezone.utc).isoformat(timespec='seconds')})",
        "",
        f"specrec study run {_md(result.study.file)}; cells: "
        + ", ".join(f"{n} {k}" for k, n in result.counts().items()),
        f"Machine: {_md(_machine())}",
        f"Versions: {_md(_versions(result))}",
        "",
        "Test RMSE per split family: mean +- sd over folds and seeds (number of cells); "
        "coverage_90 (and any other level): share of test ratings inside the central "
        "predictive interval, mean over the same cells (- for a baseline); fit seconds "
        "exclude compilation, mean over the configuration's cells.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    damaged = table[table["status"] == "damaged"]
    if len(damaged):
        notes = [
            f"- {_md(r['label'])} {_md(r['method'])} on {_md(r['backend'])}, "
            f"{_md(r['split_label'])}, seed {r['seed']}: {_md(r['error'])}"
            for _, r in damaged.iterrows()
        ]
        tail = ["", f"Damaged runs ({len(damaged)}, not in the table):", "", *notes]
    else:
        tail = []
    tail += _loo_markdown(comparison)
    if done.empty:
        return "\n".join(lines + tail) + "\n"
    done[keys] = done[keys].map(str)  # None (no grid value) is a level of its own
    for config, part in done.groupby(keys, sort=False, dropna=False):
        cfg = dict(zip(keys, config, strict=True))
        cols = [_md(cfg["label"]), _md(cfg["method"]), _md(cfg["backend"])]
        cols += ["-" if cfg[k] == "None" else _md(cfg[k]) for k in grid]
        for fam in families:
            rmse = part.loc[part["split"] == fam, "test_rmse"]
            cols.append(_mean_sd(rmse))
        for c in covs:
            for fam in families:
                cov = pd.to_numeric(part.loc[part["split"] == fam, c], errors="coerce").dropna()
                cols.append(f"{cov.mean():.3f}" if len(cov) else "-")
        fit = part["fit_s"].dropna()
        cols.append(f"{fit.mean():.1f}" if len(fit) else "-")
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines + tail) + "\n"


def _loo_markdown(c: loo.StudyComparison) -> list[str]:
    """The PSIS-LOO rankings as Markdown lines (none when no group had runs with draws)."""
    if not c.rows and not c.skipped:
        return []
    lines = [
        "",
        "## Model comparison by PSIS-LOO",
        "",
        "Per split and seed (elpd sums over the training rows, so only runs on the same rows are "
        "ranked together); higher elpd is better, elpd_diff and dse against the best; (!) marks a "
        "Pareto k above 0.7.",
        "",
    ]
    if c.rows:
        head = ["split", "seed", "rank", "model", "elpd_loo", "se", "elpd_diff", "dse", "weight"]
        lines += ["| " + " | ".join([*head, "RMSE"]) + " |", "|" + "---|" * (len(head) + 1)]
        for r in c.rows:
            cells = [
                _md(r["split_label"]),
                str(r["seed"]),
                str(r["rank"]),
                _md(r["model"]) + (" (!)" if r["warning"] else ""),
                *(_num(r[k], 1) for k in ("elpd_loo", "se", "elpd_diff", "dse")),
                _num(r["weight"], 2),
                _num(r["test_rmse"], 4),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if c.skipped:
        lines += ["", "Not ranked:", ""]
        lines += [f"- {_md(k)}: {_md(v)}" for k, v in c.skipped.items()]
    return lines


def _num(v: object, nd: int) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def _mean_sd(values: pd.Series) -> str:
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} +- {values.std():.4f} ({len(values)})"


def _machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def grid_keys(result: Plan) -> list[str]:
    return sorted({k for c in result.cells for k, _ in c.cell.grid})


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # mkstemp makes files private; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    study_file: str | Path,
    *,
    out: str | Path | None = None,
    data: str | None = None,
    store: str | Path | None = None,
) -> Path:
    """Write the report folder of a study from its store; return the folder."""
    result = study_status(study_file, data=data, store=store)
    folder = Path(out) if out else default_report_dir(study_file)
    folder.mkdir(parents=True, exist_ok=True)
    table = cells_table(result)
    grid = grid_keys(result)
    summary = summary_table(table, grid)
    _atomic(folder / "cells.csv", lambda p: table.to_csv(p, index=False))
    _atomic(folder / "cells.parquet", lambda p: _parquet(table, p))
    _atomic(folder / "summary.csv", lambda p: summary.to_csv(p, index=False))
    comparison = loo.compare_groups(table, grid)
    _atomic(folder / "loo.csv", lambda p: comparison.frame().to_csv(p, index=False))
    markdown = summary_markdown(result, table, grid, comparison)
    _atomic(folder / "summary.md", lambda p: Path(p).write_text(markdown, encoding="utf-8"))
    images = plots.study_plots(table, grid, folder)
    page = _html(result, table, summary, images, comparison)
    _atomic(folder / "report.html", lambda p: Path(p).write_text(page, encoding="utf-8"))
    return folder


def _parquet(table: pd.DataFrame, path: str) -> None:
    # mixed-type object columns (grid values, folds) are written as text so Parquet can type them
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: None if v is None else str(v))
    try:
        out.to_parquet(path, index=False)
    except ImportError as exc:
        raise UsageError(
            f"the Parquet table needs pyarrow: {install_hint('study')} ({exc})"
        ) from None


def _html(
    result: Plan,
    table: pd.DataFrame,
    summary: pd.DataFrame,
    images: list[Path],
    comparison: loo.StudyComparison,
) -> str:
    s = result.study.study
    counts = ", ".join(f"{n} {k}" for k, n in result.counts().items())
    versions = _versions(result)
    figs = "\n".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.stem)}'
        "</figcaption></figure>"
        for p in images
    )
    shown = table.drop(columns=["run_dir", "cell_id"], errors="ignore")
    damaged = table[table["status"] == "damaged"]
    broken = ""
    if len(damaged):
        items = "".join(
            f"<li>{html.escape(str(r['label']))} {html.escape(str(r['method']))} on "
            f"{html.escape(str(r['backend']))}, {html.escape(str(r['split_label']))}, seed "
            f"{html.escape(str(r['seed']))}: {html.escape(str(r['error']))}</li>"
            for _, r in damaged.iterrows()
        )
        broken = f"<h2>Damaged runs ({len(damaged)}, not in the summary)</h2><ul>{items}</ul>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(s.name)} study</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:2px 6px}}img{{max-width:100%}}</style></head><body>
<h1>Study {html.escape(s.name)}</h1>
<p>{html.escape(s.description)}</p>
<p>{html.escape(counts)}; written {datetime.now(timezone.utc).isoformat(timespec="seconds")}</p>
<p>Versions: {html.escape(versions)}</p>
{broken}
<h2>Test RMSE, mean and sd over folds and seeds</h2>
{summary.to_html(index=False, float_format=lambda x: f"{x:.4f}", na_rep="")}
{_loo_html(comparison)}
<h2>Plots</h2>
{figs}
<h2>Every cell</h2>
{shown.to_html(index=False, float_format=lambda x: f"{x:.4f}", na_rep="")}
</body></html>
"""


def _loo_html(c: loo.StudyComparison) -> str:
    if not c.rows and not c.skipped:
        return ""
    table = c.frame().to_html(index=False, float_format=lambda x: f"{x:.2f}", na_rep="")
    skipped = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in c.skipped.items())
    return (
        "<h2>Model comparison by PSIS-LOO, per split and seed</h2>"
        "<p>Higher elpd is better; elpd_diff and dse against the best of the same split and "
        "seed; warning: a Pareto k above 0.7.</p>"
        + (table if c.rows else "")
        + (f"<p>Not ranked:</p><ul>{skipped}</ul>" if skipped else "")
    )


def _versions(result: Plan) -> str:
    seen: dict[str, str] = {}
    for c in result.cells:
        m = c.row["metrics"] if c.row and c.row.get("metrics") else None
        versions = m.get("versions") if isinstance(m, dict) else None
        if isinstance(versions, dict):
            seen.update({str(k): str(v) for k, v in versions.items()})
    seen.pop("platform", None)  # the machine line says it
    return ", ".join(f"{k} {v}" for k, v in seen.items()) or "no finished cell"
