"""``study run`` and ``study status``: plan the cells, skip finished ones, run the rest.

A rerun never refits a finished cell: cells are looked up by content hash, and a ``done`` row is
final.  Between the worker finishing and the parent recording, a crash can leave a complete run
directory with no ``done`` row; its cell folder is checked before fitting, and such a run is
recorded as it is instead of being fitted a second time.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from specrec.study import lease
from specrec.study.cells import Cell, Fingerprints, fingerprint_all, plan, study_versions
from specrec.study.executors import Executor, make_executor
from specrec.study.file import LoadedStudy, load_study
from specrec.study.store import RunLock, Store
from specrec.study.worker import error_text

UNAVAILABLE = Fingerprints("unavailable", "unavailable")
Event = Callable[[str, Cell, dict], None]


def default_store(study_file: str | Path) -> Path:
    p = Path(study_file).resolve()
    return p.with_name(f"{p.stem}.study.sqlite")


def default_runs(study_file: str | Path) -> Path:
    p = Path(study_file).resolve()
    return p.with_name(f"{p.stem}-runs")


@dataclass
class PlannedCell:
    """A cell of the current plan with its id and what the store says about it."""

    cell: Cell
    cell_id: str | None  # None: its data was never fingerprinted, so it never ran
    status: str
    row: dict | None = None
    note: str = ""


@dataclass
class Plan:
    study: LoadedStudy
    cells: list[PlannedCell] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "running": 0, "failed": 0, "pending": 0}
        for c in self.cells:
            out[c.status] += 1
        return out


def _ids(
    cells: list[Cell], fps: dict[str, Fingerprints | Exception | None]
) -> list[tuple[Cell, str | None]]:
    versions: dict[str, dict] = {}
    out = []
    for cell in cells:
        fp = fps.get(cell.data_key)
        if fp is None:
            out.append((cell, None))
            continue
        if cell.backend not in versions:
            versions[cell.backend] = study_versions(cell.backend)
        fp = fp if isinstance(fp, Fingerprints) else UNAVAILABLE
        out.append((cell, cell.cell_id(fp, versions[cell.backend])))
    return out


def study_status(
    path: str | Path, *, data: str | None = None, store: str | Path | None = None
) -> Plan:
    """Each planned cell's state, from the store alone (no data is loaded, nothing is written).

    ``running`` rows left by a run that died (no live ``study run`` holds the lock) are pending.
    """
    loaded = load_study(path)
    cells = plan(loaded, data)
    store_path = Path(store) if store else default_store(path)
    result = Plan(loaded)
    if not store_path.exists():
        result.cells = [PlannedCell(c, None, "pending") for c in cells]
        return result
    live = RunLock(store_path).held_elsewhere()
    db = Store(store_path)
    try:
        fps = {c.data_key: db.fingerprints(c.data_key) for c in cells}
        ids = _ids(cells, fps)  # type: ignore[arg-type]
        rows = db.rows([i for _, i in ids if i])
    finally:
        db.close()
    for cell, cid in ids:
        row = rows.get(cid) if cid else None
        status, note = (row["status"], "") if row else ("pending", "")
        if status == "running" and not live:
            status, note = "pending", "interrupted"
        result.cells.append(PlannedCell(cell, cid, status, row, note))
    return result


def _finished_run(folder: Path) -> Path | None:
    """A complete run directory already in a cell's folder (written atomically, so whole)."""
    if not folder.is_dir():
        return None
    found = sorted(
        p.parent for p in folder.glob("*/*/metrics.json") if not p.parent.name.startswith(".tmp-")
    )
    return found[-1] if found else None


def _readable_metrics(run: Path) -> str | None:
    """A run's metrics.json text if it is a JSON object; a damaged one is not adopted (the
    cell is fitted again, into a new run directory beside it)."""
    try:
        text = (run / "metrics.json").read_text(encoding="utf-8")
        return text if isinstance(json.loads(text), dict) else None
    except (OSError, ValueError):
        return None


def run_study(
    path: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    data: str | None = None,
    store: str | Path | None = None,
    out: str | Path | None = None,
    on_event: Event | None = None,
) -> Plan:
    """Run every cell that is not done yet; return the final state of the plan."""
    loaded = load_study(path)
    cells = plan(loaded, data)
    store_path = Path(store) if store else default_store(path)
    runs_root = Path(out) if out else default_runs(path)
    event = on_event or (lambda kind, cell, info: None)
    lock = RunLock(store_path)
    lock.acquire()
    db = Store(store_path)
    ex = make_executor(executor, workers, scheduler)  # a bad address fails before any work
    try:
        fps = fingerprint_all(cells)  # fresh: a changed data file must change the cell ids
        db.save_fingerprints({k: v for k, v in fps.items() if isinstance(v, Fingerprints)})
        ids = _ids(cells, fps)  # type: ignore[arg-type]
        unique: dict[str, Cell] = {}
        for cell, cid in ids:
            assert cid is not None
            unique.setdefault(cid, cell)
        db.add({cid: cell.describe() for cid, cell in unique.items()})
        rows = db.rows(list(unique))
        todo: deque[tuple[str, Cell]] = deque()
        held: dict[str, Cell] = {}
        for cid, cell in unique.items():
            if rows[cid]["status"] == "done":
                event("skipped", cell, rows[cid])
                continue
            fp = fps[cell.data_key]
            if isinstance(fp, Exception):
                db.mark_failed(cid, f"cannot load the data: {error_text(fp)}")
                event("failed", cell, {"error": error_text(fp)})
                continue
            worker = lease.holder(runs_root / cid[:16])
            if worker is not None:  # a worker of a runner that died is still fitting it
                held[cid] = cell
                event("held", cell, {"worker": worker})
                continue
            if not _adopt(db, cid, cell, runs_root, event):
                todo.append((cid, cell))
        event("planned", cells[0], {"todo": len(todo), "held": len(held), "total": len(unique)})
        if todo or held:
            _execute(todo, held, db, runs_root, ex, event)
    finally:
        ex.close()
        db.close()
        lock.release()
    return study_status(path, data=data, store=store_path)


def _adopt(db: Store, cid: str, cell: Cell, runs_root: Path, event: Event) -> bool:
    """Record a complete run found in the cell's folder (fitted, never recorded) as done."""
    found = _finished_run(runs_root / cid[:16])
    metrics = _readable_metrics(found) if found is not None else None
    if metrics is None:
        return False
    db.mark_done(cid, str(found), metrics, "adopted")
    event("done", cell, {"run_dir": str(found), "adopted": True})
    return True


#: seconds between looks at the leases of cells a live worker of a dead runner holds
POLL_S = 5.0


def _execute(
    todo: deque[tuple[str, Cell]],
    held: dict[str, Cell],
    db: Store,
    runs_root: Path,
    ex: Executor,
    event: Event,
) -> None:
    """Run ``todo``; a ``held`` cell is adopted when its worker finishes, or run when its lease
    dies without a finished run."""
    event("executor", (todo[0][1] if todo else next(iter(held.values()))), {"where": ex.where})
    inflight: dict = {}
    while todo or inflight or held:
        for cid in [c for c in held if lease.holder(runs_root / c[:16]) is None]:
            cell = held.pop(cid)
            if not _adopt(db, cid, cell, runs_root, event):
                todo.append((cid, cell))
        while todo and len(inflight) < ex.slots:
            cid, cell = todo.popleft()
            db.mark_running(cid, ex.where)
            task = {
                "spec": cell.spec_file,
                "overrides": list(cell.overrides),
                "backend": cell.backend,
                "data": cell.data_path,
                "out": str(runs_root / cid[:16]),
            }
            inflight[ex.submit(task)] = (cid, cell)
            event("started", cell, {})
        if not inflight:
            if held and not todo:
                time.sleep(POLL_S)
            continue
        broken = False
        for fut in ex.wait(list(inflight), timeout=POLL_S if held else None):
            cid, cell = inflight.pop(fut)
            try:
                res = fut.result()
            except BrokenProcessPool as exc:
                broken = True
                res = {"ok": False, "error": f"the worker process died: {exc}"}
            except Exception as exc:  # a lost Dask worker, a task that could not run
                res = {"ok": False, "error": error_text(exc)}
            if res["ok"]:
                db.mark_done(cid, res["run_dir"], res["metrics"], res["worker"])
                event("done", cell, res)
            else:
                db.mark_failed(cid, res["error"], res.get("worker"))
                event("failed", cell, res)
        if broken:
            ex.recover()
