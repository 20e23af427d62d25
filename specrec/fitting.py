"""``specrec fit``: spec -> data -> model -> backend -> InferenceData -> evaluation -> run dir.

The library function behind the CLI command and the Python API; each arrow is one call into
the module that owns that step.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from specrec import backends, driver, rundir
from specrec.data.source import load_data
from specrec.errors import SpecError
from specrec.evaluate.evaluator import FitToEvaluate, evaluate_fit
from specrec.inference import add_groups, to_inference_data
from specrec.model.ir import Model
from specrec.model.lower import lower, row_data
from specrec.progress import phase
from specrec.run import Run  # what fit returns; lives apart so loading a run imports no fitting
from specrec.run import save as save_for_loading
from specrec.spec.load import LoadedSpec, load_spec, setting_size_problems


def versions(backend_dist: str | None = None) -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in [rundir.own_dist(), "numpy", "scipy", "arviz", "pydantic", backend_dist]:
        if dist:
            with contextlib.suppress(metadata.PackageNotFoundError):
                out[dist] = metadata.version(dist)
    return out


def resolve_spec(
    spec: str | Path | LoadedSpec,
    *,
    method: str | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
) -> LoadedSpec:
    """The spec after ``--set``, ``--method`` and ``--seed``, loaded once.

    Shared by ``fit`` and ``compare``: a comparison resolves the spec a single time and hands
    the same ``LoadedSpec`` to every backend, so no backend can see a different setting.
    """
    sets = list(overrides or [])
    if method:
        sets.append(f"inference.method={method}")
    if seed is not None:
        sets.append(f"inference.seed={seed}")
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec, sets)
    if isinstance(spec, LoadedSpec) and sets:
        loaded = load_spec(spec.file, sets)
    return loaded


def fit(
    spec: str | Path | LoadedSpec,
    *,
    backend: str | None = None,
    method: str | None = None,
    data: str | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    out: str | Path | None = "runs",
    progress: bool = True,
    log=None,
    report: bool = False,
    prior: int | None = None,
) -> Run:
    """Fit a spec end to end and write its run directory (``out=None``: write nothing).

    ``report``: also write ``report/`` (figures + HTML page) inside the run before it is renamed
    into place, so a run never appears without the report it was asked for.  ``prior``: also
    draw that many times from the prior (``specrec.prior``) into the ``prior`` and
    ``prior_predictive`` groups.
    """
    loaded = resolve_spec(spec, method=method, seed=seed, overrides=overrides)
    say = log or (lambda msg: None)
    s = loaded.spec
    name = backend or s.backend
    phase(None, f"loading the {name} backend")  # said by the heartbeat only: see cli.fit
    b = backends.get(name)
    driver.check_method(b, s.inference)

    t_total = time.perf_counter()
    phase(log, f"loading the data ({data or s.data.source})")
    ds, split = load_data(loaded, data)
    train, test = ds.take(split.train), ds.take(split.test)
    model = lower(loaded, train)
    driver.check(b, model, s.inference)
    check_posterior_size(loaded, model)
    if prior is not None:  # refused before the fit, not after minutes of sampling
        from specrec.prior import check_budget

        check_budget(model, prior, s.evaluate.idata_max_mb, "--prior")
    say(
        f"{s.name}: {len(train)} train / {len(test)} test rows, {model.n_params()} parameters; "
        f"{s.inference.method} on {name} {b.version}"
    )
    phase(log, f"compiling the model, then running {s.inference.method}")
    cache_before = _compile_cache(b) or {}
    inferred = driver.run_inference(b, model, s.inference, progress=progress, say=say, checked=True)
    result = inferred.result
    cache = _cache_work(cache_before, _compile_cache(b))
    idata = to_inference_data(model, result)
    test_rows = row_data(test, model.dims, list(model.data.columns))
    t_eval = time.perf_counter()
    phase(log, "evaluating the fit (predictions, baselines, intervals, ranking, LOO)")
    ev = evaluate_fit(
        FitToEvaluate(
            model,
            idata,
            s.inference.method,
            result.fit_s,
            result.loss,
            max_tree_depth=s.inference.max_tree_depth,
        ),
        train,
        test,
        test_rows,
        s.evaluate,
        s.inference.seed,
    )
    add_groups(idata, ev.groups.datasets)
    if prior is not None:
        from specrec.prior import add_prior

        add_prior(idata, model, prior, s.inference.seed, ev.metrics)
    timing = driver.Timing(
        compile_s=result.compile_s,
        fit_s=result.fit_s,
        evaluate_s=time.perf_counter() - t_eval,
    )
    metrics = {
        "specrec_format": rundir.FORMAT,
        "spec": {"name": s.name, "sha256": loaded.sha256, "file": loaded.file},
        "backend": {
            "name": name,
            "version": b.version,
            "kernel": inferred.kernel,
            **{k: v for k, v in result.info.items()},
            **({"compile_cache": cache} if cache else {}),
        },
        "inference": s.inference.model_dump(mode="json"),
        "seed": s.inference.seed,
        "data": {"source": ds.source, "fingerprint": ds.fingerprint(), "n_rows": len(ds)},
        "split": {
            "kind": split.kind,
            "fingerprint": split.fingerprint,
            "n_train": len(train),
            "n_test": len(test),
        },
        **ev.metrics,
        **({"restarts": inferred.restarts} if inferred.restarts else {}),
        **({"init_fit": inferred.init_fit} if inferred.init_fit else {}),
        "timing": timing.as_dict(),
        "versions": versions() | backends.backend_versions(name),
        "command": sys.argv,
    }
    if ds.truth:
        metrics["truth"] = {
            k: np.asarray(v).tolist() for k, v in ds.truth.items() if np.size(v) <= 50
        }
    path = None
    if out is not None:
        run_id = rundir.new_run_id(s.inference.method, name)
        phase(log, "writing the run directory" + (" and its report" if report else ""))

        def write(tmp: Path) -> None:
            (tmp / rundir.FILES["spec"]).write_text(loaded.text)
            rundir.write_json(tmp / rundir.FILES["resolved"], s.model_dump(mode="json"))
            idata.to_netcdf(str(tmp / rundir.FILES["posterior"]))
            ev.predictions.to_csv(tmp / rundir.FILES["predictions"], index=False)
            _plots(tmp, ev, metrics, _responsibilities(model, idata))
            rundir.write_json(
                tmp / rundir.FILES["curves"],
                {k: np.asarray(v).tolist() for k, v in ev.curves.items()},
            )
            save_for_loading(tmp, train)
            timing.wall_s = time.perf_counter() - t_total  # metrics.json is the last file
            metrics["timing"] = timing.as_dict()
            rundir.write_json(tmp / rundir.FILES["metrics"], metrics)
            if report:
                from specrec.evaluate.report import write_report

                write_report(tmp, run_name=run_id)  # tmp is renamed to run_id below

        path = rundir.write_run(Path(out) / s.name, run_id, write)
    else:
        timing.wall_s = time.perf_counter() - t_total
        metrics["timing"] = timing.as_dict()
    return Run(path, metrics, idata, model, test_rows, loaded, train, ev.predictions)


def check_posterior_size(loaded: LoadedSpec, model: Model) -> None:
    """Refuse, before the fit, draws whose posterior (every parameter value, float64) could
    not fit in memory: the spec alone bounds draws per value, the model knows the values."""
    from specrec.prior import n_param_values

    problems = setting_size_problems(loaded.spec, loaded.positions, n_param_values(model))
    if problems:
        raise SpecError(problems)


def _plots(folder: Path, ev, metrics: dict, responsibilities: tuple | None = None) -> None:
    from specrec.evaluate import plots

    curves = ev.curves
    norms = {
        k.removeprefix("frobenius_"): v for k, v in curves.items() if k.startswith("frobenius_")
    }
    if norms:
        plots.plot_frobenius(norms, folder / "frobenius.png")
    if "running_rmse" in curves:
        base = {k: v["rmse"] for k, v in metrics["baselines"].items()}
        plots.plot_running_rmse(curves["running_rmse"], base, folder / "running_rmse.png")
    if "loss" in curves:
        plots.plot_loss(curves["loss"], folder / "loss.png")
    if responsibilities is not None:
        plots.plot_responsibilities(*responsibilities, folder / "responsibilities.png")


def _responsibilities(model, idata) -> tuple | None:
    """(posterior mean responsibilities of levels with training rows, per dim, component dim)."""
    name, mix = model.responsibility_name, model.mixture
    if name is None or mix is None or mix.per is None:
        return None
    seen = np.unique(mix.rows.index[mix.per])
    resp = np.asarray(idata.posterior[name].values).mean(axis=(0, 1))[seen]
    return resp, mix.per, mix.dim


def _compile_cache(backend: backends.Backend) -> dict[str, object] | None:
    """The backend's compilation cache so far (``compile_cache()``, optional: a backend
    without a persistent cache has none): its folder and counters."""
    hook = getattr(backend, "compile_cache", None)
    return hook() if callable(hook) else None


def _cache_work(before: dict[str, object], after: dict[str, object] | None) -> dict | None:
    """What the cache did during the fit: the counters' differences, with its folder."""
    if after is None:
        return None
    return {k: v if k == "dir" else v - before.get(k, 0) for k, v in after.items()}
