"""A run's InferenceData groups, built and written without importing ArviZ.

Why not ``arviz.InferenceData`` itself: importing ArviZ takes about 2.4 s (its plotting stack,
numba and scipy.stats come with it), more than the whole quickstart map fit, and a fit needs none
of it: only xarray Datasets by group name and ArviZ's NetCDF layout (one NetCDF group per
InferenceData group, zlib on numeric variables).  ``RunData`` is that much.  The file it writes is
read by ``az.from_netcdf`` unchanged, and ``to_arviz`` hands a user the real InferenceData, so
ArviZ is imported only where ArviZ's own functions run (``az.summary``, ``az.loo``, plots).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import arviz as az

#: ArviZ's group order (``arviz.data.inference_data.SUPPORTED_GROUPS_ALL``); others follow it
GROUP_ORDER = (
    "posterior",
    "posterior_predictive",
    "predictions",
    "log_likelihood",
    "log_prior",
    "sample_stats",
    "prior",
    "prior_predictive",
    "sample_stats_prior",
    "observed_data",
    "constant_data",
    "predictions_constant_data",
)
DEFAULT_DIMS = ("chain", "draw")


class RunData:
    """Groups by name, read as attributes (``data.posterior``) like ``az.InferenceData``;
    ``attrs`` are the file's own (``az.InferenceData.attrs``), not a group's."""

    def __init__(
        self, groups: Mapping[str, xr.Dataset] | None = None, attrs: Mapping[str, Any] | None = None
    ) -> None:
        self._groups: dict[str, xr.Dataset] = {}
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.add_groups(groups or {})

    def groups(self) -> list[str]:
        return list(self._groups)

    def __getattr__(self, name: str) -> xr.Dataset:
        groups = self.__dict__.get("_groups", {})
        if name in groups:
            return groups[name]
        raise AttributeError(f"RunData has no group {name!r}")

    def __repr__(self) -> str:
        return f"RunData({', '.join(self._groups)})"

    def add_groups(self, groups: Mapping[str, xr.Dataset]) -> None:
        """Add (or replace) groups, kept in ArviZ's order so the file lists them as ArviZ would."""
        merged = self._groups | dict(groups)
        known = [g for g in GROUP_ORDER if g in merged]
        self._groups = {g: merged[g] for g in known + [g for g in merged if g not in known]}

    def to_netcdf(self, filename: str) -> str:
        """Write every group as ``InferenceData.to_netcdf(filename)`` does (h5netcdf, zlib).

        The HDF5 image is built in memory and written with one ordinary file write: HDF5 writing
        to a full disk itself leaves file handles that fail again in their finalisers and then
        crash the interpreter at exit (exit 139); a plain write fails once, with ENOSPC.
        """
        with _no_dask_cluster():
            image = self._image()
        with open(filename, "wb") as f:
            f.write(image.getbuffer())
        return filename

    def _image(self) -> io.BytesIO:
        buffer = io.BytesIO()
        mode = "w"
        if self.attrs:
            xr.Dataset(attrs=self.attrs).to_netcdf(buffer, mode=mode, engine="h5netcdf")
            mode = "a"
        for name, data in self._groups.items():
            encoding = {
                var: {"zlib": True}
                for var, values in data.variables.items()
                if values.dtype.kind in "biufcS"
            }
            data.to_netcdf(buffer, mode=mode, group=name, engine="h5netcdf", encoding=encoding)
            mode = "a"
        if mode == "w":  # nothing at all: an empty file, as ArviZ writes for an empty InferenceData
            import h5netcdf

            h5netcdf.File(buffer, mode="w").close()
        return buffer

    def to_arviz(self) -> az.InferenceData:
        """The same groups as ArviZ's InferenceData (the Datasets are shared, not copied)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on import; UserWarning on "loss"
            import arviz as az

            return az.InferenceData(attrs=self.attrs or None, **self._groups)


def _no_dask_cluster() -> contextlib.AbstractContextManager:
    """Dask's synchronous scheduler while writing, where dask is installed.

    xarray picks its write lock by the dask scheduler in use: inside a Dask worker (a study's
    dask executor) that is a cluster-wide lock named by the target, which cannot name an
    in-memory file.  The Datasets here hold NumPy arrays, so no dask computation runs anyway.
    """
    try:
        import dask
    except ImportError:
        return contextlib.nullcontext()
    return dask.config.set(scheduler="synchronous")


def draws_dataset(
    arrays: Mapping[str, np.ndarray],
    dims: Mapping[str, list[str]],
    coords: Mapping[str, Any],
) -> xr.Dataset:
    """``(chain, draw, ...)`` arrays as ``az.from_dict`` makes a group of them.

    The same dims and coords: ``chain`` and ``draw`` numbered from 0, a named dim's coords from
    ``coords`` (numbered when absent), an unnamed axis called ``{var}_dim_{i}``; and the same
    attributes (``created_at``, ``arviz_version``).
    """
    variables = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        named = list(dims.get(name, []))[: array.ndim - 2]
        extra = [f"{name}_dim_{i}" for i in range(len(named), array.ndim - 2)]
        var_dims = [*DEFAULT_DIMS, *named, *extra]
        var_coords = {
            d: np.asarray(coords[d]) if d in coords else np.arange(n)
            for d, n in zip(var_dims, array.shape, strict=True)
        }
        variables[name] = xr.DataArray(array, dims=var_dims, coords=var_coords)
    return xr.Dataset(variables, attrs=_attrs())


def _attrs() -> dict[str, Any]:
    try:
        version = importlib.metadata.version("arviz")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - arviz is required
        version = "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    return {"created_at": now, "arviz_version": version}
