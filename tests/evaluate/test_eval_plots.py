"""Each plot writes a real, non-empty PNG atomically and leaves no temporary file behind."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from specrec.evaluate.plots import (
    level_means,
    plot_calibration,
    plot_energy,
    plot_frobenius,
    plot_hyperparameters,
    plot_level_means_check,
    plot_loss,
    plot_observed_vs_predicted,
    plot_predictive_check,
    plot_ratings_check,
    plot_rmse_by_activity,
    plot_running_rmse,
)

_RNG = np.random.default_rng(5)
_CODES = {"user": _RNG.integers(0, 12, 300), "item": _RNG.integers(0, 9, 300)}
_Y = _RNG.normal(3.5, 1.0, 300)
_Y_REP = _RNG.normal(3.5, 1.1, (2, 40, 300))
_STARS = _RNG.integers(1, 6, 300)
_STARS_REP = _RNG.integers(1, 6, (1, 30, 300))

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, folder):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp file left
    pixels = imread(path)  # decodes, and is not a blank canvas
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 600
    assert pixels[..., :3].std() > 0.05


@pytest.mark.parametrize(
    "make",
    [
        lambda p: plot_frobenius({"U": np.random.default_rng(0).normal(size=(2, 50)) + 5}, p),
        lambda p: plot_running_rmse(
            np.linspace(1.3, 0.95, 100), {"global_mean": 1.12, "mean_of_means": 1.01}, p
        ),
        lambda p: plot_loss(np.exp(-np.linspace(0, 5, 300)) * 1e4 + 100, p),
        lambda p: plot_calibration(np.array([0.1, 0.5, 0.9]), np.array([0.05, 0.4, 0.8]), p),
        lambda p: plot_rmse_by_activity(
            {
                "user": {"0": {"n": 0, "rmse": None}, "1-5": {"n": 4, "rmse": 1.1}},
                "item": {"0": {"n": 2, "rmse": 1.3}, "1-5": {"n": 9, "rmse": 0.9}},
            },
            p,
        ),
        lambda p: plot_observed_vs_predicted(
            np.random.default_rng(0).integers(1, 6, 200), np.linspace(2.5, 4.2, 200), p
        ),
        lambda p: plot_hyperparameters(
            {"mu": np.random.default_rng(1).normal(size=(2, 80)), "sigma": np.ones((2, 80))}, p
        ),
        lambda p: plot_ratings_check(_Y, _Y_REP, p, "ratings"),
        lambda p: plot_ratings_check(_STARS, _STARS_REP, p, "stars", categories=np.arange(1, 6)),
        lambda p: plot_level_means_check(_Y, _Y_REP, _CODES, p, "means"),
        lambda p: plot_predictive_check(_Y, _Y_REP, _CODES, p, "prior predictive"),
        lambda p: plot_energy(np.cumsum(_RNG.normal(size=(2, 100)), axis=1), [0.4, 0.5], p),
    ],
    ids=[
        "frobenius",
        "running_rmse",
        "loss",
        "calibration",
        "rmse_by_activity",
        "observed_vs_predicted",
        "hyperparameters",
        "ratings_check",
        "category_frequencies",
        "level_means_check",
        "predictive_check",
        "energy",
    ],
)
def test_plot_writes_png(tmp_path, make):
    folder = tmp_path / "figures"
    path = make(folder / "plot.png")  # the folder does not exist yet
    _check_png(path, folder)
    # Overwriting an existing figure works and still leaves one file.
    _check_png(make(folder / "plot.png"), folder)


def test_level_means_are_each_levels_mean_rating():
    y = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    codes = np.array([3, 0, 3, 0, 7])  # level 5 has no rows: left out, not a 0/0
    np.testing.assert_allclose(level_means(y, codes), [3.0, 2.0, 10.0])
    stacked = level_means(np.stack([y, 2 * y]), codes)
    np.testing.assert_allclose(stacked, [[3.0, 2.0, 10.0], [6.0, 4.0, 20.0]])
