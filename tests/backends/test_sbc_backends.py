"""Simulation-based calibration on the real backends, and on one that fits a wrong prior.

The spec is a small hierarchical model (group means drawn around a hyper-mean, unknown noise)
that NUTS samples well even with a tiny budget, so a flag means a wrong model, not a stuck
sampler.  SBC checks its hyperparameters, ``mu`` and ``sigma`` (k = 2).

How reliable "passes" is: with fixed seeds each test is deterministic; over seeds, a calibrated
backend is flagged with probability at most alpha = 1% (Bonferroni over k), and with these
few simulations the chi-square p-values are coarse, so a flag needs nearly all ranks in one
bin (8 simulations, 2 bins: all 8 on one side, chance 2 / 2^8 per parameter when calibrated).
That is what a translation error does: the mis-specified backend (sigma's HalfNormal scale
shrunk tenfold) pulls every posterior of sigma below its true value, so all its ranks land in
the top bin, p < 1e-5, flagged far beyond the threshold.  Few simulations keep each test to a
handful of fits; ``benchmarks/sbc.py`` runs the same check with many more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_entry_points import registered

from specrec.cli import main
from specrec.sbc import run_sbc

#: The same spec ``benchmarks/sbc.py`` runs with many simulations.
SPEC = (Path(__file__).resolve().parents[2] / "benchmarks" / "sbc_groups.yaml").read_text()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "sbc_groups.yaml"
    path.write_text(SPEC)
    return path


def _check_passes(spec: Path, backend: str, sims: int, tmp_path: Path, sets=()) -> None:
    result = run_sbc(spec, backend, sims, overrides=list(sets), out=tmp_path / "out")
    assert [p["param"] for p in result.report["params"]] == ["mu", "sigma"]
    assert result.ok, result.report["params"]
    # Ranks are spread, not piled at one end: the fit used the simulated data and the prior.
    for p in result.report["params"]:
        assert 0.2 < p["mean_u"] < 0.8, p
    assert len(result.ranks) == 2 * sims
    files = {f.name for f in result.path.iterdir()}
    assert files == {"sbc.json", "ranks.csv", "rank_histograms.png"}


@pytest.mark.backend("numpyro")
def test_sbc_passes_on_numpyro(spec: Path, tmp_path: Path) -> None:
    _check_passes(spec, "numpyro", 8, tmp_path)


@pytest.mark.backend("pymc")
def test_sbc_passes_on_pymc(spec: Path, tmp_path: Path) -> None:
    # PyMC's own NUTS: on data this small it is faster than JAX's compile (specrec_pymc).
    _check_passes(spec, "pymc", 8, tmp_path, ["inference.sampler=pymc"])


@pytest.mark.backend("pyro")
def test_sbc_passes_on_pyro(spec: Path, tmp_path: Path) -> None:
    _check_passes(spec, "pyro", 8, tmp_path)


@pytest.mark.backend("numpyro")
def test_sbc_flags_a_backend_with_a_wrong_prior_scale(spec: Path, tmp_path: Path) -> None:
    with registered(
        tmp_path / "site",
        "specrec-wrongscale",
        {"wrongscale": "misspecified:WrongScaleBackend"},
        (Path(__file__).parent,),
    ):
        args = ["sbc", str(spec), "--backend", "wrongscale", "--sims", "8", "--bins", "4"]
        r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 1, r.output
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("sigma"))
    assert line.rstrip().endswith("FLAGGED")
    p = float(line.split()[3])
    assert p < 1e-4
    # Too small a prior scale: the posterior sits below the truth, so the ranks are at the top.
    mean_rank = float(line.split()[4])
    assert mean_rank > 0.9
    assert "Bonferroni" in r.stdout
    (folder,) = (tmp_path / "out" / "sbc_groups").iterdir()
    assert not folder.name.startswith(".tmp") and (folder / "rank_histograms.png").stat().st_size


@pytest.mark.backend("numpyro")  # naming the installed backends loads them all
def test_sbc_refuses_a_spec_that_does_not_simulate(tmp_path: Path, spec: Path) -> None:
    bad = tmp_path / "file.yaml"
    bad.write_text(
        SPEC.replace("source: simulate", "source: file\n  path: x.csv").replace(
            "  sizes: {group: 4}\n  rows: 40\n  seed: 0\n", ""
        )
    )
    r = CliRunner().invoke(main, ["sbc", str(bad), "--backend", "numpyro", "--sims", "5"])
    assert r.exit_code == 2 and "sbc simulates data from the spec" in r.stderr
    r = CliRunner().invoke(main, ["sbc", str(spec), "--backend", "nope", "--sims", "5"])
    assert r.exit_code == 2 and "unknown backend 'nope'" in r.stderr
    r = CliRunner().invoke(
        main,
        [
            "sbc",
            str(spec),
            "--backend",
            "numpyro",
            "--sims",
            "5",
            "--method",
            "vi",
            "--params",
            "zz",
        ],
    )
    assert r.exit_code == 2 and "zz not a parameter" in r.stderr


def test_sbc_fits_through_the_driver_with_its_starts_and_timing(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each simulation is fitted as ``specrec fit`` fits: ``init: map`` and ``restarts`` are
    honoured (a map fit before each of the two vi starts), and the simulation's compile_s and
    fit_s are the driver's (``driver.Timing``: the kept fit's, restarts and map starts summed
    in), not a stopwatch of its own around the call, which counted the compilation as fitting."""
    from specrec import driver

    kernels: list[tuple[str, int]] = []
    fits: list[tuple[float, float]] = []
    run_kernel, run_inference = driver.run_kernel, driver.run_inference

    def kernel(backend, model, settings, init, progress):  # type: ignore[no-untyped-def]
        kernels.append((settings.method, settings.seed))
        return run_kernel(backend, model, settings, init, progress)

    def inference(*args, **kwargs):  # type: ignore[no-untyped-def]
        inferred = run_inference(*args, **kwargs)
        fits.append((inferred.result.compile_s, inferred.result.fit_s))
        return inferred

    monkeypatch.setattr(driver, "run_kernel", kernel)
    monkeypatch.setattr(driver, "run_inference", inference)
    sets = [
        "inference.steps=50",
        "inference.draws=20",
        "inference.init=map",
        "inference.restarts=2",
    ]
    result = run_sbc(spec, "numpyro", 2, method="vi", overrides=sets, out=None)
    seeds = [0, 1, 1, 2]  # simulation i's restart j starts at seed i + j
    assert kernels == [(m, seed) for seed in seeds for m in ("map", "vi")]
    sims = result.report["simulations"]
    assert [(x["compile_s"], x["fit_s"]) for x in sims] == fits
