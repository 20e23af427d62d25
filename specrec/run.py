"""A fit as an object: the one returned by ``specrec.fit`` and the one ``load_run`` reads back.

Both offer the same ``predict`` and ``recommend`` (``specrec.predict.Predictor``).  Loading
needs only the core and the run directory: the resolved spec is lowered again on the training
rows the run stores (``train.npz``), which gives back exactly the model that was fitted, and the
draws come from ``posterior.nc``; no backend is imported and nothing is refitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from specrec import rundir
from specrec.data import dataset
from specrec.data.dataset import Dataset
from specrec.errors import UsageError
from specrec.model.ir import Model, RowData
from specrec.predict import Predictor
from specrec.spec.load import LoadedSpec

if TYPE_CHECKING:
    import arviz as az


@dataclass
class Run:
    """A finished fit: where it was written, what it measured, and what it needs to predict."""

    path: Path | None
    metrics: dict
    #: the groups: ``specrec.idata.RunData`` from a fit, ArviZ's InferenceData from ``load_run``
    data: Any
    # What a caller needs to recompute predictions from ``idata`` (``compare``'s agreement check)
    # without lowering the spec again; None only for a Run built by hand.
    model: Model | None = None
    test_rows: RowData | None = None
    loaded: LoadedSpec | None = None  # the resolved spec that was fitted
    train: Dataset | None = None  # the training rows
    #: the test pairs' predictions (``predictions.csv``); read from ``path`` when not given
    predictions: pd.DataFrame | None = None
    _predictor: Predictor | None = field(default=None, repr=False)
    _idata: az.InferenceData | None = field(default=None, repr=False)

    @property
    def idata(self) -> az.InferenceData:
        """The run as ArviZ InferenceData (ArviZ is imported on first use, not by the fit)."""
        if self._idata is None:
            to_arviz = getattr(self.data, "to_arviz", None)
            self._idata = to_arviz() if to_arviz is not None else self.data
        return self._idata

    def __repr__(self) -> str:
        """One line (the dataclass's own repr printed every draw and row, some 56,000
        characters for the quickstart): spec, method, backend, test RMSE and the directory."""
        m = self.metrics
        backend = m.get("backend") or {}
        name = backend.get("name") if isinstance(backend, dict) else backend
        rmse = ((m.get("metrics") or {}).get("test") or {}).get("rmse")
        parts = [
            f"spec={(m.get('spec') or {}).get('name')!r}",
            f"method={(m.get('inference') or {}).get('method')!r}",
            f"backend={name!r}",
            f"test_rmse={rmse:.4f}" if isinstance(rmse, float) else "test_rmse=None",
            f"path={str(self.path) if self.path is not None else None!r}",
        ]
        return f"Run({', '.join(parts)})"

    @property
    def predictor(self) -> Predictor:
        if self._predictor is None:
            if self.model is None or self.loaded is None or self.train is None:
                raise UsageError("this Run carries no spec and training rows to predict with")
            seed = int(self.metrics.get("seed", 0))
            saved = self.predictions
            if saved is None and self.path is not None:
                n_test = (self.metrics.get("split") or {}).get("n_test")
                saved = read_predictions(self.path, id_columns(self.model), n_test)
            self._predictor = Predictor.from_idata(
                self.loaded, self.train, self.model, self.data, seed, saved
            )
        return self._predictor

    def predict(self, pairs: pd.DataFrame, interval: float | None = None) -> pd.DataFrame:
        """Predicted ratings for (user, item) pairs by raw id; see ``Predictor.predict``."""
        return self.predictor.predict(pairs, interval)

    def recommend(self, user: object, n: int = 10, dim: str | None = None) -> pd.DataFrame:
        """The user's top ``n`` unrated items; see ``Predictor.recommend``."""
        return self.predictor.recommend(user, n, dim)


#: The name the Python API gives a run read back from disk; it is the same class.
LoadedRun = Run


def save(folder: Path, run_train: Dataset) -> None:
    """The files a run needs to be loaded for prediction (called inside the atomic write)."""
    rundir.write_manifest(folder)
    dataset.save(run_train, folder / rundir.FILES["train"])


def load_run(path: str | Path) -> Run:
    """Read a run directory back (format checked first); nothing is refitted.

    ``path`` may also be a spec's runs folder (``runs/NAME``): its newest run is read
    (``rundir.latest_run``), so every command that reads a run accepts the same folders.
    """
    import warnings

    from specrec.model.lower import lower
    from specrec.spec.load import parse_spec_text

    folder = rundir.latest_run(path)
    rundir.read_manifest(folder)
    rundir.check_sizes(folder)
    for key in ("resolved", "train", "posterior", "metrics"):
        if not (folder / rundir.FILES[key]).is_file():
            raise UsageError(f"{folder}: the run has no {rundir.FILES[key]}")
    resolved = folder / rundir.FILES["resolved"]
    rundir.read_json(folder, "resolved")  # cut or corrupted: "damaged", not a YAML error
    loaded = parse_spec_text(resolved.read_text(), str(resolved))  # JSON is YAML
    with rundir.reading(folder, "train") as path:
        train = dataset.load(path, loaded.spec.response)
    model = lower(loaded, train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

        with rundir.reading(folder, "posterior") as path:
            idata = az.from_netcdf(str(path))
            idata.posterior.load()  # a truncated file fails here, not in a later computation
    for name, dim in model.dims.items():
        if name in idata.posterior.coords:
            saved = [str(c) for c in idata.posterior.coords[name].values]
            if saved != [str(c) for c in dim.coords]:
                raise UsageError(
                    f"{folder}: the levels of {name!r} in {rundir.FILES['train']} and "
                    f"{rundir.FILES['posterior']} disagree; the run directory was altered"
                )
    metrics = rundir.read_json(folder, "metrics")
    return Run(folder, metrics, idata, model, None, loaded, train)


def read_predictions(
    folder: Path, id_columns: list[str], n_rows: int | None = None
) -> pd.DataFrame | None:
    """A run's ``predictions.csv``, the ``id_columns`` as text and every float exactly as
    written (None if the run has none), so that predict can return those values for the test
    pairs.

    A truncated file (ending inside a row, or with fewer rows than the ``n_rows`` test rows
    metrics.json counts) is a damaged run, not a source of cut values."""
    path = folder / rundir.FILES["predictions"]
    if not path.is_file():
        return None
    ids = dict.fromkeys(id_columns, str)
    empty = {c: [""] for c in ("mean", "lower", "upper")}  # an id is never read as missing
    with rundir.reading(folder, "predictions"):
        with path.open("rb") as f:
            f.seek(-1, 2)  # an empty file: OSError, damaged too
            if f.read(1) != b"\n":
                raise ValueError("the file ends inside a row")
        table = pd.read_csv(path, dtype=ids, keep_default_na=False, na_values=empty)
        if n_rows is not None and len(table) != n_rows:
            raise ValueError(f"{len(table)} rows, but metrics.json counts {n_rows} test rows")
    return table


def id_columns(model: Model) -> list[str]:
    """The data columns that hold the model's dims' ids."""
    return [d.column for d in model.dims.values() if d.column]


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A pairs file (CSV, or TSV by its extension), every column read as text first.

    Read by the same reader as rating files, so a short or long row, an empty file and blank
    lines get the same messages and row numbers; ``attrs["rows"]`` keeps each pair's file row.
    The file's format is told as the loader tells it (``formats.detect_format``), so an
    ML-latest header (``userId,movieId``) brings the same renames the loader applies to such a
    ratings file (``RawTable.default_rename``, kept in ``attrs["rename"]``).
    """
    from specrec.data.formats import detect_format, read_table
    from specrec.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=str(p))
    suffix = p.suffix.lower()
    fmt = "tsv" if suffix in (".tsv", ".tab") else "csv"
    if suffix == ".csv":
        fmt = detect_format(p)  # "ml-csv" for an ML-latest header, else "csv"
    table = read_table(p, fmt)
    df = table.frame.apply(lambda c: c.str.strip())
    df.attrs["rows"] = table.rows.tolist()  # a list: pandas compares attrs on concat
    df.attrs["file"] = str(p)  # so that errors about the pairs name their file
    df.attrs["rename"] = dict(table.default_rename)  # spec column -> column of this file
    return df
