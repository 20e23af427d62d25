"""``specrec report`` and ``specrec fit --report`` on real NumPyro fits.

No browser is available to the test suite (Debian's chromium cannot be installed here), so the
page is checked the way a browser would need it: parsed as HTML, every image an embedded PNG
that decodes to a non-blank picture, and nothing that would reach the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from specrec.cli import main
from specrec.evaluate.fields import describe

SPECS = Path(__file__).resolve().parents[2] / "specs"
TINY = [
    "--set", "inference.warmup=50", "--set", "inference.draws=50",
    "--set", "data.sizes.user=30", "--set", "data.sizes.item=20",
]  # fmt: skip

pytestmark = pytest.mark.backend("numpyro")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _fit(tmp_path: Path, *extra: str) -> Path:
    r = CliRunner().invoke(
        main, ["fit", str(SPECS / "quickstart.yaml"), *TINY, *extra, "--out", str(tmp_path), "-q"]
    )
    assert r.exit_code == 0, r.output
    return Path(r.stdout.strip())


@pytest.fixture(scope="module")
def nuts_run(tmp_path_factory) -> Path:
    return _fit(tmp_path_factory.mktemp("runs"), "--report", "--prior", "30")


def _images(page: str, folder: Path | None = None) -> list:
    """The page's decoded images; every link is relative, to a file that exists from
    ``folder`` (where the page is for good), and nothing reaches the network."""
    parser = _Page()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            if name == "src" and value:
                assert value.startswith("data:image/png;base64,"), value[:60]
            if name == "href" and value:
                assert tag == "a" and ":" not in value and not value.startswith("/"), value
                assert ".tmp-" not in value, value
                if folder is not None:
                    assert (folder / value).resolve().is_file(), value
    assert "http://" not in page and "https://" not in page
    images = []
    for tag, attrs in parser.tags:
        if tag == "img":
            raw = base64.b64decode(attrs["src"].removeprefix("data:image/png;base64,"))
            images.append(imread(io.BytesIO(raw), format="png"))
    return images


def test_fit_report_writes_a_self_contained_page(nuts_run: Path):
    folder = nuts_run / "report"
    names = {p.name for p in folder.iterdir()}
    expected = {
        "frobenius.png", "running_rmse.png", "observed_vs_predicted.png", "calibration.png",
        "rmse_by_activity.png", "hyperparameters.png", "report.html",
        "ppc_ratings.png", "ppc_means.png", "prior_predictive.png", "energy.png",
    }  # fmt: skip
    assert names == expected
    assert not [p for p in nuts_run.iterdir() if p.name.startswith(".")]
    page = (folder / "report.html").read_text(encoding="utf-8")
    images = _images(page, folder)
    assert len(images) == len(expected) - 1
    for pixels in images:
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 600
        assert pixels[..., :3].std() > 0.05  # a real picture, not a blank canvas
    metrics = json.loads((nuts_run / "metrics.json").read_text())
    # The numbers on the page are the run's numbers.
    assert f"{metrics['metrics']['test']['log_predictive_density']:.4g}" in page
    assert "PSIS-LOO" in page and "interval coverage" in page and "ranking per user" in page


def test_every_key_of_a_real_metrics_json_is_documented(nuts_run: Path):
    metrics = json.loads((nuts_run / "metrics.json").read_text())

    def leaves(d, prefix=""):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            yield from leaves(v, key) if isinstance(v, dict) and v else [key]

    assert [k for k in leaves(metrics) if describe(k) is None] == []
    honest = metrics["metrics"]["test"]["interval_coverage"]
    assert set(honest) == {"50", "80", "95"} and all(0 <= v <= 1 for v in honest.values())
    assert set(metrics["diagnostics"]["hyperparameters"]) == {"mu", "mu_u", "sigma"}
    assert metrics["metrics"]["loo"]["n_rows"] == metrics["split"]["n_train"]


def test_report_command_rebuilds_without_touching_the_run(nuts_run: Path, monkeypatch):
    def digest() -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in nuts_run.iterdir()
            if p.is_file()
        }

    before = digest()
    old_page = (nuts_run / "report" / "report.html").read_bytes()

    # A report that dies half-way leaves the previous report as it was, and no temp folder.
    import specrec.evaluate.plots as plots

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_calibration", boom)
    r = CliRunner().invoke(main, ["report", str(nuts_run)])
    assert r.exit_code == 130  # Ctrl-C: the shell convention
    assert (nuts_run / "report" / "report.html").read_bytes() == old_page
    assert not [p for p in nuts_run.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()

    r = CliRunner().invoke(main, ["report", str(nuts_run)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(nuts_run / "report" / "report.html")
    assert digest() == before  # the run's own files are untouched
    assert not [p for p in nuts_run.iterdir() if p.name.startswith(".")]
    assert len(_images((nuts_run / "report" / "report.html").read_text())) == 10


def test_report_on_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2
    assert "not a run directory" in r.stderr and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["report", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "does not exist" in r.stderr
    (tmp_path / "metrics.json").write_text(json.dumps({"specrec_format": 99}))
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "format 99" in r.stderr


def test_map_report_has_the_loss_and_states_why_loo_was_skipped(tmp_path: Path):
    run = _fit(tmp_path, "--method", "map", "--set", "inference.steps=300", "--report")
    metrics = json.loads((run / "metrics.json").read_text())
    assert "point estimate" in metrics["metrics"]["loo"]["skipped"]
    names = {p.name for p in (run / "report").iterdir()}
    assert "loss.png" in names and "hyperparameters.png" not in names
    page = (run / "report" / "report.html").read_text()
    assert "PSIS-LOO" in page and "skipped: " in page
    assert len(_images(page, run / "report")) == len(names) - 1
    # the loss's convergence in words, never Python's True/False
    assert "converged: True" not in page and "converged: False" not in page
    assert "converged: yes" in page or "converged: no" in page
    # a point fit has no replicated draws: said, not silently left without the figures
    assert "ppc_ratings.png" not in names and "energy.png" not in names
    assert "map gives a point estimate" in page and "no replicated data sets" in page


def test_nuts_report_names_its_predictive_checks_and_energy(nuts_run: Path):
    page = (nuts_run / "report" / "report.html").read_text(encoding="utf-8")
    for title in (
        "Posterior predictive check: ratings",
        "Posterior predictive check: per-level means",
        "Prior predictive check",
        "HMC energy",
    ):
        assert f"<h2>{title}</h2>" in page
    metrics = json.loads((nuts_run / "metrics.json").read_text())
    bfmi = metrics["diagnostics"]["bfmi"]
    assert len(bfmi) == 2 and f"BFMI per chain: {bfmi[0]:.2f}" in page
    assert "point estimate" not in page and "No BFMI" not in page


def test_fit_prior_adds_the_prior_groups_to_posterior_nc(nuts_run: Path):
    import arviz as az

    idata = az.from_netcdf(str(nuts_run / "posterior.nc"))
    assert {"prior", "prior_predictive", "posterior_predictive"} <= set(idata.groups())
    assert idata.prior.sizes["chain"] == 1 and idata.prior.sizes["draw"] == 30
    assert set(idata.prior.data_vars) == set(idata.posterior.data_vars)
    rows = idata.observed_data.sizes["obs"]
    assert idata.prior_predictive["rating"].shape == (1, 30, rows)
    metrics = json.loads((nuts_run / "metrics.json").read_text())
    assert metrics["idata"]["groups"][-2:] == ["prior", "prior_predictive"]
    assert metrics["idata"]["prior"]["draws"] == 30
    # the prior is wider than the posterior: its replicated ratings spread further
    post = idata.posterior_predictive["rating"].values
    prior = idata.prior_predictive["rating"].values
    assert prior.std() > post.std()


# ---- the page reads as a report, not as a copy of the terminal ------------------------------


class _Cells(HTMLParser):
    """Text of every table cell with the classes of its row and cell, and of every element
    that has a class (the verdict's lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.texts: list[tuple[str, str, str]] = []  # (tag, class, text)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th", "li", "p", "tr"):
            self.stack.append((tag, dict(attrs).get("class") or ""))
            self.texts.append((tag, dict(attrs).get("class") or "", ""))
            self.stack[-1] = (tag, str(len(self.texts) - 1))

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_data(self, data):
        for _, index in self.stack:
            t, c, text = self.texts[int(index)]
            self.texts[int(index)] = (t, c, text + data)


def _parse(page: str) -> _Cells:
    cells = _Cells()
    cells.feed(page)
    return cells


def test_fit_report_names_the_final_run_never_its_staging_folder(nuts_run: Path):
    page = (nuts_run / "report" / "report.html").read_text(encoding="utf-8")
    assert ".tmp-" not in page  # fit --report builds the page before the run is renamed
    assert nuts_run.name in page
    assert str(nuts_run.parent) not in page  # no absolute path: the run may be moved or mailed
    hrefs = [a.get("href") for t, a in _page_tags(page) if t == "a"]
    assert "../metrics.json" in hrefs and "running_rmse.png" in hrefs
    _images(page, nuts_run / "report")  # every link resolves from where the page is


def _page_tags(page: str) -> list:
    parser = _Page()
    parser.feed(page)
    return parser.tags


def test_report_figures_have_the_ordinary_file_mode(nuts_run: Path):
    from specrec.rundir import file_mode

    pngs = list(nuts_run.glob("*.png")) + list((nuts_run / "report").glob("*.png"))
    assert len(pngs) >= 10
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in pngs}
    assert set(modes.values()) == {oct(file_mode())}, modes  # as report.html, not 0600
    page = nuts_run / "report" / "report.html"
    assert page.stat().st_mode & 0o777 == file_mode()


def test_report_top_is_a_summary_table_with_the_verdict(nuts_run: Path):
    page = (nuts_run / "report" / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((nuts_run / "metrics.json").read_text())
    cells = _parse(page)
    assert "pre" not in cells.tags  # no copy of the terminal text
    assert "<h2>Summary</h2>" in page and page.index("<h2>Summary</h2>") < page.index("<figure>")
    rows = [text for tag, _, text in cells.texts if tag == "tr"]
    test = metrics["metrics"]["test"]
    assert f"model (test){test['rmse']:.4f}{test['mae']:.4f}" in rows
    for name, b in metrics["baselines"].items():
        assert f"{name}{b['rmse']:.4f}{b['mae']:.4f}" in rows
    assert "90 % predictive interval coverage (test)" + f"{test['coverage_90']:.3f}" in rows
    verdict = metrics["diagnostics"]["verdict"]
    red = [text for tag, cls, text in cells.texts if cls == "warn"]
    for w in verdict["warnings"]:
        assert f"WARNING: {w}" in red
    for e in verdict["expected"]:  # stated once, and not in red
        assert page.count(html.escape(e)) == 1
        assert not [t for t in red if e in t]
        assert [t for tag, cls, t in cells.texts if cls == "expected" and e in t]


def test_report_descriptions_are_filled_and_said_once(nuts_run: Path):
    page = (nuts_run / "report" / "report.html").read_text(encoding="utf-8")
    cells = _parse(page)
    for placeholder in ("dim", "level", "bucket", "baseline", "var", "key", "param", "stat"):
        assert f"&lt;{placeholder}&gt;" not in page, placeholder
    values = [text.strip() for tag, _, text in cells.texts if tag in ("td", "th")]
    assert "True" not in values and "False" not in values  # yes/no
    assert "yes" in values  # metrics.loo.warning of this tiny fit
    long = [v for v in values if len(v) > 40]
    repeated = {v for v in long if long.count(v) > 1}
    assert not repeated, repeated
    assert "test ratings whose level of user or item had this many" in page
    assert "(uniform, global_mean, user_mean, item_mean, mean_of_means;" in page


def test_fit_activity_buckets_are_never_empty(nuts_run: Path):
    metrics = json.loads((nuts_run / "metrics.json").read_text())
    by = metrics["metrics"]["test"]["rmse_by_activity"]
    n_test = metrics["split"]["n_test"]
    for dim, buckets in by.items():
        assert buckets and all(b["n"] > 0 and b["rmse"] is not None for b in buckets.values())
        assert sum(b["n"] for b in buckets.values()) == n_test, dim
