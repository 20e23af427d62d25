"""The local pool writes ArviZ's daily stamp before its workers start (they would race on it)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path


def test_local_pool_writes_the_arviz_stamp_before_spawning(tmp_path: Path):
    # a fresh process with an empty cache folder: the state of a new machine, or of a new day
    code = (
        "import sys\n"
        "from specrec.study.executors import LocalExecutor\n"
        "assert 'arviz' not in sys.modules\n"
        "LocalExecutor(1).close()\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    stamp = tmp_path / "arviz" / "daily_warning"
    assert stamp.read_text().strip() == datetime.date.today().isoformat()
