"""A spec's ``data`` section -> (Dataset, Split): the one place that knows every source kind."""

from __future__ import annotations

from pathlib import Path

from specrec.data.dataset import Dataset
from specrec.data.splits import Split, by_time, kfold, leave_k_out, random_split
from specrec.errors import DataError, Problem, SpecError
from specrec.spec import expressions as E
from specrec.spec.load import LoadedSpec
from specrec.spec.models import (
    DataDim,
    FileData,
    FilesSplit,
    KFoldSplit,
    LeaveKOutSplit,
    MovieLens100kData,
    RandomSplit,
    SimulateData,
    TimeSplit,
)


def _numeric_columns(loaded: LoadedSpec) -> list[str]:
    """Names the expressions use that are neither parameters, helpers nor dims: data columns."""
    spec = loaded.spec
    texts = [spec.param(n).prior for n in spec.params] + list(spec.let.values())
    texts = [str(t) for t in texts] + list(spec.likelihood.values())
    known = set(spec.params) | set(spec.let) | set(spec.dims) | {spec.response}
    known |= set(spec.data.covariates)
    names: set[str] = set()
    for t in texts:
        try:
            names |= {n.id for n in E.names_in(E.parse(t))}
        except E.ParseError:
            continue  # reported with its position when the spec is lowered
    out = sorted(names - known)
    if isinstance(spec.data.split, TimeSplit) and spec.data.split.column not in out:
        out.append(spec.data.split.column)
    return out


def _movielens_folder(cfg: MovieLens100kData, data_path: str | None) -> Path:
    from specrec.data.fetch import cache_root

    if data_path or cfg.path:
        return Path(data_path or cfg.path)  # type: ignore[arg-type]
    cached = cache_root() / "movielens-100k" / "ml-100k"
    if (cached / "u.data").is_file():
        return cached
    raise DataError(
        "MovieLens 100k is not in the cache; run `specrec data fetch movielens-100k` "
        "or pass --data PATH to a local ml-100k folder",
        file=str(cached),
    )


def load_data(loaded: LoadedSpec, data_path: str | None = None) -> tuple[Dataset, Split]:
    """Load (or simulate) the spec's data and split it as the spec says."""
    from specrec.data import loaders

    spec = loaded.spec
    cfg = spec.data
    base = Path(loaded.file).parent
    categorical = [d.column for d in spec.dims.values() if isinstance(d, DataDim)]
    split_cfg = cfg.split
    if isinstance(cfg, SimulateData):
        from specrec.data.simulate import simulate

        ds = simulate(loaded)
        folder = None
    elif isinstance(cfg, MovieLens100kData):
        folder = _movielens_folder(cfg, data_path)
        if not folder.exists():
            raise DataError("no such file or folder", file=str(folder))
        if isinstance(split_cfg, FilesSplit):
            ds, split = loaders.load_split_files(
                _under(folder, split_cfg.train),
                _under(folder, split_cfg.test),
                numeric=["timestamp"],
                value_range=cfg.range,
                listed_in=folder,
            )
            return _with_side_tables(ds, folder, spec), split
        ds = _with_side_tables(loaders.load_movielens_100k(folder), folder, spec)
    else:
        assert isinstance(cfg, FileData)
        path = Path(data_path) if data_path else _under(base, cfg.path)
        kwargs = dict(
            format=cfg.format,
            rename=cfg.columns or None,
            response=spec.response,
            categorical=categorical,
            numeric=_numeric_columns(loaded),
            value_range=cfg.range,
        )
        if isinstance(split_cfg, FilesSplit):
            folder = path if path.is_dir() else path.parent
            return loaders.load_split_files(
                _under(folder, split_cfg.train), _under(folder, split_cfg.test), **kwargs
            )
        if path.is_dir():
            raise SpecError([_folder_without_files_split(loaded, path, split_cfg, data_path)])
        ds = loaders.load_ratings(path, **kwargs)
    return ds, make_split(ds, split_cfg, categorical)


def _folder_without_files_split(
    loaded: LoadedSpec, folder: Path, split_cfg, data_path: str | None
) -> Problem:
    """A folder as ``data.path`` names no ratings file unless a files split says which two.

    A spec error, not a data one: the folder exists and may hold the right files; what is wrong
    is the spec (or ``--data``) pointing at a folder without saying which files to read.
    """
    given = "split" in (loaded.raw.get("data") or {})
    message = (
        f"is a folder, which is read only with a files split; data.split here is "
        f"{split_cfg.kind}" + ("" if given else " (the default)")
    )
    kw = dict(
        expected="a ratings file, or a folder with split: {kind: files, train: FILE, test: FILE}",
        found=f"the folder {folder}",
    )
    if data_path:
        return Problem(f"--data {data_path}", None, None, "data.path", message, **kw)
    return loaded.positions.problem(("data", "path"), message, **kw)


def _with_side_tables(ds: Dataset, folder: Path, spec) -> Dataset:
    """Join u.user / u.item to the levels when the spec declares covariates.

    A table the declared covariates need but the folder lacks is named as missing (rather than
    reported later as "the data has no covariate", which blames the spec).
    """
    covariates = spec.data.covariates
    if not covariates:
        return ds
    from dataclasses import replace

    from specrec.data.movielens import side_attributes_100k

    required = []
    for cov in covariates.values():
        dim = spec.dims.get(cov.of)
        if isinstance(dim, DataDim):
            required.append(str(dim.column))
    attributes = side_attributes_100k(folder, ds.levels, tuple(required))
    return replace(ds, attributes=attributes)


def _under(base: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else base / p


def make_split(ds: Dataset, cfg, categorical: list[str]) -> Split:
    try:
        if isinstance(cfg, RandomSplit):
            return random_split(len(ds), cfg.test_fraction, cfg.seed)
        if isinstance(cfg, LeaveKOutSplit):
            return leave_k_out(ds, cfg.k, cfg.seed, by=categorical[0])
        if isinstance(cfg, TimeSplit):
            return by_time(ds, cfg.test_fraction, column=cfg.column)
        if isinstance(cfg, KFoldSplit):
            return kfold(len(ds), cfg.k, cfg.fold, cfg.seed)
    except (ValueError, KeyError) as exc:
        raise DataError(
            f"data.split (kind {cfg.kind}) cannot split the data: {exc}", file=ds.source
        ) from None
    raise DataError(f"split kind {cfg.kind!r} needs train and test files", file=ds.source)
