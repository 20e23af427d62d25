"""``specrec validate --read-data`` / ``--data``: the checks that need the rows, without fitting.

Half stars under an ordinal likelihood is the case users meet: the spec is fine as text, the
data is fine as data, and only together do they fail.  Without ``--read-data`` validate says
ok (it never reads data); with it, the problem is positioned on the likelihood with the
``shift``/``scale`` that would fix it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from specrec.cli import main
from specrec.errors import EXIT_BAD_INPUT

SPECS = Path(__file__).resolve().parents[1] / "specs"

ORDINAL = """\
specrec: 1
name: stars
data:
  source: file
  path: ratings.csv
  split: {kind: random, test_fraction: 0.2, seed: 0}
dims:
  user: {column: user_id}
  item: {column: item_id}
  cut: 4
params:
  b_u:
    prior: Normal(0, 1)
    dims: [user]
  b_i:
    prior: Normal(0, 1)
    dims: [item]
  cutpoints:
    prior: Normal(0, 3)
    dims: [cut]
    constraint: ordered
likelihood:
  rating:
    distribution: OrderedLogistic(b_u[user] + b_i[item], cutpoints)
    shift: 1
"""


def _write(tmp_path: Path, step: float) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    stars = 1 + step * rng.integers(0, round(4 / step) + 1, n)
    pairs = rng.permutation(30 * 20)[:n]  # distinct (user, item) pairs
    users, items = 1 + pairs // 20, 1 + pairs % 20
    lines = [f"{u},{i},{r:g}" for u, i, r in zip(users, items, stars, strict=True)]
    (tmp_path / "ratings.csv").write_text("user_id,item_id,rating\n" + "\n".join(lines) + "\n")
    spec = tmp_path / "stars.yaml"
    spec.write_text(ORDINAL)
    return spec


def test_half_stars_pass_plain_validate_and_fail_with_read_data(tmp_path: Path) -> None:
    spec = _write(tmp_path, 0.5)
    plain = CliRunner().invoke(main, ["validate", str(spec)])
    assert plain.exit_code == 0 and f"{spec}: ok" in plain.output
    r = CliRunner().invoke(main, ["validate", "--read-data", str(spec)])
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    line = next(i for i, t in enumerate(ORDINAL.splitlines(), 1) if "distribution:" in t)
    assert (
        f"{spec}:{line}:" in r.output and "OrderedLogistic cannot hold (rating - 1) / 1" in r.output
    )
    assert "steps of 0.5: shift: 1 and scale: 0.5 make them the categories 0..8" in r.output
    assert "cut dim has size 8" in r.output
    assert "Traceback" not in r.output


def test_whole_stars_validate_with_the_rows_read(tmp_path: Path) -> None:
    spec = _write(tmp_path, 1.0)
    r = CliRunner().invoke(main, ["validate", "--read-data", str(spec)])
    assert r.exit_code == 0, r.output
    assert "ok (200 rows read, 160 train / 40 test" in r.output


def test_data_option_reads_local_data_and_a_missing_folder_is_an_input_error(
    tmp_path: Path,
) -> None:
    quick = CliRunner().invoke(main, ["validate", "--read-data", str(SPECS / "quickstart.yaml")])
    assert quick.exit_code == 0 and "rows read" in quick.output, quick.output
    r = CliRunner().invoke(
        main, ["validate", "--data", str(tmp_path / "nowhere"), str(SPECS / "movielens/pmf.yaml")]
    )
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    assert "nowhere" in r.output and "Traceback" not in r.output


def test_half_stars_rescaled_beyond_the_cut_dim_are_refused_before_fitting(tmp_path: Path):
    # shift/scale make half stars whole categories 0..8, but cut: 4 gives only 5 categories
    spec = _write(tmp_path, 0.5)
    spec.write_text(ORDINAL.replace("    shift: 1\n", "    shift: 1\n    scale: 0.5\n"))
    r = CliRunner().invoke(main, ["validate", "--read-data", str(spec)])
    assert r.exit_code == EXIT_BAD_INPUT, r.output
    line = next(i for i, t in enumerate(ORDINAL.splitlines(), 1) if "distribution:" in t)
    assert f"{spec}:{line}:" in r.output
    assert "OrderedLogistic has 5 categories (its cutpoints over a dim of 4)" in r.output
    assert "(rating - 1) / 0.5 reaches 8" in r.output and "0..4" in r.output
    assert "cut dim has size 8" in r.output and "Traceback" not in r.output
    # with the cut dim the hint names, the same rows validate
    spec.write_text(spec.read_text().replace("  cut: 4\n", "  cut: 8\n"))
    ok = CliRunner().invoke(main, ["validate", "--read-data", str(spec)])
    assert ok.exit_code == 0, ok.output
