"""Loading rating files into an integer-coded ``Dataset``.

Every value a model will see is checked here, once, with the file and row of the first bad value
in the error, because a NaN rating or a blank user id found later inside a sampler is
unexplainable.  Raw ids are coded with ``pandas.factorize`` over all files at once (train and
test together), so codes are comparable across a split and ``levels`` keep the raw ids, sorted.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from specrec.data.dataset import Dataset
from specrec.data.formats import FORMATS, RawTable, detect_format, read_headerless, read_table
from specrec.data.movielens import listed_ids_100k, load_side_info_100k, read_member
from specrec.data.splits import Split
from specrec.errors import DataError, shown

__all__ = [
    "DuplicateRowsWarning",
    "find_duplicates",
    "load_movielens_100k",
    "load_ratings",
    "load_side_info_100k",
    "load_split_files",
]

_INTEGER_ID = r"-?(?:0|[1-9][0-9]*)"


class DuplicateRowsWarning(UserWarning):
    """Several rows share all categorical ids (the same user rated the same item twice)."""


@dataclass(frozen=True)
class _Request:
    """The columns a caller wants, in spec names, and how to check them."""

    response: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    rename: Mapping[str, str]
    value_range: tuple[float | None, float | None] | None


@dataclass(frozen=True)
class _Part:
    """One file's checked columns, still holding raw ids (coding happens over all parts)."""

    y: np.ndarray
    ids: dict[str, pd.Series]
    numeric: dict[str, np.ndarray]
    file: str
    rows: np.ndarray


def load_ratings(
    path: str | Path,
    *,
    format: str = "auto",
    rename: Mapping[str, str] | None = None,
    response: str = "rating",
    categorical: Sequence[str] = ("user_id", "item_id"),
    numeric: Sequence[str] = (),
    value_range: tuple[float | None, float | None] | None = None,
    sep: str | None = None,
) -> Dataset:
    """Read one rating file into a ``Dataset``.

    Args:
        path: the file.
        format: one of ``auto``, ``movielens`` (``u.data``), ``ml-dat`` (``ratings.dat``),
            ``ml-csv`` (ML-latest ``ratings.csv``), ``csv``, ``tsv``, ``parquet``; ``auto``
            decides from the file name.
        rename: spec column name -> column name in the file.
        response: the observed column, parsed as float.
        categorical: id columns, coded ``0..n-1`` with raw ids kept in ``levels``.
        numeric: further float columns (timestamps, covariates).
        value_range: inclusive ``(low, high)`` bounds on the response; either may be None.
        sep: field separator, overriding the format's own.

    Raises:
        DataError: naming the file and, for a bad value, its row.

    Rows repeating all categorical ids of an earlier row are kept but reported with a
    ``DuplicateRowsWarning``; ``find_duplicates`` lists them.
    """
    request = _request(response, categorical, numeric, rename, value_range)
    table = _read(Path(path), format, sep, _file_columns(request))
    ds, origin = _build([table], request, source=str(path))
    _warn_duplicates(ds, origin)
    return ds


def load_split_files(
    train_path: str | Path,
    test_path: str | Path,
    *,
    format: str = "auto",
    rename: Mapping[str, str] | None = None,
    response: str = "rating",
    categorical: Sequence[str] = ("user_id", "item_id"),
    numeric: Sequence[str] = (),
    value_range: tuple[float | None, float | None] | None = None,
    sep: str | None = None,
    listed_in: str | Path | None = None,
) -> tuple[Dataset, Split]:
    """Read a given train/test pair (``u1.base``/``u1.test``) as one data set plus its split.

    Both files are coded together so a code means the same user in train and test; the returned
    ``Split`` (kind ``"files"``) has the train file's rows first, then the test file's.
    ``listed_in``: a MovieLens 100k folder whose u.user / u.item list every id the rows may use.
    """
    request = _request(response, categorical, numeric, rename, value_range)
    wanted = _file_columns(request)
    tables = [_read(Path(p), format, sep, wanted) for p in (train_path, test_path)]
    ds, origin = _build(tables, request, source=f"{train_path} + {test_path}")
    if listed_in is not None:
        check_listed_ids(ds, origin, listed_in)
    _warn_duplicates(ds, origin)
    n_train = len(tables[0].frame)
    split = Split.from_rows(
        "files", train=np.arange(n_train), test=np.arange(n_train, len(ds), dtype=np.int64)
    )
    return ds, split


def load_movielens_100k(folder: str | Path) -> Dataset:
    """MovieLens 100k ratings (``u.data``) from its folder, that folder's parent, or the zip.

    Ratings are checked to lie in 1..5 and the timestamp is kept as a numeric column so time
    splits work out of the box.
    """
    text, file = read_member(folder, "u.data")
    table = read_headerless(text, "\t", file)
    request = _request("rating", ("user_id", "item_id"), ("timestamp",), None, (1, 5))
    ds, origin = _build([table], request, source=file)
    check_listed_ids(ds, origin, folder)
    _warn_duplicates(ds, origin)
    return ds


def check_listed_ids(ds: Dataset, origin: _Origin, folder: str | Path) -> None:
    """Refuse a rating whose user or item the archive's own id lists (u.user, u.item) lack.

    Why: MovieLens ships the list of its users and items, so an id outside it (user 0, a
    foreign row pasted in) is damage, not a new user to fit from the population level.  A bare
    u.data (no lists) is not checked; removing the lists is the explicit way to accept such rows.
    """
    for column, (listed, file) in listed_ids_100k(folder).items():
        if column not in ds.codes:
            continue
        unknown = ~np.isin(ds.levels[column], listed)
        if not unknown.any():
            continue
        at = np.isin(ds.codes[column], np.flatnonzero(unknown))
        i = int(np.argmax(at))
        raise DataError(
            f"column {column!r}: id {ds.levels[column][ds.codes[column][i]]} is not listed in "
            f"{file} ({int(at.sum())} rows, {int(unknown.sum())} ids not listed); fix the rows, "
            f"or remove the id lists to fit unlisted ids from the population level",
            file=origin.files[int(origin.file_index[i])],
            row=int(origin.rows[i]),
        )


def find_duplicates(ds: Dataset, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows that repeat the ids of an earlier row, over ``columns`` (default: all categorical).

    Returns one line per repeating row with ``row`` (its 0-based index in ``ds``), ``first_row``
    (the earlier row it repeats) and the raw ids; empty when there are none.  Duplicates are
    reported rather than refused because some data sets legitimately hold repeated ratings.
    """
    names = list(ds.codes) if columns is None else list(columns)
    for name in names:
        if name not in ds.codes:
            raise ValueError(f"{name!r} is not a categorical column of the data set")
    empty = pd.DataFrame({"row": [], "first_row": [], **{c: [] for c in names}})
    if not names or len(ds) == 0:
        return empty.astype({"row": "int64", "first_row": "int64"})
    keys = pd.DataFrame({c: ds.codes[c] for c in names})
    repeat = keys.duplicated(keep="first").to_numpy()
    if not repeat.any():
        return empty.astype({"row": "int64", "first_row": "int64"})
    group = keys.groupby(names, sort=False).ngroup().to_numpy()
    first = np.full(group.max() + 1, len(ds), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(ds), dtype=np.int64))
    rows = np.flatnonzero(repeat)
    result = {"row": rows, "first_row": first[group[rows]]}
    for c in names:
        result[c] = ds.levels[c][ds.codes[c][rows]]
    return pd.DataFrame(result)


# -- reading and checking ---------------------------------------------------------------------


def _request(
    response: str,
    categorical: Sequence[str],
    numeric: Sequence[str],
    rename: Mapping[str, str] | None,
    value_range: tuple[float | None, float | None] | None,
) -> _Request:
    if isinstance(categorical, str) or isinstance(numeric, str):
        raise ValueError("categorical and numeric take a sequence of column names, not a string")
    if value_range is not None and len(value_range) != 2:
        raise ValueError(f"value_range must be (low, high), got {value_range!r}")
    return _Request(response, tuple(categorical), tuple(numeric), dict(rename or {}), value_range)


def _file_columns(request: _Request) -> list[str]:
    """File column names the request reads (before any format default renames)."""
    names = (request.response, *request.categorical, *request.numeric)
    return [request.rename.get(n, n) for n in names]


def _read(path: Path, format: str, sep: str | None, columns: list[str] | None = None) -> RawTable:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    fmt = detect_format(path) if format == "auto" else format
    return read_table(path, fmt, sep, columns)


def _check(table: RawTable, request: _Request) -> _Part:
    """Pull the requested columns out of one table, refusing the first bad value."""
    if len(table.frame) == 0:
        raise DataError("the file has no data rows", file=table.file)
    mapping = {**table.default_rename, **request.rename}

    def column(name: str) -> tuple[pd.Series, str]:
        file_column = mapping.get(name, name)
        if file_column not in table.frame.columns:
            _missing_column(table, name, file_column)
        return table.frame[file_column], file_column

    series, label = column(request.response)
    y = _numbers(series, label, table)
    if request.value_range is not None:
        _check_range(y, label, table, request.value_range)
    ids = {name: _ids(*column(name), table) for name in request.categorical}
    nums = {name: _numbers(*column(name), table) for name in request.numeric}
    return _Part(y, ids, nums, table.file, table.rows)


def _missing_column(table: RawTable, name: str, file_column: str) -> None:
    columns = [str(c) for c in table.frame.columns]
    what = f"column {file_column!r}" + (f" (for {name!r})" if file_column != name else "")
    message = f"{what} not found; the file has columns: {', '.join(columns)}"
    close = difflib.get_close_matches(file_column, columns, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in columns}
        close = [lowered[file_column.lower()]] if file_column.lower() in lowered else []
    if close:
        message += f"; did you mean {close[0]!r}?"
    raise DataError(message, file=table.file)


def _numbers(series: pd.Series, label: str, table: RawTable) -> np.ndarray:
    """Parse a column as finite float64, naming the first row that is not."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        text = series
    else:
        text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
        missing = (text == "").to_numpy()
        parsed = pd.to_numeric(text.where(~missing), errors="coerce")
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raw = text.iloc[i]
        if missing[i]:
            message = f"column {label!r} is missing (empty)"
        elif str(raw).strip().lower() == "nan":
            message = f"column {label!r} is NaN"
        else:
            message = f"column {label!r} must be a finite number, found {shown(raw)}"
        more = int(bad.sum()) - 1
        if more:
            message += f" ({more} more bad row{'s' if more != 1 else ''} after this one)"
        raise DataError(message, file=table.file, row=int(table.rows[i]))
    return values


def _check_range(
    y: np.ndarray,
    label: str,
    table: RawTable,
    value_range: tuple[float | None, float | None],
) -> None:
    low, high = value_range
    outside = np.zeros(y.shape, dtype=bool)
    if low is not None:
        outside |= y < low
    if high is not None:
        outside |= y > high
    if outside.any():
        i = int(np.argmax(outside))
        count = int(outside.sum())
        shown = ["-inf" if low is None else f"{low:g}", "inf" if high is None else f"{high:g}"]
        bounds = f"[{', '.join(shown)}]"  # as the spec's data.range is written: [1, 4.5]
        raise DataError(
            f"column {label!r} is {y[i]:g}, outside data.range {bounds} "
            f"({count} row{'s' if count != 1 else ''} outside)",
            file=table.file,
            row=int(table.rows[i]),
        )


def _ids(series: pd.Series, label: str, table: RawTable) -> pd.Series:
    """Check an id column has no missing values; return it with text ids stripped."""
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        return series.astype("int64").reset_index(drop=True)
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    missing = (text == "").to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(
            f"column {label!r} is missing (empty id)", file=table.file, row=int(table.rows[i])
        )
    if table.positive_ids:
        bad = ~text.str.fullmatch(r"[1-9][0-9]{0,17}").to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"column {label!r} must be a positive integer id, found {shown(text.iloc[i])}",
                file=table.file,
                row=int(table.rows[i]),
            )
        return pd.Series(text.to_numpy().astype(np.int64))
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            return pd.Series(values.astype(np.int64))
    return text.reset_index(drop=True)


# -- coding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """Where each data set row came from, for messages that point into the files."""

    files: list[str]
    file_index: np.ndarray
    rows: np.ndarray

    def where(self, i: int) -> str:
        return f"{self.files[self.file_index[i]]} row {self.rows[i]}"


def _build(tables: list[RawTable], request: _Request, source: str) -> tuple[Dataset, _Origin]:
    parts = [_check(table, request) for table in tables]
    codes: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    for name in request.categorical:
        values = pd.concat([p.ids[name] for p in parts], ignore_index=True)
        codes[name], levels[name] = _code(values)
    ds = Dataset(
        response=request.response,
        y=np.concatenate([p.y for p in parts]),
        codes=codes,
        levels=levels,
        numeric={n: np.concatenate([p.numeric[n] for p in parts]) for n in request.numeric},
        source=source,
    )
    origin = _Origin(
        files=[p.file for p in parts],
        file_index=np.concatenate([np.full(len(p.y), i) for i, p in enumerate(parts)]),
        rows=np.concatenate([p.rows for p in parts]),
    )
    return ds, origin


def _code(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous int64 codes and sorted raw ids; integer-looking text ids sort as integers."""
    if not pd.api.types.is_integer_dtype(values):
        text = values.astype(str)
        if text.str.fullmatch(_INTEGER_ID).all():
            parsed = pd.to_numeric(text)  # ids beyond int64 come back as uint64/float
            values = parsed if parsed.dtype == np.int64 else text
        else:
            values = text
    codes, uniques = pd.factorize(values, sort=True)
    if pd.api.types.is_integer_dtype(values):
        levels = np.asarray(uniques, dtype=np.int64)
    else:
        levels = np.asarray(uniques, dtype=str)
    return codes.astype(np.int64), levels


def _warn_duplicates(ds: Dataset, origin: _Origin) -> None:
    """Warn once about repeated (user, item, ...) rows; a single id column repeats by design."""
    if len(ds.codes) < 2:
        return
    duplicates = find_duplicates(ds)
    if duplicates.empty:
        return
    first = duplicates.iloc[0]
    names = list(ds.codes)
    ids = ", ".join(f"{c}={first[c]}" for c in names)
    count = len(duplicates)
    verb = "rows repeat" if count != 1 else "row repeats"
    warnings.warn(
        f"{count} {verb} the ({', '.join(names)}) of an earlier row; first: "
        f"{origin.where(int(first['first_row']))} and {origin.where(int(first['row']))} "
        f"({ids}); find_duplicates(ds) lists them all",
        DuplicateRowsWarning,
        stacklevel=3,
    )
