"""SBC rank histograms: one panel per parameter, with the band a uniform histogram stays in.

Under calibration each bin's count is Binomial(sims, 1 / bins); the grey band is its central
99% interval, so a bar outside it is visible at a glance (Talts et al., 2018, figure 1).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from specrec.evaluate.plots import _save_atomic


def plot_rank_histograms(
    counts: Mapping[str, list[int]],
    flagged: Mapping[str, bool],
    title: str,
    path: str | os.PathLike[str],
) -> Path:
    names = list(counts)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        c = np.asarray(counts[name])
        n, bins = int(c.sum()), len(c)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / bins, color="0.3", linewidth=0.8, linestyle="--", zorder=3)
        colour = "tab:red" if flagged.get(name) else "tab:blue"
        ax.bar(np.arange(bins) + 0.5, c, width=1.0, color=colour, edgecolor="white", zorder=2)
        ax.set_xlim(0, bins)
        ax.set_xticks([0, bins])
        ax.set_xticklabels(["0", "1"])
        ax.set_title(name + (" (flagged)" if flagged.get(name) else ""), fontsize=9)
        ax.set_xlabel("fractional rank", fontsize=8)
    return _save_atomic(fig, path)
