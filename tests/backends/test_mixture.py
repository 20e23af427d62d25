"""The Netflix seed's mixture of user types on every backend.

``map`` must reach the log-likelihood of EM (the seed's own algorithm, ``specrec.testing.em``,
as the reference) on data simulated from ``specs/netflix_mixture.yaml``; NUTS must recover the
type weights and spreads EM estimates on the same rows (inside 90 % intervals, after the stable
relabelling) and report a clear type for each user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from specrec.fitting import fit
from specrec.model import mixture
from specrec.testing import em

BACKENDS = [pytest.param(n, marks=pytest.mark.backend(n)) for n in ("numpyro", "pymc", "pyro")]
SPEC = Path(__file__).resolve().parents[2] / "specs" / "netflix_mixture.yaml"
# 90 users x 25 items.  With so few ratings per item and type, a type's spread is estimated
# low (its item means are fitted to the same few ratings: EM's sd for the 0.7 type ranges over
# 0.59-0.71 across simulation seeds 1-8), so NUTS is checked against EM on the same data, not
# against the truth: then no simulation seed has to be picked for landing near the truth.
SMALL = ["data.sizes.user=90", "data.sizes.item=25", "data.density=0.5", "data.seed=1"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_reaches_the_em_log_likelihood(backend: str) -> None:
    sets = [*SMALL, "inference.restarts=3", "inference.steps=1000"]
    run = fit(SPEC, backend=backend, overrides=sets, out=None, progress=False)
    model, rows = run.model, run.model.data
    users, items, y = rows.index["user"], rows.index["item"], rows.y
    n_users, n_items = model.dims["user"].size, model.dims["item"].size
    ref = em.best_of(users, items, y, n_users, n_items, 3)
    post = run.idata.posterior
    w, mu, sigma = (post[k].values[0, 0] for k in ("w", "mu", "sigma"))
    ll_map = em.mixture_log_likelihood(users, items, y, n_users, w, mu, sigma)
    # the priors (weak, and an inverse-gamma keeping sigma off 0) move the mode a little
    assert abs(ll_map - ref.log_likelihood) <= 2e-3 * abs(ref.log_likelihood), ll_map
    np.testing.assert_allclose(np.sort(w), np.sort(ref.weights), atol=0.02)
    np.testing.assert_allclose(np.sort(sigma), np.sort(ref.sds), atol=0.05)
    assert run.metrics["restarts"]["chosen"] in (0, 1, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nuts_recovers_types_and_orders_labels(backend: str) -> None:
    sets = [*SMALL, "inference.method=nuts", "inference.restarts=1"]
    sets += ["inference.warmup=120", "inference.draws=80", "inference.chains=2"]
    run = fit(SPEC, backend=backend, overrides=sets, out=None, progress=False)
    model, post = run.model, run.idata.posterior
    rows = model.data
    users, items, y = rows.index["user"], rows.index["item"], rows.y
    ref = em.best_of(users, items, y, model.dims["user"].size, model.dims["item"].size, 3)
    sigma = np.asarray(post["sigma"].values).reshape(-1, 3)
    w = np.asarray(post["w"].values).reshape(-1, 3)
    # relabelled: each type's item means barely move between draws, chains included
    mu = np.asarray(post["mu"].values)
    between = np.abs(mu[0].mean(0) - mu[1].mean(0)).mean()
    across_types = np.abs(mu.mean((0, 1))[:, None] - mu.mean((0, 1))[None]).mean()
    assert between < 0.2 * across_types, (between, across_types)
    for name, draws, em_value in (("w", w, ref.weights), ("sigma", sigma, ref.sds)):
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        # EM's maximum likelihood on the same rows (weak priors: near the posterior mode);
        # labels are arbitrary: some permutation of it must lie in the 90 % intervals
        assert any(
            np.all((lo <= em_value[list(p)]) & (em_value[list(p)] <= hi)) for p in _permutations(3)
        ), (name, lo, em_value, hi)
    resp = np.asarray(post["type_responsibility"].values)
    assert resp.shape[2:] == (model.dims["user"].size, 3)
    np.testing.assert_allclose(resp.sum(-1), 1.0, atol=1e-9)
    summary = run.metrics["diagnostics"]["mixture"]
    assert summary["mean_max_responsibility"] > 0.9
    assert sum(summary["levels_per_component"]) == summary["levels"]
    # predictions do not depend on labels: their R-hat is reported whatever the chains swapped
    # (the worst of 200 predictions from 80 draws per chain: a loose bound)
    assert 1.0 <= run.metrics["diagnostics"]["pred_rhat_max"] < 1.2
    assert run.metrics["metrics"]["loo"]["unit"] == "user"


def _permutations(n: int) -> list[tuple[int, ...]]:
    from itertools import permutations

    return list(permutations(range(n)))


def test_responsibilities_and_prediction_follow_the_definition() -> None:
    """The numpy reference against a direct computation, at a prior draw (no backend)."""
    from specrec.data.source import load_data
    from specrec.fitting import resolve_spec
    from specrec.model.lower import lower
    from specrec.model.reference import likelihood_args, predict_draws, sample_prior

    loaded = resolve_spec(SPEC, overrides=SMALL)
    ds, split = load_data(loaded)
    model = lower(loaded, ds.take(split.train))
    rows = model.data
    draw = sample_prior(model, np.random.default_rng(0))
    values = {k: np.asarray(draw[k]) for k in ("w", "mu", "sigma")}
    resp = mixture.responsibilities(model, values, likelihood_args(model, values, rows))
    users, items, y = rows.index["user"], rows.index["item"], rows.y
    w, mu, sigma = values["w"], values["mu"], values["sigma"]
    diff = y[:, None] - mu[:, items].T
    lp = -0.5 * (np.log(2 * np.pi * sigma**2)[None] + diff**2 / sigma[None] ** 2)
    joint = np.log(w) + np.zeros((model.dims["user"].size, 3))
    np.add.at(joint, users, lp)
    want = np.exp(joint - logsumexp(joint, 1, keepdims=True))
    np.testing.assert_allclose(resp, want, rtol=1e-8)
    mean, _ = predict_draws(model, {k: v[None, None] for k, v in values.items()}, rows)
    np.testing.assert_allclose(mean[0, 0], (want[users] * mu[:, items].T).sum(1), rtol=1e-8)
    # simulation draws one type per user for all of the user's ratings: with types 2 apart
    # and tiny spreads, each user's ratings sit around a single type's level
    levels = np.array([1.0, 3.0, 5.0])
    fixed = {
        "w": np.array([0.4, 0.3, 0.3]),
        "mu": np.repeat(levels[:, None], mu.shape[1], 1),
        "sigma": np.full(3, 0.01),
    }
    sim = sample_prior(model, np.random.default_rng(1), fixed=fixed)["rating"]
    nearest = np.abs(sim[:, None] - levels[None]).argmin(1)
    for u in np.unique(users):
        assert len(set(nearest[users == u])) == 1, u
    assert len(set(nearest)) == 3  # and all three types occur
