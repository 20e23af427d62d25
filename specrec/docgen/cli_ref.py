"""The command-line reference, read from the click group itself (``specrec.cli.main``)."""

from __future__ import annotations

import inspect

import click

from specrec.docgen.markdown import code, page, table


def _commands(group: click.Group, ctx: click.Context) -> list[tuple[click.Command, click.Context]]:
    """Every command under ``group``, depth first in name order, with its context."""
    out = []
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = click.Context(cmd, info_name=name, parent=ctx)
        out.append((cmd, sub))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, sub)
    return out


def _params(cmd: click.Command, ctx: click.Context) -> str:
    rows = []
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Argument):
            rows.append([code(p.human_readable_name), "argument", ""])
            continue
        record = p.get_help_record(ctx)
        if record is not None and p.name != "help":  # every command has --help; said once
            rows.append([code(record[0]), "option", record[1]])
    return table(["name", "kind", "meaning"], rows) if rows else ""


def _section(cmd: click.Command, ctx: click.Context) -> str:
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    level = "###" if ctx.parent is not None and ctx.parent.parent is not None else "##"
    helptext = inspect.cleandoc(cmd.help or "")
    return (
        f"{level} {ctx.command_path}\n\n```\n{ctx.command_path} {usage}\n```\n\n"
        f"{helptext}\n\n{_params(cmd, ctx)}"
    )


def cli_page() -> str:
    from specrec.cli import main

    root = click.Context(main, info_name="specrec")
    sections = [_section(main, root)] + [_section(c, x) for c, x in _commands(main, root)]
    return page(
        "Command line",
        "the click group in specrec/cli.py",
        """
Every command prints errors as `file:line:col: path: message` and exits with 0 (ok),
1 (a fit or a check failed) or 2 (bad input: spec, data, options). `specrec --debug COMMAND`
shows Python tracebacks for bug reports, and `specrec COMMAND --help` prints the text below.
""",
        *sections,
    )
