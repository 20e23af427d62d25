"""The Python API tutorial runs as written, and its notebook is made from the same code.

``docs/tutorials/python-api.md`` is executed block by block, in order, in one namespace, in a
temporary folder holding ``specs/quickstart.yaml``, as a reader (or the notebook) would run it:
with the real NumPyro backend, and the page's own small overrides.  Then the objects it made are
checked for the types and columns the page shows.

The notebook ``docs/tutorials/python-api.ipynb`` is generated from the page (its code cells are
the page's ``python`` blocks, its markdown cells the prose between them, without the copied
outputs and figures, which the notebook makes itself).  Regenerate it after editing the page::

    .venv/bin/python tests/docs/test_python_api_tutorial.py

and, with ``--outputs``, also rerun the page as a notebook would (the value of each block's last
expression is shown) and copy what each block printed into the ``text`` block that follows it,
and its two figures into ``docs/figures/python-api/``; then read the prose against the new
numbers.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/tutorials/python-api.md"
NOTEBOOK = ROOT / "docs/tutorials/python-api.ipynb"
FIGURES = ROOT / "docs/figures/python-api"
SPECS = ["quickstart.yaml"]  # what the page reads, copied into the folder it runs in
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
IMAGE = re.compile(r"^!\[[^\]]*\]\([^)]*\)\n", re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The page's ``python`` code blocks, in order."""
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == "python"]


def run_blocks(blocks: list[str]) -> tuple[list[str], dict]:
    """Run the blocks in order in one namespace, in the working directory, as notebook cells:
    what each printed, then the repr of its last expression unless None; and the namespace."""
    import pandas as pd

    ns: dict = {"__name__": "__tutorial__"}
    shown = []
    for i, code in enumerate(blocks):
        tree = ast.parse(code)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        where = f"{PAGE.name}, python block {i + 1}"
        out = io.StringIO()
        # a wide frame is printed whole, as a notebook shows it
        with (
            contextlib.redirect_stdout(out),
            pd.option_context("display.width", 120, "display.max_columns", None),
        ):
            exec(compile(tree, where, "exec"), ns)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), where, "eval"), ns)
                if value is not None:
                    print(repr(value))
        shown.append(out.getvalue())
    return shown, ns


def _copy_specs(folder: Path) -> None:
    (folder / "specs").mkdir()
    for name in SPECS:
        shutil.copy(ROOT / "specs" / name, folder / "specs")


def _markdown_cell(text: str) -> str | None:
    """Prose for a markdown cell: the page's copied outputs and figures left out."""
    text = IMAGE.sub("", FENCE.sub(lambda m: "" if m.group(1) == "text" else m.group(0), text))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text or None


def notebook(text: str) -> dict:
    """The notebook of the page: markdown between the python blocks, a code cell per block."""
    cells: list[tuple[str, str]] = []
    pos = 0
    for m in FENCE.finditer(text):
        if m.group(1) != "python":
            continue
        prose = _markdown_cell(text[pos : m.start()])
        if prose:
            cells.append(("markdown", prose))
        cells.append(("code", m.group(2).rstrip("\n")))
        pos = m.end()
    prose = _markdown_cell(text[pos:])
    if prose:
        cells.append(("markdown", prose))

    def cell(i: int, kind: str, source: str) -> dict:
        lines = source.splitlines(keepends=True)
        out = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": lines}
        if kind == "code":
            out |= {"execution_count": None, "outputs": []}
        return out

    return {
        "cells": [cell(i, kind, source) for i, (kind, source) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_text(text: str) -> str:
    return json.dumps(notebook(text), indent=1, ensure_ascii=False) + "\n"


def test_notebook_is_made_from_the_page() -> None:
    """The committed notebook is the page's code; a stale one names the command that remakes it."""
    page = PAGE.read_text(encoding="utf-8")
    assert NOTEBOOK.read_text(encoding="utf-8") == notebook_text(page), (
        "docs/tutorials/python-api.ipynb is stale: "
        "run `.venv/bin/python tests/docs/test_python_api_tutorial.py`"
    )
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) + "\n" for c in cells if c["cell_type"] == "code"]
    assert code == python_blocks(page)


@pytest.mark.backend("numpyro")
def test_tutorial_code_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az
    import matplotlib.pyplot as plt
    import pandas as pd

    import specrec
    from specrec.model_comparison import Comparison

    _copy_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    try:
        ns = run_blocks(blocks)[1]
    finally:
        plt.close("all")

    run, vi, again = ns["run"], ns["vi"], ns["again"]
    for r in (run, vi, again):
        assert isinstance(r, specrec.Run)
        assert isinstance(r.idata, az.InferenceData)
        assert (r.path / "metrics.json").is_file()
    assert run.path.resolve().parent == (tmp_path / "runs" / "quickstart").resolve()
    assert again.path == run.path and again.metrics == run.metrics
    assert (
        run.metrics["inference"]["method"] == "nuts" and vi.metrics["inference"]["method"] == "vi"
    )
    assert run.metrics["split"]["n_train"] == 648  # the page's SMALL overrides took effect
    assert {"posterior", "log_likelihood", "posterior_predictive"} <= set(run.idata.groups())

    assert set(ns["test"]) >= {"rmse", "mae", "coverage_90", "log_predictive_density"}
    predicted = run.predict(ns["pairs"])
    assert list(predicted.columns) == [
        *("user_id", "item_id", "mean", "lower", "upper", "user_known", "item_known")
    ]
    assert predicted["user_known"].tolist() == [True, True, True, False]
    assert predicted.equals(again.predict(ns["pairs"]))
    top = run.recommend(user=0, n=5)
    assert list(top.columns) == ["rank", "item_id", "expected", "p_top_5", "item_known"]
    assert len(top) == 5

    comparison = ns["comparison"]
    assert isinstance(comparison, Comparison)
    assert {r["model"] for r in comparison.rows} == {"nuts", "vi"}
    assert isinstance(ns["table"], pd.DataFrame) and set(ns["table"].index) == {"nuts", "vi"}
    assert ns["table"].index[0] == comparison.rows[0]["model"]  # compare_models is az.compare
    for figure in ("ppc.png", "compare.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def rerun_outputs(text: str, folder: Path) -> str:
    """The page with each python block's output in the ``text`` block right after it."""
    import matplotlib

    from specrec.docgen.markdown import wrap_output

    matplotlib.use("Agg")
    fences = list(FENCE.finditer(text))
    shown = iter(run_blocks([m.group(2) for m in fences if m.group(1) == "python"])[0])
    pieces, pos = [], 0
    for m, after in zip(fences, [*fences[1:], None], strict=True):
        if m.group(1) != "python":
            continue
        out = next(shown)
        if after is not None and after.group(1) == "text" and text[m.end() : after.start()] == "\n":
            shown_out = wrap_output(out.rstrip("\n"))  # no line wider than a code block
            pieces += [text[pos : after.start()], "```text\n" + shown_out + "\n```\n"]
            pos = after.end()
    for figure in ("ppc.png", "compare.png"):
        FIGURES.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / figure, FIGURES / figure)
    return "".join(pieces) + text[pos:]


if __name__ == "__main__":
    import os
    import tempfile

    page = PAGE.read_text(encoding="utf-8")
    if "--outputs" in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            _copy_specs(Path(tmp))
            os.chdir(tmp)
            page = rerun_outputs(page, Path(tmp))
        PAGE.write_text(page, encoding="utf-8")
        print(f"rewrote the outputs of {PAGE.relative_to(ROOT)} and {FIGURES.relative_to(ROOT)}")
    NOTEBOOK.write_text(notebook_text(page), encoding="utf-8")
    print(f"wrote {NOTEBOOK.relative_to(ROOT)}", file=sys.stderr)
