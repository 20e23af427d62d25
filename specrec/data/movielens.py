"""MovieLens 100k specifics: finding its files in a folder or zip, and its side-information tables.

The 100k archive is the reference data set of specrec's examples and benchmarks, so it gets a
loader that needs nothing but the folder (or the unextracted ``ml-100k.zip``) ``fetch`` returns.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from specrec.data.dataset import Attribute
from specrec.errors import DataError, shown

#: Genre flag columns of ``u.item``, in file order (the same list as the archive's ``u.genre``).
GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
#: Occupations of ``u.user`` (the archive's ``u.occupation``), the columns of its one-hot table.
OCCUPATIONS_100K = (
    "administrator",
    "artist",
    "doctor",
    "educator",
    "engineer",
    "entertainment",
    "executive",
    "healthcare",
    "homemaker",
    "lawyer",
    "librarian",
    "marketing",
    "none",
    "other",
    "programmer",
    "retired",
    "salesman",
    "scientist",
    "student",
    "technician",
    "writer",
)
_USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_code")
_ITEM_COLUMNS = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K)


def read_member(location: str | Path, name: str) -> tuple[str, str]:
    """Text of file ``name`` of the 100k archive, and the name to show in errors.

    ``location`` may be the extracted ``ml-100k`` folder, its parent, or ``ml-100k.zip`` itself.
    The files are decoded as Latin-1 because ``u.item`` has non-UTF-8 titles.
    """
    path = Path(location)
    if path.is_file() and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.rsplit("/", 1)[-1] == name]
                if not members:
                    raise DataError(f"the archive has no {name}", file=str(path))
                member = min(members, key=len)
                return archive.read(member).decode("latin-1"), f"{path}:{member}"
        except zipfile.BadZipFile:
            raise DataError("not a valid zip archive", file=str(path)) from None
    for candidate in (path / name, path / "ml-100k" / name):
        if candidate.is_file():
            return candidate.read_bytes().decode("latin-1"), str(candidate)
    if not path.exists():
        raise DataError("folder not found", file=str(path))
    raise DataError(f"no {name} here nor in an ml-100k subfolder", file=str(path))


def load_side_info_100k(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User and item side information of MovieLens 100k, keyed by raw id.

    Returns ``(users, items)``: ``users`` is indexed by raw ``user_id`` with columns ``age``
    (int), ``gender`` and ``occupation``; ``items`` is indexed by raw ``item_id`` with one 0/1
    int column per genre (``GENRES_100K``).  Keyed by raw id, not code, so they can be joined to
    any ``Dataset`` through its ``levels``.
    """
    return _users(*read_member(folder, "u.user")), _genres(*read_member(folder, "u.item"))


def _users(text: str, file: str) -> pd.DataFrame:
    users, rows = _read_pipe_table(text, file, _USER_COLUMNS)
    for column in ("user_id", "age"):
        users[column] = _integers(users[column], file, rows, column, 0 if column == "age" else 1)
    gender = users["gender"].fillna("").astype(str).str.strip()
    bad = ~gender.isin(("M", "F")).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"column 'gender' must be M or F, found {shown(gender.iloc[i])}",
            file=file,
            row=int(rows[i]),
        )
    users["gender"] = gender
    return users.set_index("user_id")[["age", "gender", "occupation"]]


def _genres(text: str, file: str) -> pd.DataFrame:
    items, rows = _read_pipe_table(text, file, _ITEM_COLUMNS)
    ids = _integers(items["item_id"], file, rows, "item_id", 1)
    genres = pd.DataFrame({g: _integers(items[g], file, rows, g, 0, 1) for g in GENRES_100K})
    genres.index = pd.Index(ids, name="item_id")
    return genres


def _integers(
    text: pd.Series, file: str, rows: np.ndarray, column: str, low: int, high: int | None = None
) -> np.ndarray:
    """A column of a side table as int64, or a DataError naming the first bad row."""
    clean = text.fillna("").astype(str).str.strip()
    bad = ~clean.str.fullmatch(r"-?[0-9]{1,18}").to_numpy()
    values = np.where(bad, low, clean.where(~bad, str(low))).astype(np.int64)
    bad |= values < low
    if high is not None:
        bad |= values > high
    if bad.any():
        i = int(np.argmax(bad))
        expected = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
        raise DataError(
            f"column {column!r} must be {expected}, found {shown(clean.iloc[i])}",
            file=file,
            row=int(rows[i]),
        )
    return values


def _read_pipe_table(
    text: str, file: str, columns: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse a ``|``-separated 100k table; also return each frame row's 1-based file row.

    Fields are split on ``|`` only (the tables have no quoting), lines on newlines only, so
    blank lines are skipped but counted and the row numbers match an editor's.  Empty fields are
    allowed (u.item has empty dates), missing ones are not: the bars are counted.
    """
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    rows = np.arange(1, len(lines) + 1, dtype=np.int64)
    keep = (lines.str.strip() != "").to_numpy()
    lines, rows = lines[keep].reset_index(drop=True), rows[keep]
    if len(lines) == 0:
        raise DataError("the table has no rows", file=file)
    parts = lines.str.split("|", regex=False)
    fields = parts.str.len().to_numpy()
    if (fields != len(columns)).any():
        i = int(np.argmax(fields != len(columns)))
        raise DataError(
            f"expected {len(columns)} fields separated by '|' ({', '.join(columns[:3])}, ...), "
            f"found {fields[i]}",
            file=file,
            row=int(rows[i]),
        )
    frame = pd.DataFrame(parts.tolist(), columns=list(columns), dtype=object)
    return frame.replace("", np.nan), rows


def listed_ids_100k(folder: str | Path) -> dict[str, tuple[np.ndarray, str]]:
    """The ids the archive itself lists (u.user's users, u.item's items), each with its file.

    Why: a ``u.data`` row whose user u.user does not list is a damaged or foreign row, not a new
    user; the loaders check ratings against these lists.  Only the id column is checked here
    (a text age in u.user matters only to covariates).  A list that is absent (a bare u.data)
    is not returned, so no check is made against it.
    """
    out: dict[str, tuple[np.ndarray, str]] = {}
    for level, name, columns in (
        ("user_id", "u.user", _USER_COLUMNS),
        ("item_id", "u.item", _ITEM_COLUMNS),
    ):
        try:
            text, file = read_member(folder, name)
        except DataError:
            continue
        table, rows = _read_pipe_table(text, file, columns)
        out[level] = (_integers(table[level], file, rows, level, 1), file)
    return out


#: The side table each id column's covariates come from.
SIDE_TABLES_100K = {"user_id": "u.user", "item_id": "u.item"}


def side_attributes_100k(
    folder: str | Path, levels: dict[str, np.ndarray], required: tuple[str, ...] = ()
) -> dict[str, dict[str, Attribute]]:
    """The 100k side tables as covariates of the ``user_id`` and ``item_id`` levels.

    ``user_id``: ``age`` (years), ``male`` (1 for gender M, else 0) and ``occupation`` (one-hot
    over ``OCCUPATIONS_100K``); ``item_id``: ``genres`` (the 19 flags of ``GENRES_100K``).
    Raw values: standardising is the spec's choice (``data.covariates``).  A table that is
    absent gives no covariates for its column (a bare u.data), unless its column is in
    ``required`` (the spec declares covariates of it): then the missing file is named.  A broken
    table is always an error.  A level missing from a table gets the mean row.
    """
    out: dict[str, dict[str, Attribute]] = {}
    for column, name in SIDE_TABLES_100K.items():
        if column not in levels:
            continue
        try:
            text, file = read_member(folder, name)
        except DataError as error:
            if column not in required:
                continue
            raise DataError(
                f"{error.message}; the spec's data.covariates of {column!r} are read from {name}",
                file=error.file,
            ) from None
        index = pd.Index(levels[column]).astype("int64")
        if column == "user_id":
            users = _users(text, file)
            u = users.reindex(index)
            seen = set(users["occupation"].dropna())
            kinds = OCCUPATIONS_100K + tuple(sorted(seen - set(OCCUPATIONS_100K)))
            one_hot = np.stack([(u["occupation"] == k).to_numpy(float) for k in kinds], axis=1)
            male = np.where(u["gender"].isna(), np.nan, u["gender"] == "M")
            out[column] = {
                "age": Attribute(_fill(u["age"].to_numpy(float))),
                "male": Attribute(_fill(male)),
                "occupation": Attribute(one_hot, kinds),
            }
        else:
            g = _genres(text, file).reindex(index)
            out[column] = {"genres": Attribute(_fill(g.to_numpy(float)), GENRES_100K)}
    return out


def _fill(values: np.ndarray) -> np.ndarray:
    """Missing entries (levels absent from a side table) -> the column mean."""
    v = np.asarray(values, dtype=float)
    mean = np.nanmean(v, axis=0) if np.isfinite(v).any() else np.zeros(v.shape[1:])
    return np.where(np.isnan(v), mean, v)
