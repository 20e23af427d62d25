"""Study files: positioned errors like specs, and the expansion of a study into cells."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main
from specrec.errors import SpecError
from specrec.study.cells import Fingerprints, fingerprint_all, plan
from specrec.study.file import load_study

SPECS = Path(__file__).resolve().parents[2] / "specs"

GOOD = """\
specrec_study: 1
name: small
seeds: [0, 1]
splits:
  random: {kind: random, test_fraction: 0.2, seed: 0}
  cv: {kind: kfold, k: 3, seed: 1}
  picked: {kind: kfold, k: 4, folds: [1, 3]}
set: {inference.steps: 50}
runs:
  - spec: {specs}/quickstart.yaml
    backends: [numpyro, pyro]
    methods: [map, vi]
    splits: [random, cv]
    grid: {dims.factor: [2, 4]}
  - spec: {specs}/group_means.yaml
    splits: [picked]
    seeds: [7]
"""


def _problems(path) -> list:
    with pytest.raises(SpecError) as info:
        load_study(path)
    return info.value.problems


def test_study_expands_to_every_combination(write_study):
    cells = plan(load_study(write_study(GOOD)))
    quick = [c for c in cells if c.spec_name == "quickstart"]
    # 2 factors x (random + 3 folds) x 2 backends x 2 methods x 2 seeds
    assert len(quick) == 2 * 4 * 2 * 2 * 2
    group = [c for c in cells if c.spec_name == "group_means"]
    assert [c.split.label for c in group] == ["picked1", "picked3"]
    # group_means keeps its own method; its own seeds list beats the study's
    assert {c.method for c in group} == {"nuts"} and {c.seed for c in group} == {7}
    # every setting reaches the resolved spec, exactly as `specrec fit --set` would apply it
    c = next(x for x in quick if x.split.label == "cv2" and dict(x.grid)["dims.factor"] == 4)
    assert c.resolved["dims"]["factor"] == 4
    assert c.resolved["data"]["split"] == {"kind": "kfold", "k": 3, "fold": 2, "seed": 1}
    assert c.resolved["inference"]["steps"] == 50
    assert c.resolved["inference"]["method"] == c.method
    assert c.resolved["inference"]["seed"] == c.seed


def test_files_split_folds_substitute_the_fold(write_study):
    path = write_study(
        GOOD.replace(
            "picked: {kind: kfold, k: 4, folds: [1, 3]}",
            'picked: {kind: files, train: "u{fold}.base", test: "u{fold}.test", folds: [1, 2]}',
        )
    )
    group = [c for c in plan(load_study(path)) if c.spec_name == "group_means"]
    assert [c.resolved["data"]["split"] for c in group] == [
        {"kind": "files", "train": "u1.base", "test": "u1.test"},
        {"kind": "files", "train": "u2.base", "test": "u2.test"},
    ]


def test_cell_ids_name_what_decides_the_result(write_study):
    cells = plan(load_study(write_study(GOOD)))
    fp = Fingerprints("d" * 64, "s" * 64)
    v = {"numpy": "2", "platform": "a"}
    ids = [c.cell_id(fp, v) for c in cells]
    assert len(set(ids)) == len(ids)  # every cell differs in something
    first = cells[0]
    assert first.cell_id(fp, v) == first.cell_id(fp, {**v, "platform": "another host"})
    assert first.cell_id(fp, v) != first.cell_id(fp, {**v, "numpy": "3"})
    assert first.cell_id(fp, v) != first.cell_id(Fingerprints("d" * 64, "x" * 64), v)


def test_fingerprints_are_computed_once_per_data_and_split(write_study):
    cells = plan(load_study(write_study(GOOD)))
    keys = {c.data_key for c in cells}
    # quickstart simulates its data from the model, so the factor grid changes it too:
    # (2 factors x 4 splits) + group_means' 2 folds
    assert len(keys) == 2 * 4 + 2
    asked = []
    found = fingerprint_all(cells, known=lambda k: asked.append(k))
    assert sorted(asked) == sorted(keys)  # each key asked once, not once per cell
    assert all(isinstance(v, Fingerprints) for v in found.values())
    folds = [found[c.data_key].split for c in cells if c.spec_name == "group_means"]
    assert len(set(folds)) == 2


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("seeds: [0, 1]", "sedes: [0, 1]"), ":3:1: sedes", "did you mean 'seeds'?"),
        (
            ("seeds: [0, 1]", "backends: [pyro]"),
            ":3:1: backends: unknown key",
            "'backends' is a key at runs[].backends, not at the top level",
        ),
        (("{specs}/group_means.yaml", "missing.yaml"), ":15:11: runs[1].spec", "no such spec"),
        (("[numpyro, pyro]", "[numpyro, pyr0]"), ":11:25: runs[0].backends[1]", "unknown backend"),
        (
            ("splits: [random, cv]", "splits: [random, cvv]"),
            ":13:22: runs[0].splits[1]",
            "no split",
        ),
        (("folds: [1, 3]", "folds: [1, 4]"), ":7:38: splits.picked.folds", "folds must be in 0..3"),
        (("methods: [map, vi]", "methods: [map, hmc]"), ":12:20: runs[0].methods[1]", "allowed"),
    ],
)
def test_study_errors_are_positioned(write_study, edit, where, message):
    problems = _problems(write_study(GOOD.replace(*edit)))
    text = "\n".join(p.format() for p in problems)
    assert where in text and message in text, text


def test_a_spec_that_rejects_an_override_names_the_study_entry(write_study):
    path = write_study(GOOD.replace("grid: {dims.factor: [2, 4]}", "grid: {dims.factor: [0]}"))
    with pytest.raises(SpecError) as info:
        plan(load_study(path))
    text = str(info.value)
    assert ":10:5: runs[0]: this run's spec does not validate" in text
    assert "dims.factor" in text


def test_cli_reports_a_bad_study_with_exit_2(write_study):
    path = write_study(GOOD.replace("{specs}/group_means.yaml", "nowhere.yaml"))
    r = CliRunner().invoke(main, ["study", "status", str(path)])
    assert r.exit_code == 2
    assert "runs[1].spec: no such spec file" in r.stderr and "Traceback" not in r.output


def test_status_of_a_study_never_run_is_all_pending(write_study, tmp_path):
    path = write_study(GOOD)
    r = CliRunner().invoke(main, ["study", "status", str(path)])
    assert r.exit_code == 0, r.output
    assert "0 done, 0 running, 0 failed, 66 pending" in r.stdout
    assert not (tmp_path / "study.study.sqlite").exists()  # status writes nothing
    json.dumps(r.stdout)


STUDIES = sorted((SPECS / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_shipped_studies_plan_without_data(path):
    # every cell's spec validates with its overrides; no data is needed for that
    cells = plan(load_study(path))
    assert cells and all(c.resolved["inference"]["method"] == c.method for c in cells)


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "a | b",
        "`tick`",
        "<img src=x onerror=alert(1)>",
        "x &amp; y",
        "*bold* __strong__ ~~gone~~",
        "[click](http://example.com)",
        "back\\slash \\*",
    ],
)
def test_summary_markdown_shows_user_text_literally(text: str) -> None:
    from specrec.study.report import _md

    out = _md(text)
    bare = re.sub(r"\\.", "", out)  # what is left once every backslash escape is taken out
    assert not set(bare) & set("<>`|*_[]~\\"), out
    assert html.unescape(re.sub(r"\\(.)", r"\1", out)) == text
