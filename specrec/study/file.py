"""Study YAML -> validated ``Study``, or a ``SpecError`` with every problem's file:line:col.

The file is read with the spec loader's own YAML reader and pydantic error mapping
(``specrec.spec.load``), so a study error reads exactly like a spec error.  Checks that pydantic
cannot make (a spec path that does not exist, an unknown backend, a split name nobody defined)
are reported through the same position table.

    specrec_study: 1
    name: ml100k
    data: ../../data/ml-100k          # optional: local data for every cell (as ``--data``)
    seeds: [0, 1]                     # default: each spec's own inference.seed
    splits:                           # named splits; each is a spec ``data.split``
      random: {kind: random, test_fraction: 0.1, seed: 42}
      u: {kind: files, train: "u{fold}.base", test: "u{fold}.test", folds: [1, 2, 3, 4, 5]}
      cv: {kind: kfold, k: 5, seed: 42}        # no ``fold``: one cell per fold
    set: {inference.steps: 2000}      # overrides for every cell (``--set`` paths)
    runs:
      - spec: ../movielens/pmf.yaml   # relative to the study file
        backends: [numpyro, pymc]
        methods: [map]
        grid: {dims.factor: [5, 10, 20]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from specrec.errors import Problem, SpecError
from specrec.spec import models
from specrec.spec.load import backend_problem, parse_mapping, pydantic_problems, read_text
from specrec.spec.positions import PositionMap

Scalar = str | int | float | bool | None
OverrideValue = Scalar | list | dict


class FilesFolds(models.FilesSplit):
    """Given train/test files; with ``folds``, ``{fold}`` in the names is each fold in turn."""

    folds: list[models.Count | str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _placeholder(self) -> FilesFolds:
        if self.folds is not None and "{fold}" not in self.train + self.test:
            raise ValueError("folds needs '{fold}' in the train and test file names")
        return self


class KFoldFolds(models.KFoldSplit):
    """A seeded k-fold partition; without ``fold``, every fold (or those in ``folds``) is a cell."""

    fold: models.Count | None = Field(None, ge=0)  # type: ignore[assignment]
    folds: list[Annotated[models.Count, Field(ge=0)]] | None = Field(None, min_length=1)

    @field_validator("fold")
    @classmethod
    def _fold_in_range(cls, v: int | None, info) -> int | None:  # replaces the spec's check
        k = info.data.get("k")
        if v is not None and k is not None and v >= k:
            raise ValueError(f"fold must be in 0..{k - 1}, found {v}")
        return v

    @field_validator("folds")
    @classmethod
    def _folds_in_range(cls, v: list[int] | None, info) -> list[int] | None:
        k = info.data.get("k")
        if v is not None and k is not None and any(f >= k for f in v):
            raise ValueError(f"folds must be in 0..{k - 1}, found {v}")
        return v


StudySplit = Annotated[
    models.RandomSplit | FilesFolds | models.LeaveKOutSplit | models.TimeSplit | KFoldFolds,
    Field(discriminator="kind"),
]


class StudyRun(models.Strict):
    """One block of the grid: a spec crossed with backends, methods, splits, seeds and a grid."""

    spec: str = Field(description="path of a spec file, relative to the study file")
    label: str | None = Field(None, description="name in the report (default: the spec's name)")
    backends: list[str] = Field(default_factory=lambda: ["numpyro"], min_length=1)
    methods: list[models.MethodName] | None = Field(
        None, min_length=1, description="default: the spec's inference.method"
    )
    splits: list[str] | None = Field(
        None, description="names from the study's splits (default: all)"
    )
    seeds: list[models.Seed] | None = Field(
        None, min_length=1, description="default: the study's seeds"
    )
    set: dict[str, OverrideValue] = Field(default_factory=dict, description="spec path -> value")
    grid: dict[str, Annotated[list[OverrideValue], Field(min_length=1)]] = Field(
        default_factory=dict, description="spec path -> values; every combination is a cell"
    )


class Study(models.Strict):
    """A study file, version 1."""

    specrec_study: Literal[1] = Field(description="study file version")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    data: str | None = Field(None, description="local data for every cell, as `--data`")
    seeds: list[models.Seed] | None = Field(None, min_length=1)
    splits: dict[str, StudySplit] = Field(
        default_factory=dict, description="name -> a spec data.split (with optional folds)"
    )
    set: dict[str, OverrideValue] = Field(default_factory=dict)
    runs: list[StudyRun] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedStudy:
    """A validated study with its file, folder and positions (for later positioned errors)."""

    study: Study
    raw: dict
    positions: PositionMap
    file: str

    @property
    def folder(self) -> FsPath:
        return FsPath(self.file).resolve().parent

    def path(self, name: str) -> FsPath:
        """A path written in the study, relative to the study file."""
        p = FsPath(name).expanduser()
        return p if p.is_absolute() else self.folder / p


def load_study(path: str | FsPath) -> LoadedStudy:
    """Read and validate a study file; raise ``SpecError`` listing every problem."""
    file = str(path)
    raw, positions = parse_mapping(read_text(path), file, what="a study")
    try:
        study = Study.model_validate(raw)
    except ValidationError as err:
        raise SpecError(pydantic_problems(err, raw, positions, Study)) from None
    loaded = LoadedStudy(study, raw, positions, file)
    problems = _reference_problems(loaded)
    if problems:
        raise SpecError(problems)
    return loaded


def _reference_problems(loaded: LoadedStudy) -> list[Problem]:
    """Names a study refers to that do not exist: spec files, backends, split names."""
    s, pos = loaded.study, loaded.positions
    problems = []
    for i, run in enumerate(s.runs):
        if not loaded.path(run.spec).is_file():
            problems.append(
                pos.problem(
                    ("runs", i, "spec"),
                    "no such spec file",
                    found=str(loaded.path(run.spec).resolve()),
                    hint="spec paths are relative to the study file",
                )
            )
        for j, b in enumerate(run.backends):
            if problem := backend_problem(pos, ("runs", i, "backends", j), b):
                problems.append(problem)
        for j, name in enumerate(run.splits or []):
            if name not in s.splits:
                problems.append(
                    pos.problem(
                        ("runs", i, "splits", j),
                        "no split of this name in the study's splits",
                        expected=", ".join(s.splits) or "a `splits:` section naming it",
                        found=repr(name),
                    )
                )
    return problems


@dataclass(frozen=True)
class SplitChoice:
    """One concrete split of a study: its family name, fold (if any) and spec overrides."""

    family: str
    fold: str | None
    overrides: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.family if self.fold is None else f"{self.family}{self.fold}"


SPEC_OWN_SPLIT = SplitChoice("spec", None, ())


def expand_split(name: str, split: models.BaseModel) -> list[SplitChoice]:
    """A named study split -> one ``SplitChoice`` per fold, each a ``data.split=...`` override."""
    cfg = split.model_dump(mode="json", exclude={"folds"})
    if isinstance(split, KFoldFolds) and split.fold is None:
        folds: list[Any] = split.folds if split.folds is not None else list(range(split.k))
        return [_choice(name, f, {**cfg, "fold": f}) for f in folds]
    if isinstance(split, FilesFolds) and split.folds is not None:
        return [
            _choice(
                name,
                f,
                {
                    **cfg,
                    "train": split.train.replace("{fold}", str(f)),
                    "test": split.test.replace("{fold}", str(f)),
                },
            )
            for f in split.folds
        ]
    return [SplitChoice(name, None, (override("data.split", cfg),))]


def _choice(name: str, fold: Any, cfg: dict) -> SplitChoice:
    return SplitChoice(name, str(fold), (override("data.split", cfg),))


def override(key: str, value: Any) -> str:
    """A ``--set`` item; JSON is valid YAML, so the spec loader reads the value back unchanged."""
    return f"{key}={json.dumps(value)}"
