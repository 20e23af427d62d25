"""Parquet in chunks: rating files too big to hold twice in memory are read and written by
record batch, so the peak is the final columns plus one batch, not a whole extra copy.

Only the columns a spec asks for are read (a 10M-row file with a text column it does not use
costs nothing for that column); writing goes to a temporary file renamed into place, so a killed
``specrec data simulate`` never leaves a truncated file under the final name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from specrec.errors import DataError
from specrec.registry import install_hint

#: Rows per record batch when reading.
BATCH_ROWS = 1 << 20


def _pyarrow(file: str):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"reading parquet needs pyarrow: {install_hint('parquet')}", file=file
        ) from None
    return pa, pq


def read_columns(
    path: Path, columns: Sequence[str] | None = None, batch_rows: int = BATCH_ROWS
) -> pd.DataFrame:
    """The file's ``columns`` (all when None, or when one is missing so the error can list
    them all) as a DataFrame, assembled batch by batch with no Python loop over rows."""
    file = str(path)
    _, pq = _pyarrow(file)
    try:
        handle = pq.ParquetFile(path)
        names = handle.schema_arrow.names
        wanted = list(columns) if columns and set(columns) <= set(names) else names
        parts: dict[str, list[np.ndarray]] = {c: [] for c in wanted}
        for batch in handle.iter_batches(batch_size=batch_rows, columns=wanted):
            for c in wanted:
                parts[c].append(batch.column(c).to_pandas().to_numpy())
    except DataError:
        raise
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read the parquet file: {error}", file=file) from None
    return pd.DataFrame(
        {c: np.concatenate(v) if v else np.array([]) for c, v in parts.items()}, columns=wanted
    )


def write_chunks(
    path: Path,
    chunks: Iterable[dict[str, np.ndarray]],
    metadata: dict[str, object] | None = None,
) -> Path:
    """Write column chunks (same columns and dtypes each time) to ``path`` atomically.

    ``metadata`` is stored as JSON under the schema key ``specrec``.
    """
    pa, pq = _pyarrow(str(path))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = None
    try:
        for chunk in chunks:
            table = pa.table(chunk)
            if writer is None:
                meta = {b"specrec": json.dumps(metadata or {}).encode()}
                table = table.replace_schema_metadata(meta)
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            raise ValueError("nothing to write")
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    return path


def read_metadata(path: Path) -> dict[str, object]:
    """The ``specrec`` metadata ``write_chunks`` stored (empty for other files)."""
    _, pq = _pyarrow(str(path))
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"specrec", b"{}"))
