"""Per-parameter posterior summaries and the one-line verdict on a fit's convergence.

``parameter_table`` is ``az.summary`` (mean, sd, HDI, MCSE, ESS bulk/tail, R-hat) of the
parameters indexed by no data dim, the ones a person reads one by one.

``verdict`` separates what is expected of the model from what is a real warning.  A factor
model ``U V^T`` is identified only up to rotation and sign, and a mixture only up to the labels
of its components, so R-hat above 1.01 on a variable over a factor dim (or the component dim)
says nothing about convergence: that is stated once, as expected.  Real warnings are divergent
transitions, NUTS trajectories stopped by ``max_tree_depth`` (tree depth saturated: the
sampler takes the longest paths it is allowed and still has not turned, so it explores less
than NUTS intends), BFMI below 0.3 (the energy statistic; the sampler explores the
posterior's tails badly), R-hat above 1.01 or bulk ESS below 100 on the predictions and on
the rotation-invariant summaries of a factorisation (``||U||_F``, ``||V||_F``, entries of
``U V^T``), all identified, and R-hat above 1.01 on an identified parameter.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from specrec.evaluate import diagnostics as D
from specrec.model.ir import Model

RHAT_MAX = 1.01
PRED_ESS_MIN = 100
BFMI_MIN = 0.3
#: any draw stopped by the tree-depth limit is worth a warning: Stan's and ArviZ's practice
TREE_DEPTH_FRACTION = 0.0


def parameter_table(idata, names: list[str], mcmc: bool) -> dict[str, dict[str, float | None]]:
    """``az.summary`` of ``names``, by element label (``mu_u[0]``) then ArviZ's column name.

    MCSE, ESS and R-hat are for Markov chains only (vi's draws are independent by
    construction, so only mean, sd and HDI are shown); R-hat needs two chains.
    """
    if not names:
        return {}
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one chain: ArviZ warns that R-hat is undefined
        table = az.summary(idata.posterior, var_names=names, kind="all" if mcmc else "stats")
    return {
        str(label): {
            str(col): (None if not math.isfinite(float(v)) else float(v)) for col, v in row.items()
        }
        for label, row in table.iterrows()
    }


def unidentified(model: Model) -> dict[str, str]:
    """Latents identified only up to a symmetry, with the symmetry's name."""
    from specrec.agreement import factor_dims  # agreement reads the evaluator, which reads this

    rotated = factor_dims(model)
    component = model.mixture.dim if model.mixture is not None else None
    out = {}
    for rv in model.latents:
        if rotated & set(rv.dims):
            out[rv.name] = "rotation and sign of the factors"
        elif component is not None and component in rv.dims:
            out[rv.name] = "label switching of the mixture components"
    return out


def bfmi(idata) -> list[float] | None:
    """BFMI per chain from the sampler's ``energy``, or None when it reported none."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "energy" not in stats or stats.sizes.get("draw", 0) < 2:
        return None
    import arviz as az

    return [float(v) for v in np.atleast_1d(az.bfmi(np.asarray(stats["energy"].values)))]


def verdict(
    model: Model, idata, diagnostics: dict, per_variable: dict | None = None
) -> dict[str, list[str]]:
    """``{"warnings": [...], "expected": [...]}`` of an MCMC fit (see the module docstring).

    ``per_variable``: ``variable_diagnostics`` of the checked parameters, if already computed."""
    warn, expected = [], []
    div = diagnostics.get("divergences") or 0
    if div:
        warn.append(f"{div} divergent transitions")
    depth = diagnostics.get("tree_depth")
    if depth and depth["fraction"] > TREE_DEPTH_FRACTION:
        warn.append(
            f"tree depth saturated: {depth['fraction']:.1%} of draws "
            f"({depth['saturated']}) reached max_tree_depth {depth['max_tree_depth']}"
        )
    low = [(i, b) for i, b in enumerate(diagnostics.get("bfmi") or []) if b < BFMI_MIN]
    if low:
        chains = ", ".join(f"chain {i} {b:.2f}" for i, b in low)
        warn.append(f"BFMI below {BFMI_MIN} ({chains})")
    pred_rhat, pred_ess = diagnostics.get("pred_rhat_max"), diagnostics.get("pred_ess_bulk_min")
    if pred_rhat is not None and pred_rhat > RHAT_MAX:
        warn.append(f"R-hat {pred_rhat:.3f} on predictions (above {RHAT_MAX})")
    if pred_ess is not None and pred_ess < PRED_ESS_MIN:
        warn.append(f"bulk ESS {pred_ess:.1f} on predictions (below {PRED_ESS_MIN})")
    warn += _factor_warnings(diagnostics.get("factors"))
    checked = diagnostics.get("params_checked") or []
    if per_variable is not None and all(n in per_variable for n in checked):
        per_var = {n: per_variable[n] for n in checked}
    else:
        per_var = D.variable_diagnostics(idata, checked)
    symmetric = unidentified(model)
    judged = "the predictions"
    if diagnostics.get("factors"):
        shown = [what for what, _ in factor_labels(diagnostics["factors"])]
        judged += " and the rotation-invariant " + ", ".join(shown)
    high = {n: v["rhat_max"] for n, v in per_var.items() if (v["rhat_max"] or 0) > RHAT_MAX}
    real = {n: r for n, r in high.items() if n not in symmetric}
    if real:
        warn.append(
            "R-hat above 1.01 on identified parameters: "
            + ", ".join(f"{n} {r:.3f}" for n, r in real.items())
        )
    seen = {n: r for n, r in high.items() if n in symmetric}
    for why in dict.fromkeys(symmetric[n] for n in seen):
        names = [n for n in seen if symmetric[n] == why]
        worst = max(seen[n] for n in names)
        expected.append(
            f"R-hat up to {worst:.2f} on {', '.join(names)}: expected ({why}); "
            f"convergence is judged on {judged}"
        )
    return {"warnings": warn, "expected": expected}


def factor_labels(factors: dict) -> list[tuple[str, dict]]:
    """(what, its R-hat/ESS) of ``diagnostics.factor_diagnostics``: ``||U||_F`` per factor
    matrix, then ``U V^T (n entries)``; the terminal summary prints the same labels."""
    row, col = factors["pair"]
    out = [(f"||{name}||_F", v) for name, v in factors["frobenius"].items()]
    entries = factors["entries"]
    return [*out, (f"{row} {col}^T ({entries['n']} entries)", entries)]


def _factor_warnings(factors: dict | None) -> list[str]:
    """R-hat above 1.01 or bulk ESS below 100 on a rotation-invariant summary of the factors:
    identified quantities, so as real a warning as the same on the predictions."""
    if not factors:
        return []
    out = []
    labelled = factor_labels(factors)
    high = [
        f"{what} {v['rhat_max']:.3f}" for what, v in labelled if (v["rhat_max"] or 0) > RHAT_MAX
    ]
    if high:
        out.append(f"R-hat above {RHAT_MAX} on rotation-invariant summaries: " + ", ".join(high))
    low = [
        f"{what} {v['ess_bulk_min']:.1f}"
        for what, v in labelled
        if v["ess_bulk_min"] is not None and v["ess_bulk_min"] < PRED_ESS_MIN
    ]
    if low:
        out.append(
            f"bulk ESS below {PRED_ESS_MIN} on rotation-invariant summaries: " + ", ".join(low)
        )
    return out
