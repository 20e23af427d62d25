"""Do two backends' posteriors agree?  Posterior means compared within Monte Carlo error.

Two correct NUTS samplers targeting one posterior give posterior means that differ only by
Monte Carlo noise, so ``z = |m1 - m2| / sqrt(mcse1^2 + mcse2^2)`` is roughly standard normal and
``z > 4`` is a real disagreement (a translation bug, a wrong transform, a sampler that did not
mix), not bad luck.  Compared are what a factor model identifies: the small latent variables
(``compared_params``: at most ``MAX_HYPER_ELEMENTS`` elements, the hyperparameters among them;
the big factor matrices are only identified up to rotation) and the expected rating of a fixed
sample of test pairs.

A compared latent indexed by a latent factor dimension (a fixed-size dim shared by matrices over
two different data dims, as ``mu_u[factor]`` with ``U[user, factor]`` and ``V[item, factor]``)
flips sign with its factor column, so it is reported but never flagged.

For map and vi the posterior-mean error is the optimiser's and the approximation's, not Monte
Carlo noise, so there is no z test.  Their predictions are held to a stated bound instead: the
root mean square difference of two fits' predictions of the compared test pairs must be within
``PRED_FRACTION`` of the smaller test RMSE (a translation bug moves predictions by the order of
the RMSE; optimiser and approximation differences by a small share of it: three converged VI
fits of the quickstart differ by 0.14-0.16 x RMSE, their largest single pair by 0.45 x, so the
RMS, not the maximum, is bounded).  Their parameters are reported as *not tested*: a factorised
guide or a mode legitimately lands elsewhere than another's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from specrec import methods
from specrec.evaluate.thinning import thin_draws
from specrec.model.ir import Model, RowData
from specrec.model.reference import predict_draws

Z_FLAG = 4.0
MAX_HYPER_ELEMENTS = 50
N_PAIRS = 50  # test pairs whose predicted ratings are compared
MAX_PRED_DRAWS = 2000  # predictions from at most this many draws (evenly thinned; MCSE follows)
#: map/vi: the RMS difference of two backends' predictions may be this share of the test RMSE
PRED_FRACTION = 0.25


@dataclass
class Estimate:
    """One backend's posterior means (and MCSEs for NUTS) of every compared element."""

    backend: str
    method: str
    labels: list[str]
    kinds: list[str]  # "param" or "prediction"
    mean: np.ndarray
    mcse: np.ndarray | None
    unidentified: set[str]
    test_rmse: float | None = None  # map/vi: what the prediction bound is a share of


def factor_dims(model: Model) -> set[str]:
    """Fixed-size dims that index matrices over two or more data dims (latent factor dims)."""
    data_dims = {name for name, d in model.dims.items() if d.column}
    out = set()
    for name, d in model.dims.items():
        if d.column:
            continue
        over = {
            dim
            for rv in model.latents
            if len(rv.dims) >= 2 and name in rv.dims
            for dim in rv.dims
            if dim in data_dims
        }
        if len(over) >= 2:
            out.add(name)
    return out


def compared_params(model: Model) -> list[str]:
    """The latents whose posterior means are compared: every one with at most
    ``MAX_HYPER_ELEMENTS`` elements.  Wider than ``Model.hyperparameters``: a small latent over
    a data dim (the mean of each of a few groups) is identified, so it is compared too."""
    return [
        rv.name for rv in model.latents if int(np.prod(rv.shape, dtype=int)) <= MAX_HYPER_ELEMENTS
    ]


def pick_pairs(n_test: int, seed: int, n: int = N_PAIRS) -> np.ndarray:
    """The test rows whose predictions are compared: the same rows for every backend."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(n, n_test), replace=False))


def _subset(rows: RowData, pick: np.ndarray) -> RowData:
    return RowData(
        rows.y[pick],
        {k: v[pick] for k, v in rows.index.items()},
        {k: v[pick] for k, v in rows.columns.items()},
    )


def element_labels(model: Model, name: str) -> list[str]:
    rv = next(r for r in model.latents if r.name == name)
    if not rv.shape:
        return [name]
    coords = [
        model.dims[d].coords if d in model.dims else np.arange(n)
        for d, n in zip(rv.dims, rv.shape, strict=False)
    ]
    coords += [np.arange(n) for n in rv.shape[len(coords) :]]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in rv.shape], indexing="ij"), -1)
    return [
        f"{name}[{','.join(str(c[i]) for c, i in zip(coords, idx, strict=True))}]"
        for idx in grid.reshape(-1, len(rv.shape))
    ]


def _pair_labels(model: Model, rows: RowData) -> list[str]:
    dims = [d for d in model.dims.values() if d.column and d.name in rows.index]
    return [
        "E[y | " + ",".join(f"{d.column}={d.coords[rows.index[d.name][i]]}" for d in dims) + "]"
        for i in range(len(rows))
    ]


def _mcse(draws: np.ndarray) -> np.ndarray:
    """ArviZ's MCSE of the mean per column of ``(chain, draw, k)``."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns divide by zero
        ds = az.convert_to_dataset({"x": draws})
        return np.asarray(az.mcse(ds, method="mean")["x"].values, dtype=np.float64).ravel()


def estimate(
    backend: str,
    method: str,
    model: Model,
    idata,
    test_rows: RowData,
    pick: np.ndarray,
    test_rmse: float | None = None,
) -> Estimate:
    """Posterior means (and MCSE for NUTS) of the compared latents and the picked predictions."""
    post = idata.posterior
    hyper = compared_params(model)
    blocks, labels, kinds = [], [], []
    for name in hyper:
        arr = np.asarray(post[name].values, dtype=np.float64)
        blocks.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
        lab = element_labels(model, name)
        labels += lab
        kinds += ["param"] * len(lab)
    full = thin_draws(
        {rv.name: np.asarray(post[rv.name].values) for rv in model.latents}, MAX_PRED_DRAWS
    )
    rows = _subset(test_rows, pick)
    pred, _ = predict_draws(model, full, rows)
    labels += _pair_labels(model, rows)
    kinds += ["prediction"] * len(rows)
    mean = np.concatenate([b.mean(axis=(0, 1)) for b in blocks] + [pred.mean(axis=(0, 1))])
    mcse = None
    if methods.is_mcmc(method):
        parts = [_mcse(b) for b in blocks] + [_mcse(pred)]
        mcse = np.concatenate(parts)
    fdims = factor_dims(model)
    unident = {rv.name for rv in model.latents if rv.name in hyper and fdims.intersection(rv.dims)}
    return Estimate(backend, method, labels, kinds, mean, mcse, unident, test_rmse)


def _num(x: float) -> float | None:
    """A JSON-safe float: None for NaN or infinity (compare.json must stay strict JSON)."""
    x = float(x)
    return x if np.isfinite(x) else None


def _var(label: str) -> str:
    return label.split("[", 1)[0]


def compare_pair(a: Estimate, b: Estimate, z_flag: float = Z_FLAG) -> dict:
    """Every element's means side by side; a z test when both are NUTS fits, else the map/vi
    bound on predictions (``PRED_FRACTION`` of the test RMSE), else *not tested*."""
    if a.labels != b.labels:
        return {"a": a.backend, "b": b.backend, "error": "different elements (different data?)"}
    z_test = a.mcse is not None and b.mcse is not None
    rmses = [r for r in (a.test_rmse, b.test_rmse) if r is not None and np.isfinite(r)]
    bound = PRED_FRACTION * min(rmses) if not z_test and len(rmses) == 2 else None
    diff = a.mean - b.mean
    items, flagged = [], []
    for i, label in enumerate(a.labels):
        item = {
            "name": label,
            "kind": a.kinds[i],
            "mean_a": _num(a.mean[i]),
            "mean_b": _num(b.mean[i]),
            "diff": _num(diff[i]),
        }
        if z_test:
            assert a.mcse is not None and b.mcse is not None
            se = float(np.sqrt(a.mcse[i] ** 2 + b.mcse[i] ** 2))
            z = abs(float(diff[i])) / se if se > 0 else (0.0 if diff[i] == 0 else float("inf"))
            unident = a.kinds[i] == "param" and _var(label) in a.unidentified
            item |= {
                "mcse_a": _num(a.mcse[i]),
                "mcse_b": _num(b.mcse[i]),
                "z": _num(z),
                "unidentified": unident,
                "flagged": bool(not unident and not z <= z_flag),
            }
        elif bound is None or a.kinds[i] != "prediction":
            item["tested"] = False
        if item.get("flagged"):
            flagged.append(item)
        items.append(item)
    test = "z" if z_test else ("prediction bound" if bound is not None else "not tested")
    out: dict = {"a": a.backend, "b": b.backend, "test": test}
    for kind in ("param", "prediction"):
        d = [abs(it["diff"]) for it in items if it["kind"] == kind and it["diff"] is not None]
        out[f"max_abs_diff_{kind}"] = max(d) if d else None
    if z_test:
        zs = [it["z"] for it in items if it["z"] is not None and not it["unidentified"]]
        out["max_z"] = max(zs) if zs else None
    if bound is not None:
        pred = np.array([it["diff"] for it in items if it["kind"] == "prediction"], dtype=float)
        rms = float(np.sqrt(np.mean(pred**2))) if pred.size else float("nan")
        out |= {
            "bound": bound,
            "pred_fraction": PRED_FRACTION,
            "rms_diff_prediction": _num(rms),
            "predictions_flagged": bool(not rms <= bound),
            "params_tested": False,
        }
        n_flagged = int(out["predictions_flagged"])
    else:
        n_flagged = len(flagged)
    # None, not 0, when nothing was tested: "0 flagged" would claim a check that never ran
    out["n_flagged"] = n_flagged if test != "not tested" else None
    out["items"] = items
    return out


def _flag_text(pair: dict, it: dict) -> str:
    head = f"{pair['a']} vs {pair['b']}: {it['name']} {it['mean_a']:.4g} vs {it['mean_b']:.4g}"
    return f"{head} (z {it['z']:.1f})" if it["z"] is not None else f"{head} (z inf)"


def _bound_text(pair: dict) -> str:
    rms = pair["rms_diff_prediction"]
    return (
        f"{pair['a']} vs {pair['b']}: predictions differ by {rms if rms is None else f'{rms:.3g}'} "
        f"RMS, more than {pair['pred_fraction']:g} x test RMSE ({pair['bound']:.3g})"
    )


def agreement(estimates: list[Estimate], z_flag: float = Z_FLAG) -> dict:
    """Pairwise comparisons of every two backends' estimates, plus the flagged items in words."""
    pairs = [
        compare_pair(a, b, z_flag) for i, a in enumerate(estimates) for b in estimates[i + 1 :]
    ]
    flagged = [_flag_text(p, it) for p in pairs for it in p.get("items", []) if it.get("flagged")]
    flagged += [_bound_text(p) for p in pairs if p.get("predictions_flagged")]
    errors = [f"{p['a']} vs {p['b']}: {p['error']}" for p in pairs if "error" in p]
    unidentified = sorted({n for e in estimates for n in e.unidentified})
    return {
        "z_flag": z_flag,
        "pred_fraction": PRED_FRACTION,
        "n_params": sum(k == "param" for k in estimates[0].kinds) if estimates else 0,
        "n_predictions": sum(k == "prediction" for k in estimates[0].kinds) if estimates else 0,
        "unidentified": unidentified,
        "pairs": pairs,
        "flagged": flagged,
        "errors": errors,
    }
