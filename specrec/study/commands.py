"""What the ``specrec study`` commands print: a progress bar, the status table, the report path.

Kept out of ``specrec/cli.py`` so the click group stays a thin list of options.
"""

from __future__ import annotations

import shlex
import sys

import click

from specrec.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from specrec.study.cells import Cell
from specrec.study.damage import run_damage
from specrec.study.runner import Plan, default_store, run_study, study_status


def run_command(study_file, executor, workers, scheduler, out, data, store, quiet) -> int:
    """Run the study with a progress bar on stderr; exit 1 if any cell failed, 130 on Ctrl-C."""
    bar = None

    def on_event(kind: str, cell: Cell, info: dict) -> None:
        nonlocal bar
        if quiet:
            return
        if kind == "planned":
            held = info.get("held", 0)
            done = info["total"] - info["todo"] - held
            wait = f", {held} held by a live worker of an earlier run (waiting)" if held else ""
            click.echo(
                f"{info['total']} cells: {done} already done, {info['todo']} to run{wait}",
                err=True,
            )
            if info["todo"] + held:
                length = info["todo"] + held
                bar = click.progressbar(length=length, label="cells", file=sys.stderr)
                bar.__enter__()
        elif kind == "held":
            click.echo(f"{cell.title}: held by {info['worker']}; not started again", err=True)
        elif kind == "executor":
            click.echo(f"running on {info['where']}", err=True)
        elif kind in ("done", "failed") and bar is not None:
            bar.update(1)
            if kind == "failed":
                click.echo(f"\nfailed: {cell.title}: {info['error'].splitlines()[0]}", err=True)

    from specrec import interrupt

    try:
        with interrupt.redelivered():
            result = run_study(
                study_file,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                data=data,
                store=store,
                out=out,
                on_event=on_event,
            )
    except KeyboardInterrupt:
        # Not the CLI's generic "nothing was written": every finished cell is in the store
        # already, and the next run picks up (or adopts) the rest.
        result = None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if result is None:
        # in a terminal the echoed ^C leaves the line open (a shown bar ends it itself)
        fresh = "\n" if bar is None and click.get_text_stream("stderr").isatty() else ""
        click.echo(fresh + interrupted_message(study_file, store, out, data), err=True)
        return EXIT_INTERRUPTED
    counts = result.counts()
    click.echo(_counts_line(counts))
    return EXIT_FAILED if counts["failed"] or counts["pending"] else EXIT_OK


def interrupted_message(study_file, store=None, out=None, data=None) -> str:
    """What Ctrl-C during ``study run`` says, in one line: what is kept and how to go on.

    The command to resume repeats ``--store``, ``--out`` and ``--data``: without them a rerun
    would look in another store (or, for ``--data``, plan other cells) and start over.
    """
    where = store or default_store(study_file)
    again = ["specrec", "study", "run", str(study_file)]
    for flag, value in (("--store", store), ("--out", out), ("--data", data)):
        if value:
            again += [flag, str(value)]
    return (
        f"study interrupted; finished cells are kept in {where}: run "
        f"`{shlex.join(again)}` again to resume (finished cells are not refitted)"
    )


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def status_command(study_file, data, store, show_cells: bool) -> None:
    result = study_status(study_file, data=data, store=store)
    click.echo(f"{result.study.study.name}: {_counts_line(result.counts())}")
    if show_cells:
        click.echo(format_cells(result))
    else:
        for c in result.cells:
            if c.status == "failed" and c.row:
                first = (c.row["error"] or "").splitlines()[:1]
                click.echo(f"failed: {c.cell.title}: {first[0] if first else ''}")


def format_cells(result: Plan) -> str:
    lines = []
    for c in result.cells:
        state = c.status + (f" ({c.note})" if c.note else "")
        cid = c.cell_id[:12] if c.cell_id else "-" * 12
        rmse = ""
        damage = run_damage(c.row) if c.status == "done" else None
        if damage:
            state, rmse = "damaged", f"  {damage}"
        elif c.row and c.row.get("metrics"):
            rmse = f"  test RMSE {c.row['metrics']['metrics']['test']['rmse']:.4f}"
        lines.append(f"{cid}  {state:<22} {c.cell.title}{rmse}")
    return "\n".join(lines)


def report_command(study_file, out, data, store) -> None:
    from specrec.study.report import write_report

    folder = write_report(study_file, out=out, data=data, store=store)
    click.echo(str(folder))
