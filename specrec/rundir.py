"""Run directories: written atomically (temp dir + rename), read back without refitting.

A killed fit leaves only a ``.tmp-*`` folder that the next run ignores, never a half-written run.
``FORMAT`` is bumped whenever the layout changes; a reader refuses a format it does not know.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

FORMAT = 1
FILES = {
    "spec": "spec.yaml",  # the spec exactly as given
    "resolved": "resolved.json",  # every setting after overrides and defaults
    "posterior": "posterior.nc",  # InferenceData (NetCDF)
    "predictions": "predictions.csv",  # test pairs by raw id: observed, mean, interval
    "metrics": "metrics.json",
    "curves": "curves.json",  # loss per step, Frobenius norms per draw, running RMSE per draw
}


def new_run_id(method: str, backend: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{backend}-{method}-{os.urandom(3).hex()}"


def write_run(out_root: Path, run_id: str, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` then move the finished folder to ``out_root/run_id`` in one rename."""
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run_id}-", dir=out_root))
    try:
        write(tmp)
        final = out_root / run_id
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x: object) -> object:
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
