"""Row-level checks on every data file specrec reads: file, row, column, expected and found.

Tiny files in tmp_path only (never the real MovieLens data).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
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


# -- every reader, every row-level class ------------------------------------------------------
# Each data file specrec reads is described once: how to write it from rows of fields, which
# fields a row has, and the call that reads it.  The damage classes below are generated over
# this table, so a new reader (or a new file of an existing one) is covered by adding a line.


@dataclass(frozen=True)
class Reader:
    name: str  # the file's name
    sep: str
    header: tuple[str, ...] | None  # None: a headerless format
    rows: tuple[tuple[str, ...], ...]  # good data rows
    read: Callable[[Path], object]  # reads the file written into its folder
    numeric: tuple[int, ...]  # fields that must be numbers (or integers)


def _ratings(path: Path, **kw) -> object:
    return load_ratings(path, numeric=("timestamp",), **kw)


def _predict_pairs(path: Path) -> object:
    from specrec.run import read_pairs

    return read_pairs(path)


def _user_table(path: Path) -> object:
    return side_attributes_100k(path.parent, {"user_id": [1, 2]}, required=("user_id",))


def _item_table(path: Path) -> object:
    return side_attributes_100k(path.parent, {"item_id": [1, 2]}, required=("item_id",))


RATING_ROWS = (("1", "1", "5", "881250949"), ("2", "1", "3", "881250950"), ("2", "2", "4", "9"))
FLAGS = tuple("0" * 18 + "1")
ML_HEADER = ("user_id", "item_id", "rating", "timestamp")
READERS = [
    *(
        Reader(name, sep, header, RATING_ROWS, lambda p, f=fmt: _ratings(p, format=f), numeric)
        for name, sep, header, fmt, numeric in [
            ("r.csv", ",", ML_HEADER, "csv", (2, 3)),
            ("r.tsv", "\t", ML_HEADER, "tsv", (2, 3)),
            (
                "ratings.csv",
                ",",
                ("userId", "movieId", "rating", "timestamp"),
                "ml-csv",
                (0, 1, 2, 3),
            ),
        ]
    ),
    Reader("u.data", "\t", None, RATING_ROWS, lambda p: _ratings(p), (0, 1, 2, 3)),
    Reader("ratings.dat", "::", None, RATING_ROWS, lambda p: _ratings(p), (0, 1, 2, 3)),
    Reader(
        "u.user",
        "|",
        None,
        (("1", "24", "M", "technician", "85711"), ("2", "53", "F", "other", "94043")),
        _user_table,
        (0, 1),
    ),
    Reader(
        "u.item",
        "|",
        None,
        (
            ("1", "Toy Story (1995)", "01-Jan-1995", "", "http://x", *FLAGS),
            ("2", "GoldenEye (1995)", "01-Jan-1995", "", "http://y", *FLAGS),
        ),
        _item_table,
        (0, 5, 23),
    ),
    Reader("pairs.csv", ",", ("user_id", "item_id"), (("1", "1"), ("2", "1")), _predict_pairs, ()),
]


def _write(reader: Reader, folder: Path, rows: list[tuple[str, ...]], blank: bool = False) -> Path:
    """The file with ``rows``; ``blank`` puts a blank line before the last row, which must
    still be counted in row numbers."""
    lines = [reader.sep.join(r) for r in rows]
    if blank:
        lines.insert(len(lines) - 1, "")
    if reader.header is not None:
        lines.insert(0, reader.sep.join(reader.header))
    path = folder / reader.name
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def _last_row(reader: Reader, blank: bool) -> int:
    """The file row of the last data row as an editor counts it."""
    return len(reader.rows) + (reader.header is not None) + blank


ids = [r.name for r in READERS]


@pytest.mark.parametrize("reader", READERS, ids=ids)
def test_every_reader_reads_its_good_file(tmp_path: Path, reader: Reader) -> None:
    reader.read(_write(reader, tmp_path, list(reader.rows), blank=True))


#: a row short of one field, and of all but one (a row with no field left is a blank line)
SHORT = [(r, m) for r in READERS for m in sorted({1, len(r.rows[0]) - 1})]


@pytest.mark.parametrize("blank", [False, True], ids=["", "after a blank line"])
@pytest.mark.parametrize(
    ("reader", "missing"), SHORT, ids=[f"{r.name}-{m} short" for r, m in SHORT]
)
def test_a_short_row_names_file_row_expected_and_found(
    tmp_path: Path, reader: Reader, missing: int, blank: bool
) -> None:
    rows = [*reader.rows[:-1], reader.rows[-1][:-missing]]
    path = _write(reader, tmp_path, rows, blank)
    err = _error(lambda: reader.read(path))
    n = len(reader.rows[0])
    assert err.file is not None and err.file.endswith(reader.name), str(err)
    assert err.row == _last_row(reader, blank), str(err)
    assert f"expected {n} fields" in str(err) and f"found {n - missing}" in str(err), str(err)


@pytest.mark.parametrize("reader", READERS, ids=ids)
def test_a_long_row_names_file_row_expected_and_found(tmp_path: Path, reader: Reader) -> None:
    rows = [*reader.rows[:-1], (*reader.rows[-1], "7")]
    path = _write(reader, tmp_path, rows)
    err = _error(lambda: reader.read(path))
    n = len(reader.rows[0])
    assert err.file is not None and err.file.endswith(reader.name), str(err)
    assert err.row == _last_row(reader, False), str(err)
    assert f"expected {n} fields" in str(err) and f"found {n + 1}" in str(err), str(err)


@pytest.mark.parametrize("reader", [r for r in READERS if r.header], ids=lambda r: r.name)
def test_rows_all_longer_than_the_header_are_refused(tmp_path: Path, reader: Reader) -> None:
    """When the first rows have one field more than the header, pandas takes the first column
    for an index and shifts every value one column left; that must be a positioned error."""
    rows = [(*r, "7") for r in reader.rows]
    path = _write(reader, tmp_path, rows)
    err = _error(lambda: reader.read(path))
    n = len(reader.rows[0])
    assert err.file is not None and err.file.endswith(reader.name), str(err)
    assert err.row == 2, str(err)
    assert f"expected {n} fields" in str(err) and f"found {n + 1}" in str(err), str(err)


NUMERIC = [(r, i) for r in READERS for i in r.numeric]


@pytest.mark.parametrize("blank", [False, True], ids=["", "after a blank line"])
@pytest.mark.parametrize(
    ("reader", "field"), NUMERIC, ids=[f"{r.name}-field{i}" for r, i in NUMERIC]
)
def test_text_in_a_number_field_names_file_row_and_value(
    tmp_path: Path, reader: Reader, field: int, blank: bool
) -> None:
    last = list(reader.rows[-1])
    last[field] = "abc"
    path = _write(reader, tmp_path, [*reader.rows[:-1], tuple(last)], blank)
    err = _error(lambda: reader.read(path))
    assert err.file is not None and err.file.endswith(reader.name), str(err)
    assert err.row == _last_row(reader, blank) and "'abc'" in str(err), str(err)


@pytest.mark.parametrize("reader", [r for r in READERS if r.name in ("u.user", "u.item")])
def test_a_missing_covariate_table_names_the_file_not_the_spec(
    tmp_path: Path, reader: Reader
) -> None:
    err = _error(lambda: reader.read(tmp_path / reader.name))
    assert err.file == str(tmp_path) and reader.name in str(err), str(err)
    assert "data.covariates" in str(err)


def test_a_gender_other_than_m_or_f_is_refused(tmp_path: Path) -> None:
    folder = _side(tmp_path, user=USER + "3|20|X|other|1\n")
    err = _error(lambda: side_attributes_100k(folder, {"user_id": [1]}))
    assert err.row == 3 and "'gender' must be M or F, found 'X'" in str(err)


@pytest.mark.parametrize("table", ["u.user", "u.item"])
def test_fit_names_a_missing_covariate_table_and_exits_2(
    tmp_path: Path, fake_ml100k: Path, table: str
) -> None:
    """Through the CLI with the shipped covariates spec: the file is named, not the spec."""
    from click.testing import CliRunner

    from specrec.cli import main

    folder = Path(shutil.copytree(fake_ml100k, tmp_path / "ml-100k"))
    (folder / table).unlink()
    spec = Path(__file__).resolve().parents[2] / "specs" / "movielens" / "covariates_mf.yaml"
    result = CliRunner().invoke(main, ["fit", str(spec), "--data", str(folder)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert table in result.output and str(folder) in result.output
    assert "has no covariate" not in result.output and "Traceback" not in result.output
