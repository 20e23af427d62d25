"""Report figures written straight to PNG files.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas rather than through
``pyplot``: no global backend switch, no figure registry to leak memory across many runs, and
nothing that could ever open a window on a headless machine.  Each file is written to a temporary
name in the target folder and moved into place with ``os.replace``, so a crash mid-write never
leaves a truncated PNG that a report would link to.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _new_figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(7.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _save_atomic(fig: Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def plot_frobenius(norms: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Trace of each matrix's Frobenius norm per draw, one line per variable and chain.

    ``norms`` is ``frobenius_norms``' output (name -> ``(chain, draw)``).  Flat, overlapping
    chains are the PMF notebook's visual sign of convergence.
    """
    fig, ax = _new_figure("Frobenius norms", "draw", "Frobenius norm")
    for name, values in norms.items():
        arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
        for chain, trace in enumerate(arr):
            label = name if arr.shape[0] == 1 else f"{name} (chain {chain})"
            ax.plot(trace, label=label, linewidth=0.8)
    if norms:
        ax.legend(fontsize="small")
    return _save_atomic(fig, path)


def plot_running_rmse(
    curve: np.ndarray, baselines: Mapping[str, float], path: str | os.PathLike[str]
) -> Path:
    """Running RMSE of the posterior-mean prediction against flat baseline RMSE lines.

    As in the notebook's summary plot: a model worth fitting ends below every baseline line.
    ``baselines`` maps a name to its RMSE (e.g. ``{k: v["rmse"] for k, v in baselines(...)}``).
    """
    fig, ax = _new_figure("Running RMSE of the posterior mean", "draws averaged", "test RMSE")
    curve = np.asarray(curve, dtype=np.float64)
    ax.plot(np.arange(1, curve.size + 1), curve, label="model", linewidth=1.5)
    for index, (name, value) in enumerate(baselines.items()):
        ax.axhline(value, linestyle="--", linewidth=1.0, color=f"C{index + 1}", label=name)
    ax.legend(fontsize="small")
    return _save_atomic(fig, path)


def plot_loss(loss: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Optimisation loss (negative ELBO) per step, to see whether a variational fit settled."""
    fig, ax = _new_figure("Loss", "step", "loss")
    ax.plot(np.asarray(loss, dtype=np.float64).ravel(), linewidth=0.8)
    return _save_atomic(fig, path)


def plot_comparison(
    backends: list[str],
    rmse: list[float | None],
    fit_s: list[float | None],
    compile_s: list[float | None],
    baselines: Mapping[str, float],
    path: str | os.PathLike[str],
) -> Path:
    """``specrec compare``'s figure: test RMSE per backend against the baselines, and time.

    Left, one bar per backend with each baseline's RMSE as a dashed line (a backend above a line
    is worse than that baseline).  Right, compile and fit time stacked, since compile time is a
    fixed cost per model and sampling time grows with draws.  A failed backend keeps its slot,
    labelled "failed", so the columns line up with the printed table.
    """
    fig = Figure(figsize=(10.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(backends))

    def values(xs: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in xs], dtype=np.float64)

    r = values(rmse)
    left.bar(x, np.nan_to_num(r), color=[f"C{i}" for i in range(len(backends))])
    for index, (name, value) in enumerate(baselines.items()):
        left.axhline(value, linestyle="--", linewidth=1.0, color=f"C{index + 5}", label=name)
    for i, v in enumerate(r):
        label, y = ("failed", 0.0) if np.isnan(v) else (f"{v:.3f}", v)
        left.annotate(label, (i, y), ha="center", va="bottom", fontsize="small")
    left.set_title("Test RMSE")
    left.set_ylabel("RMSE")
    top = np.nanmax([*r, *baselines.values(), 0.0])
    left.set_ylim(0, 1.35 * top if top > 0 else 1.0)  # headroom so the legend covers no bar
    if baselines:
        left.legend(fontsize="small", loc="upper center", ncol=min(3, len(baselines)))

    fit, comp = np.nan_to_num(values(fit_s)), np.nan_to_num(values(compile_s))
    right.bar(x, comp, label="compile", color="C7")
    right.bar(x, fit, bottom=comp, label="fit", color="C0")
    for i, v in enumerate(r):
        if np.isnan(v):
            right.annotate("failed", (i, 0), ha="center", va="bottom", fontsize="small")
    right.set_title("Time")
    right.set_ylabel("seconds")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.set_xticks(x, backends)
        ax.grid(alpha=0.3, axis="y")
    return _save_atomic(fig, path)
