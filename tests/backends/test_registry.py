"""The entry-point registry, on fake installed distributions: metadata-only listing, the
install hint read from a distribution's extras, a failing plugin warned about once, and two
distributions registering one name flagged."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_entry_points import registered

from specrec import registry
from specrec.cli import main
from specrec.errors import BackendError


def _extras(site: Path, dist: str, extras: dict[str, list[str]]) -> None:
    """Give the fake distribution ``dist`` extras (``Provides-Extra`` + ``Requires-Dist``)."""
    meta = next(site.glob(f"{dist.replace('-', '_')}-*.dist-info")) / "METADATA"
    lines = [meta.read_text().rstrip("\n")]
    for extra, reqs in extras.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    meta.write_text("\n".join(lines) + "\n")
    registry.refresh()


def test_a_missing_backend_gets_the_hint_from_its_extras(tmp_path: Path) -> None:
    with registered(tmp_path, "fake-ppl-pkg", {"fakeppl": "json:JSONDecoder"}):
        _extras(tmp_path, "fake-ppl-pkg", {"fakeppl": ["no-such-ppl-xyz>=1"]})
        p = registry.plugins()["fakeppl"]
        assert (p.distribution, p.version) == ("fake-ppl-pkg", "0.1.0")
        assert p.requires == {"no-such-ppl-xyz": None}
        assert not p.available
        assert p.hint == "pip install 'fake-ppl-pkg[fakeppl]'"
        assert registry.backend_distribution("fakeppl") == ("fake-ppl-pkg", "0.1.0")
        assert registry.backend_versions("fakeppl") == {"fake-ppl-pkg": "0.1.0"}
        r = CliRunner().invoke(main, ["backends"])
        assert r.exit_code == 0, r.stderr
        row = next(line for line in r.stdout.splitlines() if line.startswith("fakeppl "))
        assert row.endswith("not installed: pip install 'fake-ppl-pkg[fakeppl]'")
        assert "no-such-ppl-xyz (missing)" in row


def test_a_failing_plugin_is_warned_about_once(tmp_path: Path) -> None:
    with registered(tmp_path, "broken-pkg", {"brokenb": "json:NoSuchBackend"}):
        with pytest.warns(registry.BackendWarning, match="backend 'brokenb'.*failed to load"):
            names = registry.available_names()
        assert "brokenb" not in names
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            registry.available_names()  # the second time: no warning
        with pytest.raises(BackendError, match="registered but failed to load"):
            registry.get("brokenb")


def test_an_object_that_is_no_backend_is_a_load_failure(tmp_path: Path) -> None:
    """An entry point that loads but gives no backend (here a class with no name, methods,
    version, unsupported or fit) is warned about and left out like an import error: not listed
    as offering em and cavi (the methods whose kernel needs no backend program), nor left to
    fail with an AttributeError inside a fit."""
    with registered(tmp_path, "hollow-pkg", {"hollow": "json:JSONDecoder"}):
        missing = "no name, methods, version, unsupported, fit"
        with pytest.warns(registry.BackendWarning, match=f"'hollow'.*failed to load.*{missing}"):
            names = registry.available_names()
        assert "hollow" not in names
        info = {i.name: i for i in registry.installed()}["hollow"]
        assert info.methods == ()
        assert info.error == (
            f"TypeError: JSONDecoder is not a specrec backend: it has {missing} "
            "(see specrec.backends.Backend)"
        )
        with pytest.raises(BackendError, match="'hollow' is registered but failed to load"):
            registry.get("hollow")


def test_two_distributions_with_one_name_are_flagged(tmp_path: Path) -> None:
    with (
        registered(tmp_path / "a", "first-pkg", {"twin": "json:JSONDecoder"}),
        registered(tmp_path / "b", "second-pkg", {"twin": "json:JSONEncoder"}),
        pytest.warns(registry.BackendWarning, match="'twin' is registered by 2 distributions"),
    ):
        registry.plugins()


def test_the_cli_prints_warnings_as_its_own_lines(tmp_path: Path) -> None:
    with registered(tmp_path, "broken-pkg", {"brokenb": "json:NoSuchBackend"}):
        r = CliRunner().invoke(main, ["check", "specs/group_means.yaml", "--points", "0"])
        assert "warning: backend 'brokenb' (broken-pkg 0.1.0) failed to load" in r.stderr
        assert "source.py" not in r.stderr and "Warning:" not in r.stderr
        r = CliRunner().invoke(main, ["backends", "--load"])
        assert r.exit_code == 0
        assert "fails: AttributeError" in r.stdout


def test_compare_warns_about_a_broken_backend_it_skips(tmp_path: Path) -> None:
    with registered(tmp_path, "broken-pkg", {"brokenb": "json:NoSuchBackend"}):
        from specrec.cli import _backend_list

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = _backend_list(None)
        assert "brokenb" not in names
        assert any("'brokenb'" in str(w.message) for w in caught)


def test_compare_says_which_backends_it_leaves_out(tmp_path: Path) -> None:
    with registered(tmp_path, "fake-ppl-pkg", {"fakeppl": "json:JSONDecoder"}):
        _extras(tmp_path, "fake-ppl-pkg", {"fakeppl": ["no-such-ppl-xyz>=1"]})
        from specrec.cli import _backend_list

        with pytest.warns(registry.BackendWarning) as caught:
            names = _backend_list(None)
        assert "fakeppl" not in names
        # only this test's plugin: another broken plugin in the venv warns about itself
        assert [str(w.message) for w in caught if "'fakeppl'" in str(w.message)] == [
            "backend 'fakeppl' is not installed and is left out "
            "(pip install 'fake-ppl-pkg[fakeppl]')"
        ]
