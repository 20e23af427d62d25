"""Model families on every backend: parameter recovery on data simulated from the spec.

Each spec is small.  The hyperparameters' true values must lie inside the fit's 90 % intervals
(NUTS where the model is cheap: mean-field VI's intervals are known to be too narrow), and the test RMSE must be close to that of the true parameters (the
oracle), on the observed 1..5 scale even where the likelihood models a scaled response.
"""

from __future__ import annotations

import numpy as np
import pytest

from specrec.data.source import load_data
from specrec.fitting import fit
from specrec.model.lower import lower, row_data
from specrec.model.reference import predict_draws
from specrec.spec.load import parse_spec_text

BACKENDS = [pytest.param(n, marks=pytest.mark.backend(n)) for n in ("numpyro", "pymc", "pyro")]

ORDINAL = """\
specrec: 1
name: ordinal_sim
data:
  source: simulate
  sizes: {user: 40, item: 25}
  density: 0.6
  seed: 3
  true: {cutpoints: [-2.0, -0.7, 0.6, 1.9]}
dims:
  user: {column: user_id}
  item: {column: item_id}
  cut: 4
params:
  b_u: {prior: "Normal(0, 1)", dims: [user]}
  b_i: {prior: "Normal(0, 1)", dims: [item]}
  cutpoints: {prior: "Normal(0, 3)", dims: [cut], constraint: ordered}
likelihood:
  rating:
    distribution: OrderedLogistic(b_u[user] + b_i[item], cutpoints)
    shift: 1
inference: {method: nuts, warmup: 150, draws: 150, chains: 1}
"""

LOGISTIC = """\
specrec: 1
name: logistic_sim
data:
  source: simulate
  sizes: {user: 60, item: 40}
  density: 0.6
  seed: 4
  true: {sigma: 0.08}
dims:
  user: {column: user_id}
  item: {column: item_id}
params:
  b0: Normal(0, 2)
  b_u: {prior: "Normal(0, 1)", dims: [user]}
  b_i: {prior: "Normal(0, 1)", dims: [item]}
  sigma: HalfNormal(0.5)
likelihood:
  rating:
    distribution: Normal(sigmoid(b0 + b_u[user] + b_i[item]), sigma)
    shift: 1
    scale: 4
inference: {method: nuts, warmup: 200, draws: 200, chains: 1}
"""

BPMF_LKJ = """\
specrec: 1
name: bpmf_lkj_sim
data:
  source: simulate
  sizes: {user: 25, item: 20}
  density: 0.6
  seed: 5
  true: {sigma: 0.3, mu_u: [1.0, -0.5], mu_v: [0.8, 0.5]}
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 2
  factor2: 2
params:
  mu_u: {prior: "Normal(0, 1)", dims: [factor]}
  sd_u: {prior: "HalfNormal(1)", dims: [factor]}
  L_u: {prior: "LKJCholesky(2)", dims: [factor, factor2]}
  U: {prior: "MvNormal(mu_u, sd_u * L_u)", dims: [user, factor]}
  mu_v: {prior: "Normal(0, 1)", dims: [factor]}
  sd_v: {prior: "HalfNormal(1)", dims: [factor]}
  L_v: {prior: "LKJCholesky(2)", dims: [factor, factor2]}
  V: {prior: "MvNormal(mu_v, sd_v * L_v)", dims: [item, factor]}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(3 + dot(U[user], V[item]), sigma)
evaluate: {clip: false}
inference: {method: vi, steps: 1000, lr: 0.05, draws: 400}
"""

BPMF_NW = """\
specrec: 1
name: bpmf_nw_sim
data:
  source: simulate
  sizes: {user: 25, item: 20}
  density: 0.9
  seed: 5
  true:
    sigma: 0.3
    L_u: [[2.0, 0.0], [0.6, 1.6]]
    L_v: [[2.4, 0.0], [-0.4, 1.8]]
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 2
  factor2: 2
params:
  L_u: {prior: "WishartCholesky(2)", dims: [factor, factor2]}
  mu_u: {prior: "MvNormalPrecision(0, sqrt(2) * L_u)", dims: [factor]}
  U: {prior: "MvNormalPrecision(mu_u, L_u)", dims: [user, factor]}
  L_v: {prior: "WishartCholesky(2)", dims: [factor, factor2]}
  mu_v: {prior: "MvNormalPrecision(0, sqrt(2) * L_v)", dims: [factor]}
  V: {prior: "MvNormalPrecision(mu_v, L_v)", dims: [item, factor]}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(3 + dot(U[user], V[item]), sigma)
evaluate: {clip: false}
inference: {method: vi, steps: 1000, lr: 0.05, draws: 400}
"""


def _gaps(x: np.ndarray) -> np.ndarray:
    """Cutpoint spacings: the cutpoints' location trades off with the scores' mean, not these."""
    return np.diff(x, axis=-1)


def _same(x: np.ndarray) -> np.ndarray:
    return x


# spec, {hyperparameter: its identified function}, RMSE slack (share of the y spread)
CASES = {
    "ordinal": (ORDINAL, {"cutpoints": _gaps}, 0.05),
    "logistic": (LOGISTIC, {"sigma": _same}, 0.03),
    "bpmf_lkj": (BPMF_LKJ, {"sigma": _same}, 0.08),
}

#: Known biases, asserted as the band they were measured in rather than hidden by an xfail:
#: family -> hyperparameter -> (low, high) bounds on posterior median / truth.  bpmf_lkj by
#: mean-field VI: sigma's 90 % interval sits above the truth 0.30 on all three backends
#: (2026-12-04: numpyro [0.329, 0.375], pymc [0.312, 0.353], pyro [0.303, 0.347]; medians 8-17 %
#: above): the factorised guide cannot hold the correlated uncertainty of U and V and pushes it
#: into the noise sd.  NUTS on the same data covers the truth (test_bpmf_lkj_nuts_recovers_sigma).
#: A median outside the band (a bigger bias, or none: the gap closed) fails and is looked at.
KNOWN_BIAS = {"bpmf_lkj": {"sigma": (1.0, 1.25)}}


def _oracle_rmse(text: str) -> tuple[float, dict[str, np.ndarray], float]:
    """Test RMSE of the true parameters' expected ratings; the truth; the test y's spread."""
    loaded = parse_spec_text(text, "spec.yaml")
    ds, split = load_data(loaded, None)
    model = lower(loaded, ds.take(split.train))
    test_rows = row_data(ds.take(split.test), model.dims, [])
    truth = {k: np.asarray(v)[None, None] for k, v in ds.truth.items()}
    mean, _ = predict_draws(model, truth, test_rows)
    err = mean[0, 0] - test_rows.y
    return float(np.sqrt(np.mean(err**2))), ds.truth, float(np.std(test_rows.y))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", list(CASES))
def test_family_recovers_truth(family: str, backend: str) -> None:
    text, hyper, slack = CASES[family]
    oracle, truth, spread = _oracle_rmse(text)
    run = fit(parse_spec_text(text, "spec.yaml"), backend=backend, out=None, progress=False)
    for name, f in hyper.items():
        draws = np.asarray(run.idata.posterior[name].values)
        flat = f(draws.reshape(-1, *draws.shape[2:]))
        true = f(np.asarray(truth[name]))
        band = KNOWN_BIAS.get(family, {}).get(name)
        if band is not None:
            ratio = np.median(flat, axis=0) / true
            assert np.all((band[0] <= ratio) & (ratio <= band[1])), (name, ratio, band)
            continue
        lo, hi = np.quantile(flat, [0.05, 0.95], axis=0)
        assert np.all((lo <= true) & (true <= hi)), (name, lo, true, hi)
    rmse = run.metrics["metrics"]["test"]["rmse"]
    assert rmse <= oracle + slack * spread + 0.02, (rmse, oracle)
    # predictions are on the observed scale (1..5 stars), not the likelihood's
    preds = run.metrics["metrics"]["test"]
    assert rmse < spread, preds


def _covariance(chol: np.ndarray) -> np.ndarray:
    """Sigma = (L L^T)^-1 from the Cholesky factor L of a precision."""
    return np.linalg.inv(chol @ np.swapaxes(chol, -1, -2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bpmf_normal_wishart_recovers_identified_hyperparameters(backend: str) -> None:
    """BPMF with Normal-Wishart hyperpriors (WishartCholesky + MvNormalPrecision), fitted by VI.

    U and V are identified only up to U A, V A^-T, so the hyperparameters are checked through
    what that leaves unchanged: mu_u . mu_v (the mean of U_i . V_j) and tr(Sigma_u Sigma_v)
    (its spread), both inside the fit's 90 % intervals.  sigma is not: mean-field VI puts its
    interval just above the truth here (0.306-0.337 vs 0.30 on pymc), as for bpmf_lkj above.
    """
    oracle, truth, spread = _oracle_rmse(BPMF_NW)
    run = fit(parse_spec_text(BPMF_NW, "spec.yaml"), backend=backend, out=None, progress=False)
    post = {
        k: np.asarray(v.values).reshape(-1, *v.shape[2:]) for k, v in run.idata.posterior.items()
    }
    identified = {
        "mu_u . mu_v": (
            (post["mu_u"] * post["mu_v"]).sum(-1),
            float(truth["mu_u"] @ truth["mu_v"]),
        ),
        "tr(Sigma_u Sigma_v)": (
            np.trace(_covariance(post["L_u"]) @ _covariance(post["L_v"]), axis1=-2, axis2=-1),
            float(np.trace(_covariance(truth["L_u"]) @ _covariance(truth["L_v"]))),
        ),
    }
    for name, (draws, true) in identified.items():
        lo, hi = np.quantile(draws, [0.05, 0.95])
        assert lo <= true <= hi, (name, lo, true, hi)
    rmse = run.metrics["metrics"]["test"]["rmse"]
    assert rmse <= oracle + 0.08 * spread + 0.02, (rmse, oracle)


@pytest.mark.parametrize(
    "backend", [pytest.param(n, marks=pytest.mark.backend(n)) for n in ("numpyro", "pymc")]
)
def test_bpmf_lkj_nuts_recovers_sigma(backend: str) -> None:
    """The bpmf_lkj case whose VI fit is a known gap above: by NUTS the noise sd's 90 % interval
    holds the truth, so the gap is the mean-field guide's, not the model's.  (Pyro's NUTS on the
    LKJ model is too slow for the suite: the same fit took 515 s on 2026-12-02 and its interval,
    0.285-0.345, held the truth 0.30; PyMC samples through its default, NumPyro's NUTS.)"""
    # target_accept 0.9: at 0.8 PyMC (through NumPyro's NUTS, with this install's versions) gave
    # one divergence in 300 draws, also at e6c8c87, before the fit driver existed; at 0.9 NumPyro
    # then gave one (CI, 2026-12-03).  The LKJ scale/correlation geometry gives an occasional
    # divergence at this small n, so the check is "at most 1 % of draws": a broken sampler or
    # model (a wrong Jacobian, a mis-scaled step) diverges on a large share of them.
    sets = [
        "inference.method=nuts",
        "inference.warmup=300",
        "inference.draws=300",
        "inference.target_accept=0.9",
    ]
    run = fit(
        parse_spec_text(BPMF_LKJ, "spec.yaml", sets), backend=backend, out=None, progress=False
    )
    sigma = np.asarray(run.idata.posterior["sigma"].values).ravel()
    lo, hi = np.quantile(sigma, [0.05, 0.95])
    assert lo <= run.metrics["truth"]["sigma"] <= hi, (lo, hi)
    assert run.metrics["diagnostics"]["divergences"] <= 3, run.metrics["diagnostics"]
