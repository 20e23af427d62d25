"""``data.path`` as a spec names it: a ratings file, or a folder only with a files split."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrec.data.source import load_data
from specrec.errors import EXIT_BAD_INPUT, DataError, SpecError, shorten
from specrec.spec.load import load_spec

ROWS = "userId,movieId,rating,timestamp\n1,1,4,1\n1,2,3,2\n2,1,5,3\n2,2,2,4\n3,1,4,5\n"
TEST_ROWS = "userId,movieId,rating,timestamp\n3,2,3,6\n"

SPEC = """\
specrec: 1
name: folder
data:
  source: file
  path: {path}
{split}dims:
  user: {{column: user_id}}
  item: {{column: item_id}}
params:
  mu: Normal(3, 1)
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu, sigma)
"""  # only read, never lowered: the dims name the id columns


def _spec(tmp_path: Path, split: str = "", path: str = "../split") -> Path:
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "train.csv").write_text(ROWS)
    (tmp_path / "split" / "test.csv").write_text(TEST_ROWS)
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "folder.yaml"
    spec.write_text(SPEC.format(path=path, split=f"  split: {split}\n" if split else ""))
    return spec


def test_a_folder_with_a_files_split_reads_both_files(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "{kind: files, train: train.csv, test: test.csv}")
    ds, split = load_data(load_spec(spec))
    assert len(ds) == 6 and list(split.test) == [5]


@pytest.mark.parametrize(
    ("split", "said"),
    [("", "data.split here is random (the default)"), ("{kind: time}", "here is time")],
)
def test_a_folder_without_a_files_split_is_refused_at_data_path(
    tmp_path: Path, split: str, said: str
) -> None:
    spec = _spec(tmp_path, split)
    with pytest.raises(SpecError) as err:
        load_data(load_spec(spec))
    assert err.value.exit_code == EXIT_BAD_INPUT
    text = str(err.value)
    folder = spec.parent / "../split"
    assert text.startswith(f"{spec}:5:9: data.path: is a folder, which is read only with a files ")
    assert said in text
    assert "    expected: a ratings file, or a folder with split: {kind: files" in text
    assert f"    found:    {shorten(f'the folder {folder}')}\n" in text  # tmp paths are long


def test_a_folder_given_with_data_option_is_blamed_on_the_option(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    folder = str(tmp_path / "split")
    with pytest.raises(SpecError) as err:
        load_data(load_spec(spec), folder)
    assert str(err.value).startswith(f"--data {folder}: data.path: is a folder")
    assert f"found:    {shorten(f'the folder {folder}')}\n" in str(err.value)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            "{kind: leave_k_out, k: 2}",
            "data.split (kind leave_k_out) cannot split the data: no level of 'user_id' has more "
            "than k = 2 rows",
        ),
        (
            "{kind: kfold, k: 6}",
            "data.split (kind kfold) cannot split the data: k = 6 folds need at least 6 rows, "
            "found 5",
        ),
        (
            "{kind: time, test_fraction: 0.05}",
            "data.split (kind time) cannot split the data: test_fraction = 0.05 leaves the test "
            "set empty with 5 rows",
        ),
    ],
)
def test_a_split_the_rows_cannot_take_names_the_spec_keys(
    tmp_path: Path, split: str, message: str
) -> None:
    spec = _spec(tmp_path, split, path="../split/train.csv")
    with pytest.raises(DataError) as err:
        load_data(load_spec(spec))
    assert str(err.value) == f"{spec.parent / '../split/train.csv'}: {message}"
