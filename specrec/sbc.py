"""``specrec sbc``: simulation-based calibration of a backend on a spec (Talts et al., 2018).

If a backend fits the model the spec describes, then for parameters drawn from the prior and
data simulated from them, the rank of each true value among the posterior draws is uniform.
A backend that translates a prior or the likelihood wrongly, or a sampler that does not reach
the posterior, bends the rank histogram: a wrong prior scale piles the ranks at one end, an
over-dispersed posterior in the middle, an under-dispersed one at both ends.

One loop, the same for every backend: for simulation ``i`` the spec's own simulation
(``specrec.data.simulate``, seed ``seed + i``, ``data.true`` ignored so every parameter comes
from the prior) draws the parameters and the data; the spec is lowered on those rows and fitted
with the backend; each checked parameter element's true value is ranked among the posterior
draws, thinned to about their effective sample size so the draws are close to independent.
Each rank ``r`` among ``L`` draws becomes ``u = (r + v) / (L + 1)`` with ``v ~ U(0, 1)``, which
is exactly uniform on [0, 1] when the fit is calibrated, whatever ``L`` was; a chi-square test
over equal bins of ``u`` then tests each element.  With ``k`` elements tested, an element is
flagged when its p-value is below ``alpha / k`` (Bonferroni), so a calibrated backend is
flagged in at most ``alpha`` of SBC runs, whatever ``k``.

Checked by default are the hyperparameters (latents with no data dim, at most
``MAX_HYPER_ELEMENTS`` elements), leaving out those over a latent factor dim, which are
identified only up to the factor's sign (``specrec.agreement``); a spec without any checks its
small latents instead.  Results go to ``<out>/<spec name>/sbc-<id>/`` in one rename:
``sbc.json``, ``ranks.csv`` and ``rank_histograms.png``.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from specrec import backends, driver, methods, rundir
from specrec.agreement import MAX_HYPER_ELEMENTS, element_labels, factor_dims
from specrec.errors import UsageError
from specrec.evaluate.thinning import thin_pooled
from specrec.model.ir import Model
from specrec.spec.load import LoadedSpec
from specrec.spec.models import SimulateData

FILES = {"report": "sbc.json", "ranks": "ranks.csv", "plot": "rank_histograms.png"}
MIN_RANK_DRAWS = 10  # fewer thinned draws than this make ranks too coarse to bin


@dataclass
class SBCResult:
    """What ``sbc.json`` holds, the ranks table, and where they were written (None: nowhere)."""

    path: Path | None
    report: dict
    ranks: pd.DataFrame

    @property
    def flagged(self) -> list[str]:
        return [p["param"] for p in self.report["params"] if p["flagged"]]

    @property
    def ok(self) -> bool:
        return not self.flagged


def checked_params(model: Model) -> list[str]:
    """The latents whose calibration is tested by default (see the module docstring)."""
    unidentified = factor_dims(model)
    small = [
        rv.name
        for rv in model.latents
        if int(np.prod(rv.shape, dtype=int)) <= MAX_HYPER_ELEMENTS
        and not unidentified.intersection(rv.dims)
    ]
    hyper = set(model.hyperparameters())
    return [n for n in small if n in hyper] or small


def rank_draws_count(ess: float, n_draws: int, max_draws: int) -> int:
    """How many (evenly thinned) draws a true value is ranked among: about the ESS."""
    return int(min(n_draws, max_draws, max(MIN_RANK_DRAWS, np.floor(ess))))


def thinned_rank(draws: np.ndarray, truth: float, n_keep: int) -> int:
    """Rank of ``truth`` among ``n_keep`` draws picked evenly from (chain, draw) draws."""
    return int(np.sum(thin_pooled(np.asarray(draws, dtype=float).reshape(-1), n_keep) < truth))


def uniformity(u: np.ndarray, bins: int) -> tuple[float, float, np.ndarray]:
    """Chi-square test that ``u`` is uniform on [0, 1]: (statistic, p-value, counts per bin)."""
    counts = np.histogram(u, bins=bins, range=(0.0, 1.0))[0]
    expected = len(u) / bins
    chi2 = float(np.sum((counts - expected) ** 2) / expected)
    return chi2, float(stats.chi2.sf(chi2, bins - 1)), counts


def default_bins(sims: int) -> int:
    """At least 5 expected ranks per bin (the chi-square approximation), 2 to 20 bins."""
    return int(np.clip(sims // 5, 2, 20))


def _simulation_spec(loaded: LoadedSpec, seed: int) -> LoadedSpec:
    """The spec with its simulation seeded for one SBC draw and nothing held at true values."""
    s = loaded.spec
    data = s.data.model_copy(update={"seed": seed, "true": {}})
    inference = s.inference.model_copy(update={"seed": seed})
    return replace(loaded, spec=s.model_copy(update={"data": data, "inference": inference}))


def _ess_min(posterior: dict[str, np.ndarray], names: list[str]) -> float:
    """The smallest bulk ESS over the checked elements (ArviZ's, chains kept apart)."""
    import arviz as az

    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            arr = np.asarray(posterior[n], dtype=float)
            flat = arr.reshape(*arr.shape[:2], -1)
            values += [float(az.ess(flat[:, :, j])) for j in range(flat.shape[2])]
    finite = [v for v in values if np.isfinite(v)]
    return min(finite) if finite else float("inf")


def run_sbc(
    spec: str | Path | LoadedSpec,
    backend: str,
    sims: int,
    *,
    method: str | None = None,
    seed: int = 0,
    overrides: list[str] | None = None,
    params: list[str] | None = None,
    max_rank_draws: int = 100,
    bins: int | None = None,
    alpha: float = 0.01,
    out: str | Path | None = "runs",
    log: Callable[[str], None] | None = None,
) -> SBCResult:
    """Run SBC and write its folder (``out=None``: write nothing)."""
    from specrec.data.simulate import simulate
    from specrec.fitting import resolve_spec
    from specrec.model.lower import lower

    say = log or (lambda msg: None)
    loaded = resolve_spec(spec, method=method, overrides=overrides)
    s = loaded.spec
    if not isinstance(s.data, SimulateData):
        raise UsageError(
            f"{loaded.file}: sbc simulates data from the spec, which needs "
            f"`data: {{source: simulate, sizes: ..., density or rows: ...}}`; found source "
            f"{s.data.source!r}"
        )
    if not methods.has_draws(s.inference.method):
        with_draws = ", ".join(m.name for m in methods.all_methods() if m.has_draws)
        raise UsageError(
            f"sbc needs posterior draws: use --method {with_draws}, not {s.inference.method}"
        )
    if sims < 2:
        raise UsageError(f"sbc needs at least 2 simulations, found {sims}")
    b = backends.get(backend)
    driver.check_method(b, s.inference)
    n_bins = bins or default_bins(sims)
    jitter = np.random.default_rng([seed, 7])
    rows: list[dict] = []
    sims_info: list[dict] = []
    labels: dict[str, list[str]] = {}
    t_start = time.perf_counter()
    for i in range(sims):
        loaded_i = _simulation_spec(loaded, seed + i)
        ds = simulate(loaded_i)
        model = lower(loaded_i, ds)
        if i == 0:
            driver.check(b, model, loaded_i.spec.inference)
            names = _chosen(model, params)
            labels = {n: element_labels(model, n) for n in names}
        t0 = time.perf_counter()
        # the fit driver, as `specrec fit` runs it: init modes and restarts included
        result = driver.run_inference(b, model, loaded_i.spec.inference, checked=True).result
        elapsed = time.perf_counter() - t0
        post = {n: np.asarray(result.posterior[n]) for n in labels}
        chains, draws = next(iter(post.values())).shape[:2]
        ess = _ess_min(post, list(labels)) if chains * draws > 1 else 1.0
        n_keep = rank_draws_count(ess, chains * draws, max_rank_draws)
        for name, labs in labels.items():
            flat = post[name].reshape(chains * draws, -1)
            truth = np.asarray(ds.truth[name], dtype=float).reshape(-1)
            for j, lab in enumerate(labs):
                r = thinned_rank(flat[:, j], truth[j], n_keep)
                u = (r + jitter.uniform()) / (n_keep + 1)
                rows.append({"sim": i, "param": lab, "rank": r, "draws": n_keep, "u": u})
        diverging = result.sample_stats.get("diverging")
        sims_info.append(
            {
                "sim": i,
                "seed": seed + i,
                # the driver's compile_s and fit_s (driver.Timing), as metrics.json has them
                "compile_s": result.compile_s,
                "fit_s": result.fit_s,
                "ess_min": ess,
                "rank_draws": n_keep,
                "divergences": int(np.sum(diverging)) if diverging is not None else None,
            }
        )
        say(
            f"sbc {s.name} on {backend}: simulation {i + 1}/{sims} fitted in {elapsed:.1f} s, "
            f"ranks among {n_keep} draws"
        )
    ranks = pd.DataFrame(rows)
    all_labels = [lab for labs in labels.values() for lab in labs]
    threshold = alpha / len(all_labels)
    results = []
    for lab in all_labels:
        u = ranks.loc[ranks["param"] == lab, "u"].to_numpy()
        chi2, p, counts = uniformity(u, n_bins)
        results.append(
            {
                "param": lab,
                "chi2": chi2,
                "df": n_bins - 1,
                "p": p,
                "flagged": p < threshold,
                "mean_u": float(np.mean(u)),
                "counts": counts.tolist(),
            }
        )
    report = {
        "spec": {"name": s.name, "sha256": loaded.sha256, "file": loaded.file},
        "backend": {"name": backend, "version": b.version},
        "inference": s.inference.model_dump(mode="json"),
        "sims": sims,
        "seed": seed,
        "bins": n_bins,
        "max_rank_draws": max_rank_draws,
        "test": {
            "kind": "chi-square over equal bins of the jittered fractional rank",
            "alpha": alpha,
            "tested": len(all_labels),
            "threshold": threshold,
            "multiple_testing": "Bonferroni: flagged when p < alpha / tested",
        },
        "params": results,
        "simulations": sims_info,
        "divergences": int(sum(x["divergences"] or 0 for x in sims_info)),
        "total_s": time.perf_counter() - t_start,
        "versions": _versions(backend),
        "command": sys.argv,
    }
    path = None
    if out is not None:

        def write(tmp: Path) -> None:
            rundir.write_json(tmp / FILES["report"], report)
            ranks.to_csv(tmp / FILES["ranks"], index=False)
            from specrec.evaluate.rank_plots import plot_rank_histograms

            plot_rank_histograms(
                {r["param"]: r["counts"] for r in results},
                {r["param"]: r["flagged"] for r in results},
                f"SBC {s.name} on {backend} ({s.inference.method}, {sims} simulations)",
                tmp / FILES["plot"],
            )

        run_id = "sbc-" + rundir.new_run_id(s.inference.method, backend)
        path = rundir.write_run(Path(out) / s.name, run_id, write)
    return SBCResult(path, report, ranks)


def _chosen(model: Model, params: list[str] | None) -> list[str]:
    if not params:
        return checked_params(model)
    known = [rv.name for rv in model.latents]
    unknown = [p for p in params if p not in known]
    if unknown:
        raise UsageError(
            f"--params: {', '.join(unknown)} not a parameter of {model.name!r} "
            f"(parameters: {', '.join(known)})"
        )
    return params


def _versions(backend: str) -> dict[str, str]:
    from specrec.fitting import versions
    from specrec.registry import backend_versions

    return versions() | backend_versions(backend)
