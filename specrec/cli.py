"""The ``specrec`` command: a thin click group over library functions.

Every command catches ``SpecrecError`` and exits with its code (``specrec.errors``): 0 ok,
1 a fit failed, 2 bad input.  ``--debug`` shows tracebacks for bug reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click

from specrec import methods
from specrec.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, SpecrecError
from specrec.registry import DISTRIBUTION, own_version


class MethodChoice(click.Choice):
    """``--method``'s choices: the methods table's names, read each time they are shown or
    checked (click copies a plain list once), so a method registered later is offered too."""

    def __init__(self, where: Callable[[methods.Method], bool] = lambda m: True) -> None:
        self._names = methods.MethodNames(where)
        super().__init__(list(self._names))

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names)

    @choices.setter
    def choices(self, value: object) -> None:  # click's __init__ assigns; the table decides
        pass


METHOD_HELP = "Override inference.method (one of the methods table, specrec.methods)."


def _interrupted() -> NoReturn:
    """Ctrl-C: say where it came and leave with exit 130."""
    from specrec import interrupt
    from specrec.progress import current

    doing = current()
    where = f" while {doing}" if doing else ""
    # a run directory appears in one rename when it is complete, so none is half-written
    click.echo(f"\ninterrupted{where}; no unfinished run was written", err=True)
    interrupt.leave(EXIT_INTERRUPTED)


class _Group(click.Group):
    """click's group, but a Ctrl-C while click parses the command line or outside a command's
    own handler is specrec's interrupt (exit 130), not click's "Aborted!" with exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        from specrec import progress

        progress.reset()
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted()


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
            _interrupted()
        except Exception as exc:
            if debug:
                raise
            from specrec.rundir import no_room

            if isinstance(exc, OSError) and (why := no_room(exc)):  # a writer of a library's
                where = f" {exc.filename}" if exc.filename else ""
                click.echo(f"error: could not write{where}: {why}", err=True)
            else:
                click.echo(
                    f"error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
                    err=True,
                )
            sys.exit(EXIT_FAILED)

    return wrapper


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send whatever the libraries print while a command works to stderr, so that stdout holds
    only what the command itself prints after (``--json``: one parseable JSON document).

    Both Python's ``sys.stdout`` and file descriptor 1 are redirected: a PPL may print from
    Python or from compiled code, which writes to descriptor 1 whatever ``sys.stdout`` is.
    """
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (a detached process): Python's level only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@click.group(cls=_Group, context_settings={"show_default": True})  # every default in --help
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
@click.version_option(version=own_version(), package_name=DISTRIBUTION)
def main(debug: bool) -> None:
    """Declarative Bayesian recommender models on NumPyro, PyMC and Pyro."""
    if not debug:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="numpyro")
        warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is one of the command's own lines (``warning: ...``), not a source location."""
    click.echo(f"warning: {message}", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", help="Backend to fit on (default: the spec's, else numpyro).")
@click.option("--method", "-m", type=MethodChoice(), help=METHOD_HELP)
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
@click.option("--report", "report", is_flag=True, help="Also write report/ (HTML + PNG figures).")
@click.option(
    "--prior",
    "prior",
    type=click.IntRange(min=1),
    metavar="N",
    help="Also draw N times from the prior: posterior.nc gains prior and prior_predictive.",
)
@_handle_errors
def fit(
    spec: str,
    backend,
    method,
    data,
    seed,
    sets,
    out,
    as_json: bool,
    quiet: bool,
    report: bool,
    prior: int | None,
) -> None:
    """Fit SPEC and write a run directory with posterior, predictions and metrics."""
    from specrec import interrupt
    from specrec.progress import heartbeat, phase
    from specrec.rundir import check_writable

    check_writable(out)  # before anything heavy is imported or fitted
    log = None if quiet else (lambda m: click.echo(m, err=True))
    with heartbeat(not quiet), _stdout_to_stderr(), interrupt.enabled():
        # not said, only named by the heartbeat if it is slow: a bad spec or backend name must
        # get its error alone, and the next line comes within seconds
        phase(None, "loading specrec's fitting code (ArviZ, xarray)")
        from specrec.fitting import fit as run_fit

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
            report=report,
            prior=prior,
        )
    from specrec.summary import fit_summary

    where = Path(run.path).absolute()
    if as_json:
        click.echo(json.dumps({**run.metrics, "run_dir": str(where)}, indent=2, default=str))
    elif not quiet:
        click.echo(fit_summary(run.metrics, where))
        if report:
            click.echo(f"  report: {where / 'report' / 'report.html'}")
        click.echo(f"  next: specrec report {where}   (figures + HTML page)")
        click.echo(f"        specrec predict {where} --pairs PAIRS.csv")
    else:
        click.echo(str(where))


@main.command("prior")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--draws", default=500, show_default=True, type=click.IntRange(min=1), help="Prior draws."
)
@click.option("--seed", type=int, help="Override inference.seed (the draws' seed).")
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--out", default="runs", show_default=True, help="Folder of result directories.")
@click.option("--json", "as_json", is_flag=True, help="Print prior.json to stdout.")
@_handle_errors
def prior_cmd(spec: str, draws: int, seed, data, sets, out, as_json: bool) -> None:
    """Draw parameters from SPEC's prior and ratings from its likelihood, without fitting.

    Writes prior.nc (prior, prior_predictive, observed_data, constant_data) and a PNG of the
    prior predictive against the training data, and prints where the replicated ratings fall.
    """
    from specrec.prior import run_prior, summary_lines
    from specrec.rundir import check_writable

    check_writable(out)
    with _stdout_to_stderr():
        result = run_prior(spec, draws=draws, seed=seed, data=data, overrides=list(sets), out=out)
    r = result.report
    if as_json:
        click.echo(json.dumps({**r, "dir": str(result.path)}, indent=2, default=str))
        return
    click.echo("\n".join(summary_lines(r["spec"]["name"], r["summary"], r["response"])))
    click.echo(f"saved to {result.path}")


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option(
    "--read-data",
    is_flag=True,
    help="Also read each spec's data and check it against the spec (columns, categories, "
    "the likelihood's support), as fit would before fitting.",
)
@click.option(
    "--data",
    type=click.Path(),
    help="Local data instead of the spec's source (implies --read-data).",
)
@_handle_errors
def validate(specs: tuple[str, ...], sets, read_data: bool, data: str | None) -> None:
    """Check spec files (structure, names, dims, shapes) without fitting.

    Without --read-data (or --data) the data is not read: a wrong column mapping or ratings
    the likelihood cannot hold are found at fit time.
    """
    from specrec.errors import DataError, SpecError
    from specrec.model.lower import check, check_with_data
    from specrec.spec.load import load_spec

    failed: list[SpecError] = []
    for path in specs:
        try:
            if _is_study(path):
                n, cells = _validate_study(path, list(sets))
                click.echo(
                    f"{path}: ok (a study: {cells} cell{'s' * (cells != 1)} over {n} spec "
                    f"file{'s' * (n != 1)} checked)"
                )
                continue
            loaded = load_spec(path, list(sets))
            if read_data or data:
                click.echo(f"{path}: ok ({check_with_data(loaded, data)})")
                continue
            check(loaded)
            click.echo(f"{path}: ok")
        except (SpecError, DataError) as exc:
            failed.append(exc)
            click.echo(str(exc), err=True)
    if failed:
        sys.exit(EXIT_BAD_INPUT)


def _is_study(path: str) -> bool:
    """A study file says ``specrec_study:`` at its top level (a spec says ``specrec:``)."""
    import re

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # the spec loader says why it cannot be read
    return re.search(r"^specrec_study\s*:", text, re.MULTILINE) is not None


def _validate_study(path: str, sets: list[str]) -> tuple[int, int]:
    """Validate a study file as a study, every cell it plans (each spec with the study's
    ``set``, ``grid`` and split overrides, as ``study run`` would resolve it), then every spec
    file it runs with ``--set``.  Returns how many spec files and cells were checked."""
    from specrec.model.lower import check
    from specrec.spec.load import load_spec
    from specrec.study.cells import plan
    from specrec.study.file import load_study

    study = load_study(path)
    cells = plan(study)
    files = list(dict.fromkeys(study.path(run.spec) for run in study.study.runs))
    for spec in files:
        check(load_spec(spec, sets))
    return len(files), len(cells)


@main.command()
@_handle_errors
def schema() -> None:
    """Print the JSON Schema of spec files (for editor autocompletion)."""
    from specrec.spec.schema import schema_text

    click.echo(schema_text(), nl=False)


@main.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option(
    "--load", is_flag=True, help="Also import each backend: its methods, or why it fails to load."
)
@_handle_errors
def backends_cmd(as_json: bool, load: bool) -> None:
    """List registered backends: distribution, version, what each needs and whether it is
    installed (read from package metadata; no PPL is imported unless --load)."""
    from specrec.registry import describe

    rows = describe(load)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [["backend", "distribution", "version", "requires", "status"]]
    for r in rows:
        needs = ", ".join(f"{k} {v or '(missing)'}" for k, v in r["requires"].items()) or "-"
        status = "ok" if r["available"] else f"not installed: {r['hint']}"
        if load:
            status = ", ".join(r["methods"]) if r["error"] is None else f"fails: {r['error']}"
        table.append([r["name"], r["distribution"] or "-", r["version"] or "-", needs, status])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))


def _backend_list(option: str | None) -> list[str]:
    from specrec import backends

    if option:
        names = [b.strip() for b in option.split(",") if b.strip()]
        for n in names:
            backends.get(n)  # an unknown or broken backend is a clear error before any work
        return names
    return backends.available_names()


def _method_list(option: str | None) -> list[str] | None:
    """``--methods a,b``: names of the methods table, checked before any work."""
    if not option:
        return None
    names = [m.strip() for m in option.split(",") if m.strip()]
    unknown = [m for m in names if m not in methods.names()]
    if unknown or not names:
        from specrec.errors import UsageError

        raise UsageError(
            f"--methods: unknown method {', '.join(unknown) or repr(option)} "
            f"(methods: {', '.join(methods.names())})"
        )
    return names


@main.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backends", "backend_names", help="Comma-separated (default: all installed).")
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--points", default=3, show_default=True, help="Random unconstrained points.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
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


@main.command("explain")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@_handle_errors
def explain_cmd(spec: str, data, sets) -> None:
    """Print how Gibbs sampling updates each parameter: its closed-form conditional, or why not."""
    from specrec.conjugacy import explain
    from specrec.spec.load import load_spec

    loaded = load_spec(spec, list(sets))
    updates = explain(loaded, data)
    n = sum(u.conjugate for u in updates)
    click.echo(
        f"{loaded.spec.name}: {n} of {len(updates)} parameters have a closed-form conditional"
    )
    for u in updates:
        click.echo(f"  {u}")


@main.command("compare")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--backends", "backend_names", help="Comma-separated, in order (default: all installed)."
)
@click.option("--method", "-m", type=MethodChoice(), help=METHOD_HELP)
@click.option(
    "--methods",
    "method_names",
    help="Comma-separated methods, each fitted on every backend (e.g. gibbs,nuts).",
)
@click.option("--data", type=click.Path(), help="Local data instead of the spec's source.")
@click.option("--seed", type=int, help="Override inference.seed.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--out", default="runs", show_default=True, help="Folder of run directories.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json to stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; print only the comparison folder.")
@_handle_errors
def compare_cmd(
    spec: str, backend_names, method, method_names, data, seed, sets, out, as_json, quiet
) -> None:
    """Fit SPEC on several backends (same data, split, seed) and show them side by side.

    Exits 1 when any backend failed to fit (its row says why) or the backends saw different
    data; the others are still fitted and reported.
    """
    from specrec import interrupt
    from specrec.compare import compare
    from specrec.progress import heartbeat
    from specrec.rundir import check_writable
    from specrec.summary import compare_summary

    check_writable(out)  # before any backend is loaded or fitted
    names = _backend_list(backend_names)
    method_list = _method_list(method_names)
    log = None if quiet else (lambda m: click.echo(m, err=True))
    with heartbeat(not quiet), _stdout_to_stderr(), interrupt.enabled():
        result = compare(
            spec,
            names,
            method=method,
            methods=method_list,
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
                click.echo(f"{r.get('label') or r['backend']}: {r['error']}", err=True)
        for m in result.report["mismatches"]:
            click.echo(m, err=True)
        for f in result.report["agreement"].get("flagged", []):
            click.echo(f"flagged: {f}", err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


@main.command("compare-models")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--names", help="Comma-separated labels, one per run (default: the spec names).")
@click.option("--out", type=click.Path(), help="Write comparison.json/.csv/.png to this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@_handle_errors
def compare_models_cmd(runs: tuple[str, ...], names, out, as_json: bool) -> None:
    """Rank fitted RUNS (run directories, or a spec's runs folder for its latest run) by
    PSIS-LOO: ArviZ's az.compare table (elpd, se, difference to the best, weights) with each
    run's test RMSE and 90 % coverage.  Runs must share the data, split and response scale.
    """
    from specrec import model_comparison as mc

    labels = [n.strip() for n in names.split(",")] if names else None
    if out:
        from specrec.rundir import check_writable

        check_writable(out)
    result = mc.compare_models(list(runs), labels)
    if out:
        folder = mc.write(result, Path(out))
        if not as_json:
            click.echo(f"wrote {folder.absolute()}/comparison.{{json,csv,png}}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo("\n".join(mc.table_lines(result)))


@main.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@_handle_errors
def report_cmd(run_dir: str) -> None:
    """Write RUN_DIR/report/: PNG figures and report.html (self-contained, opens offline).

    Reads only the run's files; an existing report/ is replaced in one rename.
    """
    from specrec.evaluate.report import write_report
    from specrec.rundir import check_writable, latest_run

    run = latest_run(run_dir)
    if Path(run).is_dir():  # a missing run is the reader's error, said by write_report
        check_writable(run, "RUN_DIR")
    click.echo(str(Path(write_report(run)).absolute()))


@main.group()
def data() -> None:
    """Fetch or simulate data sets."""


@data.command("fetch")
@click.argument("name", default="movielens-100k")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Default: $SPECREC_CACHE_DIR or the user cache.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@_handle_errors
def data_fetch(name: str, cache_dir, quiet: bool) -> None:
    """Download a public data set once into the cache (checksummed)."""
    from specrec.data.fetch import fetch as do_fetch

    folder = do_fetch(name, cache_dir=cache_dir, progress=not quiet)
    click.echo(str(Path(folder)))


@data.command("simulate")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--ratings", type=click.IntRange(min=1), help="Rows to draw (default: the spec's).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Parquet file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--chunk-rows", default=500_000, show_default=True, help="Rows drawn at once.")
@_handle_errors
def data_simulate(spec: str, ratings, out: str, sets, chunk_rows: int) -> None:
    """Draw ratings from SPEC's own model (data: source: simulate) into a Parquet file, with
    the true parameter values beside it (OUT's stem + .truth.npz)."""
    from specrec.data.simulate import truth_path, write_parquet
    from specrec.errors import SpecError
    from specrec.rundir import check_writable_file
    from specrec.spec.load import load_spec

    check_writable_file(out)
    loaded = load_spec(spec, list(sets))
    if loaded.spec.data.source != "simulate":
        raise SpecError(
            [
                loaded.positions.problem(
                    ("data", "source"),
                    "data simulate needs a spec whose data are simulated",
                    expected="simulate",
                    found=repr(loaded.spec.data.source),
                )
            ]
        )
    sim = write_parquet(loaded, Path(out), ratings, chunk_rows)
    click.echo(f"{out}: {len(sim):,} rows; truth in {truth_path(Path(out))}")


@main.group()
def study() -> None:
    """Grids of fits: specs x backends x methods x seeds x splits x overrides."""


_study_store = click.option(
    "--store", type=click.Path(dir_okay=False), help="Results store (default: STUDY.study.sqlite)."
)
_study_data = click.option("--data", type=click.Path(), help="Local data for every cell.")


def _check_study_outputs(out: str | None = None, store: str | None = None) -> None:
    """A study's --out folder and --store file, when given, can be written: checked before
    any cell runs (the defaults sit beside the study file)."""
    from specrec.rundir import check_writable, check_writable_file

    if out:
        check_writable(out)
    if store:
        check_writable_file(store, "--store")


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

    _check_study_outputs(out=out, store=store)
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

    _check_study_outputs(out=out)
    report_command(study_file, out, data, store)


# ---- fits that live on: predict and recommend from a run directory -----------------------------


@main.command("predict")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--pairs",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV (or .tsv) with one column per data dim by raw id, named as in the spec "
    "(user_id, item_id, ...) or as in the data file (userId, movieId: the loader's renames).",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write CSV here.")
@click.option(
    "--interval",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    show_default="the run's evaluate.interval, 0.9 unless its spec sets one",
    help="Level of the central predictive interval (lower, upper).",
)
@_handle_errors
def predict_cmd(run_dir: str, pairs: str, out_file, interval) -> None:
    """Predict ratings (mean and interval) for new pairs from a saved run, without refitting.

    RUN_DIR is a run directory or a spec's runs folder (runs/NAME: its newest run is used).
    Ids the fit never saw (or saw only in test rows) are predicted from the population level
    and marked False in the DIM_known columns.  A pair of the run's test split gets its
    predictions.csv values; any other pair is simulated from a generator seeded by the run's
    seed and the pair's ids, so the order of the pairs and repeated pairs change nothing.
    """
    from specrec.predict import unknown_pairs_note
    from specrec.run import load_run, read_pairs

    if out_file:
        from specrec.rundir import check_writable_file

        check_writable_file(out_file)
    table = load_run(run_dir).predict(read_pairs(pairs), interval)
    for col in [c for c in table.columns if c.endswith("_known")]:
        n = int((~table[col]).sum())
        if n:
            click.echo(unknown_pairs_note(col.removesuffix("_known"), n), err=True)
    if out_file:
        from specrec.rundir import write_text_atomic

        write_text_atomic(Path(out_file), table.to_csv(index=False))
        click.echo(out_file)
    else:
        click.echo(table.to_csv(index=False), nl=False)


@main.command("recommend")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--user", "user", required=True, help="Raw id of the user (or of --dim's level).")
@click.option("-n", "n", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--dim", help="The data dim --user belongs to (default: the spec's first).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON records.")
@_handle_errors
def recommend_cmd(run_dir: str, user: str, n: int, dim, as_json: bool) -> None:
    """List the top N items a user has not rated, with the posterior expected rating and the
    probability (share of posterior draws) that each is among the user's top N.

    RUN_DIR is a run directory or a spec's runs folder (runs/NAME: its newest run is used).
    """
    from specrec.run import load_run

    table = load_run(run_dir).recommend(user, n, dim)
    a = table.attrs
    if as_json:
        click.echo(json.dumps({**a, "items": table.to_dict(orient="records")}, default=str))
        return
    if not a["known"]:
        click.echo(
            f"{a['dim']} {a['id']} has no training ratings: population-level recommendation",
            err=True,
        )
    click.echo(
        f"top {len(table)} of {a['candidates']} unrated for {a['dim']} {a['id']} "
        f"({a['draws']} posterior draws)"
    )
    click.echo(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


@main.command("sbc")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", required=True, help="Backend to calibrate.")
@click.option("--sims", default=100, show_default=True, type=click.IntRange(min=2))
@click.option(
    "--method",
    "-m",
    type=MethodChoice(lambda m: m.has_draws),
    help="Override inference.method (a method with posterior draws).",
)
@click.option("--seed", default=0, show_default=True, help="Simulation i uses seed + i.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--params", help="Comma-separated parameters to check (default: hyperparameters).")
@click.option("--bins", type=click.IntRange(min=2), help="Rank bins (default: sims // 5, 2-20).")
@click.option("--alpha", default=0.01, show_default=True, help="Family-wise false-alarm rate.")
@click.option("--out", default="runs", show_default=True, help="Folder of result directories.")
@click.option("--json", "as_json", is_flag=True, help="Print sbc.json to stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@_handle_errors
def sbc_cmd(
    spec: str, backend, sims, method, seed, sets, params, bins, alpha, out, as_json, quiet
) -> None:
    """Simulation-based calibration: draw parameters from the prior, simulate data from SPEC,
    fit with the backend, and test that the true values' posterior ranks are uniform.

    Exits 1 when a parameter is flagged.
    """
    from specrec.rundir import check_writable
    from specrec.sbc import run_sbc

    check_writable(out)
    with _stdout_to_stderr():
        result = run_sbc(
            spec,
            backend,
            sims,
            method=method,
            seed=seed,
            overrides=list(sets),
            params=[p.strip() for p in params.split(",")] if params else None,
            bins=bins,
            alpha=alpha,
            out=out,
            log=None if quiet else (lambda m: click.echo(m, err=True)),
        )
    r = result.report
    if as_json:
        click.echo(json.dumps(r, indent=2, default=str))
    else:
        t = r["test"]
        click.echo(
            f"sbc {r['spec']['name']} on {r['backend']['name']} {r['backend']['version']} "
            f"({r['inference']['method']}): {r['sims']} simulations, {r['bins']} rank bins, "
            f"{r['divergences']} divergences"
        )
        click.echo(f"  {'parameter':<20} {'chi2':>8} {'df':>3} {'p':>9}  mean rank")
        for p in r["params"]:
            verdict = "FLAGGED" if p["flagged"] else "ok"
            click.echo(
                f"  {p['param']:<20} {p['chi2']:>8.2f} {p['df']:>3} {p['p']:>9.2g}  "
                f"{p['mean_u']:.2f}  {verdict}"
            )
        click.echo(
            f"flagged when p < {t['alpha']:g} / {t['tested']} = {t['threshold']:.2g} "
            f"(Bonferroni: a calibrated backend is flagged in at most {t['alpha']:.0%} of runs)"
        )
        if result.path:
            click.echo(f"saved to {result.path}")
    if not result.ok:
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
