"""Is a finished cell's run still whole?  The one check ``study report`` and ``status`` share.

A study outlives its runs: a run directory can be deleted or truncated, a store row can hold
metrics written by an older specrec (or adopted from a damaged folder).  Such a cell must show
up as *damaged*, with the file or field that is wrong, and never stop the report of the others.
Its numbers are not used: a result whose run cannot be read back cannot be checked either.
The files the report does not parse (posterior, predictions, curves, training rows) are judged
by their sizes against the ones ``run.json`` recorded when the run was written, a stat each.
"""

from __future__ import annotations

import json
from pathlib import Path

from specrec import rundir

#: Fields of metrics.json the study report reads, as paths into the JSON.
NEEDED = (
    ("metrics", "test", "rmse"),
    ("metrics", "test", "mae"),
    ("diagnostics",),
    ("timing", "fit_s"),
    ("timing", "compile_s"),
    ("split", "n_train"),
    ("split", "n_test"),
    ("backend", "version"),
)


def run_damage(row: dict | None) -> str | None:
    """Why the done cell ``row`` (a store row) cannot be reported, or None when it is whole."""
    if not row or row.get("status") != "done":
        return None
    if row.get("metrics_error"):
        return f"the store's metrics of this cell are damaged: {row['metrics_error']}"
    metrics = row.get("metrics")
    missing = missing_field(metrics)
    if missing:
        return f"the store's metrics of this cell lack {missing}"
    run_dir = Path(row.get("run_dir") or "")
    if not row.get("run_dir") or not run_dir.is_dir():
        return f"the run directory {run_dir} is missing"
    try:
        json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{run_dir / 'metrics.json'} is damaged and cannot be read ({type(exc).__name__})"
    return rundir.size_damage(run_dir)


def missing_field(metrics: object) -> str | None:
    """The first field the report needs that ``metrics`` lacks (dotted), or None."""
    for path in NEEDED:
        node = metrics
        for i, key in enumerate(path):
            if not isinstance(node, dict) or key not in node:
                return ".".join(path[: i + 1])
            node = node[key]
        if path[-1] in ("rmse", "mae") and not isinstance(node, (int, float)):
            return ".".join(path) + " as a number"
    baselines = metrics.get("baselines", {})  # type: ignore[union-attr]
    if not isinstance(baselines, dict):
        return "baselines"
    for name, b in baselines.items():
        if not isinstance(b, dict) or not {"rmse", "mae"} <= set(b):
            return f"baselines.{name}.rmse and .mae"
    return None
