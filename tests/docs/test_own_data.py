"""The own-data guide shows what its commands print, on files made by ``specrec.docgen.own_data``.

The slow test reruns every command of the guide (validate, three small fits, predict, recommend)
in a fresh example folder and fails, naming the stale blocks, when the guide's marked blocks
differ; regenerate them with ``make docs-gen``.  The quick tests check the pieces: the example
folder is the same on every call, the markers and the generator's blocks match, the guide's YAML
excerpts are parts of the specs the commands run, and the normalising and comparing rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specrec import docgen
from specrec.docgen import markers, own_data

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / own_data.GUIDE
YAML = re.compile(r"^```yaml\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.backend("numpyro")
def test_guide_blocks_are_fresh(tmp_path: Path) -> None:
    """Every marked block is what its commands print now (up to a fit's last digits)."""
    guide = GUIDE.read_text(encoding="utf-8")
    committed = markers.marked(guide)
    fresh = own_data.blocks(tmp_path / "owndata")
    stale = [n for n, text in fresh.items() if not own_data.same_up_to_rounding(committed[n], text)]
    first = f"\n--- committed\n{committed[stale[0]]}\n--- now\n{fresh[stale[0]]}" if stale else ""
    assert not stale, f"stale blocks {stale} of {own_data.GUIDE}; run {docgen.REGENERATE}{first}"
    runs = sorted(p.name for p in (tmp_path / "owndata" / "runs").iterdir())
    assert runs == ["files", "mine", "range"]  # the fits ran, in the folder the guide describes


def test_example_folder_is_reproducible(tmp_path: Path) -> None:
    """Two calls write the same bytes; ratings.csv is what the guide says it is."""
    own_data.write_folder(tmp_path / "a")
    own_data.write_folder(tmp_path / "b")
    a = _files(tmp_path / "a")
    assert a == _files(tmp_path / "b")
    assert {"ratings.csv", "bad.csv", "dup.csv", "strids.csv", "other.csv"} <= set(a)
    assert {"split/train.csv", "split/test.csv", "new_pairs.csv", "specs/mine.yaml"} <= set(a)
    lines = a["ratings.csv"].decode().splitlines()
    assert lines[0] == "userId,movieId,rating,timestamp" and len(lines) == 300
    rows = [line.split(",") for line in lines[1:]]
    stars = {float(r[2]) for r in rows}
    assert stars == {x / 2 for x in range(1, 11)}  # every half star 0.5..5
    assert len({r[0] for r in rows}) == 30 and len({r[1] for r in rows}) == 20
    assert len({(r[0], r[1]) for r in rows}) == 299  # no pair twice (dup.csv adds one)


def test_every_block_is_marked_once() -> None:
    """The guide's markers name exactly the generator's blocks; others are refused."""
    guide = GUIDE.read_text(encoding="utf-8")
    names = [n for n, _ in markers.MARKED.findall(guide)]
    assert sorted(names) == sorted(own_data.BLOCKS)
    same = markers.marked(guide)
    assert markers.splice(guide, same, "guide", "own_data") == guide
    with pytest.raises(ValueError, match=r"blocks without markers \['fit'\]"):
        markers.splice(
            guide.replace("begin generated: fit ", "begin generated: fitted "),
            same,
            "guide",
            "own_data",
        )


def test_yaml_excerpts_are_parts_of_the_specs_run() -> None:
    """Each hand-written YAML excerpt of the guide (comments and ``...`` aside) is lines of one
    spec the commands run, so the prose cannot describe a spec other than the one shown run."""
    specs = {
        name: {line.split(" #")[0].rstrip() for line in text.splitlines()}
        for name, text in own_data.specs().items()
    }
    excerpts = YAML.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(excerpts) >= 6
    for excerpt in excerpts:
        lines = {line.split(" #")[0].rstrip() for line in excerpt.splitlines()} - {"...", ""}
        assert any(lines <= spec for spec in specs.values()), excerpt


def test_normalise_shows_what_does_not_change(tmp_path: Path) -> None:
    printed = (
        "  ... still loading the numpyro backend (2 s)\n"
        "map: step 25/500  loss 1021\rmap: step 500/500  loss 358.5\n"
        f"  run saved to {tmp_path}/runs/mine/20261207-070127-numpyro-map-bafa9e\n"
    )
    assert own_data.normalise(printed, tmp_path) == (
        "map: step 500/500  loss 358.5\n"
        "  run saved to /tmp/owndata/runs/mine/YYYYMMDD-HHMMSS-numpyro-map-xxxxxx\n"
    )


def test_excerpt_marks_what_it_leaves_out() -> None:
    text = "$ specrec fit s.yaml\nkeep 1\ndrop\ndrop\n\nkeep 2\n\nkeep 3\ndrop"
    assert (
        own_data.excerpt(text, [r"^keep"])
        == "$ specrec fit s.yaml\nkeep 1\n...\nkeep 2\n\nkeep 3\n..."
    )
    assert own_data.excerpt(text, None) == text


def test_comparison_allows_only_a_fits_last_digits() -> None:
    same = own_data.same_up_to_rounding
    assert same("mean 3.4532260 p 0.995", "mean 3.4532261 p 0.990")
    assert not same("mean 3.45 p 0.995", "mean 3.55 p 0.995")  # a changed fit
    assert not same("mean 3.45", "average 3.45")  # a changed word
    assert not same("1,2,3.5", "1,2,3.5,True")  # a new column


def test_regenerating_keeps_a_page_equal_up_to_rounding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make docs-gen`` on another machine does not rewrite the guide for a fit's last digits."""
    monkeypatch.setattr(docgen, "PAGES", {"g.md": lambda root: "rmse 0.98931\n"})
    monkeypatch.setattr(docgen, "SAME", {"g.md": own_data.same_up_to_rounding})
    (tmp_path / "g.md").write_text("rmse 0.9893\n")
    assert docgen.stale(tmp_path) == [] and docgen.write(tmp_path) == []
    (tmp_path / "g.md").write_text("rmse 0.95\n")
    assert docgen.write(tmp_path) == ["g.md"]
    assert (tmp_path / "g.md").read_text() == "rmse 0.98931\n"
