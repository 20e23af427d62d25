"""A study's figures: RMSE against each numeric grid value, RMSE against fit time, mean +- sd.

Built with the same Agg figures and atomic PNG writes as the run plots
(``specrec.evaluate.plots``).  Each point is a configuration (study entry, backend, method and
grid values); error bars are the sd over folds and seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from specrec.evaluate.plots import _new_figure, _save_atomic

SERIES = ["label", "backend", "method"]


def _plain(text: object) -> str:
    """User text (a label, a grid value) as matplotlib shows it literally: a ``$`` would start
    mathtext, and an unbalanced or malformed one stops the whole report with a parse error."""
    return str(text).replace("$", r"\$")


def _name(key: tuple) -> str:
    label, backend, method = key
    return _plain(f"{label} {method} ({backend})")


def _models(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "done") & (table["method"] != "baseline")]


def rmse_vs_grid(table: pd.DataFrame, key: str, path: Path) -> Path | None:
    """Test RMSE against one grid key (e.g. ``dims.factor``), one line per backend and method."""
    done = _models(table)
    done = done[pd.to_numeric(done[key], errors="coerce").notna()]
    if done.empty:
        return None
    fig, ax = _new_figure(_plain(f"Test RMSE vs {key}"), _plain(key), "test RMSE (mean +- sd)")
    for series, part in done.groupby(SERIES, sort=False):
        stats = part.groupby(pd.to_numeric(part[key]))["test_rmse"].agg(["mean", "std"])
        ax.errorbar(
            stats.index,
            stats["mean"],
            yerr=stats["std"].fillna(0),
            marker="o",
            capsize=3,
            label=_name(series),
        )
    ax.legend(fontsize="small")
    return _save_atomic(fig, path)


def rmse_vs_time(table: pd.DataFrame, path: Path) -> Path | None:
    """Every finished cell: accuracy against the time its fit took."""
    done = _models(table)
    if done.empty:
        return None
    fig, ax = _new_figure("Accuracy vs fit time", "fit time (s, log scale)", "test RMSE")
    for series, part in done.groupby(SERIES, sort=False):
        ax.scatter(part["fit_s"], part["test_rmse"], label=_name(series), alpha=0.7)
    ax.set_xscale("log")
    ax.legend(fontsize="small")
    return _save_atomic(fig, path)


def rmse_mean_sd(summary_rows: pd.DataFrame, baselines: pd.DataFrame, path: Path) -> Path | None:
    """Mean +- sd of test RMSE per configuration and split family; baselines as vertical lines."""
    if summary_rows.empty:
        return None
    labels = [_plain(" | ".join(str(v) for v in r)) for r in summary_rows["config"]]
    y = np.arange(len(labels))
    fig, ax = _new_figure("Test RMSE over folds and seeds", "test RMSE (mean +- sd)", "")
    fig.set_size_inches(8.0, 1.5 + 0.35 * len(labels))
    ax.barh(y, summary_rows["mean"], xerr=summary_rows["sd"].fillna(0), capsize=3, alpha=0.8)
    ax.set_yticks(y, labels, fontsize="small")
    for name, value in baselines.items():
        ax.axvline(value, linestyle="--", linewidth=1, color="grey")
        ax.text(value, len(labels) - 0.5, _plain(name), rotation=90, fontsize="x-small", va="top")
    lo = min(summary_rows["mean"].min(), *(baselines.values() or [np.inf]))
    ax.set_xlim(left=max(0.0, 0.9 * lo))
    return _save_atomic(fig, path)


def study_plots(table: pd.DataFrame, grid: list[str], folder: Path) -> list[Path]:
    out: list[Path | None] = []
    for key in grid:
        safe = "".join(ch if ch.isalnum() else "_" for ch in key)
        out.append(rmse_vs_grid(table, key, folder / f"rmse_vs_{safe}.png"))
    out.append(rmse_vs_time(table, folder / "rmse_vs_time.png"))
    done = _models(table)
    keys = [*SERIES, *grid, "split"]
    if not done.empty:
        labelled = done.assign(**{k: done[k].map(str) for k in keys})
        grouped = labelled.groupby(keys, sort=False, dropna=False)["test_rmse"]
        stats = grouped.agg(["mean", "std"]).reset_index()
        summary_rows = pd.DataFrame(
            {
                "config": [tuple(r[k] for k in keys) for _, r in stats.iterrows()],
                "mean": stats["mean"],
                "sd": stats["std"],
            }
        )
        base = table[(table["status"] == "done") & (table["method"] == "baseline")]
        base_means = base.groupby("label")["test_rmse"].mean().to_dict()
        wanted = {k: v for k, v in base_means.items() if k in ("global_mean", "mean_of_means")}
        out.append(rmse_mean_sd(summary_rows, wanted or base_means, folder / "rmse_mean_sd.png"))
    return [p for p in out if p is not None]
