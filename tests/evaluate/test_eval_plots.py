"""Each plot writes a real, non-empty PNG atomically and leaves no temporary file behind."""

from __future__ import annotations

import numpy as np
import pytest

from specrec.evaluate.plots import plot_frobenius, plot_loss, plot_running_rmse

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, folder):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp file left


@pytest.mark.parametrize(
    "make",
    [
        lambda p: plot_frobenius({"U": np.random.default_rng(0).normal(size=(2, 50)) + 5}, p),
        lambda p: plot_running_rmse(
            np.linspace(1.3, 0.95, 100), {"global_mean": 1.12, "mean_of_means": 1.01}, p
        ),
        lambda p: plot_loss(np.exp(-np.linspace(0, 5, 300)) * 1e4 + 100, p),
    ],
    ids=["frobenius", "running_rmse", "loss"],
)
def test_plot_writes_png(tmp_path, make):
    folder = tmp_path / "figures"
    path = make(folder / "plot.png")  # the folder does not exist yet
    _check_png(path, folder)
    # Overwriting an existing figure works and still leaves one file.
    _check_png(make(folder / "plot.png"), folder)
