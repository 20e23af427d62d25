"""The batched rank R-hat and bulk/tail ESS are ArviZ's own numbers, bit for bit.

A table of cases of every kind (iid, random walks, AR(1) from anti-correlated to nearly stuck,
ties, constant, a NaN, an indicator, values under ArviZ's resolution, chains that disagree;
1 to 8 chains, 3 to 333 draws, even and odd), with ArviZ's numba variance and without it.
"""

from __future__ import annotations

import logging
import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr
from arviz.utils import Numba

from specrec.evaluate import diagnostics
from specrec.evaluate.rank_diagnostics import BLOCK_VALUES, rank_diagnostics


def _cases(chains: int, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = 24
    a = rng.normal(size=(chains, draws, n))
    a[:, :, 1] = 2.5  # constant
    a[0, 1, 2] = np.nan
    a[:, :, 3] = np.cumsum(a[:, :, 3], axis=1)  # a random walk
    a[:, :, 4] = np.round(a[:, :, 4])  # ties
    a[:, :, 5] += np.arange(chains)[:, None] * 3.0  # chains that disagree
    a[:, :, 6] = a[:, :, 6] > 1.5  # an indicator
    a[:, :, 7] = 1.0 + 1e-17 * a[:, :, 7]  # varies below ArviZ's resolution
    for j, phi in zip(range(8, n), np.linspace(-0.9, 0.995, n - 8), strict=True):
        for t in range(1, draws):  # AR(1)
            a[:, t, j] = phi * a[:, t - 1, j] + a[:, t, j]
    return a


def _arviz(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ds = xr.Dataset({"x": (("chain", "draw", "k"), a)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(ds, method="rank")["x"].values
        bulk = az.ess(ds, method="bulk")["x"].values
        tail = az.ess(ds, method="tail")["x"].values
    return rhat, bulk, tail


@pytest.fixture(params=[True, False], ids=["numba", "no-numba"])
def numba(request):
    had = Numba.numba_flag
    if request.param and not had:
        pytest.skip("numba is not installed")
    if not request.param:
        Numba.disable_numba()
    logging.getLogger("arviz").setLevel(logging.ERROR)  # its "shape validation failed" lines
    yield request.param
    if had:
        Numba.enable_numba()


@pytest.mark.parametrize("chains", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("draws", [3, 4, 5, 10, 51, 200, 333])
def test_the_same_numbers_as_arviz(numba, chains: int, draws: int) -> None:
    a = _cases(chains, draws, seed=chains * 1000 + draws)
    want = _arviz(a)
    got = rank_diagnostics(a)
    for name, w, g in zip(("rhat", "bulk", "tail"), want, got, strict=True):
        if name == "rhat" and chains < 2:
            assert np.isnan(g).all()  # ArviZ refuses one chain too; specrec splits it itself
            continue
        assert np.array_equal(w, g, equal_nan=True), (name, w, g)


def test_blocks_give_the_whole_arrays_numbers(monkeypatch) -> None:
    a = _cases(2, 60, seed=9)
    whole = rank_diagnostics(a)
    from specrec.evaluate import rank_diagnostics as module

    monkeypatch.setattr(module, "BLOCK_VALUES", 2 * 60 * 5)  # 5 elements a block
    assert BLOCK_VALUES > 2 * 60 * 5
    for w, g in zip(whole, rank_diagnostics(a), strict=True):
        assert np.array_equal(w, g, equal_nan=True)


def test_the_summary_reads_the_batched_numbers() -> None:
    a = _cases(3, 80, seed=4)
    ds = xr.Dataset({"x": (("chain", "draw", "k"), a)})
    got = diagnostics._summarise(ds)
    rhat, bulk, tail = _arviz(a)
    keep = np.arange(a.shape[2]) != 1  # the constant element is left out
    assert got["rhat_max"] == np.nanmax(rhat[keep])
    assert got["ess_bulk_min"] == np.nanmin(bulk[keep])
    assert got["ess_tail_min"] == np.nanmin(tail[keep])
