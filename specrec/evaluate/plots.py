"""Report figures written straight to PNG files.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas rather than through
``pyplot``: no global backend switch, no figure registry to leak memory across many runs, and
nothing that could ever open a window on a headless machine.  Each file is written to a temporary
name in the target folder and moved into place with ``os.replace``, so a crash mid-write never
leaves a truncated PNG that a report would link to.  The temporary file is private (``mkstemp``
makes it 0600); the figure gets the ordinary mode of a new file (0666 less the umask, 0644 under
the usual umask 022) before it is moved into place, as any other output of a run.
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

from specrec.evaluate.thinning import thin_pooled
from specrec.rundir import file_mode


def percent(share: float, digits: int = 1) -> str:
    """``share`` as a percentage with ``digits`` decimals; a value that rounds to zero is
    "0.0%", never "-0.0%" (a rounding error below zero, or a true tiny negative)."""
    text = f"{share:.{digits}%}"
    return text.removeprefix("-") if float(text.rstrip("%")) == 0 else text


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
        os.chmod(tmp, file_mode())  # mkstemp's 0600 is for the temporary name only
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


def curve_limits(curve: np.ndarray) -> tuple[float, float]:
    """y limits that fit ``curve`` (finite values) with a margin, never a zero-height range."""
    finite = curve[np.isfinite(curve)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.08 * (hi - lo), 0.002 * max(abs(lo), abs(hi)), 1e-6)
    return lo - pad, hi + pad


def plot_running_rmse(
    curve: np.ndarray, baselines: Mapping[str, float], path: str | os.PathLike[str]
) -> Path:
    """Running RMSE of the posterior-mean prediction, with the baselines' RMSE as reference.

    The y axis is scaled to the model's curve, so its settling is visible (a baseline far above
    would squash it into a flat line at the bottom).  A baseline inside that range is a dashed
    line; one outside it is named in the legend with its value and which side it lies on, so
    "below every baseline" can still be read off.  ``baselines`` maps a name to its RMSE.
    """
    fig, ax = _new_figure("Running RMSE of the posterior mean", "draws averaged", "test RMSE")
    curve = np.asarray(curve, dtype=np.float64).ravel()
    ax.plot(np.arange(1, curve.size + 1), curve, label="model", linewidth=1.5, color="C0")
    lo, hi = curve_limits(curve)
    outside = []
    for index, (name, value) in enumerate(baselines.items()):
        if value is None or not np.isfinite(value):
            continue
        if lo <= value <= hi:
            ax.axhline(value, linestyle="--", linewidth=1.0, color=f"C{index + 1}", label=name)
        else:
            outside.append(f"{name} {value:.4g} ({'above' if value > hi else 'below'})")
    ax.set_ylim(lo, hi)
    for text in outside:  # legend entries without a line: named, never drawn over the curve
        ax.plot([], [], linestyle="none", label=f"{text}, off the scale")
    ax.legend(fontsize="small", loc="best")
    return _save_atomic(fig, path)


#: a loss whose range spans at least this factor (an order of magnitude) gets a log axis
LOG_SPAN = 10.0


def loss_scale(loss: np.ndarray) -> tuple[str, dict]:
    """``(scale, options)`` for a loss trace: "log" when every value is positive and they span
    ``LOG_SPAN`` or more, "symlog" when they span it but some are zero or negative (a negative
    ELBO of a continuous likelihood can go below zero), else "linear"."""
    finite = loss[np.isfinite(loss)]
    if finite.size < 2:
        return "linear", {}
    size = np.abs(finite)
    if finite.min() > 0:
        return ("log", {}) if finite.max() / finite.min() >= LOG_SPAN else ("linear", {})
    tail = size[-max(1, size.size // 10) :]  # linear around zero up to the settled size
    linthresh = max(float(np.median(tail)), 1e-9 * float(size.max()), 1e-12)
    if size.max() / linthresh >= LOG_SPAN:
        return "symlog", {"linthresh": linthresh}
    return "linear", {}


def plot_loss(loss: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Optimisation loss (negative ELBO) per step, to see whether a variational fit settled.

    The first steps of a fit are often orders of magnitude above where it settles; on a linear
    axis the settled part would be a flat line, so such a trace gets a log axis (symlog when
    the loss reaches zero or below, linear within the settled size around zero).
    """
    values = np.asarray(loss, dtype=np.float64).ravel()
    scale, options = loss_scale(values)
    label = {"log": "loss (log scale)", "symlog": "loss (symmetric log scale)"}
    fig, ax = _new_figure("Loss", "step", label.get(scale, "loss"))
    ax.plot(values, linewidth=0.8)
    ax.set_yscale(scale, **options)
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


def plot_calibration(
    nominal: np.ndarray, observed: np.ndarray, path: str | os.PathLike[str]
) -> Path:
    """Observed coverage of the central predictive intervals against their nominal level.

    On the diagonal the uncertainty is honest; below it the model is overconfident (intervals
    too narrow), above it underconfident.
    """
    fig, ax = _new_figure("Calibration of predictive intervals", "nominal level", "coverage")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1.0, label="ideal")
    ax.plot(nominal, observed, marker="o", markersize=3, linewidth=1.5, label="model (test)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small", loc="upper left")
    return _save_atomic(fig, path)


def plot_rmse_by_activity(
    by_activity: Mapping[str, Mapping[str, Mapping[str, float | int | None]]],
    path: str | os.PathLike[str],
) -> Path:
    """Test RMSE per training-activity bucket, one panel per data dim.

    ``by_activity`` is ``metrics.test.rmse_by_activity``; each dim has its own buckets (chosen
    from its data: ``specrec.evaluate.activity.activity_buckets``), so each gets its own axis.
    An empty bucket (possible in runs written before the buckets came from the data) is left
    out; each bar is annotated with its number of test ratings so a bar resting on three
    ratings is not over-read.
    """
    dims = list(by_activity) or ["(none)"]
    fig = Figure(figsize=(max(7.0, 4.6 * len(dims)), 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(dims), squeeze=False, sharey=True))[0]
    for i, (ax, dim) in enumerate(zip(axes, dims, strict=True)):
        cells = {
            b: c
            for b, c in (by_activity.get(dim) or {}).items()
            if c["n"] and c["rmse"] is not None
        }
        x = np.arange(len(cells))
        heights = np.array([c["rmse"] for c in cells.values()], dtype=np.float64)
        ax.bar(x, heights, 0.7, color=f"C{i}")
        for p, h, c in zip(x, heights, cells.values(), strict=True):
            ax.annotate(f"n={c['n']}", (p, h), ha="center", va="bottom", fontsize="x-small")
        ax.set_xticks(x, list(cells))
        ax.set_title(f"per {dim}")
        ax.set_xlabel(f"training ratings of the {dim}")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("test RMSE")
    fig.suptitle("Test RMSE by training ratings per level")
    return _save_atomic(fig, path)


def plot_observed_vs_predicted(
    observed: np.ndarray, predicted: np.ndarray, path: str | os.PathLike[str]
) -> Path:
    """Observed test ratings against the point predictions: step histograms on the same bins
    (left; outlines, so neither hides the other) and both empirical CDFs (right).

    A shrunk model piles its predictions around the mean; the observed ratings show how much
    of the scale it does not reach, and the CDFs show it without any choice of bins.
    """
    fig = Figure(figsize=(10.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    hist_ax, cdf_ax = fig.subplots(1, 2)
    obs = np.asarray(observed, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    obs, pred = obs[np.isfinite(obs)], pred[np.isfinite(pred)]
    both = np.concatenate([obs, pred])
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    distinct = np.unique(obs)
    if distinct.size <= 20 and np.allclose(distinct, np.round(distinct)):
        bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0, 0.25)  # integer ratings centred
    else:
        bins = np.linspace(lo, hi, 41) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    styles = (
        (obs, "observed", "C0", "-"),
        (pred, "predicted (posterior mean)", "C1", "--"),
    )
    for values, label, colour, line in styles:
        hist_ax.hist(
            values, bins=bins, histtype="step", linewidth=1.8, linestyle=line, color=colour,
            label=label,
        )  # fmt: skip
        ordered = np.sort(values)
        cdf_ax.step(
            ordered, np.arange(1, ordered.size + 1) / max(1, ordered.size), where="post",
            linewidth=1.6, linestyle=line, color=colour, label=label,
        )  # fmt: skip
    hist_ax.set_title("histograms (same bins)")
    hist_ax.set_xlabel("rating")
    hist_ax.set_ylabel("test ratings")
    cdf_ax.set_title("empirical CDFs")
    cdf_ax.set_xlabel("rating")
    cdf_ax.set_ylabel("share of test ratings <= x")
    cdf_ax.set_ylim(0, 1.02)
    for ax in (hist_ax, cdf_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    fig.suptitle("Observed vs predicted test ratings")
    return _save_atomic(fig, path)


def plot_hyperparameters(
    draws: Mapping[str, np.ndarray], path: str | os.PathLike[str], max_rows: int = 8
) -> Path:
    """Trace (left) and rank histogram per chain (right) of each hyperparameter element.

    ``draws`` maps a label (``mu``, ``mu_u[0]``) to ``(chain, draw)``.  Rank plots (Vehtari et
    al. 2021): ranks over all chains pooled; each chain's histogram is flat when the chains
    sample the same distribution, where a trace plot of many chains is hard to read.
    """
    from scipy.stats import rankdata

    labels = list(draws)[:max_rows]
    rows = max(1, len(labels))
    fig = Figure(figsize=(10.0, 1.9 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(rows, 2, squeeze=False))
    for row, label in enumerate(labels):
        values = np.atleast_2d(np.asarray(draws[label], dtype=np.float64))
        trace_ax, rank_ax = axes[row]
        chains, n = values.shape
        ranks = rankdata(values.ravel()).reshape(values.shape)
        bins = np.linspace(0, chains * n, min(20, max(2, n // 5)) + 1)
        for chain in range(chains):
            trace_ax.plot(values[chain], linewidth=0.6, color=f"C{chain}")
            rank_ax.hist(ranks[chain], bins=bins, histtype="step", color=f"C{chain}")
        rank_ax.axhline(n / (len(bins) - 1), linestyle="--", color="grey", linewidth=0.8)
        trace_ax.set_ylabel(label)
        for ax in (trace_ax, rank_ax):
            ax.grid(alpha=0.3)
    axes[0, 0].set_title("trace")
    axes[0, 1].set_title("rank histogram per chain (flat = mixed)")
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("rank over all chains")
    if len(draws) > max_rows:
        fig.suptitle(f"first {max_rows} of {len(draws)} hyperparameter elements")
    return _save_atomic(fig, path)


def plot_responsibilities(
    resp: np.ndarray, per: str, dim: str, path: str | os.PathLike[str]
) -> Path:
    """Each level's posterior component probabilities as stacked bars, levels grouped by their
    most probable component and sorted by its probability: clear members at each group's left
    edge, ambiguous ones at its right edge."""
    resp = np.asarray(resp, dtype=float)
    top = resp.argmax(1)
    order = np.lexsort((-resp.max(1), top))
    fig, ax = _new_figure(
        f"posterior {dim} probabilities per {per}",
        f"{per} (grouped by most probable {dim})",
        "probability",
    )
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    for k in range(resp.shape[1]):
        ax.bar(x, resp[order, k], bottom=bottom, width=1.0, label=f"{dim} {k}", lw=0)
        bottom += resp[order, k]
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    return _save_atomic(fig, path)


#: replicated data sets drawn as thin lines in a predictive check (as az.plot_ppc's num_pp_samples)
PPC_LINES = 50


def _shown_draws(y_rep: np.ndarray, n: int = PPC_LINES) -> np.ndarray:
    """``(S, rows)``: at most ``n`` replicated data sets picked evenly over every draw."""
    return thin_pooled(np.asarray(y_rep, dtype=np.float64).reshape(-1, np.shape(y_rep)[-1]), n)


def _bins(observed: np.ndarray, replicated: np.ndarray) -> np.ndarray:
    """Common bins: over the observed range and the replicated 0.5 %-99.5 % (a wide prior's
    tails would squash the data into one bin); unit bins centred on integer ratings."""
    obs = observed[np.isfinite(observed)]
    rep = replicated[np.isfinite(replicated)]
    lo_hi = [obs.min(), obs.max()] if obs.size else []
    if rep.size:
        lo_hi += list(np.quantile(rep, [0.005, 0.995]))
    lo, hi = (float(min(lo_hi)), float(max(lo_hi))) if lo_hi else (0.0, 1.0)
    if obs.size and np.allclose(obs, np.round(obs)) and hi - lo <= 60:
        return np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0, 1.0)
    n = int(np.clip(round(np.sqrt(max(obs.size, 1))), 8, 40))  # 30 users' means: 8 bins
    return np.linspace(lo, hi, n + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])


def _density_lines(ax: Axes, observed: np.ndarray, shown: np.ndarray, label: str) -> None:
    """Each replicated set's histogram as a thin line, their pooled one dashed, the data black."""
    bins = _bins(observed, shown.ravel())
    mids = (bins[:-1] + bins[1:]) / 2
    for i, rep in enumerate(shown):
        h, _ = np.histogram(rep, bins=bins, density=True)
        ax.plot(mids, h, color="C0", alpha=0.15, linewidth=0.7, label=label if i == 0 else None)
    pooled, _ = np.histogram(shown.ravel(), bins=bins, density=True)
    ax.plot(mids, pooled, color="C1", linestyle="--", linewidth=1.2, label=f"{label} (pooled)")
    if observed.size:
        h, _ = np.histogram(observed, bins=bins, density=True)
        ax.plot(mids, h, color="black", linewidth=1.8, label="observed")


def _draw_ratings(
    ax: Axes, observed: np.ndarray, y_rep: np.ndarray, label: str, categories: np.ndarray | None
) -> None:
    """The response's distribution: category frequencies (observed bars, replicated median and
    90 % interval over draws) for a discrete response with few values, else densities."""
    if categories is None:
        _density_lines(ax, observed, _shown_draws(y_rep), label)
        ax.set_xlabel("rating")
        ax.set_ylabel("density")
        ax.set_title("ratings")
        return
    flat = np.asarray(y_rep, dtype=np.float64).reshape(-1, np.shape(y_rep)[-1])
    shares = np.stack([(flat == c).mean(axis=1) for c in categories], axis=1)  # (draws, K)
    lo, mid, hi = np.quantile(shares, [0.05, 0.5, 0.95], axis=0)
    x = np.arange(len(categories))
    ax.bar(x, [np.mean(observed == c) for c in categories], color="0.75", label="observed")
    ax.errorbar(
        x, mid, yerr=[mid - lo, hi - mid], fmt="o", color="C0", capsize=3,
        label=f"{label} (median, 90% of draws)",
    )  # fmt: skip
    # replicated values outside the observed categories, counted (1 - the shares' sum would
    # be -1e-17 by rounding and print as "-0.0%")
    other = float(np.mean(~np.isin(flat, categories)))
    if other > 0:
        ax.set_title(f"category frequencies ({percent(other)} replicated in other values)")
    else:
        ax.set_title("category frequencies")
    ax.set_xticks(x, [f"{c + 0.0:g}" for c in categories])  # never "-0"
    ax.set_xlabel("rating")
    ax.set_ylabel("share of ratings")


def level_means(y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``(..., levels with rows)`` mean rating per level of one data dim (last axis: rows)."""
    codes = np.asarray(codes, dtype=np.int64)
    seen, inverse = np.unique(codes, return_inverse=True)
    counts = np.bincount(inverse, minlength=seen.size)
    y2 = np.atleast_2d(np.asarray(y, dtype=np.float64))
    sums = np.stack([np.bincount(inverse, weights=row, minlength=seen.size) for row in y2])
    means = sums / counts
    return means if np.ndim(y) > 1 else means[0]


def _draw_means(
    ax: Axes, observed: np.ndarray, y_rep: np.ndarray, codes: np.ndarray, dim: str, label: str
) -> None:
    """The spread of per-level mean ratings, replicated against observed: a model whose
    levels differ too little (or too much) shows it here, not in the pooled histogram."""
    shown = level_means(_shown_draws(y_rep), codes)
    obs = level_means(observed, codes) if observed.size else np.array([])
    _density_lines(ax, obs, shown, label)
    sd = np.nanstd(shown, axis=1)
    text = f"sd of {dim} means: replicated {np.nanmedian(sd):.3g}"
    if obs.size:
        text += f", observed {np.nanstd(obs):.3g}"
    ax.set_title(text, fontsize="medium")
    ax.set_xlabel(f"mean rating per {dim}")
    ax.set_ylabel("density")


def plot_ratings_check(
    observed: np.ndarray,
    y_rep: np.ndarray,
    path: str | os.PathLike[str],
    title: str,
    label: str = "replicated",
    categories: np.ndarray | None = None,
) -> Path:
    """Replicated ratings ``(chain, draw, rows)`` against the observed ``(rows,)``."""
    fig, ax = _new_figure("", "rating", "density")
    _draw_ratings(ax, np.asarray(observed, dtype=np.float64), y_rep, label, categories)
    if ax.get_title() == "ratings":  # the figure's title says it
        ax.set_title("")
    fig.suptitle(title)
    ax.legend(fontsize="small")
    return _save_atomic(fig, path)


def plot_level_means_check(
    observed: np.ndarray,
    y_rep: np.ndarray,
    index: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str,
    label: str = "replicated",
) -> Path:
    """One panel per data dim (``index``: dim -> level code per row): per-level means."""
    dims = list(index) or ["(none)"]
    fig = Figure(figsize=(5.0 * len(dims), 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(dims), squeeze=False))[0]
    for ax, dim in zip(axes, dims, strict=True):
        ax.grid(alpha=0.3)
        if dim in index:
            _draw_means(ax, np.asarray(observed, np.float64), y_rep, index[dim], dim, label)
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return _save_atomic(fig, path)


def plot_predictive_check(
    observed: np.ndarray,
    y_rep: np.ndarray,
    index: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str,
    label: str = "replicated",
    categories: np.ndarray | None = None,
) -> Path:
    """Ratings and every data dim's per-level means side by side, in one figure."""
    panels = 1 + len(index)
    fig = Figure(figsize=(4.6 * panels, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, panels, squeeze=False))[0]
    obs = np.asarray(observed, dtype=np.float64)
    _draw_ratings(axes[0], obs, y_rep, label, categories)
    for ax, (dim, codes) in zip(axes[1:], index.items(), strict=True):
        _draw_means(ax, obs, y_rep, codes, dim, label)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")  # the same lines in every panel
    fig.suptitle(title)
    return _save_atomic(fig, path)


def plot_energy(energy: np.ndarray, bfmi: list[float] | None, path: str | os.PathLike[str]) -> Path:
    """HMC's energy distribution, marginal against transition, as ``az.plot_energy`` draws it.

    ``energy`` is the Hamiltonian at each draw, ``(chain, draw)``.  When the transition
    energy (the change from one draw to the next) is much narrower than the marginal
    energy, momentum resampling cannot move the sampler across the energy levels the
    posterior spans and its tails are explored badly; BFMI is the ratio of their variances
    (Betancourt 2016), below 0.3 a warning.
    """
    e = np.atleast_2d(np.asarray(energy, dtype=np.float64))
    marginal = (e - e.mean(axis=1, keepdims=True)).ravel()
    transition = np.diff(e, axis=1).ravel()
    transition = transition - transition.mean() if transition.size else transition
    fig, ax = _new_figure("Energy", "energy - mean", "density")
    both = np.concatenate([marginal, transition])
    bins = np.linspace(both.min(), both.max(), 41) if np.ptp(both) > 0 else 10
    ax.hist(marginal, bins=bins, density=True, alpha=0.5, color="C0", label="marginal energy")
    ax.hist(transition, bins=bins, density=True, alpha=0.5, color="C1", label="energy transition")
    if bfmi:
        shown = ", ".join(f"{b:.2f}" for b in bfmi)
        ax.set_title(f"Energy (BFMI per chain: {shown})")
    ax.legend(fontsize="small")
    return _save_atomic(fig, path)
