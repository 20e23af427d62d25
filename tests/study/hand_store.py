"""A study store written by hand (no fitting), for tests of what reads a store."""

from __future__ import annotations

from pathlib import Path

#: two seeds of one Pyro map configuration of group_means (``{name}``: the study's name;
#: ``{specs}`` is filled by the ``write_study`` fixture)
TWO_SEED_MAP_STUDY = """\
specrec_study: 1
name: {name}
seeds: [0, 1]
runs:
  - spec: {specs}/group_means.yaml
    backends: [pyro]
    methods: [map]
"""


def map_study(name: str) -> str:
    return TWO_SEED_MAP_STUDY.replace("{name}", name)


def hand_metrics(rmse: float, coverage: float = 0.9) -> dict:
    """The fields of a metrics.json that the study report reads."""
    return {
        "metrics": {"test": {"rmse": rmse, "mae": rmse / 2, "coverage_90": coverage}},
        "diagnostics": {"divergences": None},
        "timing": {"fit_s": 1.0, "compile_s": 0.5, "wall_s": 2.0},
        "split": {"n_train": 24, "n_test": 6, "fingerprint": "f"},
        "backend": {"version": "1.0"},
        "baselines": {"global_mean": {"rmse": 1.5, "mae": 1.2}},
        "versions": {"specrec": "0"},
    }


def planned_store(study_path: Path):
    """The study's cells, their ids and its store with every cell added as pending (fingerprints
    saved), as ``study run`` leaves it before fitting: for tests that write rows by hand."""
    from specrec.study.cells import Fingerprints, fingerprint_all, plan
    from specrec.study.file import load_study
    from specrec.study.runner import _ids, default_store
    from specrec.study.store import Store

    cells = plan(load_study(study_path))
    fps = fingerprint_all(cells)
    ids = [cid for _, cid in _ids(cells, fps)]
    db = Store(default_store(study_path))
    db.save_fingerprints({k: v for k, v in fps.items() if isinstance(v, Fingerprints)})
    db.add({cid: cell.describe() for cell, cid in zip(cells, ids, strict=True)})
    return cells, ids, db
