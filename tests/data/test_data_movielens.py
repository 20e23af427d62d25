"""MovieLens 100k loads from its folder, its parent folder or the zip, with side information."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from specrec.data.loaders import load_movielens_100k, load_side_info_100k
from specrec.data.movielens import GENRES_100K
from specrec.errors import DataError


def _check(ds):
    assert len(ds) == 3
    np.testing.assert_array_equal(ds.levels["user_id"], [1, 2])
    np.testing.assert_array_equal(ds.levels["item_id"], [10, 20])
    assert "timestamp" in ds.numeric


def test_from_zip(ml100k_zip):
    ds = load_movielens_100k(ml100k_zip)
    _check(ds)
    assert "ml-100k.zip:ml-100k/u.data" in ds.source


def test_from_folder_and_parent(ml100k_zip, tmp_path):
    with zipfile.ZipFile(ml100k_zip) as archive:
        archive.extractall(tmp_path / "x")
    _check(load_movielens_100k(tmp_path / "x" / "ml-100k"))
    _check(load_movielens_100k(tmp_path / "x"))


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"no u\.data"):
        load_movielens_100k(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        load_movielens_100k(tmp_path / "absent")


def test_side_info(ml100k_zip):
    users, items = load_side_info_100k(ml100k_zip)
    assert list(users.columns) == ["age", "gender", "occupation"]
    assert users.loc[2, "age"] == 53 and users.loc[1, "occupation"] == "technician"
    assert list(items.columns) == list(GENRES_100K)
    assert items.loc[10, "Animation"] == 1 and items.loc[20, "Action"] == 1
    assert items.loc[20, "Animation"] == 0
