"""Each file format loads into the same coded Dataset, and raw ids survive the coding."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from specrec.data.formats import detect_format
from specrec.data.loaders import (
    DuplicateRowsWarning,
    find_duplicates,
    load_ratings,
    load_split_files,
)
from specrec.errors import DataError

U_DATA = (
    "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t51\t2\t880606923\n"
)


def _raw(ds, column):
    return ds.levels[column][ds.codes[column]]


def test_movielens_u_data(write):
    ds = load_ratings(write("u.data", U_DATA), numeric=("timestamp",))
    assert len(ds) == 4
    assert ds.response == "rating"
    np.testing.assert_array_equal(ds.y, [3, 3, 1, 2])
    np.testing.assert_array_equal(ds.levels["user_id"], [22, 186, 196])  # sorted numerically
    np.testing.assert_array_equal(_raw(ds, "user_id"), [196, 186, 22, 196])
    np.testing.assert_array_equal(_raw(ds, "item_id"), [242, 302, 377, 51])
    assert ds.codes["user_id"].dtype == np.int64
    np.testing.assert_array_equal(ds.numeric["timestamp"][:1], [881250949.0])
    assert ds.source.endswith("u.data")


@pytest.mark.parametrize("name", ["u1.base", "u1.test", "ua.base", "ub.test"])
def test_movielens_split_file_names_are_detected(write, name):
    path = write(name, U_DATA)
    assert detect_format(path) == "movielens"
    assert len(load_ratings(path)) == 4


def test_ml_dat(write):
    path = write("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::1\n")
    ds = load_ratings(path)
    np.testing.assert_array_equal(ds.y, [5, 3, 4])
    np.testing.assert_array_equal(ds.levels["item_id"], [661, 1193])
    np.testing.assert_array_equal(ds.codes["item_id"], [1, 0, 1])


def test_ml_csv_header_is_normalised(write):
    path = write(
        "ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1\n1,1029,3.0,2\n7,31,4.5,3\n"
    )
    assert detect_format(path) == "ml-csv"
    ds = load_ratings(path, numeric=("timestamp",))
    np.testing.assert_array_equal(ds.y, [2.5, 3.0, 4.5])
    np.testing.assert_array_equal(_raw(ds, "user_id"), [1, 1, 7])
    np.testing.assert_array_equal(_raw(ds, "item_id"), [31, 1029, 31])
    np.testing.assert_array_equal(ds.numeric["timestamp"], [1, 2, 3])


@pytest.mark.parametrize(
    "header",
    [
        ' "userId" , movieId,rating,timestamp',
        '"userId","movieId","rating","timestamp"',
        "userId , 'movieId',rating ,timestamp",
    ],
)
def test_ml_csv_header_cells_are_read_without_spaces_and_quotes(write, header):
    path = write("ratings.csv", header + "\n1,31,2.5,1\n7,1029,3.0,2\n")
    assert detect_format(path) == "ml-csv"
    ds = load_ratings(path, numeric=("timestamp",))
    np.testing.assert_array_equal(ds.y, [2.5, 3.0])
    np.testing.assert_array_equal(_raw(ds, "user_id"), [1, 7])
    np.testing.assert_array_equal(_raw(ds, "item_id"), [31, 1029])


def test_ml_csv_header_naming_a_column_twice_is_refused(write):
    path = write("ratings.csv", "userId, userId,movieId,rating\n1,2,3,4\n")
    with pytest.raises(DataError) as err:
        load_ratings(path)
    assert str(err.value) == (
        f"{path}, row 1: the header names column 'userId' twice (userId,  userId, movieId, rating)"
    )


def test_generic_csv_with_rename_string_ids_and_ignored_columns(write):
    path = write(
        "plays.csv",
        "listener,track,score,noise,age\nalice,t2,1.5,x,30\nbob,t1,2,y,40\nalice,t10,3,z,30\n",
    )
    ds = load_ratings(
        path,
        rename={"user_id": "listener", "item_id": "track", "rating": "score"},
        numeric=("age",),
    )
    np.testing.assert_array_equal(ds.levels["user_id"], ["alice", "bob"])
    np.testing.assert_array_equal(ds.levels["item_id"], ["t1", "t10", "t2"])
    np.testing.assert_array_equal(_raw(ds, "item_id"), ["t2", "t1", "t10"])
    np.testing.assert_array_equal(ds.numeric["age"], [30, 40, 30])
    assert set(ds.numeric) == {"age"}  # "noise" was not asked for


def test_tsv_and_custom_response_and_extra_categorical(write):
    path = write("data.tsv", "user_id\titem_id\tgroup\tclicks\n1\t2\tg1\t0\n2\t2\tg2\t4\n")
    ds = load_ratings(path, response="clicks", categorical=("user_id", "item_id", "group"))
    assert ds.response == "clicks"
    np.testing.assert_array_equal(ds.y, [0, 4])
    np.testing.assert_array_equal(ds.levels["group"], ["g1", "g2"])


def test_csv_with_explicit_sep(write):
    path = write("semi.csv", "user_id;item_id;rating\n1;2;3\n")
    ds = load_ratings(path, sep=";")
    np.testing.assert_array_equal(ds.y, [3])


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "r.parquet"
    pd.DataFrame(
        {"user_id": [5, 3, 5], "item_id": ["b", "a", "a"], "rating": [1.0, 2.0, 3.0]}
    ).to_parquet(path)
    ds = load_ratings(path)
    np.testing.assert_array_equal(ds.levels["user_id"], [3, 5])
    np.testing.assert_array_equal(_raw(ds, "user_id"), [5, 3, 5])
    np.testing.assert_array_equal(_raw(ds, "item_id"), ["b", "a", "a"])


def test_format_can_be_forced(write):
    path = write("ratings.txt", U_DATA)
    ds = load_ratings(path, format="movielens")
    assert len(ds) == 4


def test_integer_ids_with_leading_zeros_stay_text(write):
    path = write("r.csv", "user_id,item_id,rating\n007,1,1\n7,1,2\n")
    ds = load_ratings(path)
    np.testing.assert_array_equal(ds.levels["user_id"], ["007", "7"])


def test_duplicates_are_reported_not_refused(write):
    text = "1\t10\t5\t1\n2\t10\t3\t2\n1\t10\t2\t3\n1\t10\t4\t4\n"
    with pytest.warns(DuplicateRowsWarning) as record:
        ds = load_ratings(write("u.data", text))
    message = str(record[0].message)
    assert "2 rows repeat" in message
    assert "u.data row 1 and" in message and "row 3" in message
    assert "user_id=1" in message and "item_id=10" in message
    assert len(ds) == 4
    dups = find_duplicates(ds)
    assert list(dups["row"]) == [2, 3]
    assert list(dups["first_row"]) == [0, 0]
    assert list(dups["user_id"]) == [1, 1]


def test_no_warning_without_duplicates(write):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_ratings(write("u.data", U_DATA))
    assert find_duplicates(ds).empty


def test_blank_lines_are_skipped_but_counted(write):
    from specrec.errors import DataError

    path = write("u.data", "1\t2\t3\t4\n\n1\t3\tx\t4\n")
    with pytest.raises(DataError) as err:
        load_ratings(path)
    assert err.value.row == 3


def test_split_files_share_codes(write):
    train = write("u1.base", "1\t10\t5\t1\n2\t20\t3\t2\n")
    test = write("u1.test", "3\t10\t4\t3\n1\t30\t1\t4\n")
    ds, split = load_split_files(train, test)
    assert len(ds) == 4
    np.testing.assert_array_equal(split.train, [0, 1])
    np.testing.assert_array_equal(split.test, [2, 3])
    assert split.kind == "files"
    np.testing.assert_array_equal(ds.levels["user_id"], [1, 2, 3])
    np.testing.assert_array_equal(ds.levels["item_id"], [10, 20, 30])
    # item 10 has the same code in train row 0 and test row 2
    assert ds.codes["item_id"][0] == ds.codes["item_id"][2]
    np.testing.assert_array_equal(ds.take(split.test).y, [4, 1])


def test_split_file_duplicates_across_files_point_at_each_file(write):
    train = write("u1.base", "1\t10\t5\t1\n")
    test = write("u1.test", "1\t10\t4\t3\n")
    with pytest.warns(DuplicateRowsWarning, match=r"u1.base row 1 and .*u1.test row 1"):
        load_split_files(train, test)
