"""A study store written by hand (no fitting), for tests of what reads a store."""

from __future__ import annotations

from pathlib import Path


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
