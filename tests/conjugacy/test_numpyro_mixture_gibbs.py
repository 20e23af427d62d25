"""Gibbs by data augmentation on the NumPyro kernel (marked: it needs JAX).

The kernel's conditionals against the numpy reference's on the same values; then a fit of a
small ``netflix_mixture``: its predictions agree with em's and NUTS's, its sampled types
recover the types the data were simulated with (the types at the true parameters, where every
user's type is certain), and its ``z`` in the InferenceData is relabelled with the parameters.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from specrec_numpyro.gibbs import JaxRandom, _slice_elements
from specrec_numpyro.translate import OPS, RESPONSE, device_rows

from specrec.agreement import _mcse
from specrec.conjugacy import augment
from specrec.conjugacy.probe import NUMPY, Arrays
from specrec.model.reference import level_log_responsibilities, predict_draws

from .test_augment import SPECS, small

pytestmark = pytest.mark.backend("numpyro")


def test_the_kernels_conditionals_agree_with_the_numpy_reference():
    m, p, values, z = small()
    rows = device_rows(m)
    arrays = Arrays(jnp, OPS, {k: v for k, v in rows.items() if k != RESPONSE}, rows[RESPONSE])
    jv = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    jz = jnp.asarray(z, jnp.int32)
    jp = p.with_arrays({"levels": jnp.asarray(p.levels), "which": p.which})
    pairs = [
        (augment.assignment_logits(NUMPY, p, values), augment.assignment_logits(arrays, jp, jv)),
        (augment.weight_params(NUMPY, p, z), augment.weight_params(arrays, jp, jz)),
        *zip(
            augment.mean_params(NUMPY, p, "mu", values, z),
            augment.mean_params(arrays, jp, "mu", jv, jz),
            strict=True,
        ),
        *zip(
            augment.scale_stats(NUMPY, p, "sigma", values, z),
            augment.scale_stats(arrays, jp, "sigma", jv, jz),
            strict=True,
        ),
    ]
    for want, got in pairs:
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=1e-3)


def test_the_kernels_categorical_draws_follow_their_probabilities():
    logits = jnp.log(jnp.array([[0.2, 0.5, 0.3]] * 20000))
    z = augment.draw_assignment(Arrays(jnp, OPS), JaxRandom(jax.random.PRNGKey(0)), logits)
    freq = np.bincount(np.asarray(z), minlength=3) / 20000
    assert np.abs(freq - [0.2, 0.5, 0.3]).max() < 4 * np.sqrt(0.25 / 20000)


def test_the_vectorised_slice_step_keeps_each_elements_density():
    """Independent elements, each N(m_i, s_i): the chain of steps matches their moments."""
    m, s = jnp.array([0.0, 3.0, -2.0]), jnp.array([1.0, 0.3, 2.0])

    def logp(x):
        return -0.5 * ((x - m) / s) ** 2

    def step(x, key):
        x = _slice_elements(key, logp, x)
        return x, x

    _, xs = jax.lax.scan(step, jnp.zeros(3), jax.random.split(jax.random.PRNGKey(1), 4000))
    xs = np.asarray(xs)[100:]
    np.testing.assert_allclose(xs.mean(0), m, atol=0.15 * np.asarray(s).max())
    np.testing.assert_allclose(xs.std(0), s, rtol=0.1)


@pytest.fixture(scope="module")
def fits():
    from specrec.fitting import fit

    common = ["inference.restarts=1", "inference.chains=2"]  # the spec's 150 users x 40 items
    runs = {}
    for method, budget in (
        ("gibbs", ["inference.warmup=200", "inference.draws=300"]),
        ("nuts", ["inference.warmup=150", "inference.draws=150"]),
        ("em", []),
    ):
        runs[method] = fit(
            SPECS / "netflix_mixture.yaml",
            backend="numpyro",
            method=method,
            overrides=[*common, *budget],
            out=None,
            progress=False,
        )
    return runs


def _prediction(run) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean prediction of every test row and its MCSE."""
    post = {rv.name: np.asarray(run.idata.posterior[rv.name].values) for rv in run.model.latents}
    draws = predict_draws(run.model, post, run.test_rows)[0]
    return draws.mean(axis=(0, 1)), _mcse(draws)


def test_gibbs_predictions_agree_with_nuts_and_em(fits):
    """Gibbs and NUTS sample one posterior: per test row, within 4 MCSE (the two combined)
    plus 0.01.  em is the MAP, a point: within 0.05 on a rating (sd about 0.6)."""
    gibbs, g_se = _prediction(fits["gibbs"])
    nuts, n_se = _prediction(fits["nuts"])
    assert np.all(np.abs(gibbs - nuts) <= 4 * np.hypot(g_se, n_se) + 0.01)
    assert np.abs(gibbs - _prediction(fits["em"])[0]).max() < 0.05
    rmse = {k: r.metrics["metrics"]["test"]["rmse"] for k, r in fits.items()}
    assert abs(rmse["gibbs"] - rmse["nuts"]) < 0.01
    assert fits["gibbs"].metrics["diagnostics"]["pred_rhat_max"] < 1.05


def test_gibbs_sampled_types_recover_the_simulated_types(fits):
    run = fits["gibbs"]
    m = run.model
    truth = {k: np.asarray(v, float) for k, v in run.train.truth.items()}
    at_truth = level_log_responsibilities(m, truth)
    assert np.exp(at_truth).max(1).min() > 0.99  # the types are certain at the truth
    true_types = at_truth.argmax(1)
    z = np.asarray(run.idata.posterior["z"].values)
    k = m.dims["type"].size
    modal = np.stack([(z == j).mean(axis=(0, 1)) for j in range(k)], 1).argmax(1)
    best = max(
        np.mean(np.asarray(perm)[modal] == true_types) for perm in itertools.permutations(range(k))
    )
    assert best >= 0.95


def test_gibbs_types_are_relabelled_with_the_parameters(fits):
    """After relabelling, each user's sampled type frequencies are its posterior mean
    responsibilities (both estimate P(z = k | y)); a z left in the sampler's labels would not
    match once a chain's labels differ from the pivot's."""
    post = fits["gibbs"].idata.posterior
    z = np.asarray(post["z"].values)
    resp = np.asarray(post["type_responsibility"].values).mean(axis=(0, 1))
    freq = np.stack([(z == j).mean(axis=(0, 1)) for j in range(resp.shape[1])], 1)
    assert np.abs(freq - resp).max() < 0.1
    assert fits["gibbs"].metrics["backend"]["slice_steps"] == ["sigma"]
