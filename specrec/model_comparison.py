"""Ranking fitted runs of different specs by expected log predictive density (PSIS-LOO).

``specrec compare`` fits one spec on several backends; this compares *models*: runs already
fitted, usually of different specs, on the same data and split.  The ranking is ArviZ's own
``az.compare`` over the runs' ``log_likelihood`` groups (elpd_loo, its standard error, the
difference to the best with its standard error, stacking weights), with each run's test RMSE
and interval coverage beside it (each level by its metrics.json name: ``coverage_90``, or the
spec's own level), so the held-out figures and LOO can be read together.

Runs are comparable only when their log-likelihoods are densities of the same numbers: the
same training rows (data and split fingerprints), the same response transform (a ``scale``
or ``shift`` changes the density by a Jacobian) and the same LOO unit (a mixture per user
leaves out a user's rows at once, other models one row).  Anything else is refused with what
differs, rather than ranked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specrec.errors import UsageError
from specrec.evaluate.metrics import coverages

#: the columns of ``az.compare`` kept, in this order
AZ_COLUMNS = ("rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning")


@dataclass
class Comparison:
    """The ranked table (one dict per run, best first) and the runs left out, with reasons."""

    rows: list[dict[str, Any]]
    left_out: dict[str, str]
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "left_out": self.left_out, "data": self.data}

    def to_frame(self) -> Any:
        """The ranked table as a DataFrame indexed by model, as ``az.compare`` returns it (with
        the test RMSE, coverage, spec, method, backend and run directory beside it)."""
        import pandas as pd

        return pd.DataFrame(self.rows).set_index("model")


def _name(run: Any, taken: set[str]) -> str:
    """A run's label: its spec name, made unique with its method and backend if needed."""
    m = run.metrics
    for candidate in (
        m["spec"]["name"],
        f"{m['spec']['name']} ({m['inference']['method']}, {_backend(m)})",
        f"{m['spec']['name']} ({run.path.name})",
    ):
        if candidate not in taken:
            return candidate
    raise UsageError(f"{run.path}: the same run is given twice")


def _backend(metrics: dict[str, Any]) -> str:
    """The backend's name (metrics.json keeps a record of it: name, version, cache counters)."""
    b = metrics["backend"]
    return str(b.get("name", b)) if isinstance(b, dict) else str(b)


def _unit(run: Any) -> tuple[str, int] | None:
    """The dim and number of LOO units (rows, or levels of a mixture's ``per``)."""
    if "log_likelihood" not in run.idata.groups():
        return None
    ll = run.idata.log_likelihood
    var = next(iter(ll.data_vars))
    dim = ll[var].dims[-1]
    return dim, int(ll[var].shape[-1])


def _why_not_usable(run: Any) -> str | None:
    from specrec import methods

    if not methods.has_draws(run.metrics["inference"]["method"]):
        return "a point estimate (one draw): PSIS-LOO needs posterior draws"
    if "log_likelihood" in run.idata.groups():
        return None
    left = run.metrics.get("idata", {}).get("left_out", {}).get("log_likelihood")
    return f"its posterior.nc has no log_likelihood group ({left or 'not written'})"


def _signature(run: Any) -> dict[str, Any]:
    m = run.metrics
    model = run.model
    return {
        "data": m["data"]["fingerprint"],
        "split": m["split"]["fingerprint"],
        "response transform": (model.response_shift, model.response_scale),
        "LOO unit": _unit(run),
    }


def compare_models(runs: Sequence[Any], names: Sequence[str] | None = None) -> Comparison:
    """Rank runs (``Run`` objects or run directories / spec runs folders) by PSIS-LOO elpd.

    Raises ``UsageError`` when fewer than two runs can be ranked or when two runs were not
    fitted to the same numbers (see the module docstring).
    """
    from specrec.run import load_run
    from specrec.rundir import latest_run

    loaded = [load_run(latest_run(r)) if isinstance(r, str | Path) else r for r in runs]
    if names is not None and len(names) != len(loaded):
        raise UsageError(f"{len(names)} names for {len(loaded)} runs")
    labels: list[str] = []
    for i, run in enumerate(loaded):
        labels.append(names[i] if names is not None else _name(run, set(labels)))
    if len(set(labels)) != len(labels):
        raise UsageError(f"names must be distinct: {', '.join(labels)}")
    left_out = {}
    usable = {}
    for label, run in zip(labels, loaded, strict=True):
        why = _why_not_usable(run)
        if why:
            left_out[label] = why
        else:
            usable[label] = run
    if len(usable) < 2:
        detail = "; ".join(f"{k}: {v}" for k, v in left_out.items())
        raise UsageError(
            f"compare-models needs at least two runs with posterior draws, got {len(usable)}"
            + (f" (left out: {detail})" if detail else "")
        )
    first_label, first = next(iter(usable.items()))
    reference = _signature(first)
    for label, run in usable.items():
        sig = _signature(run)
        differ = [k for k in reference if sig[k] != reference[k]]
        if differ:
            raise UsageError(
                f"runs {first_label!r} ({first.path}) and {label!r} ({run.path}) cannot be "
                f"ranked by LOO: their {' and '.join(differ)} differ "
                f"({'; '.join(f'{k}: {reference[k]} vs {sig[k]}' for k in differ)}); fit both "
                "specs on the same data, split and response scale"
            )
    table = _az_compare({k: r.idata for k, r in usable.items()})
    rows = []
    for label, values in table.items():
        run = usable[label]
        test = run.metrics["metrics"]["test"]
        rows.append(
            {
                "model": label,
                **values,
                "test_rmse": test.get("rmse"),
                **{key: test.get(key) for key, _ in coverages(test)},  # by their own names
                "spec": run.metrics["spec"]["name"],
                "method": run.metrics["inference"]["method"],
                "backend": _backend(run.metrics),
                "run": str(run.path.absolute()),
            }
        )
    unit, n = reference["LOO unit"]
    data = {"fingerprint": reference["data"], "split": reference["split"], "unit": unit, "n": n}
    return Comparison(rows, left_out, data)


def _az_compare(idatas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``az.compare`` as plain numbers, best first (ArviZ's own PSIS-LOO and stacking)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

        # only what LOO reads: a run's other groups (predictions with their own coords) are
        # none of az.compare's business
        slim = {
            k: az.InferenceData(posterior=i.posterior, log_likelihood=i.log_likelihood)
            for k, i in idatas.items()
        }
        frame = az.compare(slim, ic="loo", scale="log")
    out: dict[str, dict[str, Any]] = {}
    for label, row in frame.iterrows():
        values = {}
        for col in AZ_COLUMNS:
            v = row[col]
            if col == "warning":
                values[col] = bool(v)
            elif col == "rank":
                values[col] = int(v)
            else:
                f = float(v)
                values[col] = f if math.isfinite(f) else None
        out[str(label)] = values
    return out


def table_lines(c: Comparison) -> list[str]:
    """The comparison as aligned terminal lines (the az.compare table plus held-out figures)."""

    def num(v: Any, nd: int) -> str:
        return "-" if v is None else f"{v:.{nd}f}"

    # every interval level any run reports (a spec's own level: coverage_80, coverage_95...)
    levels = dict(pair for r in c.rows for pair in coverages(r))
    head = ["model", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "RMSE"]
    head += [f"cov{level}" for level in levels.values()]
    body = [
        [
            r["model"] + (" (!)" if r["warning"] else ""),
            num(r["elpd_loo"], 1),
            num(r["se"], 1),
            num(r["elpd_diff"], 1),
            num(r["dse"], 1),
            num(r["p_loo"], 1),
            num(r["weight"], 2),
            num(r["test_rmse"], 4),
            *(num(r.get(key), 2) for key in levels),
        ]
        for r in c.rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (x.rjust(w) for x, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    lines = [
        f"PSIS-LOO over {c.data['n']} {c.data['unit']} (higher elpd is better; "
        "elpd_diff and dse against the best)",
        fmt(head),
        *(fmt(b) for b in body),
    ]
    if any(r["warning"] for r in c.rows):
        lines.append("(!) Pareto k above 0.7 for some units: that run's elpd is unreliable")
    for label, why in c.left_out.items():
        lines.append(f"left out {label}: {why}")
    return lines


def write(c: Comparison, folder: Path) -> Path:
    """comparison.json, comparison.csv and comparison.png in ``folder``, written atomically."""
    import json

    import pandas as pd

    from specrec.rundir import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "comparison.json", json.dumps(c.to_dict(), indent=2) + "\n")
    write_text_atomic(folder / "comparison.csv", pd.DataFrame(c.rows).to_csv(index=False))
    _plot(c, folder / "comparison.png")
    return folder


def _plot(c: Comparison, path: Path) -> None:
    """elpd_loo +- se per model, best on top, the best's elpd as a line (az.plot_compare's
    layout, drawn from the table so it needs no InferenceData)."""
    import os
    import tempfile

    import matplotlib

    from specrec import rundir

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = c.rows[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(rows) + 1.4))
    y = range(len(rows))
    ax.errorbar(
        [r["elpd_loo"] for r in rows],
        list(y),
        xerr=[r["se"] or 0.0 for r in rows],
        fmt="o",
        color="k",
        capsize=3,
    )
    ax.axvline(c.rows[0]["elpd_loo"], color="0.6", ls="--", lw=1)
    ax.set_yticks(list(y), [r["model"] for r in rows])
    ax.set_xlabel(f"elpd_loo (log score over {c.data['n']} {c.data['unit']}; higher is better)")
    ax.set_title("Model comparison by PSIS-LOO (+- 1 se)")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.chmod(tmp, rundir.file_mode())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
