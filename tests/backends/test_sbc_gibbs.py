"""Simulation-based calibration of ``--method gibbs`` (NumPyro's kernel), and two wrong
conditionals it must catch.

Gibbs is calibrated when every closed-form update draws from the true full conditional, so SBC
tests the conditionals' maths as well as the sweep.  The negative controls break one update
in this process only (``monkeypatch`` on ``specrec.conjugacy.conditionals``, whose functions
the kernel calls while it is traced), never through a production switch:

* ``group_means`` (3 group means, Normal(0, 1) prior, unit noise): the Gaussian conditional's
  precision doubled, its precision-times-mean left alone, so each draw has half the posterior
  mean and 1/sqrt(2) of its sd.  With about 8 rows per group the true value's fractional rank
  is then ``Phi(2.45 Z)``: piled at both ends.  A numpy simulation of that rank distribution
  (400 repeats) flags it in 100 % of runs with 40 simulations and 8 bins (92 % with 4 bins,
  38 % with 20 simulations and 4), hence 40 and 8; a calibrated run is flagged in at most
  alpha = 1 % of seeds (Bonferroni over the 3 elements), and with fixed seeds each test is
  deterministic.
* a small BPMF (Normal-Wishart on users and items, D = 2, a Gamma noise precision): the
  Gamma conditional's rate doubled, so tau's draws sit at half its posterior and the true
  tau ranks at the top.  SBC checks ``mu`` and ``tau`` there: the Wishart factors and the
  factor means are identified only up to the factors' sign and rotation (``specrec.sbc``).

Every simulation is a new model, so the kernel is compiled again: the Wishart updates take
about 12 s to compile on a loaded 2-core machine.  The kernel passes its start point and data
as arguments of the compiled program (``specrec_numpyro.gibbs.fit_gibbs``), so simulations of
one spec compile to the same program and JAX's persistent cache (a temporary folder here)
serves all but the first: 24 BPMF simulations in about 55 s instead of 5 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache

from specrec.conjugacy import conditionals as cond
from specrec.sbc import run_sbc

pytestmark = pytest.mark.backend("numpyro")

SPECS = Path(__file__).resolve().parents[2] / "specs"
QUICK = ["inference.warmup=20", "inference.draws=200", "inference.chains=1"]

BPMF = """\
specrec: 1
name: sbc_bpmf
data: {source: simulate, sizes: {user: 6, item: 5}, density: 0.8, seed: 0}
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 2
  factor2: 2
params:
  mu: Normal(3, 1)
  L_u: {prior: "WishartCholesky(3)", dims: [factor, factor2]}
  mu_u: {prior: "MvNormalPrecision(0, sqrt(2) * L_u)", dims: [factor]}
  U: {prior: "MvNormalPrecision(mu_u, L_u)", dims: [user, factor]}
  L_v: {prior: "WishartCholesky(3)", dims: [factor, factor2]}
  mu_v: {prior: "MvNormalPrecision(0, sqrt(2) * L_v)", dims: [factor]}
  V: {prior: "MvNormalPrecision(mu_v, L_v)", dims: [item, factor]}
  tau: Gamma(4, 2)
likelihood:
  rating: Normal(mu + dot(U[user], V[item]), 1 / sqrt(tau))
inference: {method: gibbs, warmup: 50, draws: 200, chains: 1, seed: 0}
"""

CACHE_SETTINGS = {
    "jax_compilation_cache_dir": None,
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


@pytest.fixture
def compile_cache(tmp_path: Path) -> Iterator[None]:
    """JAX's persistent compilation cache in a temporary folder, for this test only."""
    old = {k: getattr(jax.config, k) for k in CACHE_SETTINGS}
    for k, v in {**CACHE_SETTINGS, "jax_compilation_cache_dir": str(tmp_path / "xla")}.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        for k, v in old.items():
            jax.config.update(k, v)
        compilation_cache.reset_cache()


@pytest.fixture
def bpmf(tmp_path: Path) -> Path:
    path = tmp_path / "sbc_bpmf.yaml"
    path.write_text(BPMF)
    return path


def _sbc(spec: Path, sims: int, bins: int, sets: list[str], tmp_path: Path):
    result = run_sbc(spec, "numpyro", sims, method="gibbs", bins=bins, overrides=sets, out=None)
    assert result.report["inference"]["method"] == "gibbs"
    assert len(result.ranks) == sims * len(result.report["params"])
    return result


def _double_gaussian_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    right = cond.gaussian_params

    def wrong(*args, **kwargs):
        prec, h = right(*args, **kwargs)
        return 2.0 * prec, h

    monkeypatch.setattr(cond, "gaussian_params", wrong)


def _double_gamma_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    right = cond.scalar_params

    def wrong(arrays, model, p, values):
        a, b = right(arrays, model, p, values)
        return (a, 2.0 * b) if p.rv.distribution == "Gamma" else (a, b)

    monkeypatch.setattr(cond, "scalar_params", wrong)


def test_gibbs_sbc_passes_on_group_means(compile_cache, tmp_path: Path) -> None:
    result = _sbc(SPECS / "group_means.yaml", 40, 8, QUICK, tmp_path)
    params = result.report["params"]
    assert [p["param"] for p in params] == [f"group_means[{g}]" for g in range(3)]
    assert result.ok, params
    for p in params:  # spread, not piled at one end
        assert 0.3 < p["mean_u"] < 0.7, p


def test_gibbs_sbc_flags_a_gaussian_precision_off_by_two(
    compile_cache, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _double_gaussian_precision(monkeypatch)
    result = _sbc(SPECS / "group_means.yaml", 40, 8, QUICK, tmp_path)
    assert result.flagged, result.report["params"]
    # too narrow a posterior: the ranks pile in the two outer bins, not at one end
    for p in result.report["params"]:
        if p["flagged"]:
            counts = p["counts"]
            assert counts[0] + counts[-1] > 0.4 * sum(counts), p


def test_gibbs_sbc_passes_on_a_small_bpmf(compile_cache, bpmf: Path, tmp_path: Path) -> None:
    result = _sbc(bpmf, 24, 4, [], tmp_path)
    params = result.report["params"]
    assert [p["param"] for p in params] == ["mu", "tau"]
    assert result.ok, params
    for p in params:
        assert 0.25 < p["mean_u"] < 0.75, p


def test_gibbs_sbc_flags_a_gamma_rate_off_by_two_on_bpmf(
    compile_cache, monkeypatch: pytest.MonkeyPatch, bpmf: Path, tmp_path: Path
) -> None:
    _double_gamma_rate(monkeypatch)
    result = _sbc(bpmf, 12, 4, [], tmp_path)
    assert result.flagged == ["tau"], result.report["params"]
    (tau,) = [p for p in result.report["params"] if p["param"] == "tau"]
    assert tau["mean_u"] > 0.8, tau  # draws at half the posterior: the truth ranks at the top
