"""RunData writes what ArviZ writes, and a map fit runs without importing ArviZ at all."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from cli_runs import quick_map_fit

from specrec.idata import RunData, draws_dataset


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "mu": rng.normal(size=(2, 5)),
        "U": rng.normal(size=(2, 5, 3, 2)),
        "w": np.ones((2, 5, 4)),
    }


def test_draws_dataset_has_az_from_dict_dims_coords_and_values():
    import arviz as az

    dims = {"U": ["user", "factor"]}
    coords = {"user": ["a", "b", "c"]}
    ours = draws_dataset(_arrays(), dims, coords)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = az.from_dict(posterior=_arrays(), dims=dims, coords=coords).posterior
    xr.testing.assert_identical(ours.drop_attrs(), theirs.drop_attrs())
    assert set(ours.attrs) == set(theirs.attrs) == {"created_at", "arviz_version"}


def test_to_netcdf_is_read_by_az_from_netcdf_with_groups_and_attrs(tmp_path):
    import arviz as az

    post = draws_dataset(_arrays(), {}, {})
    loss = xr.Dataset({"loss": (("step",), np.arange(3.0))})
    data = RunData({"loss": loss, "posterior": post}, attrs={"method": "nuts"})
    assert data.groups() == ["posterior", "loss"]  # ArviZ's order first, extra groups after
    path = data.to_netcdf(str(tmp_path / "posterior.nc"))
    back = az.from_netcdf(path)
    assert back.groups() == ["posterior", "loss"]
    assert back.attrs["method"] == "nuts"
    np.testing.assert_array_equal(back.posterior["U"].values, post["U"].values)
    np.testing.assert_array_equal(back.loss["loss"].values, [0.0, 1.0, 2.0])
    converted = data.to_arviz()
    assert isinstance(converted, az.InferenceData) and converted.attrs["method"] == "nuts"
    assert az.summary(converted, var_names=["mu"], kind="stats").shape[0] == 1


BLOCK_ARVIZ = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "arviz" or name.startswith("arviz."):
            raise ImportError("arviz imported by a map fit")
sys.meta_path.insert(0, Block())
sys.argv = ["specrec", *sys.argv[1:]]
runpy.run_module("specrec", run_name="__main__")
"""


def test_a_map_fit_imports_no_arviz(tmp_path):
    """ArviZ's import is 2.4 s, more than the quickstart's map fit; a fit must not need it."""
    r = quick_map_fit(tmp_path, ("-c", BLOCK_ARVIZ), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list(tmp_path.glob("quickstart/*/posterior.nc"))
