"""Every bad-data error names the file, the 1-based row and what is wrong."""

from __future__ import annotations

import pytest

from specrec.data.loaders import load_ratings, load_split_files
from specrec.errors import EXIT_BAD_INPUT, DataError


def _error(path, **kwargs) -> DataError:
    with pytest.raises(DataError) as err:
        load_ratings(path, **kwargs)
    assert err.value.exit_code == EXIT_BAD_INPUT
    return err.value


def test_missing_file(tmp_path):
    error = _error(tmp_path / "nope.csv")
    assert error.file.endswith("nope.csv")
    assert "file not found" in str(error)


def test_movielens_wrong_field_count(write):
    error = _error(write("u.data", "1\t2\t3\t4\n1\t2\t3\n"))
    assert error.file.endswith("u.data") and error.row == 2
    assert "expected 4 fields" in str(error) and "found 3" in str(error)
    assert "u.data, row 2" in str(error)


def test_movielens_space_separated_hint(write):
    error = _error(write("u.data", "1 2 3 4\n"))
    assert error.row == 1
    assert "tab separated" in str(error)


def test_dat_wrong_field_count(write):
    error = _error(write("ratings.dat", "1::2::3::4\n1::2::3::4::5\n"))
    assert error.row == 2 and "'::'" in str(error) and "found 5" in str(error)


def test_csv_wrong_field_count_counts_header(write):
    error = _error(write("r.csv", "user_id,item_id,rating\n1,2,3\n1,2,3,4\n"))
    assert error.row == 3
    assert "expected 3 fields" in str(error)


def test_non_numeric_rating(write):
    error = _error(write("r.csv", "user_id,item_id,rating\n1,2,3\n1,3,four\n"))
    assert error.file.endswith("r.csv") and error.row == 3
    assert "'rating' must be a finite number, found 'four'" in str(error)


def test_nan_rating(write):
    error = _error(write("u.data", "1\t2\tNaN\t4\n"))
    assert error.row == 1 and "is NaN" in str(error)


def test_empty_rating(write):
    error = _error(write("r.csv", "user_id,item_id,rating\n1,2,\n"))
    assert error.row == 2 and "'rating' is missing" in str(error)


def test_non_numeric_numeric_column(write):
    path = write("r.tsv", "user_id\titem_id\trating\tts\n1\t2\t3\t5\n1\t2\t3\tsoon\n")
    error = _error(path, numeric=("ts",))
    assert error.row == 3 and "'ts' must be a finite number, found 'soon'" in str(error)


def test_missing_categorical_id(write):
    error = _error(write("r.csv", "user_id,item_id,rating\n1,2,3\n,2,3\n"))
    assert error.row == 3 and "'user_id' is missing (empty id)" in str(error)


def test_rating_outside_value_range(write):
    path = write("u.data", "1\t2\t3\t4\n1\t3\t6\t4\n1\t4\t0\t4\n")
    error = _error(path, value_range=(1, 5))
    assert error.row == 2
    assert "is 6, outside data.range [1, 5]" in str(error) and "2 rows outside" in str(error)


def test_range_is_shown_as_the_spec_writes_it(write):
    path = write("u.data", "1\t2\t3\t4\n1\t3\t5\t4\n")
    assert "outside data.range [1, 4.5] (1 row outside)" in str(_error(path, value_range=(1, 4.5)))
    assert "is 3, outside data.range [-inf, 2]" in str(_error(path, value_range=(None, 2)))


def test_absent_column_lists_columns_and_suggests(write):
    path = write("r.csv", "user_id,item_id,Rating\n1,2,3\n")
    error = _error(path)
    message = str(error)
    assert error.row is None and error.file.endswith("r.csv")
    assert "column 'rating' not found" in message
    assert "user_id, item_id, Rating" in message
    assert "did you mean 'Rating'?" in message


def test_absent_renamed_column_names_both(write):
    path = write("r.csv", "user,item_id,rating\n1,2,3\n")
    error = _error(path, rename={"user_id": "usr"})
    assert "column 'usr' (for 'user_id') not found" in str(error)
    assert "did you mean 'user'?" in str(error)


def test_empty_file(write):
    assert "empty" in str(_error(write("r.csv", "")))
    assert "no data rows" in str(_error(write("u.data", "\n")))


def test_unknown_extension(write):
    error = _error(write("ratings.xyz", "x"))
    assert "from its name; set data.format to one of movielens, ml-dat, ml-csv," in str(error)


def test_unknown_format_name(write):
    with pytest.raises(ValueError, match="unknown format 'excel'"):
        load_ratings(write("r.csv", "a\n1\n"), format="excel")


def test_split_files_error_names_the_test_file(write):
    train = write("u1.base", "1\t10\t5\t1\n")
    test = write("u1.test", "1\t10\t5\t1\n2\t10\tbad\t1\n")
    with pytest.raises(DataError) as err:
        load_split_files(train, test)
    assert err.value.file.endswith("u1.test") and err.value.row == 2
