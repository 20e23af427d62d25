"""A run directory finished before a crash but never recorded is recorded, not fitted again."""

from __future__ import annotations

import json

from hand_store import map_study

from specrec.study.cells import fingerprint_all, plan
from specrec.study.file import load_study
from specrec.study.runner import _ids, run_study
from specrec.study.store import Store

STUDY = map_study("adopt")


def test_a_finished_but_unrecorded_run_is_adopted(write_study, tmp_path):
    path = write_study(STUDY, name="adopt")
    cells = plan(load_study(path))
    ids = [cid for _, cid in _ids(cells, fingerprint_all(cells))]
    # what a worker leaves when the study is killed between its rename and the parent's commit
    for cid in ids:
        run = tmp_path / "adopt-runs" / cid[:16] / "group_means" / "20260101-000000-pyro-map-abc"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"adopted": cid}))
    # and a half-written one, which must be ignored
    (tmp_path / "adopt-runs" / ids[0][:16] / "group_means" / ".tmp-x").mkdir()
    events = []
    result = run_study(path, on_event=lambda kind, cell, info: events.append((kind, info)))
    assert result.counts() == {"done": 2, "running": 0, "failed": 0, "pending": 0}
    assert [e for e in events if e[0] == "started"] == []  # nothing was fitted
    rows = Store(tmp_path / "adopt.study.sqlite").rows()
    for cid in ids:
        assert rows[cid]["metrics"] == {"adopted": cid}
        assert rows[cid]["run_dir"].endswith("20260101-000000-pyro-map-abc")
        assert rows[cid]["worker"] == "adopted" and rows[cid]["attempts"] == 0
