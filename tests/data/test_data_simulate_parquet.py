"""``specrec data simulate``: chunked simulation into Parquet, truth beside it, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from specrec.cli import main
from specrec.data.loaders import load_ratings
from specrec.data.parquet import read_columns, read_metadata
from specrec.data.simulate import simulate, simulate_chunks, truth_path, write_parquet
from specrec.errors import DataError
from specrec.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
SMALL = ["data.sizes.user=30", "data.sizes.item=20"]


def test_chunks_keep_the_one_shot_stream():
    """With one chunk the data are exactly those of drawing every row at once; more chunks
    change only the noise of later rows, never the design or the truth."""
    loaded = load_spec(SPECS / "scale.yaml", [*SMALL, "data.rows=900"])
    whole = simulate(loaded)
    one = simulate_chunks(loaded, chunk_rows=900)
    y_one = np.concatenate([y for _, _, y in one.responses])
    np.testing.assert_array_equal(y_one, whole.y)
    many = simulate_chunks(loaded, chunk_rows=100)
    parts = list(many.responses)
    assert [(a, b) for a, b, _ in parts] == [(s, s + 100) for s in range(0, 900, 100)]
    np.testing.assert_array_equal(parts[0][2], whole.y[:100])
    for k in whole.truth:
        np.testing.assert_array_equal(many.truth[k], whole.truth[k])
    for k in whole.codes:
        np.testing.assert_array_equal(many.codes[k], whole.codes[k])


@pytest.mark.filterwarnings("ignore::specrec.data.loaders.DuplicateRowsWarning")
def test_cli_writes_parquet_and_truth(tmp_path: Path):
    out = tmp_path / "big.parquet"
    args = ["data", "simulate", str(SPECS / "scale.yaml"), "--ratings", "2500", "--out", str(out)]
    args += [f"--set={s}" for s in SMALL] + ["--chunk-rows", "700"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "2,500 rows" in r.stdout
    frame = read_columns(out)
    assert list(frame.columns) == ["user_id", "item_id", "rating"] and len(frame) == 2500
    assert frame["user_id"].max() < 30 and frame["item_id"].max() < 20
    truth = np.load(truth_path(out))
    assert truth["U"].shape == (30, 16) and float(truth["sigma"]) == 0.8
    meta = read_metadata(out)
    assert meta["rows"] == 2500 and meta["sizes"] == {"user": 30, "item": 20}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.parquet", "big.truth.npz"]
    # the file is an ordinary rating file: the loader codes it with no Python loop over rows
    ds = load_ratings(out, categorical=["user_id", "item_id"])
    assert len(ds) == 2500 and ds.n_levels("user_id") <= 30
    np.testing.assert_array_equal(ds.levels["user_id"][ds.codes["user_id"]], frame["user_id"])


def test_writer_matches_in_memory_simulation(tmp_path: Path):
    loaded = load_spec(SPECS / "scale.yaml", [*SMALL, "data.rows=1000"])
    write_parquet(loaded, tmp_path / "d.parquet", chunk_rows=5000)
    np.testing.assert_array_equal(
        read_columns(tmp_path / "d.parquet")["rating"], simulate(loaded).y
    )


def test_cli_refuses_a_spec_with_file_data(tmp_path: Path):
    spec = tmp_path / "s.yaml"
    text = (SPECS / "movielens" / "pmf.yaml").read_text()
    spec.write_text(text)
    r = CliRunner().invoke(main, ["data", "simulate", str(spec), "--out", str(tmp_path / "x.pq")])
    assert r.exit_code == 2, r.output
    assert "data.source" in r.stderr and "simulate" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "x.pq").exists()


def test_read_columns_reads_only_what_is_asked(tmp_path: Path):
    loaded = load_spec(SPECS / "scale.yaml", [*SMALL, "data.rows=300"])
    path = tmp_path / "d.parquet"
    write_parquet(loaded, path)
    assert list(read_columns(path, ["rating", "user_id"], batch_rows=64).columns) == [
        "rating",
        "user_id",
    ]
    # a missing column reads them all, so the loader's error can list the file's columns
    with pytest.raises(DataError, match="the file has columns: user_id, item_id, rating"):
        load_ratings(path, categorical=["user_id", "movie_id"])


def test_a_true_value_of_the_wrong_shape_is_a_positioned_error():
    """Three true weights for two types: an error at data.true.w in the file, not a numpy
    broadcasting message from inside the simulation."""
    from specrec.errors import SpecError

    loaded = load_spec(SPECS / "netflix_mixture.yaml", ["dims.type=2"])
    with pytest.raises(SpecError) as info:
        simulate(loaded)
    text = "\n".join(p.format() for p in info.value.problems)
    lines = (SPECS / "netflix_mixture.yaml").read_text().splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if ln.lstrip().startswith("true:"))
    assert f"netflix_mixture.yaml:{line}:" in text and "data.true.w:" in text
    assert "shape (2,) (type=2)" in text and "found:    an array of shape (3,)" in text


def test_cli_refuses_more_ratings_than_memory_holds(tmp_path: Path):
    """``--ratings 10**12`` ended in a MemoryError (exit 1) when the design was drawn."""
    out = tmp_path / "x.pq"
    args = ["data", "simulate", str(SPECS / "quickstart.yaml"), "--ratings", str(10**12)]
    r = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: --ratings 1000000000000: simulating 1,000,000,000,000 rows")
    assert not out.exists()
