"""The mixture's augmented conditionals against brute force, in the numpy reference.

With the components ``z`` sampled, each conditional is the complete-data joint density
``log p(y | z, theta) + log p(z | w) + log p(theta)`` as a function of one variable,
normalised.  The joint is computed here from the reference's per-component row densities
(``specrec.model.mixture.component_log_prob``), not from ``augment``: ``z`` of one level by
enumeration over the K types, the weights pairwise (two points of the simplex), a mean element
and a scale element on a grid, each given the rest.  Wrong conditionals (the log weights
dropped, a precision off by 2x, the scale's Jacobian forgotten) fail the same checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, special, stats

from specrec.cli import main
from specrec.conjugacy import analyse, augment, em
from specrec.conjugacy.probe import NUMPY
from specrec.data.source import load_data
from specrec.model import mixture
from specrec.model.lower import lower
from specrec.model.reference import likelihood_args
from specrec.spec.load import load_spec, parse_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"
SMALL = ["data.sizes.user=40", "data.sizes.item=12", "data.density=0.5", "data.seed=5"]


def small():
    loaded = load_spec(SPECS / "netflix_mixture.yaml", SMALL)
    ds, split = load_data(loaded, None)
    m = lower(loaded, ds.take(split.train))
    values = em.assignment_start(m, np.random.default_rng(0))
    values["w"] = np.array([0.5, 0.3, 0.2])  # unequal, so the log weights matter
    values["sigma"] = values["sigma"] * np.array([0.8, 1.0, 1.3])
    p = augment.plan(m)
    z = np.random.default_rng(1).integers(0, p.k, p.n_levels)
    return m, p, values, z


def joint(m, values: dict, z: np.ndarray) -> float:
    """The complete-data log density at constrained values (no Jacobians)."""
    lp = mixture.component_log_prob(m, likelihood_args(m, values, m.data), m.data)
    levels = m.data.index["user"]
    total = lp[np.arange(len(levels)), z[levels]].sum() + np.log(values["w"])[z].sum()
    for rv in m.latents:
        args = {
            a: np.broadcast_to(v, rv.shape) for a, v in em.structure(m).prior_args[rv.name].items()
        }
        total += float(np.sum(rv.dist.logpdf(values[rv.name], **args)))
    return float(total)


def test_analyse_samples_the_types_of_a_mixture_em_understands():
    m, p, _, _ = small()
    kinds = {u.param: u.kind for u in analyse(m)}
    assert kinds == {"z": "categorical", "w": "dirichlet", "mu": "normal", "sigma": "slice"}
    assert analyse(m)[0].param == "z"  # drawn first: the start needs no types
    assert p.n_levels == m.dims["user"].size and p.which["mu"].shape == (len(m.data), 3)


@pytest.mark.parametrize("with_weights", [True, False])
def test_the_types_conditional_is_the_joint_normalised_over_each_levels_type(with_weights):
    m, p, values, z = small()
    logits = augment.assignment_logits(NUMPY, p, values)
    if not with_weights:  # the negative control: a conditional that forgets log w
        logits = logits - np.log(values["w"])
    q = special.softmax(logits, axis=1)
    worst = 0.0
    for level in range(0, p.n_levels, 7):
        lj = []
        for k in range(p.k):
            zk = z.copy()
            zk[level] = k
            lj.append(joint(m, values, zk))
        worst = max(worst, float(np.abs(special.softmax(lj) - q[level]).max()))
    if with_weights:
        assert worst < 1e-9
    else:
        assert worst > 1e-3


def test_the_weights_conditional_is_dirichlet_in_the_counts():
    m, p, values, z = small()
    alpha = augment.weight_params(NUMPY, p, z)
    assert np.allclose(alpha, 1.0 + np.bincount(z, minlength=p.k))
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.dirichlet(np.ones(p.k)), rng.dirichlet(np.ones(p.k))
        want = joint(m, {**values, "w": a}, z) - joint(m, {**values, "w": b}, z)
        got = stats.dirichlet.logpdf(a, alpha) - stats.dirichlet.logpdf(b, alpha)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def _grid_check(log_q, log_joint, grid) -> float:
    """Largest difference of the two densities on ``grid``, each normalised there."""
    q = np.exp(log_q - log_q.max())
    j = np.exp(log_joint - log_joint.max())
    q, j = q / integrate.trapezoid(q, grid), j / integrate.trapezoid(j, grid)
    return float(np.abs(q - j).max() / j.max())


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_a_mean_elements_conditional_is_the_joint_on_a_grid(factor):
    m, p, values, z = small()
    prec, h = augment.mean_params(NUMPY, p, "mu", values, z)
    prec = prec * factor  # factor 2: the negative control
    mean, sd = h / prec, 1 / np.sqrt(prec)
    flat = values["mu"].reshape(-1)
    worst = 0.0
    for e in (0, 5, flat.size - 1):
        grid = np.linspace(mean[e] - 6 * sd[e] * factor, mean[e] + 6 * sd[e] * factor, 801)
        lj = []
        for x in grid:
            mu = flat.copy()
            mu[e] = x
            lj.append(joint(m, {**values, "mu": mu.reshape(values["mu"].shape)}, z))
        lq = stats.norm.logpdf(grid, mean[e], sd[e])
        worst = max(worst, _grid_check(lq, np.array(lj), grid))
    if factor == 1.0:
        assert worst < 1e-4
    else:
        assert worst > 0.05


@pytest.mark.parametrize("jacobian", [True, False])
def test_a_scale_elements_conditional_is_the_joint_on_a_grid_in_log_space(jacobian):
    m, p, values, z = small()
    n, sq = augment.scale_stats(NUMPY, p, "sigma", values, z)
    rv = m.latent("sigma")
    prior = p.prior["sigma"]
    worst = 0.0
    for e in range(p.k):
        grid = np.linspace(np.log(values["sigma"][e]) - 1.0, np.log(values["sigma"][e]) + 1.0, 801)
        lq = augment.scale_log_density(
            np,
            grid,
            n[e],
            sq[e],
            lambda s, e=e: rv.dist.logpdf(s, **{a: v[e] for a, v in prior.items()}),
        )
        if not jacobian:  # the negative control: a density in log s without the ds/du
            lq = lq - grid
        lj = []
        for u in grid:
            s = values["sigma"].copy()
            s[e] = np.exp(u)
            lj.append(joint(m, {**values, "sigma": s}, z) + u)  # + log |ds/du|
        worst = max(worst, _grid_check(lq, np.array(lj), grid))
    if jacobian:
        assert worst < 1e-6
    else:
        assert worst > 0.01


def test_explain_states_the_augmented_updates_and_why():
    out = CliRunner().invoke(main, ["explain", str(SPECS / "netflix_mixture.yaml")])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "netflix_mixture: 3 of 4 parameters have a closed-form conditional"
    assert any(
        x.strip().startswith("z: categorical conditional (discrete type per user") for x in lines
    )
    assert "  w: Dirichlet conditional (Dirichlet prior; categorical types (z))" in lines
    assert any(
        x.strip().startswith("mu: Normal conditional (Normal prior; Normal likelihood given z")
        for x in lines
    )
    sigma = next(x for x in lines if x.strip().startswith("sigma:"))
    assert "slice step (InverseGamma prior on a Normal scale is not conjugate" in sigma


HIERARCHICAL = """\
specrec: 1
name: hier_mixture
data: {source: simulate, sizes: {user: 20, item: 8}, density: 0.5, seed: 3,
       true: {w: [0.5, 0.5]}, split: {kind: random, test_fraction: 0.1, seed: 0}}
dims:
  user: {column: user_id}
  item: {column: item_id}
  type: 2
params:
  w: {prior: Dirichlet(1), dims: [type]}
  m0: Normal(3, 1)
  mu: {prior: "Normal(m0, 1.5)", dims: [type, item]}
  sigma: {prior: "InverseGamma(4, 2)", dims: [type]}
likelihood:
  rating:
    distribution: Normal(mu[item], sigma)
    mixture: {over: type, weights: w, per: user}
"""


def test_a_mixture_em_does_not_understand_keeps_the_type_summed_out_and_says_why():
    loaded = parse_spec_text(HIERARCHICAL, "hier.yaml")
    ds, split = load_data(loaded, None)
    m = lower(loaded, ds.take(split.train))
    ups = {u.param: u for u in analyse(m)}
    assert "z" not in ups
    for name in ("w", "mu", "sigma"):
        assert ups[name].kind == "slice"
        assert "summed out, not sampled" in ups[name].reason
    assert "hierarchical" in ups["mu"].reason  # em's own reason
    assert ups["m0"].kind == "normal"  # a site outside the mixture keeps its conditional
