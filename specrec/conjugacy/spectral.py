"""``inference.init: svd``: start the two factor matrices of ``dot(U[user], V[item])`` at a
truncated SVD of the training residuals.

Why: from ``init: uniform`` the factor means start within +-0.1 of 0, so ``U V^T`` carries
almost no signal and coordinate ascent (and a Gibbs chain, and EM) leaves the ``U = V = 0``
saddle slowly: on a simulated 10M-rating PMF, cavi was still improving after 29 sweeps.
The top singular vectors of the sparse residual matrix are the classic spectral estimate of a
low-rank signal; started there, the sweeps refine the signal instead of finding it.

Which two latents are the factors is read from the model representation, never from names:
two real-valued latents ``p``, ``q`` whose first dims are two different data dims and which
enter the likelihood's mean as ``b + p[g_j] . (A q[r_j])`` with ``b`` free of both (checked
by probes at random values, as ``analysis`` checks affine maps).  The residual is the
observations minus ``b`` at the start of the other latents, minus its mean (the global
offset the start does not carry).  Its rank-``k`` SVD (``k`` = the factor dim) is found by
randomized subspace iteration (numpy and scipy.sparse only, a fixed number of sparse
products: seconds at 10M rows), and each component gets the least-squares weight
``w_k >= 0`` of its predictions ``L[g_j, k] W[r_j, k]`` on the training rows, so the start
predicts on the data's scale (a sparse matrix's singular values are shrunk by the observed
fraction).  Known limit (benchmarks/results/scale-cavi-svd.md): the weights are fitted on the
rows the singular vectors came from, so near the detection threshold they fit noise too; on
the 10M simulated ratings the start was further from the truth than the mean alone, and cavi
from it ended where it ends from ``uniform``.  On data well above the threshold (the tests'
rank-3 PMF) it starts near the truth.  ``p = L sqrt(w)``, ``q = W sqrt(w)``
(through ``A``'s SVD when ``A`` is not the identity).  Every other latent starts as
``uniform`` does; the same seed gives the same start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from specrec.conjugacy import probe
from specrec.conjugacy.analysis import GAUSSIAN_CHILDREN, references
from specrec.model.ir import Column, Model, RandomVariable, RowData, walk
from specrec.model.reference import initial_values

#: rows the structure is probed on (real rows when the model has them, else made-up codes)
PROBE_ROWS = 300
#: extra columns of the random subspace, and its power iterations
OVERSAMPLE = 10
POWER_ITERS = 6
#: rows per chunk of a computation over the likelihood's rows
CHUNK = 1_000_000

EXPECTED = (
    "a likelihood mean with dot(U[user], V[item]): two real-valued latents over two different "
    "data dims entering the mean as b + dot(U[user], A V[item]), b free of both"
)


@dataclass(frozen=True)
class FactorPair:
    """The likelihood's mean is ``b + p[row_dim] . (A q[col_dim])``, ``b`` free of p and q."""

    row: str
    col: str
    row_dim: str
    col_dim: str
    a: np.ndarray  # (D_p, D_q)


def _probe_model(model: Model) -> Model:
    """The model on a few rows: a spread of its own, or random codes when it has none (a spec
    validated without data has placeholder rows)."""
    rng = np.random.default_rng(0)
    data = model.data
    dims = [n for n, d in model.dims.items() if d.column is not None]
    lik = model.likelihood
    cols = {e.name for a in lik.args.values() for e in walk(a) if isinstance(e, Column)}
    if len(data) > 0 and all(n in data.index for n in dims) and cols <= set(data.columns):
        n = len(data)
        if n <= PROBE_ROWS:
            return model
        return model.with_data(data.take(np.sort(rng.choice(n, PROBE_ROWS, replace=False))))
    index = {n: rng.integers(0, model.dims[n].size, PROBE_ROWS) for n in dims}
    columns = {c: rng.normal(size=PROBE_ROWS) for c in cols}
    return model.with_data(RowData(np.zeros(PROBE_ROWS), index, columns))


def _mean(model: Model, values: dict) -> np.ndarray:
    return np.asarray(probe.child_arg(probe.NUMPY, model, model.likelihood, "mu", values))[:, 0]


def _candidates(model: Model) -> list[tuple[RandomVariable, str]]:
    lik = model.likelihood
    reads = references(lik.args["mu"])
    out = []
    for rv in model.latents:
        if rv.name not in reads or rv.support_kind != "real" or len(rv.shape) < 2:
            continue
        block = probe.choose_block(model, rv, [lik])
        if block is not None:
            out.append((rv, block))
    return out


def _bilinear(
    model: Model, p: RandomVariable, q: RandomVariable, bp: str, bq: str
) -> np.ndarray | None:
    """``A`` with mean = ``b + p[g] . (A q[r])`` on the probe rows, or None."""
    gp, dp = probe.site_layout(model, p, bp)
    gq, dq = probe.site_layout(model, q, bq)
    ip, iq = model.data.index[bp], model.data.index[bq]
    rng = np.random.default_rng(17)
    a = None
    for seed in (0, 1):
        values = initial_values(model, np.random.default_rng(seed), 1.0)
        zero = {**values, p.name: np.zeros(p.shape), q.name: np.zeros(q.shape)}
        f00 = _mean(model, zero)
        distinct = max(1, min(gq, len(f00)))
        draws = max(2, -(-(dq + 2) // distinct))
        qs = [rng.normal(0, 1, (gq, dq)) for _ in range(draws)]
        rows = np.concatenate([x[iq] for x in qs])  # (draws * J, dq)
        a = np.zeros((dp, dq))
        for i in range(dp):
            unit = probe.unit(np, p, gp, dp, i)
            f = np.concatenate(
                [_mean(model, {**zero, p.name: unit, q.name: x.reshape(q.shape)}) - f00 for x in qs]
            )
            a[i] = np.linalg.lstsq(rows, f, rcond=None)[0]
        pr, qr = rng.normal(0, 1, (gp, dp)), rng.normal(0, 1, (gq, dq))
        both = _mean(model, {**zero, p.name: pr.reshape(p.shape), q.name: qr.reshape(q.shape)})
        only_p = _mean(model, {**zero, p.name: pr.reshape(p.shape)})
        only_q = _mean(model, {**zero, q.name: qr.reshape(q.shape)})
        want = np.sum(pr[ip] * (qr[iq] @ a.T), axis=1)
        tol = 1e-8 * (1 + np.abs(both).max())
        if not (
            np.allclose(both - f00, want, rtol=1e-6, atol=tol)
            and np.allclose(only_p, f00, atol=tol)
            and np.allclose(only_q, f00, atol=tol)
        ):
            return None
    a[np.abs(a) <= 1e-9 * np.abs(a).max()] = 0.0  # the probes' rounding
    return a


def factor_pair(model: Model) -> tuple[FactorPair | None, str]:
    """The two factor matrices of the likelihood's mean, or None and what was found instead."""
    lik = model.likelihood
    if model.mixture is not None:
        return None, "a mixture likelihood"
    if GAUSSIAN_CHILDREN.get(lik.distribution) != "mu" or "mu" not in lik.args:
        return None, f"a {lik.distribution} likelihood (init: svd needs a Normal mean)"
    cands = _candidates(model)
    if len(cands) < 2:
        names = ", ".join(sorted(references(lik.args["mu"]))) or "no parameter"
        return None, f"its mean reads {names}: fewer than two real matrices over data dims"
    small = _probe_model(model)
    for i, (p, bp) in enumerate(cands):
        for q, bq in cands[i + 1 :]:
            if bp == bq:
                continue
            a = _bilinear(small, p, q, bp, bq)
            if a is not None and np.abs(a).max() > 0:
                return FactorPair(p.name, q.name, bp, bq, a), ""
    names = ", ".join(rv.name for rv, _ in cands)
    return None, f"no two of {names} enter the mean as a dot product of their rows"


def reasons(model: Model) -> list[str]:
    """Why ``init: svd`` cannot start ``model`` (empty: it can)."""
    pair, found = factor_pair(model)
    return [] if pair is not None else [f"expected {EXPECTED}; found {found}"]


def top_svd(
    matrix: Any, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``k`` singular triplets of a sparse matrix by randomized subspace iteration
    (Halko, Martinsson and Tropp 2011): ``(L, s, W)``, deterministic given ``rng``."""
    g, h = matrix.shape
    width = min(k + OVERSAMPLE, g, h)
    basis = np.linalg.qr(matrix @ rng.standard_normal((h, width)))[0]
    tr = matrix.T.tocsr()
    for _ in range(POWER_ITERS):
        basis = np.linalg.qr(matrix @ np.linalg.qr(tr @ basis)[0])[0]
    small = np.asarray(tr @ basis).T  # (width, h) = basis^T matrix
    u, s, vt = np.linalg.svd(small, full_matrices=False)
    return (basis @ u)[:, :k], s[:k], vt[:k].T


def _weights(
    left: np.ndarray, right: np.ndarray, ip: np.ndarray, iq: np.ndarray, r: np.ndarray
) -> np.ndarray:
    """Least-squares weights ``w >= 0`` of the components' predictions on the rows."""
    from scipy.optimize import nnls

    k = left.shape[1]
    gram, rhs = np.zeros((k, k)), np.zeros(k)
    for a in range(0, len(r), CHUNK):
        z = left[ip[a : a + CHUNK]] * right[iq[a : a + CHUNK]]
        gram += z.T @ z
        rhs += z.T @ r[a : a + CHUNK]
    gram += 1e-12 * np.trace(gram) * np.eye(k) + 1e-300 * np.eye(k)
    c = np.linalg.cholesky(gram)
    return nnls(c.T, np.linalg.solve(c, rhs))[0]


def svd_start(model: Model, rng: np.random.Generator, radius: float) -> dict[str, np.ndarray]:
    """The constrained start of ``init: svd`` (the module docstring says why and how)."""
    from scipy import sparse

    values = initial_values(model, rng, radius)
    pair, found = factor_pair(model)
    if pair is None:
        raise ValueError(f"init: svd: expected {EXPECTED}; found {found}")
    p, q = model.latent(pair.row), model.latent(pair.col)
    gp = probe.site_layout(model, p, pair.row_dim)[0]
    gq = probe.site_layout(model, q, pair.col_dim)[0]
    ip = np.asarray(model.data.index[pair.row_dim])
    iq = np.asarray(model.data.index[pair.col_dim])
    zero = {**values, p.name: np.zeros(p.shape), q.name: np.zeros(q.shape)}
    n = len(model.data)
    b = np.concatenate(
        [
            _mean(model.with_data(model.data.take(slice(a, min(n, a + CHUNK)))), zero)
            for a in range(0, n, CHUNK)
        ]
    )
    r = model.to_model_scale(model.data.y) - b
    r = r - r.mean()
    cells, which = np.unique(ip * gq + iq, return_inverse=True)  # a repeated pair: averaged
    mean_r = np.bincount(which, r) / np.bincount(which)
    total = sparse.csr_matrix((mean_r, (cells // gq, cells % gq)), shape=(gp, gq))
    ua, sa, vat = np.linalg.svd(pair.a)
    k = int(min(np.sum(sa > 1e-9 * sa[0]), gp, gq))
    left, _, right = top_svd(total, k, rng)
    w = _weights(left, right, ip, iq, r)
    # p A q^T = L diag(w) W^T: p = L sqrt(w) Sa^-1/2 Ua^T, q = W sqrt(w) Sa^-1/2 Va^T
    root = np.sqrt(w)[None, :] / np.sqrt(sa[:k])[None, :]
    values[p.name] = ((left * root) @ ua[:, :k].T).reshape(p.shape)
    values[q.name] = ((right * root) @ vat[:k]).reshape(q.shape)
    return values
