"""``specrec check`` on every shipped spec and every installed backend, through the CLI.

The parity check is what a user runs to trust a backend; these tests make sure every example
spec passes it everywhere, and that a backend with a wrong table entry fails it naming the
node whose density differs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_entry_points import registered

from specrec import backends
from specrec.cli import main
from specrec.errors import EXIT_FAILED

SPECS = Path(__file__).resolve().parents[2] / "specs"

pytestmark = [pytest.mark.backend(n) for n in ("numpyro", "pymc", "pyro")]

SPEC_FILES = sorted(p for p in SPECS.rglob("*.yaml") if "studies" not in p.parts)
#: specs whose full size makes the check slow (matrix-valued priors): smaller dims, same model
SMALLER = {
    f"movielens/{name}.yaml": ["dims.factor=3", "dims.factor2=3"]
    for name in ("bpmf_lkj", "bpmf_nw")
}


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: str(p.relative_to(SPECS)))
def test_check_passes_on_every_installed_backend(spec: Path, fake_ml100k: Path) -> None:
    args = ["check", str(spec)]
    if "movielens" in spec.parts:  # no download in tests: the fake MovieLens 100k folder
        args += ["--data", str(fake_ml100k)]
    for s in SMALLER.get(spec.relative_to(SPECS).as_posix(), []):
        args += ["--set", s]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    names = backends.available_names()
    assert {"numpyro", "pymc", "pyro"} <= set(names)
    for name in names:
        assert re.search(rf"^\s+{name}\s+ok\s", result.output, re.M), result.output


def test_check_fails_naming_the_node_a_broken_backend_gets_wrong(tmp_path: Path) -> None:
    """HalfNormal's scale doubled: only the quickstart's sigma (HalfNormal(1)) is off."""
    with registered(
        tmp_path,
        "specrec-broken",
        {"broken": "broken_numpyro:BrokenBackend"},
        (Path(__file__).parent,),
    ):
        result = CliRunner().invoke(
            main,
            [
                "check",
                str(SPECS / "quickstart.yaml"),
                "--backends",
                "numpyro,broken",
                "--set",
                "data.sizes.user=20",
                "--set",
                "data.sizes.item=15",
            ],
        )
    assert result.exit_code == EXIT_FAILED == 1, result.output
    assert re.search(r"^\s+numpyro\s+ok\s", result.output, re.M), result.output
    assert re.search(r"^\s+broken\s+DIFFERS\s", result.output, re.M), result.output
    named = set(re.findall(r"node '(\w+)'", result.output))
    assert named == {"sigma"}, result.output
