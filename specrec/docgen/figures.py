"""Run the tutorials' specs and save their outputs and figures under ``docs/figures/``.

``python -m specrec.docgen.figures [STEP...] [--data ML100K_FOLDER]`` (``make docs-figures``)
runs each step below with ``specrec compare`` on the three built-in backends (or ``fit`` where
a step says so) and writes, per step, the printed comparison (``*.txt``) and PNG figures that
the tutorial pages include.  Nothing is pasted by hand: rerun this after a change to a spec or
to the evaluator.  The MovieLens steps read a local copy of MovieLens 100k (``--data``) and
are skipped without it; the data are never copied into the repository, only figures and
numbers computed from them.  Fits take minutes on a 2-core machine: run it under the shared
lock (``flock /work/bench.lock make docs-figures``) where others measure timings.

Each step's folder also gets ``source.json`` (the sha256 of the spec files and of the step's own
code that the figures come from) and, beside each printed summary ``X.txt``, the JSON it was
printed from (``X.json``).  ``stale`` checks a committed folder against them without fitting:
a changed spec or step, or a summary that today's ``specrec.summary`` would print differently
(``tests/docs/test_figures.py``), means the step must be rerun.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from specrec.compare import Comparison, compare
from specrec.docgen.markdown import wrap_output
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


SOURCE = "source.json"


def _plain(data: object) -> object:
    """``data`` as it reads back from JSON, so a summary printed now and one printed from the
    saved file are the same text."""
    return json.loads(json.dumps(data, default=str))


def render(kind: str, saved: dict) -> str:
    """A step's printed summary (all but the ``# generated`` line) from its saved JSON."""
    if kind == "compare":
        text = compare_summary(saved["report"], None)
    else:
        text = fit_summary(saved["metrics"], saved["path"])
    return wrap_output(f"$ {saved['command']}\n{text}\n{saved.get('extra', '')}")


def _save_summary(out: Path, name: str, kind: str, saved: dict) -> None:
    saved = {"kind": kind, **saved}
    (out / f"{name}.json").write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    (out / f"{name}.txt").write_text(_stamp() + render(kind, saved), encoding="utf-8")


def _save_compare(result: Comparison, out: Path, command: str) -> None:
    report = _plain(result.report)
    for r in report["rows"]:
        if r.get("run_dir"):
            r["run_dir"] = _shown_path(r["run_dir"])
    report.pop("command", None)  # the generator's own argv, not the command shown
    _save_summary(out, "compare", "compare", {"command": command, "report": report})
    if result.path is not None:
        shutil.copy(result.path / "compare.png", out / "compare.png")


def _save_fit(run: object, out: Path, command: str, extra: str = "") -> None:
    saved = {"command": command, "metrics": _plain(run.metrics), "path": _shown_path(run.path)}
    _save_summary(out, "nuts", "fit", {**saved, "extra": extra})


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
    _save_fit(run, out, f"specrec fit specs/movielens/pmf.yaml --method nuts {sets} --data ml-100k")
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
    mix = json.dumps(_plain(run.metrics["diagnostics"]["mixture"]), indent=2)
    extra = f"\nmetrics.json, diagnostics.mixture:\n{mix}\n"
    _save_fit(run, out, f"specrec fit {spec} --method nuts {sets}", extra)
    _copy_plots(run.path, out, "nuts-")


STEPS: dict[str, Callable[[Path, Path, str | None], None]] = {
    "quickstart": quickstart,
    "watch_minutes": watch_minutes,
    "mixture": mixture,
    "group_means": group_means,
    "movielens": movielens,
}


#: The files each step's figures are computed from (besides the step's own code).
INPUTS: dict[str, list[str]] = {
    "quickstart": ["specs/quickstart.yaml"],
    "watch_minutes": ["specs/watch_minutes.yaml"],
    "mixture": ["specs/netflix_mixture.yaml"],
    "group_means": ["specs/group_means.yaml"],
    "movielens": ["specs/movielens/pmf.yaml"],
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources(root: Path, name: str) -> dict[str, str]:
    """What step ``name``'s figures are computed from, by sha256: its spec files and its code."""
    found = {path: _sha256((root / path).read_bytes()) for path in INPUTS[name]}
    found[f"specrec.docgen.figures.{name}"] = _sha256(inspect.getsource(STEPS[name]).encode())
    return found


def stale(root: Path, name: str) -> list[str]:
    """Why the committed ``docs/figures/<name>/`` is no longer what its step would write (empty
    when it still is), checked without fitting: the recorded sources against today's, and each
    printed summary against what ``specrec.summary`` prints from its saved JSON today."""
    folder = root / FIGURES / name
    try:
        recorded = json.loads((folder / SOURCE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{folder / SOURCE}: unreadable or missing ({exc})"]
    why = []
    now = sources(root, name)
    for key in sorted(set(now) | set(recorded.get("sources", {}))):
        if recorded.get("sources", {}).get(key) != now.get(key):
            why.append(f"{folder}: {key} changed since the figures were generated")
    for saved_file in sorted(folder.glob("*.json")):
        if saved_file.name == SOURCE:
            continue
        saved = json.loads(saved_file.read_text(encoding="utf-8"))
        shown = saved_file.with_suffix(".txt")
        text = shown.read_text(encoding="utf-8") if shown.is_file() else ""
        body = text.split("\n", 1)[1] if text.startswith("# generated") else text
        if body != render(saved["kind"], saved):
            why.append(f"{shown}: not what specrec.summary prints from {saved_file.name} today")
    return why


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
            for shown in staged.glob("*.txt"):  # every printed output fits a code block
                shown.write_text(wrap_output(shown.read_text(encoding="utf-8")), encoding="utf-8")
            if any(staged.iterdir()):  # replace the step's folder only when it produced output
                record = {"step": name, "sources": sources(Path.cwd(), name)}
                (staged / SOURCE).write_text(json.dumps(record, indent=1) + "\n")
                shutil.rmtree(out, ignore_errors=True)
                shutil.copytree(staged, out)
                print(f"wrote {out}/: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
