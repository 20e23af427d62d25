"""Hand-written reference fits, run by the benchmarks in the same invocation as specrec's.

A benchmark's "reference" column must be measured beside the figure it is compared with, on the
same machine at the same load, not copied from a file: these are the fits a user would write by
hand without specrec, each in a few lines of its own library, on the same data and split.

* HPMF (the Pyro seed): ``mu_u ~ N(0, 1)^D``, ``U_i ~ N(mu_u, 0.5)``, ``V_j ~ N(0, 0.5)``,
  ``sigma ~ HalfNormal(1)``, ``r ~ N(mean(train) + U_i . V_j, sigma)``, D = 10; by NumPyro SVI
  with AutoNormal (Adam 0.01), Pyro SVI with AutoNormal (same), PyMC ADVI (Adam 0.01, start
  jitter 0.05), NumPyro NUTS.
* PMF (the PyMC notebook): MAP by PyMC ``find_MAP`` from a jittered start.
* BPMF (Salakhutdinov and Mnih 2008): the paper's Gibbs sampler in numpy, Normal-Wishart
  hyperpriors, D = 10, 200 sweeps.

The split is the benchmarks' random 90/10 split: ``default_rng(42).permutation`` over the rows
of ``u.data`` in file order, the first 10 % test; RMSE of predictions clipped to [1, 5].
Every function returns ``{"test_rmse", "fit_s", "compile_s"?}``: fit seconds exclude reading
the data and, where the library separates it, compilation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

D = 10


@dataclass
class Ratings:
    """0-based user and item codes and ratings of one split, and the sizes of the full data."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    n_users: int
    n_items: int


def load_split(folder: str | Path, test_fraction: float = 0.1, seed: int = 42):
    """(train, test) of ``u.data``: the random split specrec's specs declare."""
    raw = np.loadtxt(Path(folder) / "u.data", dtype=np.int64)
    users, u = np.unique(raw[:, 0], return_inverse=True)
    items, i = np.unique(raw[:, 1], return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(raw))
    n_test = round(test_fraction * len(raw))
    parts = order[n_test:], order[:n_test]
    return tuple(
        Ratings(u[p], i[p], raw[p, 2].astype(float), len(users), len(items)) for p in parts
    )


def rmse(pred: np.ndarray, test: Ratings) -> float:
    return float(np.sqrt(np.mean((np.clip(pred, 1, 5) - test.rating) ** 2)))


# ---- HPMF ----------------------------------------------------------------------------------------
def numpyro_hpmf_vi(train: Ratings, test: Ratings, steps: int = 4000, lr: float = 0.01) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal

    mean = float(train.rating.mean())
    u, i, y = jnp.asarray(train.user), jnp.asarray(train.item), jnp.asarray(train.rating)

    def model():
        mu_u = numpyro.sample("mu_u", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
        U = numpyro.sample("U", dist.Normal(mu_u, 0.5).expand([train.n_users, D]).to_event(2))
        V = numpyro.sample("V", dist.Normal(0.0, 0.5).expand([train.n_items, D]).to_event(2))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mean + jnp.sum(U[u] * V[i], -1), sigma), obs=y)

    guide = AutoNormal(model)
    svi = SVI(model, guide, numpyro.optim.Adam(lr), Trace_ELBO())
    t0 = time.perf_counter()
    state = svi.init(jax.random.PRNGKey(0))
    update = jax.jit(svi.update)
    state, _ = update(state)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps - 1):
        state, _ = update(state)
    jax.block_until_ready(state)
    fit_s = time.perf_counter() - t0
    med = guide.median(svi.get_params(state))
    U, V = np.asarray(med["U"]), np.asarray(med["V"])
    pred = mean + np.sum(U[test.user] * V[test.item], -1)
    return {"test_rmse": rmse(pred, test), "fit_s": fit_s, "compile_s": compile_s}


def numpyro_hpmf_nuts(train: Ratings, test: Ratings, warmup: int = 300, draws: int = 300) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    mean = float(train.rating.mean())
    u, i, y = jnp.asarray(train.user), jnp.asarray(train.item), jnp.asarray(train.rating)

    def model():
        mu_u = numpyro.sample("mu_u", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
        U = numpyro.sample("U", dist.Normal(mu_u, 0.5).expand([train.n_users, D]).to_event(2))
        V = numpyro.sample("V", dist.Normal(0.0, 0.5).expand([train.n_items, D]).to_event(2))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mean + jnp.sum(U[u] * V[i], -1), sigma), obs=y)

    # the instrument specrec's NumPyro backend times its own compilation with, so both fit
    # times leave compilation out the same way
    from specrec_numpyro.backend import _jax_compile_time

    mcmc = MCMC(NUTS(model), num_warmup=warmup, num_samples=draws, progress_bar=False)
    t0 = time.perf_counter()
    with _jax_compile_time() as compile_time:
        mcmc.run(jax.random.PRNGKey(0))
        # JAX dispatches asynchronously: without this the clock stops before sampling is done
        s = jax.block_until_ready(mcmc.get_samples())
    compile_s = compile_time()
    fit_s = time.perf_counter() - t0 - compile_s
    U, V = np.asarray(s["U"]), np.asarray(s["V"])
    pred = mean + np.einsum("sud,sud->su", U[:, test.user], V[:, test.item]).mean(0)
    return {"test_rmse": rmse(pred, test), "fit_s": fit_s, "compile_s": compile_s}


def pyro_hpmf_vi(train: Ratings, test: Ratings, steps: int = 4000, lr: float = 0.01) -> dict:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoNormal

    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    mean = float(train.rating.mean())
    u, i = torch.as_tensor(train.user), torch.as_tensor(train.item)
    y = torch.as_tensor(train.rating, dtype=torch.float32)

    def model():
        mu_u = pyro.sample("mu_u", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
        U = pyro.sample("U", dist.Normal(mu_u, 0.5).expand([train.n_users, D]).to_event(2))
        V = pyro.sample("V", dist.Normal(0.0, 0.5).expand([train.n_items, D]).to_event(2))
        sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
        with pyro.plate("obs", y.shape[0]):
            pyro.sample("y", dist.Normal(mean + (U[u] * V[i]).sum(-1), sigma), obs=y)

    guide = AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    t0 = time.perf_counter()
    for _ in range(steps):
        svi.step()
    fit_s = time.perf_counter() - t0
    med = guide.median()
    U, V = med["U"].detach().numpy(), med["V"].detach().numpy()
    pred = mean + np.sum(U[test.user] * V[test.item], -1)
    return {"test_rmse": rmse(pred, test), "fit_s": fit_s}


def pymc_hpmf_advi(train: Ratings, test: Ratings, steps: int = 4000, lr: float = 0.01) -> dict:
    import pymc as pm

    mean = float(train.rating.mean())
    rng = np.random.default_rng(0)
    # named dims, as a PyMC user writes it (``mean_data`` below needs them to tell U from V)
    coords = {"user": range(train.n_users), "item": range(train.n_items), "factor": range(D)}
    with pm.Model(coords=coords):
        mu_u = pm.Normal("mu_u", 0.0, 1.0, dims="factor")
        U = pm.Normal("U", mu_u, 0.5, dims=("user", "factor"))
        V = pm.Normal("V", 0.0, 0.5, dims=("item", "factor"))
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mean + (U[train.user] * V[train.item]).sum(-1), sigma, observed=train.rating)
        start = {
            "U": 0.05 * rng.standard_normal((train.n_users, D)),
            "V": 0.05 * rng.standard_normal((train.n_items, D)),
        }
        t0 = time.perf_counter()
        approx = pm.fit(
            steps,
            method="advi",
            obj_optimizer=pm.adam(learning_rate=lr),
            start=start,
            progressbar=False,
            random_seed=0,
        )
        fit_s = time.perf_counter() - t0
    # the mean-field means of U and V (unconstrained = constrained for these); PyMC 5.28 keeps
    # them per group as a Dataset, the older ``approx.bij`` mapping is gone
    point = approx.groups[0].mean_data
    U, V = np.asarray(point["U"]), np.asarray(point["V"])
    pred = mean + np.sum(U[test.user] * V[test.item], -1)
    return {"test_rmse": rmse(pred, test), "fit_s": fit_s}


# ---- PMF MAP (the notebook) -----------------------------------------------------------------------
def pymc_pmf_map(train: Ratings, test: Ratings) -> dict:
    """The PyMC notebook's PMF: ``R ~ N(U V^T, 1 / alpha)``, alpha = 2, rows of U and V with
    precision one over the mean variance of the rows (columns) of the mean-imputed dense rating
    matrix, D = 10, MAP by ``find_MAP`` (L-BFGS-B) from the notebook's start (std 0.05)."""
    import pymc as pm

    dense = np.full((train.n_users, train.n_items), np.nan)
    dense[train.user, train.item] = train.rating
    dense[np.isnan(dense)] = train.rating.mean()
    alpha = 2.0
    alpha_u, alpha_v = 1 / dense.var(axis=1).mean(), 1 / dense.var(axis=0).mean()
    rng = np.random.default_rng(0)
    with pm.Model():
        U = pm.MvNormal(
            "U",
            0.0,
            tau=alpha_u * np.eye(D),
            shape=(train.n_users, D),
            initval=0.05 * rng.standard_normal((train.n_users, D)),
        )
        V = pm.MvNormal(
            "V",
            0.0,
            tau=alpha_v * np.eye(D),
            shape=(train.n_items, D),
            initval=0.05 * rng.standard_normal((train.n_items, D)),
        )
        pm.Normal("y", (U[train.user] * V[train.item]).sum(-1), tau=alpha, observed=train.rating)
        t0 = time.perf_counter()
        point = pm.find_MAP(method="L-BFGS-B", progressbar=False)
        fit_s = time.perf_counter() - t0
    pred = np.sum(point["U"][test.user] * point["V"][test.item], -1)
    return {"test_rmse": rmse(pred, test), "fit_s": fit_s}


# ---- BPMF by Gibbs (numpy) -----------------------------------------------------------------------
def numpy_bpmf_gibbs(
    train: Ratings, test: Ratings, d: int = D, sweeps: int = 200, burn: int = 50, seed: int = 0
) -> dict:
    """The BPMF paper's sampler: Normal-Wishart hyperpriors (mu0 = 0, beta0 = 2, W0 = I,
    nu0 = D), rating precision alpha = 2, user rows then item rows drawn blockwise; the
    prediction is the mean over kept sweeps."""
    rng = np.random.default_rng(seed)
    mean = float(train.rating.mean())
    r = train.rating - mean
    alpha, beta0, nu0 = 2.0, 2.0, d
    W0 = np.eye(d)
    U = 0.1 * rng.standard_normal((train.n_users, d))
    V = 0.1 * rng.standard_normal((train.n_items, d))
    pred_sum = np.zeros(len(test.rating))
    kept = 0

    def hyper(X):
        n = len(X)
        xbar = X.mean(0)
        S = np.cov(X.T, bias=True)
        beta_n, nu_n = beta0 + n, nu0 + n
        mu_n = n * xbar / beta_n
        W_inv = np.linalg.inv(W0) + n * S + beta0 * n / beta_n * np.outer(xbar, xbar)
        W_n = np.linalg.inv(W_inv)
        # Wishart(nu_n, W_n) by Bartlett
        L = np.linalg.cholesky(W_n)
        A = np.tril(rng.standard_normal((d, d)), -1)
        A[np.diag_indices(d)] = np.sqrt(rng.chisquare(nu_n - np.arange(d)))
        LA = L @ A
        Lam = LA @ LA.T
        mu = rng.multivariate_normal(mu_n, np.linalg.inv(beta_n * Lam))
        return mu, Lam

    from scipy import sparse

    def indicator(idx, n_rows):  # (n_rows x ratings): per-row sums as one sparse product
        n = len(idx)
        return sparse.csr_matrix((np.ones(n), (idx, np.arange(n))), shape=(n_rows, n))

    by_user, by_item = indicator(train.user, train.n_users), indicator(train.item, train.n_items)

    def rows(by, other_idx, other, mu, Lam):
        # per-row precision Lam + alpha * sum v v^T and linear term Lam mu + alpha * sum r v
        Vo = other[other_idx]
        outer = (Vo[:, :, None] * Vo[:, None, :]).reshape(len(Vo), d * d)
        P = alpha * np.asarray(by @ outer).reshape(-1, d, d) + Lam
        b = alpha * np.asarray(by @ (r[:, None] * Vo)) + Lam @ mu
        C = np.linalg.cholesky(P)
        m = np.linalg.solve(P, b[..., None])[..., 0]
        z = rng.standard_normal(b.shape)
        return m + np.linalg.solve(np.swapaxes(C, -1, -2), z[..., None])[..., 0]  # m + C^-T z

    t0 = time.perf_counter()
    for s in range(sweeps):
        mu_u, Lam_u = hyper(U)
        mu_v, Lam_v = hyper(V)
        U = rows(by_user, train.item, V, mu_u, Lam_u)
        V = rows(by_item, train.user, U, mu_v, Lam_v)
        if s >= burn:
            pred_sum += mean + np.sum(U[test.user] * V[test.item], -1)
            kept += 1
    fit_s = time.perf_counter() - t0
    return {"test_rmse": rmse(pred_sum / kept, test), "fit_s": fit_s}


#: (spec, method) of a specrec run -> (label, the reference fit of the same model)
REFERENCES = {
    ("hpmf", "vi"): ("NumPyro SVI AutoNormal", numpyro_hpmf_vi),
    ("hpmf", "nuts"): ("NumPyro NUTS", numpyro_hpmf_nuts),
    ("pmf", "map"): ("PyMC find_MAP", pymc_pmf_map),
    ("bpmf_nw", "gibbs"): ("numpy BPMF Gibbs", numpy_bpmf_gibbs),
}
#: other libraries' hand-written fits of the same (spec, method), by backend
BY_BACKEND = {
    ("hpmf", "vi", "pyro"): ("Pyro SVI AutoNormal", pyro_hpmf_vi),
    ("hpmf", "vi", "pymc"): ("PyMC ADVI (Adam)", pymc_hpmf_advi),
}


def reference_for(spec: str, method: str, backend: str):
    """The hand-written fit a specrec run of ``spec`` by ``method`` on ``backend`` is compared
    with: that library's own where there is one, else the spec's reference; or None."""
    return BY_BACKEND.get((spec, method, backend)) or REFERENCES.get((spec, method))
