"""``source: simulate``: rows drawn from the spec's own model, so a spec runs with no download.

The design (which cells are observed) comes first; then the latent values are drawn from the
prior (or held at the spec's ``true`` values) and the response from the likelihood, with the
numpy reference model, so the truth is known and parameter recovery can be tested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specrec.data.dataset import Attribute, Dataset
from specrec.errors import SpecError, UsageError
from specrec.spec.load import LoadedSpec, simulated_rows_problems
from specrec.spec.models import DataDim, SimulateData


def design(
    cfg: SimulateData, columns: dict[str, str], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Codes per data column: distinct cells at ``density``, or ``rows`` balanced over levels."""
    sizes = [cfg.sizes[d] for d in columns]
    if cfg.density is not None:
        total = int(np.prod(sizes, dtype=np.int64))
        n = max(1, round(cfg.density * total))
        if any(cfg.activity.get(d, 0.0) > 0 for d in columns):
            cells = _weighted_cells(cfg, list(columns), sizes, n, rng)
        else:
            cells = np.sort(rng.choice(total, size=n, replace=False))
        codes = np.unravel_index(cells, sizes)
        return {
            col: np.asarray(c, dtype=np.int64)
            for col, c in zip(columns.values(), codes, strict=True)
        }
    assert cfg.rows is not None
    return {
        col: rng.permutation(np.arange(cfg.rows) % size).astype(np.int64)
        for col, size in zip(columns.values(), sizes, strict=True)
    }


def _weighted_cells(
    cfg: SimulateData, dims: list[str], sizes: list[int], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` distinct cells, each drawn with weight prod_d w_d[level] where log w_d ~ N(0, s_d).

    Weighted sampling without replacement by exponential keys (Efraimidis-Spirakis): the ``n``
    smallest ``Exp(1) / weight`` are a draw of ``n`` cells in proportion to their weights.
    """
    log_w = np.zeros(sizes)
    for axis, (d, size) in enumerate(zip(dims, sizes, strict=True)):
        shape = [1] * len(sizes)
        shape[axis] = size
        log_w = log_w + rng.normal(0.0, cfg.activity.get(d, 0.0), size).reshape(shape)
    keys = rng.exponential(size=log_w.size) * np.exp(-(log_w.ravel() - log_w.max()))
    return np.sort(np.argpartition(keys, n - 1)[:n])


#: Rows whose response is drawn at once: bounds the memory of the likelihood's arguments
#: (a 10M-row draw of ``dot(U[user], V[item])`` with 16 factors would need ~4 GB at once).
CHUNK_ROWS = 500_000


@dataclass
class Simulation:
    """A simulated data set whose response is drawn chunk by chunk (``responses``).

    ``codes`` and ``truth`` are complete; iterate ``responses`` once, in order, to get the
    response of rows ``[start, stop)`` for consecutive chunks.
    """

    response: str
    codes: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    responses: Iterator[tuple[int, int, np.ndarray]]
    source: str
    attributes: dict[str, dict[str, Attribute]]

    def __len__(self) -> int:
        return len(next(iter(self.codes.values())))


def _check_sizes(loaded: LoadedSpec, data_dims: dict[str, str]) -> None:
    spec, pos = loaded.spec, loaded.positions
    cfg = spec.data
    assert isinstance(cfg, SimulateData)
    problems = []
    for name in data_dims:
        if name not in cfg.sizes:
            problems.append(
                pos.problem(
                    ("data", "sizes"),
                    f"no size for data dim {name!r}",
                    expected=f"{name}: <levels>",
                )
            )
    for name in cfg.sizes:
        if name not in data_dims:
            problems.append(
                pos.problem(("data", "sizes", name), f"{name!r} is not a data dim", key=True)
            )
    for name in cfg.activity:
        if name not in data_dims:
            problems.append(
                pos.problem(("data", "activity", name), f"{name!r} is not a data dim", key=True)
            )
    if cfg.activity and cfg.density is None:
        problems.append(
            pos.problem(("data", "activity"), "activity needs a density design", key=True)
        )
    for name in cfg.true:
        if name not in spec.params:
            problems.append(
                pos.problem(("data", "true", name), f"{name!r} is not a parameter", key=True)
            )
        elif spec.param(name).noncentered:
            problems.append(
                pos.problem(
                    ("data", "true", name),
                    f"{name!r} is non-centred: it is computed, not drawn",
                    key=True,
                    hint=f"fix {name}_raw instead",
                )
            )
    if problems:
        raise SpecError(problems)


def _true_values(loaded: LoadedSpec, model) -> dict[str, np.ndarray]:
    """``data.true`` as arrays, each checked against its parameter's shape (a scalar fills it)."""
    cfg = loaded.spec.data
    assert isinstance(cfg, SimulateData)
    fixed, problems = {}, []
    for name, value in cfg.true.items():
        rv = model.latent(name)
        arr = np.asarray(value, dtype=float)
        if arr.ndim and arr.shape != rv.shape:
            dims = ", ".join(f"{d}={model.dims[d].size}" for d in rv.dims if d in model.dims)
            problems.append(
                loaded.positions.problem(
                    ("data", "true", name),
                    f"the true value of {name!r} does not fit its shape",
                    expected=f"a number or an array of shape {rv.shape} ({dims})",
                    found=f"an array of shape {arr.shape}",
                )
            )
        fixed[name] = arr
    if problems:
        raise SpecError(problems)
    return fixed


def simulate_chunks(
    loaded: LoadedSpec, rows: int | None = None, chunk_rows: int = CHUNK_ROWS
) -> Simulation:
    """Draw a data set from the spec, the response ``chunk_rows`` rows at a time.

    ``rows`` replaces the spec's ``density``/``rows`` (``specrec data simulate --ratings``).
    The design and the latent values are drawn first, then each chunk's response from the
    likelihood with the numpy reference; with a single chunk the random stream, and so the
    data, is exactly that of drawing all rows at once.
    """
    from specrec.model.lower import lower
    from specrec.model.reference import derived_values, sample_prior

    spec = loaded.spec
    cfg = spec.data
    assert isinstance(cfg, SimulateData)
    data_dims = {name: d.column for name, d in spec.dims.items() if isinstance(d, DataDim)}
    _check_sizes(loaded, data_dims)
    if rows is not None:
        cfg = cfg.model_copy(update={"rows": rows, "density": None})
        drawn = spec.model_copy(update={"data": cfg})
        if problems := simulated_rows_problems(drawn, loaded.positions):
            raise UsageError(f"--ratings {rows}: {problems[0].message}")
    rng = np.random.default_rng(cfg.seed)
    codes = design(cfg, data_dims, rng)
    n = len(next(iter(codes.values())))
    levels = {col: np.arange(cfg.sizes[name]) for name, col in data_dims.items()}
    attributes = _covariates(loaded, data_dims, np.random.default_rng([cfg.seed, 1]))
    shell = Dataset(
        spec.response, np.full(n, np.nan), codes, levels, source="simulated", attributes=attributes
    )
    model = lower(loaded, shell, simulating=True)
    fixed = _true_values(loaded, model)
    step = max(1, chunk_rows)
    first = sample_prior(model, rng, fixed=fixed, rows=model.data.take(slice(0, min(step, n))))
    latents = {rv.name: first[rv.name] for rv in model.latents}

    def responses() -> Iterator[tuple[int, int, np.ndarray]]:
        yield 0, min(step, n), model.to_data_scale(first[spec.response])
        for start in range(step, n, step):
            stop = min(start + step, n)
            part = model.data.take(slice(start, stop))
            draw = sample_prior(model, rng, fixed=latents, rows=part)
            yield start, stop, model.to_data_scale(draw[spec.response])

    truth = latents | derived_values(model, latents)
    source = f"simulated (seed {cfg.seed})"
    return Simulation(spec.response, codes, levels, truth, responses(), source, attributes)


def simulate(loaded: LoadedSpec) -> Dataset:
    """Draw a data set from the spec; the truth is kept in ``Dataset.truth``."""
    sim = simulate_chunks(loaded)
    y = np.empty(len(sim))
    for start, stop, part in sim.responses:
        y[start:stop] = part
    return Dataset(
        sim.response,
        y,
        sim.codes,
        sim.levels,
        source=sim.source,
        truth=sim.truth,
        attributes=sim.attributes,
    )


def truth_path(path: Path) -> Path:
    """Where ``write_parquet`` keeps the true parameter values: ``big.parquet`` ->
    ``big.truth.npz``."""
    return path.with_name(path.stem + ".truth.npz")


def write_parquet(
    loaded: LoadedSpec, out: str | Path, rows: int | None = None, chunk_rows: int = CHUNK_ROWS
) -> Simulation:
    """Simulate from the spec straight into a Parquet file, one chunk of rows at a time.

    Columns: each data dim's id column (int32 ids ``0..size-1``) and the response (float64).
    The true values go beside it (``truth_path``) so a fit can be scored against them; the
    spec name, seed and row count are in the file's ``specrec`` metadata.  Both files are
    written to temporary names and renamed into place.
    """
    from specrec.data.parquet import write_chunks

    out = Path(out)
    sim = simulate_chunks(loaded, rows, chunk_rows)

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for start, stop, y in sim.responses:
            part = {c: v[start:stop].astype(np.int32) for c, v in sim.codes.items()}
            yield part | {sim.response: y}

    cfg = loaded.spec.data
    meta = {"spec": loaded.spec.name, "source": sim.source, "rows": len(sim)}
    meta |= {"sizes": dict(cfg.sizes)} if isinstance(cfg, SimulateData) else {}
    write_chunks(out, chunks(), meta)
    target = truth_path(out)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **sim.truth)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return sim


def _covariates(
    loaded: LoadedSpec, data_dims: dict[str, str], rng: np.random.Generator
) -> dict[str, dict[str, Attribute]]:
    """Declared covariates drawn per level: Normal(0, 1) numbers, or 0/1 flags (p = 0.3) over
    a fixed dim.  Ill-declared ones are skipped here and reported by the lowering."""
    spec = loaded.spec
    cfg = spec.data
    assert isinstance(cfg, SimulateData)
    out: dict[str, dict[str, Attribute]] = {}
    for name, cov in cfg.covariates.items():
        if cov.of not in data_dims or cov.of not in cfg.sizes:
            continue
        size = cfg.sizes[cov.of]
        over = spec.dims.get(cov.over) if cov.over else None
        if cov.over is None:
            attr = Attribute(rng.normal(0.0, 1.0, size))
        elif isinstance(over, int):
            flags = (rng.random((size, over)) < 0.3).astype(float)
            attr = Attribute(flags, tuple(str(i) for i in range(over)))
        else:
            continue
        out.setdefault(data_dims[cov.of], {})[name] = attr
    return out
