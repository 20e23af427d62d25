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


# ---- what the figures show: the figure is captured before it is saved -----------------------


@pytest.fixture
def captured(monkeypatch):
    import specrec.evaluate.plots as plots

    figs: list = []
    real = plots._save_atomic

    def keep(fig, path):
        figs.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save_atomic", keep)
    return figs


def _texts(fig) -> list[str]:
    out = [fig.texts[i].get_text() for i in range(len(fig.texts))]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return out


def test_figures_get_the_ordinary_file_mode(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = plot_loss(np.linspace(5, 1, 50), tmp_path / "loss.png")
        assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        os.umask(0o027)
        path = plot_loss(np.linspace(5, 1, 50), tmp_path / "loss.png")
        assert path.stat().st_mode & 0o777 == 0o640  # the umask is respected
    finally:
        os.umask(old)


def test_running_rmse_is_scaled_to_the_curve_not_the_baselines(tmp_path, captured):
    curve = np.linspace(0.95, 0.90, 100) + 0.01 * np.sin(np.arange(100))
    base = {"uniform": 2.45, "global_mean": 1.12, "near": 0.93}
    plot_running_rmse(curve, base, tmp_path / "r.png")
    ax = captured[-1].axes[0]
    lo, hi = ax.get_ylim()
    assert lo < curve.min() and hi > curve.max()
    assert hi - lo < 2 * np.ptp(curve)  # the curve fills the axis, it is not flat
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "near" in labels  # a baseline in range is a line
    drawn = [line for line in ax.lines if len(line.get_ydata())]
    assert len(drawn) == 2  # the curve and "near" only: nothing off the scale squashes it
    assert "uniform 2.45 (above), off the scale" in labels
    assert "global_mean 1.12 (above), off the scale" in labels


def test_loss_gets_a_log_axis_when_it_spans_orders_of_magnitude(tmp_path, captured):
    steps = np.arange(500)
    plot_loss(1e5 * np.exp(-steps / 20) + 50, tmp_path / "l.png")
    assert captured[-1].axes[0].get_yscale() == "log"
    plot_loss(1e5 * np.exp(-steps / 20) - 400, tmp_path / "l.png")  # ends below zero
    assert captured[-1].axes[0].get_yscale() == "symlog"
    plot_loss(np.linspace(120, 100, 500), tmp_path / "l.png")  # a settled, narrow trace
    assert captured[-1].axes[0].get_yscale() == "linear"


def test_rmse_by_activity_draws_only_non_empty_buckets_per_dim(tmp_path, captured):
    by = {
        "user": {
            "0": {"n": 0, "rmse": None},  # a run written before the buckets came from the data
            "2-4": {"n": 5, "rmse": 1.1},
            "5-9": {"n": 7, "rmse": 0.9},
        },
        "item": {"1-3": {"n": 2, "rmse": 1.3}, "4-40": {"n": 10, "rmse": 0.8}},
    }
    plot_rmse_by_activity(by, tmp_path / "a.png")
    user_ax, item_ax = captured[-1].axes
    assert [t.get_text() for t in user_ax.get_xticklabels()] == ["2-4", "5-9"]
    assert [t.get_text() for t in item_ax.get_xticklabels()] == ["1-3", "4-40"]
    assert len(user_ax.patches) == 2 and len(item_ax.patches) == 2


def test_observed_vs_predicted_are_outlines_and_cdfs(tmp_path, captured):
    rng = np.random.default_rng(0)
    plot_observed_vs_predicted(rng.integers(1, 6, 200), rng.normal(3.5, 0.4, 200), tmp_path / "o")
    hist_ax, cdf_ax = captured[-1].axes
    assert hist_ax.patches and not [p for p in hist_ax.patches if p.get_fill()]  # steps only
    assert len(cdf_ax.lines) == 2
    for line in cdf_ax.lines:
        assert line.get_ydata()[-1] == pytest.approx(1.0)


def test_category_shares_never_print_minus_zero(tmp_path, captured):
    # every replicated value is an observed category: no "other values" note at all, where
    # 1 - (sum of shares) once came out as -1e-17 and printed "-0.0%"
    cats = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    rng = np.random.default_rng(1)
    y = rng.choice(cats, 97)
    rep = rng.choice(cats, (1, 40, 97))
    plot_ratings_check(y, rep, tmp_path / "c.png", "prior", categories=cats)
    texts = _texts(captured[-1])
    assert "category frequencies" in texts
    assert not [t for t in texts if "-0.0%" in t or t in ("-0", "\u22120")]
    rep[0, :3, :5] = 7.0  # a few replicated values outside: a true, positive share
    plot_ratings_check(y, rep, tmp_path / "c.png", "prior", categories=cats)
    assert any("0.4% replicated in other values" in t for t in _texts(captured[-1]))


def test_percent_never_shows_minus_zero():
    from specrec.evaluate.plots import percent

    assert percent(-1e-17) == "0.0%" and percent(-0.0) == "0.0%" and percent(-0.0004) == "0.0%"
    assert percent(0.1234) == "12.3%" and percent(-0.05) == "-5.0%"
