"""The NumPyro Gibbs kernel against the numpy reference (marked: it needs JAX)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from specrec_numpyro.backend import NumPyroBackend
from specrec_numpyro.translate import OPS, RESPONSE, device_rows

from specrec.conjugacy import analyse
from specrec.conjugacy import conditionals as cond
from specrec.conjugacy.probe import NUMPY, Arrays
from specrec.model.reference import initial_values
from specrec.spec.models import Inference

from .models import model
from .test_gibbs import SPECS, check_exact, group_means

pytestmark = pytest.mark.backend("numpyro")


@pytest.mark.parametrize("name", ["gaussian_gamma", "normal_wishart", "gamma_poisson"])
def test_conditional_parameters_agree_with_the_numpy_reference(name):
    m = model(name)
    values = initial_values(m, np.random.default_rng(0), 1.0)
    rows = device_rows(m)
    arrays = Arrays(jnp, OPS, {k: v for k, v in rows.items() if k != RESPONSE}, rows[RESPONSE])
    jvalues = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    params = {
        "normal": cond.gaussian_params,
        "mvnormal": cond.gaussian_params,
        "wishart": cond.wishart_params,
        "gamma": cond.scalar_params,
    }
    with_grams = []
    for u in analyse(m):
        p = cond.plan(m, u)
        want = params[u.kind](NUMPY, m, p, values)
        batched = cond.plan(m, u, batched_grams=True)  # the sampler's: Grams per block
        with_grams += [u.param] if batched.grams else []
        got = jax.jit(lambda v, p=batched, u=u: params[u.kind](arrays, m, p, v))(jvalues)
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=2e-4, atol=1e-4)
    # the factor rows, whose children are rating rows, are the sites with batched Grams
    assert with_grams == ([] if name == "gamma_poisson" else ["U", "V"]), with_grams


def test_the_kernel_draws_the_exact_group_means_posterior():
    m, mean, sd = group_means()
    settings = Inference(method="gibbs", warmup=5, draws=2000, chains=2, seed=1)
    init = initial_values(m, np.random.default_rng(0), 0.1)
    fit = NumPyroBackend().fit(m, settings, init, progress=False)
    assert fit.method == "gibbs" and fit.posterior["group_means"].shape == (2, 2000, 3)
    assert fit.compile_s > 0 and fit.fit_s > 0
    check_exact(fit, mean, sd)


def test_the_kernel_slices_a_model_without_a_closed_form():
    m = model("no_closed_form")
    settings = Inference(method="gibbs", warmup=10, draws=100, chains=2, seed=0)
    init = initial_values(m, np.random.default_rng(0), 0.1)
    fit = NumPyroBackend().fit(m, settings, init, progress=False)
    ref_sigma = fit.posterior["sigma"].mean()
    from specrec.conjugacy import sample

    numpy_fit = sample(m, settings.model_copy(update={"chains": 1}), init)
    assert abs(ref_sigma - numpy_fit.posterior["sigma"].mean()) < 0.25 * ref_sigma


def test_fit_runs_gibbs_end_to_end():
    from specrec.fitting import fit

    run = fit(
        SPECS / "group_means.yaml",
        backend="numpyro",
        method="gibbs",
        overrides=["inference.warmup=20", "inference.draws=100"],
        out=None,
        progress=False,
    )
    assert run.metrics["inference"]["method"] == "gibbs"
    assert run.idata.posterior["group_means"].shape == (2, 100, 3)


def test_a_sweeps_only_lapack_kernel_is_the_chained_cholesky():
    """jaxlib 0.10's batched LAPACK kernels wait on XLA's intra-op pool; two at once (a
    Cholesky and a solve of the same precisions) deadlocked a Gibbs run on 2 cores.  The
    sweep factorises with LAPACK through ``serial_cholesky`` alone (each call waits for the
    one before), and solves in plain array operations (``specrec.conjugacy.linalg``)."""
    from specrec_numpyro.gibbs import make_sweep

    m = model("normal_wishart")
    values = initial_values(m, np.random.default_rng(0), 1.0)
    rows = device_rows(m)
    sweep, inputs = make_sweep(m, analyse(m), rows)
    start = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    hlo = jax.jit(sweep).lower(start, jax.random.PRNGKey(0), inputs).compile().as_text()
    assert "wishart" in [u.kind for u in analyse(m)]
    targets = set(re.findall(r'custom_call_target="([^"]+)"', hlo))
    lapack = [t for t in targets if "lapack" in t]
    assert lapack and all("potrf" in t for t in lapack), targets


INDEPENDENT_FACTORISATIONS = """
import jax, jax.numpy as jnp, numpy as np
from specrec_numpyro.gibbs import serial_cholesky
x = np.random.default_rng(0).normal(size=(800, 20, 40)).astype(np.float32)
a = jnp.asarray(x @ x.transpose(0, 2, 1) / 40 + np.eye(20, dtype=np.float32))

@jax.jit
def f(a, i):
    chol = serial_cholesky()  # four factorisations no data ties together, beside products
    return sum(chol(a * (k + i)).sum() for k in range(1, 5)) + (a @ a).sum()

for i in range(150):
    f(a, float(i)).block_until_ready()
print("done")
"""


def test_independent_factorisations_do_not_deadlock():
    """Unchained, this program hung within its first few calls on the 2-core machine."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", INDEPENDENT_FACTORISATIONS],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr[-2000:]


def test_the_kernel_thins_the_same_chain():
    m = model("normal_wishart")
    init = initial_values(m, np.random.default_rng(0), 0.1)

    def run(draws: int, thin: int):
        settings = Inference(method="gibbs", warmup=3, draws=draws, thin=thin, chains=2, seed=4)
        return NumPyroBackend().fit(m, settings, init, progress=False).posterior

    every, thinned = run(8, 1), run(4, 2)
    for name, v in thinned.items():
        assert v.shape[:2] == (2, 4)
        np.testing.assert_allclose(v, every[name][:, 1::2], rtol=1e-5, atol=1e-6)


def test_the_kernels_gamma_draws_follow_the_gamma_distribution():
    """Marsaglia-Tsang in float32 (``_gamma``): shapes below 1 (boosted), near 1, and large
    (where the direct acceptance test cancels to noise: variance was 20 % off at 5000)."""
    from scipy import stats
    from specrec_numpyro.gibbs import _gamma

    alpha = jnp.array([0.3, 1.0, 2.5, 400.0, 5000.0])
    keys = jax.random.split(jax.random.PRNGKey(1), 40_000)
    draws = np.asarray(jax.jit(jax.vmap(_gamma, (0, None)))(keys, alpha), dtype=float)
    for i, a in enumerate(np.asarray(alpha, dtype=float)):
        assert stats.kstest(draws[:, i], stats.gamma(a).cdf).pvalue > 1e-3, a
        # the sample variance's relative sd is sqrt((2 + excess kurtosis 6/a) / n)
        assert abs(draws[:, i].var() / a - 1) < 4 * np.sqrt((2 + 6 / a) / len(draws)), a
