"""`specrec compare`: one spec on several real backends, same inputs, side by side.

The end-to-end tests fit tiny budgets on all three backends (about two minutes together); the
agreement statistics and the table are also tested on synthetic numbers, without a backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from specrec import agreement
from specrec.cli import main
from specrec.compare import Row, _mismatches
from specrec.summary import _agreement_lines as summary_agreement_lines
from specrec.summary import compare_summary

SPECS = Path(__file__).resolve().parents[1] / "specs"

TINY_NUTS = ["--set", "inference.warmup=100", "--set", "inference.draws=100"]
TINY_VI = [
    "--set",
    "data.sizes.user=30",
    "--set",
    "data.sizes.item=20",
    "--set",
    "inference.steps=2000",  # converged: at 300 steps the fits still differ by 0.6 x RMSE
]


def _compare(tmp_path: Path, spec: str, *args: str):
    r = CliRunner().invoke(
        main, ["compare", str(SPECS / spec), *args, "--out", str(tmp_path), "--json", "--quiet"]
    )
    report = json.loads(r.stdout) if r.stdout.strip() else None
    return r, report


def _compare_dir(tmp_path: Path, name: str) -> Path:
    found = list((tmp_path / name).glob("compare-*"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.backend("numpyro")
@pytest.mark.backend("pymc")
@pytest.mark.backend("pyro")
def test_nuts_on_three_backends_agrees(tmp_path: Path):
    r, report = _compare(
        tmp_path, "group_means.yaml", "--backends", "numpyro,pymc,pyro", *TINY_NUTS
    )
    assert r.exit_code == 0, r.output
    assert [row["backend"] for row in report["rows"]] == ["numpyro", "pymc", "pyro"]
    for row in report["rows"]:
        assert row["ok"] and row["error"] is None, row
        assert row["test_rmse"] > 0 and row["us_per_eval"] > 0 and row["fit_s"] > 0
        assert row["divergences"] is not None and row["rhat_max"] is not None
        assert Path(row["run_dir"], "metrics.json").exists()
    assert report["fingerprints_match"] and not report["mismatches"]
    for key in ("spec", "data", "split"):
        assert len({row["fingerprints"][key] for row in report["rows"]}) == 1
    agree = report["agreement"]
    assert len(agree["pairs"]) == 3 and all(p["test"] == "z" for p in agree["pairs"])
    assert agree["n_params"] == 3 and agree["n_predictions"] == 6
    assert agree["flagged"] == [], agree["flagged"]
    folder = _compare_dir(tmp_path, "group_means")
    assert json.loads((folder / "compare.json").read_text()) == report
    assert (folder / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = compare_summary(report, folder)
    assert "test RMSE" in table and "0 flagged" in table and str(folder) in table


@pytest.mark.backend("pymc")
@pytest.mark.backend("pyro")
def test_a_failing_backend_is_a_row_and_the_others_still_run(tmp_path: Path):
    # pyro's own NUTS only: pymc refuses the sampler before fitting; pyro (after it) still fits.
    r, report = _compare(
        tmp_path,
        "group_means.yaml",
        "--backends",
        "pymc,pyro",
        "--set",
        "inference.sampler=pyro",
        "--set",
        "inference.warmup=50",
        "--set",
        "inference.draws=50",
    )
    assert r.exit_code == 1, r.output
    failed, fitted = report["rows"]
    assert failed["backend"] == "pymc" and not failed["ok"] and failed["run_dir"] is None
    assert "sampler 'pyro'" in failed["error"]
    assert fitted["backend"] == "pyro" and fitted["ok"] and Path(fitted["run_dir"]).is_dir()
    assert report["agreement"]["pairs"] == []
    assert r.stderr.startswith("pymc: ") and "sampler 'pyro'" in r.stderr
    folder = _compare_dir(tmp_path, "group_means")
    assert (folder / "compare.png").exists()
    assert "FAILED" in compare_summary(report, folder)


@pytest.mark.backend("numpyro")
@pytest.mark.backend("pymc")
@pytest.mark.backend("pyro")
def test_vi_comparison_reports_differences_without_z(tmp_path: Path):
    r, report = _compare(tmp_path, "quickstart.yaml", "--method", "vi", *TINY_VI)
    assert r.exit_code == 0, r.output
    assert {row["backend"] for row in report["rows"]} == {"numpyro", "pymc", "pyro"}
    assert all(row["ok"] and row["method"] == "vi" for row in report["rows"])
    assert report["fingerprints_match"]
    agree = report["agreement"]
    assert all(p["test"] == "prediction bound" and "max_z" not in p for p in agree["pairs"])
    assert agree["unidentified"] == ["mu_u"]
    # three converged variational fits of one model predict the compared pairs within
    # PRED_FRACTION of the test RMSE of each other (RMS over the pairs: 0.14-0.16 x, 2026-12-04)
    rmse = min(row["test_rmse"] for row in report["rows"])
    for p in agree["pairs"]:
        assert p["n_flagged"] == 0 and not p["predictions_flagged"], p
        assert p["rms_diff_prediction"] <= agreement.PRED_FRACTION * rmse
    assert agree["flagged"] == []
    assert (_compare_dir(tmp_path, "quickstart") / "compare.png").exists()


# ---- no backend needed -------------------------------------------------------------------


def _estimate(name: str, mean: list[float], mcse: list[float] | None) -> agreement.Estimate:
    labels = ["a", "b[0]", "E[y | u=1]"]
    kinds = ["param", "param", "prediction"]
    se = None if mcse is None else np.array(mcse)
    return agreement.Estimate(name, "nuts", labels, kinds, np.array(mean), se, {"b"})


def test_z_test_flags_a_shift_beyond_four_mcse_but_not_unidentified_params():
    a = _estimate("x", [0.0, 0.0, 3.0], [0.1, 0.1, 0.1])
    b = _estimate("y", [0.2, 5.0, 3.0], [0.1, 0.1, 0.1])
    pair = agreement.compare_pair(a, b)
    z = {it["name"]: it["z"] for it in pair["items"]}
    assert z["a"] == pytest.approx(0.2 / np.sqrt(0.02))
    assert pair["n_flagged"] == 0  # b is huge but unidentified (a latent-factor dimension)
    c = _estimate("z", [1.0, 0.0, 3.0], [0.1, 0.1, 0.1])
    out = agreement.agreement([a, c])
    assert out["pairs"][0]["n_flagged"] == 1 and out["flagged"][0].startswith("x vs z: a ")


def test_map_or_vi_without_a_test_rmse_is_not_tested_rather_than_unflagged():
    a, b = _estimate("x", [0.0, 1.0, 3.0], None), _estimate("y", [0.5, 1.0, 2.0], None)
    pair = agreement.compare_pair(a, b)
    assert pair["test"] == "not tested" and "z" not in pair["items"][0]
    assert pair["n_flagged"] is None  # not 0: nothing was checked
    assert all(it["tested"] is False for it in pair["items"])
    assert pair["max_abs_diff_param"] == 0.5 and pair["max_abs_diff_prediction"] == 1.0
    line = "\n".join(summary_agreement_lines(agreement.agreement([a, b])))
    assert "not tested" in line and "0 flagged" not in line


@pytest.mark.parametrize("shift", [0.1, 0.3])
def test_map_or_vi_predictions_are_held_to_a_share_of_the_test_rmse(shift: float):
    """The RMS difference of predictions may be PRED_FRACTION x the smaller test RMSE;
    parameters are reported as not tested (a mode or a factorised guide may sit elsewhere)."""
    rmse = 1.0
    a = _estimate("x", [0.0, 1.0, 3.0], None)
    b = _estimate("y", [5.0, 1.0, 3.0 + shift], None)
    a.test_rmse, b.test_rmse = rmse, 1.2 * rmse
    out = agreement.agreement([a, b])
    pair = out["pairs"][0]
    assert pair["test"] == "prediction bound" and pair["params_tested"] is False
    assert pair["bound"] == pytest.approx(agreement.PRED_FRACTION * rmse)
    assert pair["rms_diff_prediction"] == pytest.approx(shift)  # one compared pair
    beyond = shift > agreement.PRED_FRACTION * rmse
    assert pair["n_flagged"] == int(beyond)  # the param's 5.0 difference is not flagged
    assert [f.startswith("x vs y: predictions differ by") for f in out["flagged"]] == (
        [True] if beyond else []
    )
    text = "\n".join(summary_agreement_lines(out))
    assert "parameters not tested" in text and ("FLAGGED" if beyond else ": ok;") in text


def test_latent_factor_dims_are_found_from_the_model():
    from specrec.data.source import load_data
    from specrec.model.lower import lower
    from specrec.spec.load import load_spec

    loaded = load_spec(SPECS / "quickstart.yaml", ["data.sizes.user=30", "data.sizes.item=20"])
    ds, split = load_data(loaded, None)
    model = lower(loaded, ds.take(split.train))
    assert agreement.factor_dims(model) == {"factor"}
    assert agreement.compared_params(model) == ["mu", "mu_u", "sigma"]
    loaded = load_spec(SPECS / "group_means.yaml", [])
    ds, split = load_data(loaded, None)
    assert agreement.factor_dims(lower(loaded, ds.take(split.train))) == set()


def test_mismatched_fingerprints_are_reported():
    same = {"spec": "s", "data": "d", "split": "p"}
    rows = [
        Row("a", True, fingerprints=same),
        Row("b", True, fingerprints={**same, "split": "q"}),
        Row("c", False, error="boom"),
    ]
    (msg,) = _mismatches(rows)
    assert msg.startswith("split fingerprints differ") and "c" not in msg.split(":")[1]
