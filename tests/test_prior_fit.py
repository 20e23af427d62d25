"""``specrec fit --prior N`` and the report's checks on an ordinal likelihood (NumPyro fits)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_prior import ORDINAL

from specrec.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"
pytestmark = pytest.mark.backend("numpyro")


def test_ordinal_report_shows_category_frequencies_of_both_predictives(tmp_path, monkeypatch):
    import arviz as az

    import specrec.evaluate.plots as plots

    texts: list[str] = []  # every title, label and tick of every figure, as drawn
    real = plots._save_atomic

    def keep(fig, path):
        fig.canvas.draw()
        for ax in fig.axes:
            texts.extend([ax.get_title(), ax.get_xlabel(), ax.get_ylabel()])
            texts.extend(t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())
        return real(fig, path)

    monkeypatch.setattr(plots, "_save_atomic", keep)
    spec = tmp_path / "ordinal.yaml"
    spec.write_text(ORDINAL)
    r = CliRunner().invoke(
        main, ["fit", str(spec), "--prior", "25", "--report", "--out", str(tmp_path), "-q"]
    )
    assert r.exit_code == 0, r.output
    run = Path(r.stdout.strip())
    idata = az.from_netcdf(str(run / "posterior.nc"))
    for group in ("prior_predictive", "posterior_predictive"):
        values = idata[group]["rating"].values
        assert np.issubdtype(values.dtype, np.integer) and set(np.unique(values)) <= set(
            range(1, 6)
        )
    names = {p.name for p in (run / "report").iterdir()}
    assert {"ppc_ratings.png", "ppc_means.png", "prior_predictive.png"} <= names
    assert "energy.png" not in names  # vi: no Hamiltonian
    page = (run / "report" / "report.html").read_text()
    assert "<h2>Posterior predictive check: category frequencies</h2>" in page
    assert "No BFMI" not in page  # vi is not HMC: nothing to say about energy
    metrics = json.loads((run / "metrics.json").read_text())
    cats = metrics["idata"]["prior"]["categories"]
    assert list(cats) == ["1", "2", "3", "4", "5"]
    # the category-frequency panels say no "-0.0%" (a share that is zero but for rounding)
    assert "category frequencies" in texts
    assert not [t for t in texts if "-0.0%" in t or t in ("-0", "\u22120")], texts


def test_fit_prior_over_the_budget_is_refused_before_fitting(tmp_path: Path):
    r = CliRunner().invoke(
        main,
        [
            "fit", str(SPECS / "quickstart.yaml"), "--prior", "1000", "--out", str(tmp_path),
            "--set", "evaluate.idata_max_mb=0.01", "-q",
        ],
    )  # fmt: skip
    assert r.exit_code == 2
    assert "--prior 1000" in r.stderr and "draw at most" in r.stderr
    assert "Traceback" not in r.output and not (tmp_path / "quickstart").exists()
    r = CliRunner().invoke(main, ["fit", str(SPECS / "quickstart.yaml"), "--prior", "0"])
    assert r.exit_code == 2 and "--prior" in r.stderr
