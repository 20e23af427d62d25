"""The functions an expression may call, in one table: elementwise maths and data statistics.

Data statistics are computed once from the training rows when a spec is lowered and become
constants of the model (the PMF notebook's fixed precisions, ``mean(rating)`` offsets), so a
backend never sees them as anything but numbers.
"""

from __future__ import annotations

import numpy as np

#: Elementwise functions of one argument (their numpy/jax/torch/pytensor forms live in ArrayOps).
ELEMENTWISE_FUNCTIONS = {
    "exp": "e^x",
    "log": "natural logarithm",
    "log1p": "log(1 + x)",
    "sqrt": "square root",
    "abs": "absolute value",
    "sigmoid": "1 / (1 + e^-x)",
    "softplus": "log(1 + e^x)",
}

#: Structural functions handled by the lowering itself.
STRUCTURAL_FUNCTIONS = {
    "dot": "dot(a, b): sum of a*b over the fixed-size dims they share (the factor dim)",
    "sum": "sum(x, dim): sum over one fixed-size dim",
}

#: Statistics of a data column over the training rows -> a scalar.
SCALAR_STATISTICS = {
    "mean": "mean of a data column (or of a per-level statistic)",
    "sd": "standard deviation (ddof 0)",
    "var": "variance (ddof 0)",
    "min": "minimum",
    "max": "maximum",
    "count": "number of training rows",
}

#: Statistics per level of a data dim -> a vector over that dim.
GROUPED_STATISTICS = {
    "mean_by": "mean_by(col, dim): mean per level (levels with no rows get the overall mean)",
    "var_by": "var_by(col, dim): variance per level (levels with fewer than 2 rows get the overall variance)",
    "count_by": "count_by(col, dim): number of training rows per level",
    "dense_var_by": (
        "dense_var_by(col, dim): variance of each level's row of the dense matrix over the other "
        "data dim, missing cells filled with the overall mean (the PMF notebook's alpha_u, alpha_v)"
    ),
}

# --- aggregates, count/positive likelihoods, covariates ---

#: Aggregates of a row expression (one that depends on parameters) over the training rows of
#: each level of a data dim -> a value over that dim, recomputed at every parameter value.
SEGMENT_FUNCTIONS = {
    "segment_sum": "segment_sum(x, dim): per level of a data dim, the sum of row expression x "
    "over that level's training rows",
    "segment_mean": "segment_mean(x, dim): per level, the mean of row expression x over that "
    "level's training rows (0 for a level with none); e.g. segment_mean(W[item], user)",
}

ALL_FUNCTIONS = {
    **ELEMENTWISE_FUNCTIONS,
    **STRUCTURAL_FUNCTIONS,
    **SCALAR_STATISTICS,
    **GROUPED_STATISTICS,
    **SEGMENT_FUNCTIONS,
}


def segment_weights(name: str, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """What each level's row sum is multiplied by: 1 (sum) or 1/count (mean, 0 if no rows)."""
    if name == "segment_sum":
        return np.ones(n_levels)
    n = np.bincount(codes, minlength=n_levels).astype(float)
    return np.where(n > 0, 1.0 / np.maximum(n, 1.0), 0.0)


def scalar_statistic(name: str, values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    if name == "count":
        return float(v.shape[0])
    if v.size == 0:
        raise ValueError("no training rows")
    return float(
        {"mean": np.mean, "sd": np.std, "var": np.var, "min": np.min, "max": np.max}[name](v)
    )


def grouped_statistic(
    name: str, values: np.ndarray, codes: np.ndarray, n_levels: int, other_levels: int | None
) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    n = np.bincount(codes, minlength=n_levels).astype(float)
    if name == "count_by":
        return n
    s1 = np.bincount(codes, weights=v, minlength=n_levels)
    s2 = np.bincount(codes, weights=v * v, minlength=n_levels)
    g = float(v.mean())
    if name == "mean_by":
        return np.where(n > 0, s1 / np.maximum(n, 1), g)
    if name == "var_by":
        m = s1 / np.maximum(n, 1)
        return np.where(n > 1, s2 / np.maximum(n, 1) - m * m, float(v.var()))
    if name == "dense_var_by":
        if other_levels is None:
            raise ValueError("dense_var_by needs exactly two data dims")
        m_other = float(other_levels)
        fill = m_other - n
        t1 = (s1 + fill * g) / m_other
        t2 = (s2 + fill * g * g) / m_other
        return t2 - t1 * t1
    raise KeyError(name)
