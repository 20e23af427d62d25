"""``specrec compare --methods gibbs,nuts``: one backend, two samplers, held to 4 MCSE.

Gibbs and NUTS target the same posterior, so their posterior means of the compared
hyperparameters and test-pair predictions differ by Monte Carlo noise only; the comparison
is the one two backends' NUTS get (``specrec.agreement``).  The negative control doubles the
Gaussian conditional's precision in this process (``monkeypatch``; the kernel calls
``specrec.conjugacy.conditionals`` while it is traced): Gibbs then draws the group means at
half their posterior mean, and the comparison must flag them.  (A flag is reported, in
compare.json, the table and on stderr, but does not change the exit code: ``specrec compare``
exits 1 only when a fit failed or the inputs differed, for backends and methods alike.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main
from specrec.conjugacy import conditionals as cond

SPECS = Path(__file__).resolve().parents[1] / "specs"
BUDGET = ["--set", "inference.warmup=100", "--set", "inference.draws=400"]
#: the quickstart (a hierarchical PMF whose sigma gets a slice step) shrunk to 20 x 15, D = 2
TINY_QUICKSTART = [
    *("--set", "data.sizes.user=20", "--set", "data.sizes.item=15"),
    *("--set", "data.density=0.5", "--set", "dims.factor=2"),
    *("--set", "inference.warmup=200", "--set", "inference.draws=300"),
]


def _compare(tmp_path: Path, spec: str, *args: str, json_out: bool = True):
    flags = ["--json", "--quiet"] if json_out else []
    head = ["compare", str(SPECS / spec), "--backends", "numpyro", "--methods", "gibbs,nuts"]
    r = CliRunner().invoke(main, [*head, *args, "--out", str(tmp_path), *flags])
    report = json.loads(r.stdout) if json_out and r.stdout.strip() else None
    return r, report


def _pair(report: dict) -> dict:
    (pair,) = report["agreement"]["pairs"]
    assert (pair["a"], pair["b"]) == ("numpyro/gibbs", "numpyro/nuts")
    return pair


@pytest.mark.backend("numpyro")
def test_gibbs_and_nuts_agree_within_4_mcse_on_group_means(tmp_path: Path) -> None:
    r, report = _compare(tmp_path, "group_means.yaml", *BUDGET)
    assert r.exit_code == 0, r.output
    assert report["methods"] == ["gibbs", "nuts"]
    rows = report["rows"]
    assert [(x["backend"], x["method"], x["label"]) for x in rows] == [
        ("numpyro", "gibbs", "numpyro/gibbs"),
        ("numpyro", "nuts", "numpyro/nuts"),
    ]
    assert all(x["ok"] and x["pred_ess_bulk_min"] > 100 for x in rows), rows
    pair = _pair(report)
    assert pair["test"] == "z" and pair["n_flagged"] == 0 and pair["max_z"] < 4
    kinds = {it["kind"] for it in pair["items"]}
    assert kinds == {"param", "prediction"}
    names = [it["name"] for it in pair["items"] if it["kind"] == "param"]
    assert names == [f"group_means[{g}]" for g in range(3)]
    # each method wrote its own run
    runs = {p.name.split("-")[3] for p in (tmp_path / "group_means").glob("2*")}
    assert runs == {"gibbs", "nuts"}


@pytest.mark.backend("numpyro")
def test_gibbs_and_nuts_agree_on_a_factor_model_with_a_slice_step(tmp_path: Path) -> None:
    r, _ = _compare(tmp_path, "quickstart.yaml", *TINY_QUICKSTART, json_out=False)
    assert r.exit_code == 0, r.output
    assert "numpyro/gibbs" in r.stdout and "numpyro/nuts" in r.stdout
    assert "numpyro/gibbs vs numpyro/nuts: max z" in r.stdout and "0 flagged" in r.stdout
    (folder,) = (tmp_path / "quickstart").glob("compare-*")
    report = json.loads((folder / "compare.json").read_text())
    items = {it["name"]: it for it in _pair(report)["items"]}
    # the invariant hyperparameters are tested (mu; sigma, slice-stepped in Gibbs) ...
    for name in ("mu", "sigma"):
        assert items[name]["z"] is not None and not items[name]["unidentified"], items[name]
        assert items[name]["z"] < 4, items[name]
    # ... the factor-dim ones reported but never flagged
    assert items["mu_u[0]"]["unidentified"]
    preds = [it for it in items.values() if it["kind"] == "prediction"]
    assert len(preds) == 15 and all(it["z"] < 4 for it in preds)


@pytest.mark.backend("numpyro")
def test_a_wrong_gibbs_conditional_is_flagged_against_nuts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    right = cond.gaussian_params

    def wrong(*args, **kwargs):
        prec, h = right(*args, **kwargs)
        return 2.0 * prec, h

    monkeypatch.setattr(cond, "gaussian_params", wrong)
    r, report = _compare(tmp_path, "group_means.yaml", *BUDGET)
    assert r.exit_code == 0, r.output  # both fitted; the disagreement is in the report
    pair = _pair(report)
    assert pair["n_flagged"] > 0
    flagged = {it["name"] for it in pair["items"] if it["flagged"]}
    assert {"group_means[0]", "group_means[1]"} <= flagged, pair["items"]
    assert "flagged: numpyro/gibbs vs numpyro/nuts: group_means[" in r.stderr


@pytest.mark.backend("numpyro")  # naming the backend loads it
def test_bad_methods_are_refused_before_any_fit(tmp_path: Path) -> None:
    r, _ = _compare(tmp_path, "group_means.yaml", "--methods", "gibbs,bogus")
    assert r.exit_code == 2 and "--methods: unknown method bogus" in r.stderr, r.output
    r, _ = _compare(tmp_path, "group_means.yaml", "--method", "nuts")
    assert r.exit_code == 2 and "--method or --methods, not both" in r.stderr, r.output
    assert not (tmp_path / "group_means").exists()
