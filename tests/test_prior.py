"""``specrec prior``: prior and prior predictive drawn from the numpy reference, no fit.

Core only: no PPL is imported (the draws are the reference model's), so these run without any
backend installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from specrec.cli import main
from specrec.data.source import load_data
from specrec.model.lower import lower
from specrec.prior import draw_prior, run_prior
from specrec.spec.load import parse_spec_text

SPECS = Path(__file__).resolve().parents[1] / "specs"
ALL = sorted(
    p.relative_to(SPECS).as_posix() for p in SPECS.rglob("*.yaml") if "studies" not in p.parts
)

#: mu ~ N(M0, S0), b[g] ~ N(0, B), sigma ~ HalfNormal(H), y ~ N(mu + b[g], sigma): the prior
#: predictive has mean M0 and variance S0^2 + B^2 + E[sigma^2] = S0^2 + B^2 + H^2
#: (HalfNormal(H) has E[s^2] = H^2)
M0, S0, B, H = 2.0, 1.5, 0.4, 0.7
NORMAL = f"""
specrec: 1
name: normal_prior
data: {{source: simulate, sizes: {{g: 3}}, rows: 30, seed: 2}}
dims: {{g: {{column: g}}}}
params:
  mu: Normal({M0}, {S0})
  b: {{prior: "Normal(0, {B})", dims: [g]}}
  sigma: HalfNormal({H})
likelihood:
  y: Normal(mu + b[g], sigma)
"""

ORDINAL = """\
specrec: 1
name: ordinal_sim
data:
  source: simulate
  sizes: {user: 20, item: 15}
  density: 0.5
  seed: 3
  true: {cutpoints: [-2.0, -0.7, 0.6, 1.9]}
  split: {kind: random, test_fraction: 0.2, seed: 1}
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
inference: {method: vi, steps: 300, draws: 100}
"""


def _model(text: str):
    loaded = parse_spec_text(text, "<test>")
    ds, split = load_data(loaded)
    return lower(loaded, ds.take(split.train))


def test_prior_predictive_of_a_normal_model_has_the_closed_form_moments():
    model = _model(NORMAL)
    draws = 4000
    drawn = draw_prior(model, draws, seed=0)
    y = drawn.y_rep[0]  # (draws, rows); rows of one draw share mu and sigma
    assert y.shape == (draws, len(model.data))
    # per draw, then over draws: the draws are independent, so their spread gives the MC error
    first = y.mean(axis=1)
    second = ((y - M0) ** 2).mean(axis=1)
    assert abs(first.mean() - M0) < 4 * first.std() / np.sqrt(draws)
    var = S0**2 + B**2 + H**2
    assert abs(second.mean() - var) < 4 * second.std() / np.sqrt(draws)
    # the prior group holds the parameters' own priors
    mu = drawn.params["mu"][0]
    assert abs(mu.mean() - M0) < 4 * S0 / np.sqrt(draws)
    assert abs(mu.std() - S0) < 0.1 * S0
    sigma = drawn.params["sigma"][0]
    assert np.all(sigma > 0) and abs(np.mean(sigma**2) - H**2) < 0.1 * H**2


def test_same_seed_same_draws_and_a_new_seed_new_ones():
    model = _model(NORMAL)
    a, b, c = (draw_prior(model, 20, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.y_rep, b.y_rep)
    assert not np.array_equal(a.y_rep, c.y_rep)


def test_prior_command_writes_the_groups_a_png_and_prints_the_summary(tmp_path: Path):
    import arviz as az

    args = ["prior", str(SPECS / "quickstart.yaml"), "--draws", "40", "--out", str(tmp_path)]
    args += ["--set", "data.sizes.user=30", "--set", "data.sizes.item=20"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "of replicated ratings fall outside the observed range" in r.stdout
    (folder,) = (tmp_path / "quickstart").iterdir()
    assert folder.name.startswith("prior-")
    assert {p.name for p in folder.iterdir()} == {
        "prior.nc",
        "prior_predictive.png",
        "prior.json",
    }
    idata = az.from_netcdf(str(folder / "prior.nc"))
    assert set(idata.groups()) == {"prior", "prior_predictive", "observed_data", "constant_data"}
    assert idata.prior.sizes["draw"] == 40 and idata.prior["U"].dims[2:] == ("user", "factor")
    rows = idata.observed_data.sizes["obs"]
    assert idata.prior_predictive["rating"].shape == (1, 40, rows)
    assert idata.constant_data["user_index"].shape == (rows,)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    az.plot_ppc(idata, group="prior", num_pp_samples=10)
    plt.close("all")
    report = json.loads((folder / "prior.json").read_text())
    s = report["summary"]
    assert s["draws"] == 40 and s["rows"] == rows
    # the printed share is the share of the stored draws outside the stored data's range
    y, rep = idata.observed_data["rating"].values, idata.prior_predictive["rating"].values
    outside = np.mean((rep < y.min()) | (rep > y.max()))
    assert s["outside_observed"] == pytest.approx(outside)
    assert f"{outside:.1%}" in r.stdout


def test_prior_of_an_ordinal_model_tabulates_the_categories(tmp_path: Path):
    spec = tmp_path / "ordinal.yaml"
    spec.write_text(ORDINAL)
    result = run_prior(spec, draws=60, out=tmp_path / "out")
    rep = np.asarray(result.idata.prior_predictive["rating"].values)
    assert np.issubdtype(rep.dtype, np.integer) and set(np.unique(rep)) <= {1, 2, 3, 4, 5}
    cats = result.report["summary"]["categories"]
    assert list(cats) == ["1", "2", "3", "4", "5"]
    for k, v in cats.items():
        assert v["replicated"] == pytest.approx(np.mean(rep == int(k)))
    assert sum(v["replicated"] for v in cats.values()) == pytest.approx(1.0)
    assert result.report["summary"]["outside_observed"] == 0.0  # every draw is a category
    assert (result.path / "prior_predictive.png").stat().st_size > 10_000


@pytest.mark.parametrize("spec", ALL)
def test_every_shipped_spec_draws_its_prior(spec: str, tmp_path: Path, fake_ml100k: Path):
    """Every example spec works with ``specrec prior`` (ML-100k ones on a fake u.data)."""
    args = ["prior", str(SPECS / spec), "--draws", "3", "--out", str(tmp_path), "--json"]
    if spec.startswith("movielens/"):
        args += ["--data", str(fake_ml100k)]
    if spec in ("movielens/bpmf_lkj.yaml", "movielens/bpmf_nw.yaml"):
        args += ["--set", "dims.factor=3", "--set", "dims.factor2=3"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    s = out["summary"]
    assert s["draws"] == 3 and s["rows"] > 0
    assert s["replicated"]["mean"] is not None
    simulated = yaml.safe_load((SPECS / spec).read_text())["data"]["source"] == "simulate"
    assert simulated or s["observed"]["min"] >= 1  # the fake ML-100k ratings are 1..5
    assert Path(out["dir"], "prior_predictive.png").is_file()


def test_prior_of_movielens_without_its_data_is_refused_clearly(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SPECREC_CACHE_DIR", str(tmp_path / "empty-cache"))
    r = CliRunner().invoke(
        main, ["prior", str(SPECS / "movielens/pmf.yaml"), "--out", str(tmp_path)]
    )
    assert r.exit_code == 2
    assert "MovieLens 100k is not in the cache" in r.stderr and "--data" in r.stderr
    assert "Traceback" not in r.output


def test_bad_input_to_prior_is_a_clear_error_with_exit_2(tmp_path: Path):
    def run(*args: str):
        return CliRunner().invoke(main, ["prior", *args, "--out", str(tmp_path)])

    r = run(str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "missing.yaml" in r.stderr and "Traceback" not in r.output
    r = run(str(SPECS / "quickstart.yaml"), "--draws", "0")
    assert r.exit_code == 2 and "--draws" in r.stderr
    r = run(str(SPECS / "quickstart.yaml"), "--set", "inference.seeed=3")
    assert r.exit_code == 2 and "seeed" in r.stderr
    # too many draws for the group budget: refused before drawing, with what would fit
    r = run(str(SPECS / "quickstart.yaml"), "--set", "evaluate.idata_max_mb=0.01")
    assert r.exit_code == 2
    assert "evaluate.idata_max_mb" in r.stderr and "draw at most" in r.stderr
    assert not (tmp_path / "quickstart").exists()
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(
        main, ["prior", str(SPECS / "quickstart.yaml"), "--out", str(tmp_path / "afile")]
    )
    assert r.exit_code == 2 and "not a folder" in r.stderr
