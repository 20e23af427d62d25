"""Every option's default is shown in ``--help`` (``predict --interval`` did not say its level)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from specrec.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


def _flat(text: str) -> str:  # help text as one line, however click wrapped it
    return " ".join(text.split())


def test_every_option_with_a_default_shows_it_in_help() -> None:
    missing = []
    for path, command in _commands(main):
        assert CliRunner().invoke(main, [*path, "--help"]).exit_code == 0, path
        root = click.Context(main, **main.context_settings)
        ctx = click.Context(command, info_name=path[-1], parent=root)
        for p in command.params:
            if not isinstance(p, click.Option) or p.hidden or p.name == "help":
                continue
            default = p.get_default(ctx, call=False)
            default = None if type(default).__name__ == "Sentinel" else default  # click's UNSET
            if (p.is_flag and not default) or (default is None and not p.show_default):
                continue  # an off switch, or no default to state
            record = p.get_help_record(ctx)
            if record is None or "[default:" not in record[1]:
                missing.append(f"{' '.join(path)} {p.opts[-1]}")
    assert missing == []


def test_predict_help_states_the_default_interval_level() -> None:
    text = _flat(CliRunner().invoke(main, ["predict", "--help"]).output)
    assert "--interval" in text
    assert "[default: (the run's evaluate.interval, 0.9 unless its spec sets one); 0<x<1]" in text
