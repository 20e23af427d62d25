"""`specrec fit` end to end through the CLI: run directory, metrics.json, exit codes."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from specrec.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"

pytestmark = pytest.mark.backend("numpyro")

TINY = [
    "--set",
    "inference.warmup=50",
    "--set",
    "inference.draws=50",
    "--set",
    "data.sizes.user=30",
    "--set",
    "data.sizes.item=20",
]

REQUIRED = [
    "spec.name", "spec.sha256", "backend.name", "backend.version", "inference.method", "seed",
    "data.fingerprint", "split.kind", "split.fingerprint", "split.n_train", "split.n_test",
    "metrics.test.rmse", "metrics.test.mae", "metrics.train.rmse", "metrics.test.coverage_90",
    "baselines.global_mean.rmse", "baselines.mean_of_means.rmse", "diagnostics.divergences",
    "diagnostics.rhat_max", "diagnostics.ess_bulk_min", "timing.fit_s", "versions",
]  # fmt: skip


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        d = d[k]
    return d


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One tiny quickstart fit through the CLI, shared by the tests that read its run
    directory (a fit is the expensive part); ``--quiet`` prints only the run's path."""
    out = tmp_path_factory.mktemp("runs")
    r = CliRunner().invoke(
        main, ["fit", str(SPECS / "quickstart.yaml"), *TINY, "--out", str(out), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    return out, Path(r.stdout.strip())


def test_fit_writes_a_complete_run_directory(quickstart_run):
    out, printed = quickstart_run
    runs = list((out / "quickstart").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".tmp")
    assert printed == runs[0]  # --quiet prints the run directory and nothing else
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    for key in REQUIRED:  # a NUTS run of two chains has every one, R-hat included
        assert _get(metrics, key) is not None, key
    # a number, not a value check: 50 draws of 2 chains is too short for R-hat near 1 (2.14)
    assert math.isfinite(metrics["diagnostics"]["rhat_max"]), metrics["diagnostics"]
    files = {p.name for p in runs[0].iterdir()}
    assert {
        "spec.yaml",
        "resolved.json",
        "posterior.nc",
        "predictions.csv",
        "metrics.json",
    } <= files
    assert {"frobenius.png", "running_rmse.png"} <= files
    assert (runs[0] / "spec.yaml").read_text() == (SPECS / "quickstart.yaml").read_text()
    resolved = json.loads((runs[0] / "resolved.json").read_text())
    assert resolved["inference"]["draws"] == 50 and resolved["data"]["sizes"]["user"] == 30
    header = (runs[0] / "predictions.csv").read_text().splitlines()[0]
    assert header == "user_id,item_id,rating,mean,lower,upper,user_known,item_known"
    assert metrics["metrics"]["test"]["rmse"] < metrics["baselines"]["global_mean"]["rmse"]
    assert metrics["split"]["n_test"] == round(0.1 * metrics["data"]["n_rows"])


def test_run_json_records_the_sizes_a_study_report_checks(quickstart_run, tmp_path: Path):
    """The sizes are taken after every file is written (``rundir.seal``), so they match; a cut
    file is then found by its size alone (``rundir.size_damage``)."""
    from specrec import rundir

    _, run = quickstart_run
    sizes = json.loads((run / "run.json").read_text())["sizes"]
    assert set(sizes) == {"posterior.nc", "predictions.csv", "curves.json", "train.npz"}
    assert all(sizes[name] == (run / name).stat().st_size > 0 for name in sizes)
    assert rundir.size_damage(run) is None
    copy = tmp_path / "cut"
    shutil.copytree(run, copy)
    with open(copy / "posterior.nc", "r+b") as f:
        f.truncate(sizes["posterior.nc"] // 2)
    assert "posterior.nc is damaged" in (rundir.size_damage(copy) or "")


def test_posterior_netcdf_has_specrec_names_dims_and_coords(quickstart_run):
    import arviz as az

    _, run_dir = quickstart_run
    idata = az.from_netcdf(run_dir / "posterior.nc")
    assert idata.posterior["U"].dims == ("chain", "draw", "user", "factor")
    assert idata.posterior.sizes["user"] == 30
    assert "diverging" in idata.sample_stats


def test_summary_on_stdout_with_baselines(tmp_path: Path):
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(SPECS / "group_means.yaml"),
            "--set",
            "inference.warmup=50",
            "--set",
            "inference.draws=50",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "model (test)" in r.stdout and "global_mean" in r.stdout and "run saved to" in r.stdout


def test_killed_fit_leaves_no_half_written_run(tmp_path: Path, monkeypatch):
    import specrec.fitting as fitting

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "_plots", boom)  # Ctrl-C while the run directory is written
    r = CliRunner().invoke(
        main, ["fit", str(SPECS / "group_means.yaml"), *TINY[:4], "--out", str(tmp_path), "-q"]
    )
    assert r.exit_code == 130
    assert r.stderr.endswith(
        "interrupted while writing the run directory; no unfinished run was written\n"
    )
    assert list(tmp_path.iterdir()) == []  # no run, no temp folder, no runs folder it made


def test_overrides_method_and_seed(tmp_path: Path):
    args = [
        "fit",
        str(SPECS / "quickstart.yaml"),
        "--method",
        "vi",
        "--seed",
        "3",
        "--set",
        "inference.steps=300",
        "--set",
        "data.sizes.user=30",
        "--out",
        str(tmp_path),
        "--json",
        "-q",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["inference"]["method"] == "vi" and m["seed"] == 3
    assert "loss_final" in m["diagnostics"]
    (run,) = (tmp_path / "quickstart").iterdir()  # --json prints exactly the saved metrics
    # --json prints the saved metrics and where they are
    assert m.pop("run_dir") == str(run.resolve())
    assert json.loads((run / "metrics.json").read_text()) == m


def test_unsupported_setting_exits_2_before_fitting(tmp_path: Path):
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(SPECS / "quickstart.yaml"),
            "--set",
            "inference.batch_size=10",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2
    assert "batch_size" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "quickstart").exists()


def test_diverging_optimiser_exits_1(tmp_path: Path):
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(SPECS / "quickstart.yaml"),
            *TINY,
            "--method",
            "map",
            "--set",
            "inference.lr=1.0e30",
            "--set",
            "inference.steps=50",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 1, r.output
    assert "diverged" in r.stderr


def test_movielens_spec_reads_local_data(tmp_path: Path, fake_ml100k: Path):
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(SPECS / "movielens" / "hpmf.yaml"),
            "--data",
            str(fake_ml100k),
            "--set",
            "inference.steps=20",  # only the data read is checked here
            "--set",
            "inference.draws=10",
            "--out",
            str(tmp_path),
            "--json",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["data"]["n_rows"] == 360 and m["split"]["n_test"] == 36


def test_missing_movielens_data_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SPECREC_CACHE_DIR", str(tmp_path / "cache"))
    r = CliRunner().invoke(
        main, ["fit", str(SPECS / "movielens" / "hpmf.yaml"), "--out", str(tmp_path)]
    )
    assert r.exit_code == 2
    assert "specrec data fetch movielens-100k" in r.stderr
