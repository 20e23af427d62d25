"""Rotation-invariant diagnostics of a factor model, and tree-depth saturation in the verdict.

Chains that rotate ``U`` and ``V`` differently but agree on ``U V^T`` must pass on the norms
and entries while ``U``'s own R-hat is huge; chains that disagree on the scale or the product
must fail; a run whose NUTS draws hit ``max_tree_depth`` must get a verdict warning that says
how many and what the limit is.  No PPL: posteriors are built by hand.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
from scipy.stats import special_ortho_group

from specrec.data.simulate import simulate
from specrec.evaluate import diagnostics as D
from specrec.evaluate.evaluator import _factor_diagnostics
from specrec.evaluate.verdict import verdict
from specrec.model.lower import lower
from specrec.spec.load import load_spec
from specrec.summary import _factor_lines

SPECS = Path(__file__).resolve().parents[2] / "specs"
G, R, K = 12, 10, 3  # users, items, factors (quickstart at this size)


def _model():
    loaded = load_spec(SPECS / "quickstart.yaml", [f"data.sizes.user={G}", f"data.sizes.item={R}"])
    return lower(loaded, simulate(loaded))


def _rotated(chains: int = 4, draws: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """Draws of U, V near one truth, each chain rotated by its own random rotation."""
    rng = np.random.default_rng(seed)
    u0, v0 = rng.normal(size=(G, K)), rng.normal(size=(R, K))
    post = {
        "U": np.empty((chains, draws, G, K)),
        "V": np.empty((chains, draws, R, K)),
    }
    for c in range(chains):
        rot = special_ortho_group.rvs(K, random_state=seed + c)
        post["U"][c] = (u0 + 0.05 * rng.normal(size=(draws, G, K))) @ rot
        post["V"][c] = (v0 + 0.05 * rng.normal(size=(draws, R, K))) @ rot
    return post


def _idata(post: dict[str, np.ndarray]):
    return az.from_dict(
        posterior=post,
        dims={"U": ["user", "factor"], "V": ["item", "factor"]},
    )


def test_rotated_chains_pass_on_norms_and_entries_but_not_on_u():
    post = _rotated()
    idata = _idata(post)
    rows, cols = np.arange(G) % G, np.arange(G) % R
    out = D.factor_diagnostics(idata, "U", "V", np.eye(K), rows, cols)
    assert D.split_rhat(post["U"].reshape(4, 400, -1)).max() > 1.5  # U itself: rotated
    assert out["pair"] == ["U", "V"] and out["entries"]["n"] == G
    for v in [*out["frobenius"].values(), out["entries"]]:
        assert v["rhat_max"] < 1.01 and v["ess_bulk_min"] > 400
    assert set(out["frobenius"]) == {"U", "V"}

    # one chain with a larger U: the norm's chains disagree, and so do the entries
    post["U"][1] *= 1.5
    out = D.factor_diagnostics(_idata(post), "U", "V", np.eye(K), rows, cols)
    assert out["frobenius"]["U"]["rhat_max"] > 1.5
    assert out["frobenius"]["V"]["rhat_max"] < 1.01
    assert out["entries"]["rhat_max"] > 1.1


def test_entries_read_the_factor_pairs_a_and_the_chosen_cells():
    rng = np.random.default_rng(3)
    post = {"U": rng.normal(size=(2, 8, G, K)), "V": rng.normal(size=(2, 8, R, K))}
    a = np.diag([1.0, 2.0, 0.0])
    rows, cols = np.array([0, 5, 11]), np.array([9, 2, 0])
    want = np.einsum("csnd,de,csne->csn", post["U"][:, :, rows], a, post["V"][:, :, cols])
    got = D.factor_diagnostics(_idata(post), "U", "V", a, rows, cols)["entries"]
    ref = D.prediction_diagnostics(want)
    assert got["rhat_max"] == ref["rhat_max"] and got["ess_bulk_min"] == ref["ess_bulk_min"]


def test_entry_pairs_are_distinct_observed_cells_fixed_by_the_seed():
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 50, 5000), rng.integers(0, 40, 5000)
    g, r = D.factor_entry_pairs(rows, cols, seed=7)
    assert len(g) == D.MAX_FACTOR_ENTRIES
    observed = set(zip(rows.tolist(), cols.tolist(), strict=True))
    cells = list(zip(g.tolist(), r.tolist(), strict=True))
    assert len(set(cells)) == len(cells) and set(cells) <= observed
    again = D.factor_entry_pairs(rows, cols, seed=7)
    assert np.array_equal(again[0], g) and np.array_equal(again[1], r)
    other = D.factor_entry_pairs(rows, cols, seed=8)
    assert not (np.array_equal(other[0], g) and np.array_equal(other[1], r))
    few = D.factor_entry_pairs(np.array([1, 1, 0]), np.array([2, 2, 3]), seed=0)
    assert few[0].tolist() == [0, 1] and few[1].tolist() == [3, 2]


def test_the_evaluator_finds_the_factor_pair_in_the_model():
    model = _model()
    post = _rotated()
    idata = _idata(post)
    out = _factor_diagnostics(model, idata, model.data, seed=0)
    assert out is not None and out["pair"] == ["U", "V"]
    assert out["entries"]["n"] == min(
        D.MAX_FACTOR_ENTRIES, len(set(zip(*model.data.index.values(), strict=True)))
    )
    assert out["entries"]["rhat_max"] < 1.01


def test_verdict_warns_on_rotation_invariant_summaries_and_says_what_is_judged():
    model = _model()
    post = _rotated()
    post["U"][1] *= 1.5
    idata = _idata(post)
    factors = D.factor_diagnostics(idata, "U", "V", np.eye(K), np.arange(5), np.arange(5))
    diagnostics = {"pred_rhat_max": 1.0, "pred_ess_bulk_min": 400.0, "factors": factors}
    v = verdict(model, idata, diagnostics | {"params_checked": ["U"]}, None)
    high, low = v["warnings"]  # the chains disagree, so their draws barely overlap either
    assert high.startswith("R-hat above 1.01 on rotation-invariant summaries: ||U||_F ")
    assert "U V^T (5 entries)" in high and "||V||_F" not in high
    assert low.startswith("bulk ESS below 100 on rotation-invariant summaries: ||U||_F ")
    assert v["expected"][0].endswith(
        "convergence is judged on the predictions and the rotation-invariant "
        "||U||_F, ||V||_F, U V^T (5 entries)"
    )
    lines = _factor_lines(factors, None)
    assert lines[0].startswith("  rotation-invariant: ||U||_F R-hat ")
    assert "U V^T (5 entries) R-hat" in lines[0]

    ok = D.factor_diagnostics(_idata(_rotated()), "U", "V", np.eye(K), np.arange(5), np.arange(5))
    assert verdict(model, idata, diagnostics | {"factors": ok}, {})["warnings"] == []


def _stats_idata(n_steps=None, tree_depth=None):
    stats = {}
    if n_steps is not None:
        stats["n_steps"] = np.asarray(n_steps)
    if tree_depth is not None:
        stats["tree_depth"] = np.asarray(tree_depth)
    return az.from_dict(posterior={"mu": np.zeros((2, 4))}, sample_stats=stats)


def test_tree_depth_saturation_counts_full_trajectories():
    # max depth 3: 7 leapfrog steps is a full tree; 5 (a last doubling cut by a U-turn) is not
    steps = [[7, 5, 3, 7], [1, 7, 6, 2]]
    out = D.tree_depth_saturation(_stats_idata(n_steps=steps, tree_depth=np.full((2, 4), 3)), 3)
    assert out == {"max_tree_depth": 3, "saturated": 3, "fraction": 3 / 8}
    depth = [[3, 2, 3, 1], [2, 2, 2, 2]]  # no step count: the recorded depth is the test
    assert D.tree_depth_saturation(_stats_idata(tree_depth=depth), 3)["saturated"] == 2
    assert D.tree_depth_saturation(_stats_idata(n_steps=steps), None) is None
    assert D.tree_depth_saturation(_stats_idata(), 3) is None


def test_verdict_warns_when_tree_depth_saturates():
    model = _model()
    idata = _idata(_rotated())
    base = {"pred_rhat_max": 1.0, "pred_ess_bulk_min": 400.0}
    depth = {"max_tree_depth": 6, "saturated": 30, "fraction": 0.25}
    v = verdict(model, idata, base | {"tree_depth": depth}, {})
    assert v["warnings"] == ["tree depth saturated: 25.0% of draws (30) reached max_tree_depth 6"]
    none = {"max_tree_depth": 6, "saturated": 0, "fraction": 0.0}
    assert verdict(model, idata, base | {"tree_depth": none}, {})["warnings"] == []
    assert _factor_lines(None, depth) == ["  tree depth: 25.0% of draws reached max_tree_depth 6"]
