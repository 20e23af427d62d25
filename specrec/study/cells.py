"""A study's cells: each one an ordinary resolved spec plus a backend, and its content hash.

Splits, grid values, methods and seeds are all applied as ``--set`` overrides, so a cell is a
spec any user could fit by hand with ``specrec fit SPEC --set ...``.  Its identity is a sha256
of what decides its result: the resolved spec, the data and split fingerprints, the backend,
method, seed and library versions.  Anything else (paths, the study's layout) may change without
refitting.  Fingerprints need the data loaded, so they are computed once per (data, split) and
remembered in the store; ``status`` and ``report`` read them from there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from specrec.errors import SpecError
from specrec.spec.load import LoadedSpec, load_spec
from specrec.study.file import SPEC_OWN_SPLIT, LoadedStudy, SplitChoice, expand_split, override

# Python, platform details and this file's paths do not change a fit's numbers; libraries do.
VERSION_KEYS_IGNORED = ("platform",)


@dataclass(frozen=True)
class Fingerprints:
    data: str
    split: str


@dataclass(frozen=True)
class Cell:
    """One fit of a study: what to run, how the report names it, and how to recognise it."""

    run: int  # index of the study's ``runs`` entry it came from
    label: str
    spec_file: str
    spec_name: str
    backend: str
    method: str
    seed: int
    split: SplitChoice
    grid: tuple[tuple[str, Any], ...]
    overrides: tuple[str, ...]
    resolved: dict = field(repr=False, compare=False, hash=False)
    data_path: str | None = None

    @property
    def data_key(self) -> str:
        """Names the (data, split) pair whose fingerprints this cell needs."""
        r = self.resolved
        if r["data"]["source"] == "simulate":  # simulated rows depend on the model too
            basis = {k: v for k, v in r.items() if k not in ("inference", "evaluate", "backend")}
        else:
            basis = {"data": r["data"]}
        # Not the data path: ``status`` without ``--data`` must find what ``run --data`` saw.
        # ``run`` always fingerprints afresh, so a changed file still changes the cell ids.
        return _sha(basis)

    def cell_id(self, fp: Fingerprints, versions: dict[str, str]) -> str:
        return _sha(
            {
                "spec": self.resolved,
                "data": fp.data,
                "split": fp.split,
                "backend": self.backend,
                "method": self.method,
                "seed": self.seed,
                "versions": {k: v for k, v in versions.items() if k not in VERSION_KEYS_IGNORED},
            }
        )

    def describe(self) -> dict:
        """The columns the store and the report show for this cell."""
        dims = self.resolved.get("dims", {})
        return {
            "label": self.label,
            "spec": self.spec_name,
            "spec_file": self.spec_file,
            "backend": self.backend,
            "method": self.method,
            "seed": self.seed,
            "split": self.split.family,
            "fold": self.split.fold,
            "split_label": self.split.label,
            "grid": dict(self.grid),
            "fixed_dims": {k: v for k, v in dims.items() if isinstance(v, int)},
            "overrides": list(self.overrides),
        }

    @property
    def title(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.grid)
        return (
            f"{self.label} {self.method} on {self.backend}, {self.split.label}, "
            f"seed {self.seed}{extra}"
        )


def _sha(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _resolve(path: str, overrides: list[str], study: LoadedStudy, where: tuple) -> LoadedSpec:
    """Load one spec with a cell's overrides; a problem names the study entry it came from."""
    from specrec.model.lower import check

    try:
        loaded = load_spec(path, overrides)
        check(loaded)
    except SpecError as exc:
        head = study.positions.problem(
            where, "this run's spec does not validate with the study's overrides"
        )
        raise SpecError([head, *exc.problems]) from None
    return loaded


def plan(study: LoadedStudy, data: str | None = None) -> list[Cell]:
    """Every cell of the study, in the file's order; ``data`` overrides the study's ``data``."""
    s = study.study
    data_path = data or (str(study.path(s.data)) if s.data else None)
    splits = {name: expand_split(name, cfg) for name, cfg in s.splits.items()}
    cells: list[Cell] = []
    for i, run in enumerate(s.runs):
        spec_file = str(study.path(run.spec))
        chosen = run.splits if run.splits is not None else list(splits)
        choices = [c for name in chosen for c in splits[name]] or [SPEC_OWN_SPLIT]
        keys = list(run.grid)
        combos = list(itertools.product(*(run.grid[k] for k in keys)))
        for combo in combos:
            grid = tuple(zip(keys, combo, strict=True))
            base = [override(k, v) for k, v in {**s.set, **run.set}.items()]
            base += [override(k, v) for k, v in grid]
            for choice in choices:
                sets = [*base, *choice.overrides]
                loaded = _resolve(spec_file, sets, study, ("runs", i))
                methods = run.methods or [loaded.spec.inference.method]
                seeds = run.seeds or s.seeds or [loaded.spec.inference.seed]
                for backend, method, seed in itertools.product(run.backends, methods, seeds):
                    full = [*sets, f"inference.method={method}", f"inference.seed={seed}"]
                    resolved = load_spec(spec_file, full).spec
                    cells.append(
                        Cell(
                            run=i,
                            label=run.label or resolved.name,
                            spec_file=spec_file,
                            spec_name=resolved.name,
                            backend=backend,
                            method=method,
                            seed=seed,
                            split=choice,
                            grid=grid,
                            overrides=tuple(full),
                            resolved=resolved.model_dump(mode="json"),
                            data_path=data_path,
                        )
                    )
    return cells


def compute_fingerprints(cell: Cell) -> Fingerprints:
    """Load (or simulate) the cell's data and split it: the one expensive step of planning."""
    from specrec.data.source import load_data

    ds, split = load_data(load_spec(cell.spec_file, list(cell.overrides)), cell.data_path)
    return Fingerprints(ds.fingerprint(), split.fingerprint)


def fingerprint_all(
    cells: list[Cell],
    known: Callable[[str], Fingerprints | None] | None = None,
) -> dict[str, Fingerprints | Exception]:
    """Fingerprints per ``data_key``, computed once per key (``known``: a cache to ask first).

    A (data, split) that cannot be loaded maps to its exception: its cells fail with that
    error instead of stopping the study.
    """
    out: dict[str, Fingerprints | Exception] = {}
    for cell in cells:
        key = cell.data_key
        if key in out:
            continue
        cached = known(key) if known else None
        if cached is not None:
            out[key] = cached
            continue
        try:
            out[key] = compute_fingerprints(cell)
        except Exception as exc:  # a missing data file is that cell's failure, reported per cell
            out[key] = exc
    return out


def study_versions(backend: str) -> dict[str, str]:
    from specrec.fitting import versions
    from specrec.registry import backend_versions

    return versions() | backend_versions(backend)
