"""Row-level checks on every data file specrec reads: file, row, column, expected and found.

Tiny files in tmp_path only (never the real MovieLens data).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specrec.data.loaders import load_movielens_100k, load_ratings, load_split_files
from specrec.data.movielens import load_side_info_100k, side_attributes_100k
from specrec.errors import EXIT_BAD_INPUT, DataError

GOOD_UDATA = "1\t1\t5\t881250949\n2\t1\t3\t881250950\n"
BAD_IDS = {
    "text": "abc",
    "negative": "-3",
    "zero": "0",
    "fractional": "2.5",
    "nul byte": "1\x002",
    "exponent": "1e3",
}


def _error(call) -> DataError:
    with pytest.raises(DataError) as info:
        call()
    assert info.value.exit_code == EXIT_BAD_INPUT
    return info.value


@pytest.mark.parametrize("column", [0, 1])
@pytest.mark.parametrize("kind", sorted(BAD_IDS))
def test_movielens_ids_must_be_positive_integers(tmp_path: Path, kind: str, column: int) -> None:
    fields = ["7", "8", "4", "881250951"]
    fields[column] = BAD_IDS[kind]
    path = tmp_path / "u.data"
    path.write_text(GOOD_UDATA + "\t".join(fields) + "\n")
    err = _error(lambda: load_ratings(path, format="movielens"))
    assert err.file == str(path) and err.row == 3
    assert ("user_id", "item_id")[column] in str(err) and "positive integer id" in str(err)
    assert repr(BAD_IDS[kind]) in str(err)


@pytest.mark.parametrize("kind", sorted(BAD_IDS))
def test_ml_latest_csv_ids_must_be_positive_integers(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(f"userId,movieId,rating,timestamp\n1,2,4.0,1\n{BAD_IDS[kind]},2,4.0,1\n")
    err = _error(lambda: load_ratings(path, format="ml-csv"))
    assert err.row == 3 and "positive integer id" in str(err)


def test_a_csv_row_with_fewer_fields_than_the_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating\n1,2,4\n3,4\n")
    err = _error(lambda: load_ratings(path, format="csv"))
    assert err.row == 3 and "rating" in str(err)


USER = "1|24|M|technician|85711\n2|53|F|other|94043\n"
ITEM = "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join("0" * 18 + "1") + "\n"


def _side(tmp_path: Path, user: str = USER, item: str = ITEM) -> Path:
    (tmp_path / "u.data").write_text(GOOD_UDATA)
    (tmp_path / "u.user").write_text(user)
    (tmp_path / "u.item").write_text(item)
    return tmp_path


def test_good_side_tables_load(tmp_path: Path) -> None:
    users, genres = load_side_info_100k(_side(tmp_path))
    assert users.loc[2, "age"] == 53 and genres.shape == (1, 19)


BAD_SIDE = {
    "text age": ("u.user", USER + "3|old|M|other|1\n", "age", 3),
    "short user row": ("u.user", USER + "3|20|M\n", "fields", 3),
    "negative user id": ("u.user", USER + "-3|20|M|other|1\n", "user_id", 3),
    "text item id": ("u.item", ITEM.replace("1|Toy", "x|Toy"), "item_id", 1),
    "genre flag 2": ("u.item", ITEM[:-2] + "2\n", "Western", 1),
    "short item row": ("u.item", ITEM + "2|Short\n", "fields", 2),
}


@pytest.mark.parametrize("kind", sorted(BAD_SIDE))
def test_bad_side_tables_are_positioned(tmp_path: Path, kind: str) -> None:
    name, text, word, row = BAD_SIDE[kind]
    folder = _side(tmp_path, **{("user" if name == "u.user" else "item"): text})
    err = _error(lambda: side_attributes_100k(folder, {"user_id": [1], "item_id": [1]}))
    assert err.file is not None and err.file.endswith(name) and err.row == row, str(err)
    assert word in str(err)


def test_missing_side_tables_are_no_covariates(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text(GOOD_UDATA)
    assert side_attributes_100k(tmp_path, {"user_id": [1]}) == {}


#: A rating row whose id the archive's own lists (u.user, u.item) lack, per id column.
UNLISTED = {"user_id": "3\t1\t4\t881250951\n", "item_id": "1\t9\t4\t881250951\n"}


@pytest.mark.parametrize("column", sorted(UNLISTED))
def test_an_id_the_archive_does_not_list_is_refused_with_file_and_row(
    tmp_path: Path, column: str
) -> None:
    folder = _side(tmp_path)
    (folder / "u.data").write_text(GOOD_UDATA + UNLISTED[column])
    err = _error(lambda: load_movielens_100k(folder))
    assert err.file == str(folder / "u.data") and err.row == 3, str(err)
    assert column in str(err) and ("u.user" if column == "user_id" else "u.item") in str(err)


@pytest.mark.parametrize("part", ["u1.base", "u1.test"])
@pytest.mark.parametrize("column", sorted(UNLISTED))
def test_split_files_are_checked_against_the_id_lists(
    tmp_path: Path, column: str, part: str
) -> None:
    folder = _side(tmp_path)
    for name in ("u1.base", "u1.test"):
        (folder / name).write_text(GOOD_UDATA + (UNLISTED[column] if name == part else ""))
    err = _error(lambda: load_split_files(folder / "u1.base", folder / "u1.test", listed_in=folder))
    assert err.file == str(folder / part) and err.row == 3, str(err)


def test_without_id_lists_any_positive_id_is_a_level(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text(GOOD_UDATA + UNLISTED["user_id"])
    assert list(load_movielens_100k(tmp_path).levels["user_id"]) == [1, 2, 3]
