"""The CLI's input-checking commands: ``validate``, ``schema``, ``backends``, and ``fit``'s errors.

Bad input exits 2 with the message on stderr and nothing on stdout, never with a traceback.
The committed JSON Schema must equal ``specrec schema``; when this test fails, regenerate it::

    .venv/bin/specrec schema > specrec/spec/specrec-v1.schema.json
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT
from specrec.model.distributions import DISTRIBUTIONS
from specrec.spec.schema import COMMITTED

SPECS = Path(__file__).resolve().parents[1] / "specs"
ALL_SPECS = sorted(
    p for p in SPECS.rglob("*.yaml") if "studies" not in p.parts
)  # studies: tests/study

BAD = """\
specrec: 1
name: bad
data: {source: simulate, sizes: {group: 3}, rows: 30}
dims:
  group: {column: group}
params:
  m:
    prior: Normall(0, 1)
    dims: [group]
likelihood:
  y: Normal(m[group], 1)
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_specs_exist():
    assert len(ALL_SPECS) >= 3


@pytest.mark.parametrize(
    "spec", ALL_SPECS, ids=[p.relative_to(SPECS).as_posix() for p in ALL_SPECS]
)
def test_validate_example_spec(spec: Path):
    r = invoke("validate", str(spec))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{spec}: ok\n"
    assert r.stderr == ""


def test_validate_all_at_once():
    r = invoke("validate", *map(str, ALL_SPECS))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.count(": ok\n") == len(ALL_SPECS)


def test_validate_bad_spec(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    r = invoke("validate", str(path))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert r.stderr == (
        f"{path}:8:12: params.m.prior: expected a distribution, found 'Normall'\n"
        f"    expected: one of {', '.join(DISTRIBUTIONS)}\n"  # the table grows
        "    hint:     did you mean 'Normal'?\n"
        "1 problem found\n"
    )
    assert "Traceback" not in r.output


def test_validate_good_and_bad(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    good = SPECS / "quickstart.yaml"
    r = invoke("validate", str(good), str(bad))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == f"{good}: ok\n"
    assert "Normall" in r.stderr


def test_validate_set_override_is_reported_at_the_option():
    r = invoke("validate", str(SPECS / "quickstart.yaml"), "--set", "inference.steps=-5")
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == (
        "--set inference.steps=-5: inference.steps: value out of range"
    )


def test_validate_missing_file(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    r = invoke("validate", str(path))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert r.stderr == f"{path}: no such file\n1 problem found\n"


def test_validate_needs_a_spec():
    r = invoke("validate")
    assert r.exit_code == 2  # click's usage error
    assert "Missing argument" in r.stderr


def test_schema_is_committed_and_fresh():
    r = invoke("schema")
    assert r.exit_code == 0
    assert r.stdout == COMMITTED.read_text(encoding="utf-8"), (
        "specrec/spec/specrec-v1.schema.json is stale; regenerate it with "
        ".venv/bin/specrec schema > specrec/spec/specrec-v1.schema.json"
    )
    schema = json.loads(r.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"specrec", "name", "data", "dims", "params", "likelihood"} <= set(schema["required"])
    assert "HalfNormal(sigma)" in schema["$defs"]["Param"]["properties"]["prior"]["description"]


def test_backends_json_lists_numpyro():
    r = invoke("backends", "--json", "--load")
    assert r.exit_code == 0, r.stderr
    infos = {b["name"]: b for b in json.loads(r.stdout)}
    assert "numpyro" in infos
    numpyro = infos["numpyro"]
    assert numpyro["error"] is None and numpyro["available"]
    assert numpyro["distribution"] == "specrec-models"
    assert numpyro["requires"]["numpyro"] == metadata.version("numpyro")
    assert set(numpyro["methods"]) == {"map", "vi", "nuts", "gibbs", "em", "cavi"}


def test_fit_unknown_backend_names_the_installed_ones(tmp_path: Path):
    r = invoke("fit", str(SPECS / "quickstart.yaml"), "--backend", "numpyr", "--out", str(tmp_path))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    installed = [
        b["name"] for b in json.loads(invoke("backends", "--json").stdout) if b["available"]
    ]
    assert "numpyro" in installed
    assert r.stderr.startswith(
        f"error: unknown backend 'numpyr'; installed: {', '.join(installed)}; "
        "did you mean 'numpyro'?"
    )
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_fit_missing_file(tmp_path: Path):
    path = tmp_path / "missing.yaml"
    r = invoke("fit", str(path), "--out", str(tmp_path / "runs"))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert r.stderr == f"{path}: no such file\n1 problem found\n"
    assert "Traceback" not in r.output
    assert not (tmp_path / "runs").exists()


def test_fit_bad_spec(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.replace("Normall", "Normal").replace("m[group]", "m"))
    r = invoke("fit", str(path), "--out", str(tmp_path / "runs"))
    assert r.exit_code == EXIT_BAD_INPUT
    assert r.stdout == ""
    assert "'m' has data dim 'group'; index it in the likelihood" in r.stderr
    assert "Traceback" not in r.output


def test_output_of_compiled_code_goes_to_stderr_too(capfd):
    """While a command works, stdout's file descriptor is redirected as well as sys.stdout: a
    library printing from compiled code reaches stderr, not the JSON document on stdout."""
    import os

    from specrec.cli import _stdout_to_stderr

    with _stdout_to_stderr():
        os.write(1, b"from fd 1\n")
        print("from python")
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n"
    assert "from fd 1" in err and "from python" in err


def _header_commands(spec: Path) -> list[list[str]]:
    """The ``specrec fit`` commands a spec's header comment shows (continuation lines joined)."""
    import shlex

    commands, pending = [], ""
    for line in spec.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").split("  # ")[0].strip()
        if pending or text.startswith("specrec fit "):
            pending += " " + text.rstrip("\\")
            if not text.endswith("\\"):
                commands.append(shlex.split(pending))
                pending = ""
    return commands


@pytest.mark.parametrize(
    "spec", ALL_SPECS, ids=[p.relative_to(SPECS).as_posix() for p in ALL_SPECS]
)
def test_commands_a_spec_header_shows_are_valid(spec: Path):
    """A user copies the command in a spec's header: its ``--set`` overrides must give a valid
    spec (the mixture's ``--set inference.method=nuts`` once failed on its map restarts)."""
    for command in _header_commands(spec):
        sets = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
        r = invoke("validate", str(spec), *[a for s in sets for a in ("--set", s)])
        assert r.exit_code == 0, (" ".join(command), r.stderr)


def test_header_commands_are_found():
    """The header test above checks something: the shipped headers' commands are parsed, with
    a continued line joined and its ``--set`` overrides kept."""
    [_, em, nuts] = _header_commands(SPECS / "netflix_mixture.yaml")
    assert em[-2:] == ["--method", "em"]
    assert nuts[:3] == ["specrec", "fit", "specs/netflix_mixture.yaml"]
    assert "inference.method=nuts" in nuts and "inference.restarts=1" in nuts
    assert sum(len(_header_commands(p)) for p in ALL_SPECS) >= 10
