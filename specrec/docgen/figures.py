"""Run the tutorials' specs and save their outputs and figures under ``docs/figures/``.

``python -m specrec.docgen.figures [STEP...] [--data ML100K_FOLDER]`` (``make docs-figures``)
runs each step below with ``specrec compare`` on the three built-in backends (or ``fit`` where
a step says so) and writes, per step, the printed comparison (``*.txt``) and PNG figures that
the tutorial pages include.  Nothing is pasted by hand: rerun this after a change to a spec or
to the evaluator.  The MovieLens steps read a local copy of MovieLens 100k (``--data``) and
are skipped without it; the data are never copied into the repository, only figures and
numbers computed from them.  Fits take minutes on a 2-core machine: run it under the shared
lock (``flock /work/bench.lock make docs-figures``) where others measure timings.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from specrec.compare import Comparison, compare
from specrec.summary import compare_summary, fit_summary

BACKENDS = ["numpyro", "pymc", "pyro"]
FIGURES = Path("docs/figures")


def _shown_path(path: object) -> str:
    """``runs/<spec>/<run id>`` instead of the temporary folder the step wrote into."""
    p = Path(str(path))
    return f"runs/{p.parent.name}/{p.name}"


def _stamp(extra: str = "") -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return (
        f"# generated {when} by `make docs-figures` on a shared 2-core machine "
        f"(timings are indicative){extra}\n"
    )


def _save_compare(result: Comparison, out: Path, command: str) -> None:
    report = json.loads(json.dumps(result.report, default=str))
    for r in report["rows"]:
        if r.get("run_dir"):
            r["run_dir"] = _shown_path(r["run_dir"])
    text = compare_summary(report, None)
    (out / "compare.txt").write_text(f"{_stamp()}$ {command}\n{text}\n", encoding="utf-8")
    if result.path is not None:
        shutil.copy(result.path / "compare.png", out / "compare.png")


def _copy_plots(run_path: Path | None, out: Path, prefix: str) -> None:
    for png in sorted(Path(run_path).glob("*.png")) if run_path else []:
        shutil.copy(png, out / f"{prefix}{png.name}")


def _compare_step(
    spec: str, command: str, method: str | None = None, data: str | None = None
) -> Callable[[Path, Path], Comparison]:
    def step(out: Path, work: Path) -> Comparison:
        result = compare(spec, BACKENDS, method=method, data=data, out=work, progress=False)
        _save_compare(result, out, command)
        for name, run in result.runs.items():
            _copy_plots(run.path, out, f"{name}-")
        return result

    return step


def quickstart(out: Path, work: Path, data: str | None) -> None:
    cmd = "specrec compare specs/quickstart.yaml --backends numpyro,pymc,pyro"
    _compare_step("specs/quickstart.yaml", cmd)(out, work)


def watch_minutes(out: Path, work: Path, data: str | None) -> None:
    cmd = "specrec compare specs/watch_minutes.yaml --backends numpyro,pymc,pyro"
    _compare_step("specs/watch_minutes.yaml", cmd)(out, work)


def group_means(out: Path, work: Path, data: str | None) -> None:
    """The comparison, and each backend's posterior of the group means against the exact one."""
    from specrec.evaluate.plots import _new_figure, _save_atomic
    from specrec.spec.load import load_spec
    from specrec.testing import group_means_posterior, prepare

    cmd = "specrec compare specs/group_means.yaml --backends numpyro,pymc,pyro"
    result = _compare_step("specs/group_means.yaml", cmd)(out, work)
    mean, sd = group_means_posterior(prepare(load_spec("specs/group_means.yaml")))
    fig, ax = _new_figure("group_means: posterior per backend vs exact", "group mean", "density")
    grid = np.linspace((mean - 4 * sd).min(), (mean + 4 * sd).max(), 300)
    colors = ["C0", "C1", "C2"]
    for g, (m, s, c) in enumerate(zip(mean, sd, colors, strict=False)):
        ax.plot(
            grid,
            np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)),
            color=c,
            lw=2.5,
            alpha=0.35,
            label=f"exact, group {g}",
        )
    for name, style in zip(result.runs, ["-", "--", ":"], strict=False):
        draws = np.asarray(result.runs[name].idata.posterior["group_means"].values)
        for g, c in zip(range(draws.shape[-1]), colors, strict=False):
            hist, edges = np.histogram(draws[..., g].ravel(), bins=40, density=True)
            ax.plot(
                (edges[1:] + edges[:-1]) / 2,
                hist,
                style,
                color=c,
                lw=1,
                label=name if g == 0 else None,
            )
    ax.legend(fontsize=7)
    _save_atomic(fig, out / "posterior.png")
    lines = [
        f"group {g}: exact posterior mean {m:.3f}, sd {s:.3f}"
        for g, (m, s) in enumerate(zip(mean, sd, strict=True))
    ]
    for name, run in result.runs.items():
        d = np.asarray(run.idata.posterior["group_means"].values).reshape(-1, len(mean))
        lines.append(
            f"{name:>8}: means "
            + ", ".join(f"{v:.3f}" for v in d.mean(0))
            + "; sds "
            + ", ".join(f"{v:.3f}" for v in d.std(0))
        )
    (out / "posterior.txt").write_text(_stamp() + "\n".join(lines) + "\n", encoding="utf-8")


def movielens(out: Path, work: Path, data: str | None) -> None:
    """The notebook's PMF by MAP on all three backends, then NUTS on one (Frobenius, running RMSE)."""
    if data is None:
        print("movielens: skipped (no --data folder of MovieLens 100k)", file=sys.stderr)
        return
    from specrec.fitting import fit

    cmd = "specrec compare specs/movielens/pmf.yaml --backends numpyro,pymc,pyro --data ml-100k"
    _compare_step("specs/movielens/pmf.yaml", cmd, data=data)(out, work)
    overrides = ["inference.warmup=200", "inference.draws=200", "inference.chains=1"]
    run = fit(
        "specs/movielens/pmf.yaml",
        backend="numpyro",
        method="nuts",
        data=data,
        overrides=overrides,
        out=work,
        progress=False,
    )
    sets = " ".join(f"--set {o}" for o in overrides)
    text = fit_summary(run.metrics, _shown_path(run.path))
    (out / "nuts.txt").write_text(
        f"{_stamp()}$ specrec fit specs/movielens/pmf.yaml --method nuts {sets} --data ml-100k\n"
        f"{text}\n",
        encoding="utf-8",
    )
    _copy_plots(run.path, out, "nuts-")


def mixture(out: Path, work: Path, data: str | None) -> None:
    """The mixture of user types by map on all three backends against EM, then NUTS on one."""
    from specrec.fitting import fit
    from specrec.testing import em

    spec = "specs/netflix_mixture.yaml"
    cmd = f"specrec compare {spec} --backends numpyro,pymc,pyro"
    result = _compare_step(spec, cmd)(out, work)
    model = next(iter(result.runs.values())).model
    rows = model.data
    users, items, y = rows.index["user"], rows.index["item"], rows.y
    n_users, n_items = model.dims["user"].size, model.dims["item"].size
    k = model.dims["type"].size
    ref = em.best_of(users, items, y, n_users, n_items, k)

    def fmt(values: np.ndarray) -> str:
        return ", ".join(f"{v:.3f}" for v in np.sort(values))

    lines = [
        f"EM, best of 5 starts: log-likelihood {ref.log_likelihood:.2f} "
        f"({ref.iterations} iterations); weights {fmt(ref.weights)}; sds {fmt(ref.sds)}"
    ]
    for name, run in result.runs.items():
        w, mu, sigma = (
            np.asarray(run.idata.posterior[v].values[0, 0]) for v in ("w", "mu", "sigma")
        )
        ll = em.mixture_log_likelihood(users, items, y, n_users, w, mu, sigma)
        lines.append(
            f"{name:>8} map: log-likelihood {ll:.2f} ({ll - ref.log_likelihood:+.2f} vs EM); "
            f"weights {fmt(w)}; sds {fmt(sigma)}"
        )
    lines.append("(weights and sds sorted; the true values are 0.2, 0.3, 0.5 and 0.5, 0.6, 0.7)")
    (out / "em.txt").write_text(_stamp() + "\n".join(lines) + "\n", encoding="utf-8")
    overrides = ["inference.restarts=1", "inference.warmup=300", "inference.draws=300"]
    overrides += ["inference.chains=2"]
    run = fit(spec, backend="numpyro", method="nuts", overrides=overrides, out=work, progress=False)
    sets = " ".join(f"--set {o}" for o in overrides)
    text = fit_summary(run.metrics, _shown_path(run.path))
    mix = json.dumps(run.metrics["diagnostics"]["mixture"], indent=2)
    (out / "nuts.txt").write_text(
        f"{_stamp()}$ specrec fit {spec} --method nuts {sets}\n{text}\n\n"
        f"metrics.json, diagnostics.mixture:\n{mix}\n",
        encoding="utf-8",
    )
    _copy_plots(run.path, out, "nuts-")


STEPS: dict[str, Callable[[Path, Path, str | None], None]] = {
    "quickstart": quickstart,
    "watch_minutes": watch_minutes,
    "mixture": mixture,
    "group_means": group_means,
    "movielens": movielens,
}


def main(argv: list[str]) -> int:
    data = None
    if "--data" in argv:
        i = argv.index("--data")
        data = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    names = argv or list(STEPS)
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        print(f"unknown step(s) {unknown}; steps: {', '.join(STEPS)}", file=sys.stderr)
        return 2
    for name in names:
        out = FIGURES / name
        with tempfile.TemporaryDirectory() as work:
            staged = Path(work) / "out"
            staged.mkdir()
            STEPS[name](staged, Path(work) / "runs", data)
            if any(staged.iterdir()):  # replace the step's folder only when it produced output
                shutil.rmtree(out, ignore_errors=True)
                shutil.copytree(staged, out)
                print(f"wrote {out}/: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
