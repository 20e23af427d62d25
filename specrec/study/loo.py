"""The study report's model comparison: ``specrec compare-models`` per split and seed.

A study fits several configurations (specs, methods, backends, grid values) on the same folds;
within one fold and one seed, the configurations with posterior draws were fitted to the same
training rows, so PSIS-LOO ranks them exactly as ``specrec compare-models`` would rank their
run directories.  Each such group gets its own ``az.compare`` table: elpd is a sum over the
training rows, so numbers from different folds must never be mixed in one ranking.  A group
that cannot be ranked (fewer than two runs with draws, different data through a grid key, a
run directory gone) keeps its reason, so the report says why a comparison is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from specrec import methods
from specrec.errors import SpecrecError

#: the columns of the written table, in this order (``compare-models``'s, plus the group)
COLUMNS = (
    "split_label",
    "seed",
    "rank",
    "model",
    "elpd_loo",
    "se",
    "elpd_diff",
    "dse",
    "p_loo",
    "weight",
    "warning",
    "test_rmse",
    "coverage_90",
)


@dataclass
class StudyComparison:
    """Ranked rows of every comparable group, and why the other groups were not ranked."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def _config_name(row: pd.Series, grid: list[str]) -> str:
    """The configuration's label as the summary table shows it, grid values included."""
    parts = [str(row["label"]), str(row["method"]), str(row["backend"])]
    parts += [f"{k}={row[k]}" for k in grid if row.get(k) is not None]
    return " / ".join(parts)


def compare_groups(table: pd.DataFrame, grid: list[str]) -> StudyComparison:
    """Rank the done cells with draws within each (split label, seed) by PSIS-LOO."""
    from specrec.model_comparison import compare_models

    out = StudyComparison()
    done = table[(table["status"] == "done") & table["run_dir"].notna()]
    draws = done["method"].map(lambda m: m in methods.names() and methods.has_draws(m))
    for _, r in done[~draws].iterrows():
        out.skipped[_config_name(r, grid)] = "a point estimate (one draw): PSIS-LOO needs draws"
    done = done[draws]
    if done.empty:
        return out
    for (split_label, seed), part in done.groupby(["split_label", "seed"], sort=False):
        group = f"{split_label}, seed {seed}"
        if len(part) < 2:
            out.skipped[group] = "one run with posterior draws: nothing to rank it against"
            continue
        names = [_config_name(r, grid) for _, r in part.iterrows()]
        try:
            c = compare_models(list(part["run_dir"]), names=names)
        except (SpecrecError, OSError) as exc:
            out.skipped[group] = str(exc)
            continue
        for r in c.rows:
            out.rows.append({"split_label": split_label, "seed": int(seed), **r})
        for name, why in c.left_out.items():
            out.skipped[f"{group}: {name}"] = why
    return out
