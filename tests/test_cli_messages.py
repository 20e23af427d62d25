"""CLI messages: a --set mistake is blamed on --set, validate knows a study file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT

SPECS = Path(__file__).resolve().parents[1] / "specs"
QUICK = str(SPECS / "quickstart.yaml")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_misspelt_set_key_is_blamed_on_set() -> None:
    r = invoke("validate", QUICK, "--set", "infrence.draws=100")
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stderr.startswith(
        "--set infrence.draws=100: infrence: unknown key 'infrence'\n"
        "    hint:     did you mean 'inference'?\n"
    )
    r = invoke("validate", QUICK, "--set", "inference.drawz=5")
    assert r.stderr.startswith("--set inference.drawz=5: inference.drawz: unknown key 'drawz'")


def test_a_file_mapping_wrong_only_with_a_set_value_names_both() -> None:
    r = invoke("validate", QUICK, "--set", "data.rows=60")
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stderr.startswith(
        f"{QUICK}:7:3: data: give exactly one of density or rows, found both "
        "(with --set data.rows=60)\n"
    )


def _study(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"specrec_study: 1\nname: s\n{extra}runs:\n  - spec: {QUICK}\n"
        "    backends: [numpyro]\n    methods: [map]\n"
    )
    return path


def test_validate_checks_a_study_as_a_study(tmp_path: Path) -> None:
    good = _study(tmp_path)
    r = invoke("validate", str(good), QUICK)
    assert r.exit_code == 0, r.output
    assert r.stdout == f"{good}: ok (a study: 1 cell over 1 spec file checked)\n{QUICK}: ok\n"
    bad = _study(tmp_path, "seedz: [0]\n")
    r = invoke("validate", str(bad))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stderr.startswith(f"{bad}:3:1: seedz: unknown key 'seedz'")
    assert "missing required key 'dims'" not in r.stderr  # not read as a model spec


def test_validate_of_a_study_checks_every_cell_with_the_studys_overrides(tmp_path: Path) -> None:
    """A wrong key or value in the study's own ``set`` / ``grid`` is found by ``validate``, on
    the study's line, not by the first cell of ``study run``."""
    for extra, message in [
        ("set: {inference.stepz: 3}\n", "unknown key 'stepz'"),
        ("set: {inference.steps: [1, 2]}\n", "inference.steps"),
    ]:
        r = invoke("validate", str(_study(tmp_path, extra)))
        assert r.exit_code == EXIT_BAD_INPUT, (extra, r.output)
        assert "does not validate with the study's overrides" in r.stderr, r.stderr
        assert message in r.stderr, r.stderr
    r = invoke("validate", str(_study(tmp_path, "set: {inference.steps: .inf}\n")))
    assert r.exit_code == EXIT_BAD_INPUT
    assert "set.inference.steps: not a finite number" in r.stderr, r.stderr


def test_validate_of_a_study_checks_its_specs_with_set(tmp_path: Path) -> None:
    r = invoke("validate", str(_study(tmp_path)), "--set", "inference.drawz=5")
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stderr.startswith("--set inference.drawz=5: inference.drawz: unknown key 'drawz'")


def test_a_library_write_that_finds_no_room_is_said_plainly() -> None:
    """A writer outside specrec (a figure, a Parquet file) failing on a full disk printed
    ``error: OSError: [Errno 28] ... (run with --debug for a traceback)``."""
    import errno

    import click

    from specrec.cli import _handle_errors

    @click.command()
    @_handle_errors
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/r/report/loss.png")

    r = CliRunner().invoke(write, [])
    assert r.exit_code == 1
    assert r.stderr == (
        "error: could not write /runs/r/report/loss.png: the disk is full "
        "(No space left on device)\n"
    )
