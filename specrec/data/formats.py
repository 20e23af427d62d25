"""Reading rating files into raw tables, one file format at a time.

This module only *reads*: it turns a file into a table of raw values plus the file row number of
every table row, so that the validation in ``loaders`` can name the exact line a bad value sits on.
Nothing here interprets values; that keeps format quirks (MovieLens ``::`` separators, the
``userId`` header of ML-latest) out of the checking and coding logic.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from specrec.errors import DataError

FORMATS = ("auto", "movielens", "ml-dat", "ml-csv", "csv", "tsv", "parquet")

#: Column names of the headerless MovieLens formats (``u.data``, ``ratings.dat``).
ML_COLUMNS = ("user_id", "item_id", "rating", "timestamp")

#: Spec column -> file column for the ML-latest ``ratings.csv`` header.
ML_CSV_COLUMNS = {"user_id": "userId", "item_id": "movieId"}

_SEPARATORS = {"movielens": "\t", "ml-dat": "::", "csv": ",", "ml-csv": ",", "tsv": "\t"}
_MOVIELENS_NAMES = ("u.data", "u*.base", "u*.test")


@dataclass(frozen=True)
class RawTable:
    """A file's rows as read, before any checking.

    Attributes:
        frame: one column per file column, values as read (strings for text formats).
        rows: 1-based file row of each frame row (a header line counts), for error messages.
        file: the name errors should show.
        default_rename: spec column -> file column implied by the format (ML-latest headers).
    """

    frame: pd.DataFrame
    rows: np.ndarray
    file: str
    default_rename: dict[str, str] = field(default_factory=dict)
    #: MovieLens formats: user and item ids are positive integers, anything else is refused
    positive_ids: bool = False


def detect_format(path: Path) -> str:
    """Pick a format from the file name, so users rarely have to say it."""
    name = path.name.lower()
    if any(fnmatch.fnmatch(name, pattern) for pattern in _MOVIELENS_NAMES):
        return "movielens"
    suffix = path.suffix.lower()
    if suffix == ".dat":
        return "ml-dat"
    if suffix == ".csv":
        header = {_header_name(cell) for cell in _first_line(path).split(",")}
        return "ml-csv" if {"userId", "movieId"} <= header else "csv"
    if suffix == ".tsv":
        return "tsv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(
        "cannot tell the file format from its name; set data.format to one of "
        + ", ".join(f for f in FORMATS if f != "auto"),
        file=str(path),
    )


def read_table(
    path: Path, fmt: str, sep: str | None = None, columns: Sequence[str] | None = None
) -> RawTable:
    """Read ``path`` in format ``fmt`` (already resolved, never ``"auto"``).

    ``columns``: the file columns needed; a columnar format (parquet) reads only those.
    """
    if fmt not in FORMATS or fmt == "auto":
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    if fmt in ("movielens", "ml-dat"):
        text = path.read_bytes().decode("latin-1")  # MovieLens files are not all valid UTF-8
        return read_headerless(text, sep or _SEPARATORS[fmt], str(path))
    if fmt == "parquet":
        return _read_parquet(path, columns)
    table = read_delimited(path, sep or _SEPARATORS[fmt])
    if fmt == "ml-csv":
        frame = _named_as_detected(table)
        return RawTable(frame, table.rows, table.file, dict(ML_CSV_COLUMNS), True)
    return table


def _header_name(cell: str) -> str:
    """A header cell as its column is named: spaces and quotes around it dropped.

    ``detect_format`` and the ml-csv reader use the same rule, so a header written
    `` "userId" , movieId`` is told as ML-latest and then read with its renames.
    """
    return cell.strip().strip("\"'").strip()


def _named_as_detected(table: RawTable) -> pd.DataFrame:
    """The ml-csv frame with its columns named by ``_header_name`` (a name given twice refused)."""
    names = [_header_name(str(c)) for c in table.frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        header = ", ".join(map(str, table.frame.columns))
        raise DataError(
            f"the header names column {twice[0]!r} twice ({header})", file=table.file, row=1
        )
    return table.frame.set_axis(names, axis=1)


def read_headerless(text: str, sep: str, file: str) -> RawTable:
    """Split MovieLens-style lines into the four fixed columns, checking the field count.

    Lines are split with pandas string methods (no Python loop over rows).  Blank lines are
    skipped but still counted, so row numbers match what an editor shows.
    """
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    rows = np.arange(1, len(lines) + 1, dtype=np.int64)
    keep = (lines.str.strip() != "").to_numpy()
    lines, rows = lines[keep].reset_index(drop=True), rows[keep]
    parts = lines.str.split(sep, regex=False)
    counts = parts.str.len().to_numpy()
    bad = np.flatnonzero(counts != len(ML_COLUMNS))
    if bad.size:
        i = int(bad[0])
        shown = "TAB" if sep == "\t" else repr(sep)
        hint = ""
        if counts[i] == 1 and sep == "\t" and " " in lines[i].strip():
            hint = " (the line has spaces; is the file tab separated?)"
        raise DataError(
            f"expected {len(ML_COLUMNS)} fields ({', '.join(ML_COLUMNS)}) separated by {shown}, "
            f"found {counts[i]}{hint}",
            file=file,
            row=int(rows[i]),
        )
    frame = pd.DataFrame(parts.tolist(), columns=list(ML_COLUMNS), dtype=object)
    return RawTable(frame, rows, file, positive_ids=True)


def read_delimited(path: Path, sep: str) -> RawTable:
    """Read a delimited file with a header line; every value stays a string (rating files and
    the pairs of ``predict``).

    ``skip_blank_lines=False`` keeps blank lines as all-missing rows so the row numbers stay
    exact; they are dropped afterwards.  (A quoted field spanning lines would shift the count;
    rating files do not have those.)
    """
    file = str(path)
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c" if len(sep) == 1 else "python",
        )
    except FileNotFoundError:
        raise DataError("file not found", file=file) from None
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=file) from None
    except pd.errors.ParserError as error:
        match = re.search(r"line (\d+)", str(error))
        found = re.search(r"saw (\d+)", str(error))
        expected = re.search(r"Expected (\d+) fields", str(error))
        if match and found and expected:
            message = f"expected {expected.group(1)} fields like the header, found {found.group(1)}"
            raise DataError(message, file=file, row=int(match.group(1))) from None
        raise DataError(f"cannot parse the file: {error}", file=file) from None
    except UnicodeDecodeError as error:
        raise DataError(f"the file is not UTF-8 text ({error.reason})", file=file) from None
    if not isinstance(frame.index, pd.RangeIndex):  # rows one field longer than the header
        raise _long_row(path, sep, list(frame.columns), file)  # made pandas index by column 1
    rows = np.arange(2, len(frame) + 2, dtype=np.int64)
    # pandas fills a short row's missing fields with "" (as it reads an empty field), so a row
    # whose last field is empty is looked up in the raw text: blank line, short row, or a real
    # empty value (left to the column checks, which name the column).  Only such rows are
    # re-read, so a clean file costs nothing extra.
    suspect = np.flatnonzero((frame.iloc[:, -1].isna() | (frame.iloc[:, -1] == "")).to_numpy())
    if suspect.size:
        lines = pd.Series(_raw_lines(path), dtype=object)
        text = lines.reindex(rows[suspect] - 1).fillna("")
        blank = (text.str.strip() == "").to_numpy()
        # counting separators can only over-count (a quoted separator), never under-count, so
        # a row it calls short is confirmed with the csv module before it is refused
        short = ~blank & (text.str.count(re.escape(sep)).to_numpy() + 1 < frame.shape[1])
        for i in np.flatnonzero(short):
            found = _field_count(text.iloc[i], sep)
            if found < frame.shape[1]:
                raise DataError(
                    f"expected {frame.shape[1]} fields like the header "
                    f"({', '.join(map(str, frame.columns))}), found {found}",
                    file=file,
                    row=int(rows[suspect[i]]),
                )
        if blank.any():
            keep = np.ones(len(frame), dtype=bool)
            keep[suspect[blank]] = False
            frame, rows = frame[keep].reset_index(drop=True), rows[keep]
    return RawTable(frame, rows, file)


def _long_row(path: Path, sep: str, columns: list, file: str) -> DataError:
    """The error for the first row with more fields than the header.  pandas reads a file
    whose first rows have one field too many with the first column as the index, shifting
    every value one column left, so this is looked for whenever it did."""
    for row, line in enumerate(_raw_lines(path)[1:], start=2):
        if line.strip() and (found := _field_count(line, sep)) > len(columns):
            return DataError(
                f"expected {len(columns)} fields like the header "
                f"({', '.join(map(str, columns))}), found {found}",
                file=file,
                row=row,
            )
    return DataError(f"the rows have more fields than the header ({len(columns)})", file=file)


def _raw_lines(path: Path) -> list[str]:
    """The file's lines as text (row n is ``lines[n - 1]``), for re-reading suspect rows.

    Split on newlines only, as the parser does (``str.splitlines`` also breaks at form feeds
    and other separators, which would shift the row numbers)."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [line.removesuffix("\r") for line in text.split("\n")]


def _field_count(line: str, sep: str) -> int:
    """Fields on one line as the parser splits them (quotes respected for a 1-char sep)."""
    if len(sep) == 1:
        return len(next(csv.reader([line], delimiter=sep)))
    return line.count(sep) + 1


def _read_parquet(path: Path, columns: Sequence[str] | None = None) -> RawTable:
    """Read a parquet file (only ``columns``, by record batch); rows are numbered 1.. as
    parquet has no header line."""
    from specrec.data.parquet import read_columns

    file = str(path)
    if not path.exists():
        raise DataError("file not found", file=file)
    frame = read_columns(path, columns)
    return RawTable(frame, np.arange(1, len(frame) + 1, dtype=np.int64), file)


def _first_line(path: Path) -> str:
    """The header line, used to tell ML-latest ``ratings.csv`` from a generic CSV."""
    if not path.exists():
        raise DataError("file not found", file=str(path))
    with path.open("rb") as handle:
        return handle.readline().decode("utf-8", errors="replace").strip().lstrip("\ufeff")
