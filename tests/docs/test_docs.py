"""The docs stay true: generated reference pages are fresh, and the site builds with no warning.

When a freshness test fails, regenerate the pages with ``make docs-gen`` (or
``python -m specrec.docgen``) and commit them; the failure names the stale files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec import docgen
from specrec.cli import main
from specrec.docgen import own_data
from specrec.docgen.benchmarks import SOURCES
from specrec.docgen.errors import GOLDEN, read_golden
from specrec.docgen.spec_keys import missing_descriptions, spec_keys_page
from specrec.evaluate.fields import METRICS_FIELDS, undocumented

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS_PAGE = "docs/reference/distributions.md"
# the own-data guide's blocks are fits and commands: tests/docs/test_own_data.py checks them
OWN_DATA_GUIDE = str(own_data.GUIDE)
WITHOUT_BACKENDS = [p for p in docgen.PAGES if p not in (DISTRIBUTIONS_PAGE, OWN_DATA_GUIDE)]


def _stale_message(paths: list[str]) -> str:
    return f"stale generated docs {paths}; regenerate with: {docgen.REGENERATE}"


def test_generated_pages_are_fresh() -> None:
    """Every generated page but the distributions (which imports every backend) as committed."""
    stale = docgen.stale(ROOT, WITHOUT_BACKENDS)
    assert not stale, _stale_message(stale)


@pytest.mark.backend("numpyro")
@pytest.mark.backend("pymc")
@pytest.mark.backend("pyro")
def test_distributions_page_is_fresh() -> None:
    """Its backend columns ask each installed built-in backend which distributions it has."""
    stale = docgen.stale(ROOT, [DISTRIBUTIONS_PAGE])
    assert not stale, _stale_message(stale)
    text = (ROOT / DISTRIBUTIONS_PAGE).read_text(encoding="utf-8")
    assert "| ? |" not in text, "generated without every built-in backend installed"


def test_staleness_is_detected(tmp_path: Path) -> None:
    """A committed page edited by hand (or left behind by a code change) is reported."""
    for path in docgen.PAGES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / GOLDEN).parent.mkdir(parents=True)
    (tmp_path / GOLDEN).write_text((ROOT / GOLDEN).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "benchmarks/results").mkdir(parents=True)
    for f in [p for g in SOURCES for p in (ROOT / "benchmarks/results").glob(g)]:
        (tmp_path / "benchmarks/results" / f.name).write_text(f.read_text(encoding="utf-8"))
    assert docgen.stale(tmp_path, WITHOUT_BACKENDS) == []
    page = tmp_path / "docs/reference/spec.md"
    page.write_text(page.read_text(encoding="utf-8").replace("spec language version", "v"))
    assert docgen.stale(tmp_path, WITHOUT_BACKENDS) == ["docs/reference/spec.md"]


def test_every_spec_key_is_described() -> None:
    """A key added to the pydantic models without ``Field(description=...)`` fails here."""
    assert missing_descriptions() == []


def test_spec_reference_lists_every_key_with_type_and_default() -> None:
    from specrec.spec.models import Inference, SimulateData

    page = spec_keys_page()
    for model in (Inference, SimulateData):
        for key in model.model_fields:
            assert f"| `{key}` |" in page, key
    assert (
        "| `steps` | integer (>= 1, &lt;= 2147483647) | `4000` | optimiser steps (map, vi); "
        "em: the most iterations; cavi: the most sweeps |" in page
    )
    assert (
        '| `method` | `"map"` or `"vi"` or `"nuts"` or `"gibbs"` or `"em"` or `"cavi"` | `"vi"` |'
        in page
    )


def test_cli_reference_has_every_command_and_option() -> None:
    page = docgen.generate(ROOT, ["docs/reference/cli.md"])["docs/reference/cli.md"]
    for name in main.commands:
        assert f"## specrec {name}\n" in page, name
    assert "### specrec data fetch" in page
    assert "`--set KEY=VALUE`" in page and "`--backends TEXT`" in page


def test_error_gallery_shows_the_golden_messages() -> None:
    """Each gallery entry is the golden file's text verbatim (which the error tests check),
    its long lines wrapped to fit a code block."""
    from specrec.docgen.markdown import wrap_output

    cases = read_golden((ROOT / GOLDEN).read_text(encoding="utf-8"))
    page = (ROOT / "docs/errors.md").read_text(encoding="utf-8")
    shown = [c for c in cases.values() if f"### {c.id}\n" in page]
    assert len(shown) >= 20
    for c in shown:
        assert f"```text\n{wrap_output(c.output)}\n```" in page, c.id
    assert "undefined name 'mu_uu'" in page  # the misspelt parameter, the commonest mistake


@pytest.mark.backend("numpyro")
def test_metrics_json_fields_are_all_documented(tmp_path: Path) -> None:
    """A real fit's metrics.json, by NUTS and by MAP, has no field the reference omits."""
    spec = str(ROOT / "specs" / "group_means.yaml")
    tiny = ["--set", "inference.warmup=20", "--set", "inference.draws=20"]
    tiny += ["--set", "inference.steps=200", "-q"]
    for method in ("nuts", "map"):
        args = ["fit", spec, "-m", method, "--out", str(tmp_path), "--json", *tiny]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.stdout)
        assert undocumented(metrics) == [], f"add these to specrec/evaluate/fields.py ({method})"
    assert undocumented({"metrics": {"test": {"rmse_squared": 1.0}}}) == [
        "metrics.test.rmse_squared"
    ]
    assert "metrics.test.coverage_<level>" in METRICS_FIELDS


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds offline with warnings as errors: every link, image and snippet exists."""
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tmp_path / "site" / "guides" / "backends" / "index.html").read_text()
    assert "ExampleBackend" in html and "--8&lt;--" not in html  # snippets were included
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text()


def test_readme_benchmark_table_shows_only_references_run_beside(tmp_path) -> None:
    """The README block is laid out from the results files: the newest file wins per cell, and
    a reference figure is shown only when the row names a reference run in the same invocation."""
    import json

    from specrec.docgen.benchmarks import README_BLOCK, readme
    from specrec.docgen.markers import BEGIN, END

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    old = {"spec": "pmf", "method": "map", "test_rmse": 0.95, "fit_s": 10.0}
    old |= {"reference_rmse": 0.9384, "reference_fit_s": 55.0}  # a copied constant
    new = {"spec": "pmf", "method": "map", "test_rmse": 0.9414, "fit_s": 9.0}
    new |= {"reference": "PyMC find_MAP", "reference_rmse": 0.9385, "reference_fit_s": 37.0}
    for name, date, row, commit in [
        ("movielens-a.json", "2026-01-01", old, None),
        ("movielens-b.json", "2026-02-01", new, "abcdef123456"),
    ]:
        rows = [row | {"backend": "numpyro"}, old | {"spec": "hpmf", "backend": "pyro"}]
        payload = {"date": date, "rows": rows, "commit": commit}
        (results / name).write_text(json.dumps(payload))
    begin, end = BEGIN.format(README_BLOCK), END.format(README_BLOCK)
    (tmp_path / "README.md").write_text(f"intro\n{begin}\nold table\n{end}\nend\n")
    text = readme(tmp_path)
    assert text.startswith("intro\n") and text.endswith("end\n") and "old table" not in text
    assert "0.9414 (9 s)" in text and "0.95 " not in text
    assert "0.9385 PyMC find_MAP (37 s)" in text and "0.9384" not in text
    assert "commit abcdef1" in text and "2026-02-01" in text
    hpmf = next(line for line in text.splitlines() if line.startswith("| `hpmf`"))
    assert "0.9500 (10 s) | - |" in hpmf  # the newer file re-measured it: the copied figure goes


def test_a_readme_without_the_benchmark_markers_is_an_error(tmp_path) -> None:
    """The table is spliced by the shared markers: a README whose markers were edited away is
    refused by name, not returned as it was with the table no longer regenerated."""
    from specrec.docgen.benchmarks import readme

    (tmp_path / "README.md").write_text("intro\n<!-- begin generated: benchmark table -->\n")
    with pytest.raises(
        ValueError, match=r"README.md: blocks without markers \['benchmark-table'\]"
    ):
        readme(tmp_path)


def _code_lines(page: Path):
    """(line number, text) of every line inside a fenced code block of ``page``, with the files
    that ``--8<-- "path"`` includes (the figures' printed outputs) read in place."""
    import re

    inside = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"^\s*(```|~~~)", line):
            inside = not inside
            continue
        included = re.match(r'^\s*--8<--\s+"([^"]+)"\s*$', line)
        if inside and included:
            path, _, section = included.group(1).partition(":")  # "file:section" marks a part
            lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
            if section:
                start = next(i for i, x in enumerate(lines) if f"[start:{section}]" in x)
                end = next(i for i, x in enumerate(lines) if f"[end:{section}]" in x)
                lines = lines[start + 1 : end]
            for text in lines:
                yield f"{number} ({included.group(1)})", text
        elif inside:
            yield number, line


def test_no_code_line_of_the_docs_is_wider_than_a_code_block() -> None:
    """Wider lines are cut off behind a scroll bar on the site: generated outputs are wrapped by
    specrec.docgen.markdown.wrap_output, hand-written commands by hand."""
    from specrec.docgen.markdown import CODE_WIDTH

    wide = [
        f"{page.relative_to(ROOT)}:{where}: {len(text)} columns"
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for where, text in _code_lines(page)
        if len(text) > CODE_WIDTH
    ]
    assert wide == []


def test_wrap_output_keeps_short_lines_and_breaks_long_ones_at_spaces() -> None:
    from specrec.docgen.markdown import wrap_output

    table = "  test RMSE        0.5503     0.5502"
    long = "  " + " ".join(f"word{i}" for i in range(40))
    out = wrap_output(f"{table}\n{long}", width=60).split("\n")
    assert out[0] == table
    assert all(len(line) <= 60 for line in out)
    assert all(line.startswith("      word") for line in out[2:])  # indent + 4
    assert " ".join(" ".join(out[1:]).split()) == long.strip()
