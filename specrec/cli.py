"""The ``specrec`` command: a thin click group over library functions.

Every command catches ``SpecrecError`` and exits with its code (``specrec.errors``): 0 ok,
1 a fit failed, 2 bad input.  ``--debug`` shows tracebacks for bug reports.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from specrec.errors import EXIT_BAD_INPUT, EXIT_FAILED, SpecrecError


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except SpecrecError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}" if "\n" not in str(exc) else str(exc), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            sys.exit(EXIT_FAILED)
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True
            )
            sys.exit(EXIT_FAILED)

    return wrapper


@click.group()
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
@click.version_option(package_name="specrec")
def main(debug: bool) -> None:
    """Declarative Bayesian recommender models on NumPyro, PyMC and Pyro."""
    if not debug:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="numpyro")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", help="Backend to fit on (default: the spec's, else numpyro).")
@click.option(
    "--method", "-m", type=click.Choice(["map", "vi", "nuts"]), help="Override inference.method."
)
@click.option(
    "--data",
    "data",
    type=click.Path(),
    help="Local data file or folder instead of the spec's source.",
)
@click.option("--seed", type=int, help="Override inference.seed.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--out", default="runs", show_default=True, help="Folder of run directories.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr.")
@_handle_errors
def fit(spec: str, backend, method, data, seed, sets, out, as_json: bool, quiet: bool) -> None:
    """Fit SPEC and write a run directory with posterior, predictions and metrics."""
    from specrec.fitting import fit as run_fit
    from specrec.summary import fit_summary

    log = None if quiet else (lambda m: click.echo(m, err=True))
    run = run_fit(
        spec,
        backend=backend,
        method=method,
        data=data,
        seed=seed,
        overrides=list(sets),
        out=out,
        progress=not quiet,
        log=log,
    )
    if as_json:
        click.echo(json.dumps(run.metrics, indent=2, default=str))
    elif not quiet:
        click.echo(fit_summary(run.metrics, run.path))
    else:
        click.echo(str(run.path))


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@_handle_errors
def validate(specs: tuple[str, ...], sets) -> None:
    """Check spec files (structure, names, dims, shapes) without fitting."""
    from specrec.errors import SpecError
    from specrec.model.lower import check
    from specrec.spec.load import load_spec

    failed: list[SpecError] = []
    for path in specs:
        try:
            check(load_spec(path, list(sets)))
            click.echo(f"{path}: ok")
        except SpecError as exc:
            failed.append(exc)
            click.echo(str(exc), err=True)
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@main.command()
@_handle_errors
def schema() -> None:
    """Print the JSON Schema of spec files (for editor autocompletion)."""
    from specrec.spec.schema import schema_text

    click.echo(schema_text(), nl=False)


@main.command("backends")
@click.option("--json", "as_json", is_flag=True)
@_handle_errors
def backends_cmd(as_json: bool) -> None:
    """List installed backends with their versions and methods."""
    from specrec import backends

    infos = backends.installed()
    if as_json:
        click.echo(json.dumps([i.__dict__ for i in infos], indent=2))
        return
    for i in infos:
        if i.error:
            click.echo(f"{i.name:<10} unavailable  {i.error}")
        else:
            click.echo(f"{i.name:<10} {i.version:<10} {', '.join(i.methods)}")


def _backend_list(option: str | None) -> list[str]:
    from specrec import backends

    if option:
        names = [b.strip() for b in option.split(",") if b.strip()]
        for n in names:
            backends.get(n)  # an unknown or broken backend is a clear error before any work
        return names
    return backends.available_names()


@main.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backends", "backend_names", help="Comma-separated (default: all installed).")
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--points", default=3, show_default=True, help="Random unconstrained points.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@_handle_errors
def check_cmd(spec: str, backend_names, data, points: int, sets) -> None:
    """Check that every backend computes the same log density and gradient as the reference."""
    from specrec.data.source import load_data
    from specrec.model.lower import lower
    from specrec.parity import RTOL, check
    from specrec.spec.load import load_spec

    loaded = load_spec(spec, list(sets))
    names = _backend_list(backend_names)
    ds, split = load_data(loaded, data)
    model = lower(loaded, ds.take(split.train))
    results = check(model, names, points)
    click.echo(
        f"{loaded.spec.name}: log density + gradient at {points} points, float64, rtol {RTOL:g}"
    )
    for r in results:
        status = "ok" if r.ok else "DIFFERS" if r.error is None else "FAILED"
        timing = f"{r.us_per_eval:,.0f} us/eval" if r.us_per_eval else ""
        click.echo(
            f"  {r.backend:<10} {status:<8} value rel err {r.max_rel_error:.1e}  grad rel err {r.max_grad_rel_error:.1e}  {timing}"
        )
        for p in r.problems[:10]:
            click.echo(f"      {p}")
        if r.error:
            click.echo(f"      {r.error}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_FAILED)


@main.command("compare")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--backends", "backend_names", help="Comma-separated, in order (default: all installed)."
)
@click.option(
    "--method", "-m", type=click.Choice(["map", "vi", "nuts"]), help="Override inference.method."
)
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--seed", type=int, help="Override inference.seed.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--out", default="runs", show_default=True, help="Folder of run directories.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json to stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; print only the comparison folder.")
@_handle_errors
def compare_cmd(
    spec: str, backend_names, method, data, seed, sets, out, as_json: bool, quiet: bool
) -> None:
    """Fit SPEC on several backends (same data, split, seed) and show them side by side.

    Exits 1 when any backend failed to fit (its row says why) or the backends saw different
    data; the others are still fitted and reported.
    """
    from specrec.compare import compare
    from specrec.summary import compare_summary

    names = _backend_list(backend_names)
    log = None if quiet else (lambda m: click.echo(m, err=True))
    result = compare(
        spec,
        names,
        method=method,
        data=data,
        seed=seed,
        overrides=list(sets),
        out=out,
        progress=not quiet,
        log=log,
    )
    if as_json:
        click.echo(json.dumps(result.report, indent=2, default=str))
    elif not quiet:
        click.echo(compare_summary(result.report, result.path))
    else:
        click.echo(str(result.path))
    if as_json or quiet:  # the table is not shown: failures still go to stderr
        for r in result.report["rows"]:
            if not r["ok"]:
                click.echo(f"{r['backend']}: {r['error']}", err=True)
        for m in result.report["mismatches"]:
            click.echo(m, err=True)
        for f in result.report["agreement"].get("flagged", []):
            click.echo(f"flagged: {f}", err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


@main.group()
def data() -> None:
    """Fetch data sets."""


@data.command("fetch")
@click.argument("name", default="movielens-100k")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Default: $SPECREC_CACHE_DIR or the user cache.",
)
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def data_fetch(name: str, cache_dir, quiet: bool) -> None:
    """Download a public data set once into the cache (checksummed)."""
    from specrec.data.fetch import fetch as do_fetch

    folder = do_fetch(name, cache_dir=cache_dir, progress=not quiet)
    click.echo(str(Path(folder)))


@main.group()
def study() -> None:
    """Grids of fits: specs x backends x methods x seeds x splits x overrides."""


_study_store = click.option(
    "--store", type=click.Path(dir_okay=False), help="Results store (default: STUDY.study.sqlite)."
)
_study_data = click.option("--data", type=click.Path(), help="Local data for every cell.")


@study.command("run")
@click.argument("study_file", metavar="STUDY", type=click.Path(dir_okay=False))
@click.option(
    "--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True
)
@click.option("--workers", type=int, help="Cells at once (local default: 2 processes).")
@click.option("--scheduler", help="Dask scheduler address (default: $SPECREC_DASK_SCHEDULER).")
@click.option(
    "--out", type=click.Path(file_okay=False), help="Run directories (default: STUDY-runs)."
)
@_study_data
@_study_store
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_handle_errors
def study_run(study_file: str, executor, workers, scheduler, out, data, store, quiet) -> None:
    """Run every cell of STUDY not done yet; a rerun never refits a finished cell."""
    from specrec.study.commands import run_command

    sys.exit(run_command(study_file, executor, workers, scheduler, out, data, store, quiet))


@study.command("status")
@click.argument("study_file", metavar="STUDY", type=click.Path(dir_okay=False))
@_study_data
@_study_store
@click.option("--cells", "show_cells", is_flag=True, help="One line per cell.")
@_handle_errors
def study_status(study_file: str, data, store, show_cells: bool) -> None:
    """Show how many cells of STUDY are done, running, failed and pending."""
    from specrec.study.commands import status_command

    status_command(study_file, data, store, show_cells)


@study.command("report")
@click.argument("study_file", metavar="STUDY", type=click.Path(dir_okay=False))
@click.option(
    "--out", type=click.Path(file_okay=False), help="Report folder (default: STUDY-report)."
)
@_study_data
@_study_store
@_handle_errors
def study_report(study_file: str, out, data, store) -> None:
    """Write STUDY's table (CSV, Parquet), plots and an HTML page."""
    from specrec.study.commands import report_command

    report_command(study_file, out, data, store)


if __name__ == "__main__":  # pragma: no cover
    main()
