"""``specrec prior`` and ``specrec fit --prior N``: what the model says before it sees data.

A prior predictive check (Gabry et al. 2019) asks whether the priors, pushed through the
likelihood, give ratings a person would believe: a PMF with unit-variance factors over 10
dimensions puts most replicated 1..5 stars below -5 or above 10, which no posterior fit shows.
The question is answered without fitting and without a backend: each prior draw is one joint
draw of the numpy reference model (``reference.sample_prior``, the same draw the simulator and
SBC use), the latents from their priors and one replicated rating per training row from the
likelihood, so there is no further copy of the model's semantics here.

The rows are the training rows of the spec's data and split, exactly the rows ``fit`` lowers
the model on: a prior that reads the data (``mean(rating)``) is the one the fit uses, and the
``prior_predictive`` group lines up with ``observed_data`` row by row.  ``specrec prior``
writes ``prior.nc`` (``prior``, ``prior_predictive``, ``observed_data``, ``constant_data``),
``prior_predictive.png`` and ``prior.json`` to ``<out>/<spec name>/prior-<id>/`` in one
rename; ``fit --prior N`` adds the first two groups to the run's ``posterior.nc``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specrec import rundir
from specrec.errors import FitError, UsageError
from specrec.evaluate.groups import (
    OBS,
    Groups,
    observed_groups,
    over_budget,
    predictive_dataset,
)
from specrec.idata import RunData, draws_dataset
from specrec.model.ir import Model
from specrec.model.reference import derived_values, sample_prior
from specrec.spec.load import LoadedSpec

FILES = {"idata": "prior.nc", "plot": "prior_predictive.png", "report": "prior.json"}
DEFAULT_DRAWS = 500
#: the prior draws' own random stream beside ``inference.seed``: adding ``--prior`` to a fit
#: changes none of its other numbers
STREAM = 0x9210
#: observed values of a discrete response with at most this many distinct values are
#: tabulated as category frequencies
MAX_CATEGORIES = 30


@dataclass
class PriorDraws:
    """``draws`` joint prior draws: parameters ``(1, draws, *shape)`` by name (latents and
    derived) and replicated ratings ``(1, draws, rows)`` on the observed column's scale."""

    params: dict[str, np.ndarray]
    y_rep: np.ndarray


def n_param_values(model: Model) -> int:
    """Values per draw of the ``prior`` group (latents and derived parameters)."""
    shapes = [rv.shape for rv in model.latents] + [d.shape for d in model.derived]
    return int(sum(np.prod(s, dtype=np.int64) for s in shapes))


def check_budget(model: Model, draws: int, max_mb: float, option: str = "--draws") -> None:
    """Refuse, before any work, a number of draws whose groups would exceed
    ``evaluate.idata_max_mb`` (each group is held in memory whole)."""
    if draws < 1:
        raise UsageError(f"{option}: at least 1 prior draw, found {draws}")
    for group, n, what in (
        ("prior", n_param_values(model), "parameter values"),
        ("prior_predictive", len(model.data), "training rows"),
    ):
        reason = over_budget(group, draws, n, what, max_mb)
        if reason is not None:
            fits = max(0, int(max_mb * 1e6 // (8 * max(1, n))))
            raise UsageError(
                f"{option} {draws}: the {group} group's {reason}; draw at most {fits} "
                f"or raise it with --set evaluate.idata_max_mb=..."
            )


def draw_prior(model: Model, draws: int, seed: int) -> PriorDraws:
    """``draws`` joint draws of the parameters and of a replicated rating per training row."""
    rng = np.random.default_rng([seed, STREAM])
    rows = len(model.data)
    names = [rv.name for rv in model.latents]
    params = {rv.name: np.empty((1, draws, *rv.shape)) for rv in model.latents}
    params |= {d.name: np.empty((1, draws, *d.shape)) for d in model.derived}
    y_rep = np.empty((1, draws, rows))
    for i in range(draws):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                values = sample_prior(model, rng)
        except ValueError as exc:  # numpy refuses e.g. a Poisson rate above 1e19
            raise FitError(
                f"prior draw {i + 1} of {model.name!r} gives the likelihood arguments no "
                f"rating can be drawn from ({exc}): the priors are too wide for the likelihood"
            ) from None
        latents = {n: values[n] for n in names}
        for name, value in (latents | derived_values(model, latents)).items():
            params[name][0, i] = value
        y_rep[0, i] = model.to_data_scale(values[model.likelihood.name])
    return PriorDraws(params, y_rep)


def prior_dataset(model: Model, params: dict[str, np.ndarray]):
    """The ``prior`` group, with the dims and coordinates ``posterior`` has (one chain)."""
    dims = {rv.name: list(rv.dims) for rv in model.latents}
    dims |= {d.name: list(d.dims) for d in model.derived}
    coords = {name: d.coords for name, d in model.dims.items()}
    return draws_dataset(params, dims, coords)


def prior_groups(model: Model, drawn: PriorDraws) -> Groups:
    """``prior`` and ``prior_predictive`` (dim ``obs``, the training rows of
    ``observed_data``) as ArviZ names them."""
    g = Groups()
    g.datasets["prior"] = prior_dataset(model, drawn.params)
    g.datasets["prior_predictive"] = predictive_dataset(model, drawn.y_rep, OBS)
    return g


def add_prior(idata, model: Model, draws: int, seed: int, metrics: dict) -> dict:
    """``fit --prior N``: the ``prior`` and ``prior_predictive`` groups added to the run's
    InferenceData, their summary under ``metrics["idata"]["prior"]`` (returned)."""
    drawn = draw_prior(model, draws, seed)
    groups = prior_groups(model, drawn)
    idata.add_groups(groups.datasets)
    record = metrics.setdefault("idata", {})
    record["groups"] = [*record.get("groups", []), *groups.datasets]
    summary = summarise(model, np.asarray(model.data.y, dtype=float), drawn.y_rep)
    record["prior"] = summary
    return summary


def _share(mask: np.ndarray) -> float:
    return float(np.mean(mask)) if mask.size else 0.0


def summarise(model: Model, y: np.ndarray, y_rep: np.ndarray) -> dict:
    """The numbers a user asks of a prior: where the replicated ratings fall against the data.

    ``outside_observed``: the share of replicated ratings outside ``[min y, max y]``;
    ``outside_range``: outside the declared ``data.range`` (when there is one); for a discrete
    response with few values, each value's observed share and its mean replicated share.
    """
    y = np.asarray(y, dtype=float)
    flat = np.asarray(y_rep, dtype=float).reshape(-1)
    finite = flat[np.isfinite(flat)]
    out: dict = {
        "draws": int(y_rep.shape[0] * y_rep.shape[1]),
        "rows": int(y_rep.shape[2]),
        "non_finite": _share(~np.isfinite(flat)),
        "replicated": _moments(finite),
        "observed": _moments(y),
    }
    if y.size:
        lo, hi = float(y.min()), float(y.max())
        out["outside_observed"] = _share((flat < lo) | (flat > hi) | ~np.isfinite(flat))
    if model.value_range is not None:
        lo, hi = model.value_range
        out["range"] = [lo, hi]
        out["outside_range"] = _share((flat < lo) | (flat > hi) | ~np.isfinite(flat))
    values = categories(model, y)
    if values is not None:
        rep = np.asarray(y_rep, dtype=float).reshape(-1, y_rep.shape[2])
        out["categories"] = {
            f"{v:g}": {"observed": _share(y == v), "replicated": float(np.mean(rep == v))}
            for v in values
        }
    return out


def _moments(x: np.ndarray) -> dict:
    if not x.size:
        return {"mean": None, "sd": None, "q01": None, "q50": None, "q99": None}
    q = np.quantile(x, [0.01, 0.5, 0.99])
    return {
        "mean": float(x.mean()),
        "sd": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "q01": float(q[0]),
        "q50": float(q[1]),
        "q99": float(q[2]),
    }


def categories(model: Model, y: np.ndarray) -> np.ndarray | None:
    """The observed values of a discrete response with few of them (the categories of an
    ordinal or categorical likelihood), or None for a continuous or many-valued one."""
    if not model.likelihood.dist.discrete:
        return None
    values = np.unique(np.asarray(y, dtype=float))
    return values if 0 < values.size <= MAX_CATEGORIES else None


def summary_lines(name: str, s: dict, response: str) -> list[str]:
    """The terminal's few lines: replicated against observed, and the shares outside."""
    rep, obs = s["replicated"], s["observed"]
    lines = [f"prior {name}: {s['draws']} draws x {s['rows']} training rows"]

    def moments(label: str, m: dict) -> str:
        if m["mean"] is None:
            return f"  {label}: none finite"
        return (
            f"  {label}: mean {m['mean']:.3g}, sd {m['sd']:.3g}, "
            f"1%-99% [{m['q01']:.3g}, {m['q99']:.3g}]"
        )

    lines.append(moments(f"replicated {response}", rep))
    lines.append(moments(f"observed {response}".ljust(len(f"replicated {response}")), obs))
    if "outside_observed" in s:
        lines.append(
            f"  {s['outside_observed']:.1%} of replicated ratings fall outside the observed "
            f"range [{obs['min']:.3g}, {obs['max']:.3g}]"
        )
    if "outside_range" in s:
        lo, hi = s["range"]
        lines.append(f"  {s['outside_range']:.1%} outside the declared range [{lo:g}, {hi:g}]")
    if s["non_finite"]:
        lines.append(f"  {s['non_finite']:.1%} of replicated ratings are not finite")
    cats = s.get("categories")
    if cats:
        shown = ", ".join(
            f"{k}: {v['replicated']:.0%} (observed {v['observed']:.0%})" for k, v in cats.items()
        )
        lines.append(f"  replicated category shares: {shown}")
    return lines


def _run_id() -> str:
    """``prior-<UTC time>-<random>``: sorted by time beside the spec's runs, never one of them
    (it has no ``run.json``, so ``latest_run`` passes over it)."""
    import os
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"prior-{stamp}-{os.urandom(3).hex()}"


@dataclass
class PriorResult:
    """What ``specrec prior`` made: the groups, the summary, and where they were written."""

    path: Path | None
    report: dict
    data: RunData  # the groups, as ``Run.data``

    @property
    def idata(self) -> Any:
        """The groups as ArviZ InferenceData, as ``Run.idata`` (ArviZ imported on first use)."""
        return self.data.to_arviz()


def run_prior(
    spec: str | Path | LoadedSpec,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int | None = None,
    data: str | None = None,
    overrides: list[str] | None = None,
    out: str | Path | None = "runs",
    log: Callable[[str], None] | None = None,
) -> PriorResult:
    """Draw from the prior and the prior predictive of ``spec`` and write its folder
    (``out=None``: write nothing)."""
    from specrec.data.source import load_data
    from specrec.fitting import resolve_spec, versions
    from specrec.model.lower import lower

    say = log or (lambda msg: None)
    if draws < 1:
        raise UsageError(f"--draws: at least 1 prior draw, found {draws}")
    loaded = resolve_spec(spec, seed=seed, overrides=overrides)
    s = loaded.spec
    ds, split = load_data(loaded, data)
    train = ds.take(split.train)
    model = lower(loaded, train)
    check_budget(model, draws, s.evaluate.idata_max_mb)
    say(f"{s.name}: {draws} prior draws on {len(train)} training rows ({ds.source})")
    drawn = draw_prior(model, draws, s.inference.seed)
    groups = observed_groups(model)
    groups.datasets |= prior_groups(model, drawn).datasets
    idata = RunData(groups.datasets)
    y = np.asarray(model.data.y, dtype=float)
    summary = summarise(model, y, drawn.y_rep)
    report = {
        "spec": {"name": s.name, "sha256": loaded.sha256, "file": loaded.file},
        "seed": s.inference.seed,
        "data": {"source": ds.source, "fingerprint": ds.fingerprint(), "n_train": len(train)},
        "response": model.response,
        "summary": summary,
        "groups": list(groups.datasets),
        "versions": versions(),
        "command": sys.argv,
    }
    path = None
    if out is not None:
        from specrec.evaluate.plots import plot_predictive_check

        def write(tmp: Path) -> None:
            idata.to_netcdf(str(tmp / FILES["idata"]))
            plot_predictive_check(
                y,
                drawn.y_rep,
                dict(model.data.index),
                tmp / FILES["plot"],
                f"Prior predictive of {s.name} ({draws} draws) against the training data",
                "prior predictive",
                categories(model, y),
            )
            rundir.write_json(tmp / FILES["report"], report)

        path = rundir.write_run(Path(out) / s.name, _run_id(), write)
    return PriorResult(path, report, idata)
