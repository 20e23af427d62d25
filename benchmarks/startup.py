"""Start-up time of the CLI: whole processes, as a user waits for them (median of 5).

    python benchmarks/startup.py [--runs 5] [--no-fits] [--note TEXT]
        [--out benchmarks/results/startup.json]

Targets: ``specrec backends`` <= 2 s, ``specrec validate`` <= 1.5 s, and the quickstart's
``fit --method map`` <= 10 s on a cold compilation cache and <= 5 s on a warm one
(specrec_jax.cache), and the demo (``make demo``: the quickstart's own NUTS, 2 chains)
<= 30 s, timed on a cold cache (a first run) and a warm one.  A cold run gets a new empty
cache folder (``SPECREC_JAX_CACHE``); a warm run reuses the folder one untimed fit filled; ``off`` is the fit with no persistent cache.
Each fit row also gives the median of the compile seconds the fit reports (metrics.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import describe, publish

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "specrec backends": (["backends"], 2.0),
    "specrec validate specs/quickstart.yaml": (["validate", "specs/quickstart.yaml"], 1.5),
}


FIT = ["fit", "specs/quickstart.yaml", "--json"]
MAP = ["--method", "map"]
#: (row name, cache state, target s, arguments after FIT)
FITS = (
    ("specrec fit specs/quickstart.yaml --method map, cold cache", "cold", 10.0, MAP),
    ("specrec fit specs/quickstart.yaml --method map, warm cache", "warm", 5.0, MAP),
    ("specrec fit specs/quickstart.yaml --method map, no cache (off)", "off", None, MAP),
    ("specrec fit specs/quickstart.yaml (the demo: NUTS), cold cache", "cold", 30.0, []),
    ("specrec fit specs/quickstart.yaml (the demo: NUTS), warm cache", "warm", 30.0, []),
)


def seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "specrec.cli", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - t


def timed_fit(cache: str, out: Path, extra: list[str]) -> tuple[float, float]:
    """(wall s of the whole process, compile s the fit reports) with ``SPECREC_JAX_CACHE``."""
    env = {**os.environ, "SPECREC_JAX_CACHE": cache}
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "specrec.cli", *FIT, *extra, "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t
    return wall, json.loads(done.stdout)["timing"]["compile_s"]


def fit_rows(runs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warm = root / "warm-cache"
        for extra in (MAP, []):  # fill the warm cache (and the file cache) for both methods
            timed_fit(str(warm), root / "runs", extra)
        for command, state, target, extra in FITS:
            walls, compiles = [], []
            for i in range(runs):
                cache = {"warm": str(warm), "off": "off"}.get(state, str(root / f"cold-{i}"))
                wall, compile_s = timed_fit(cache, root / "runs", extra)
                walls.append(wall)
                compiles.append(compile_s)
            rows.append(_row(command, walls, target) | {"compile_s": compiles})
    return rows


def _row(command: str, times: list[float], target: float | None) -> dict:
    return {
        "command": command,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "target_s": target,
        "times_s": times,
    }


def markdown(result: dict) -> str:
    lines = [
        "# CLI start-up time",
        "",
        f"Whole processes, median of {result['runs']} (after one warm-up run).",
        "",
        "| command | median s | min s | max s | compile s (median) | target s | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        target = r["target_s"]
        ok = "-" if target is None else "yes" if r["median_s"] <= target else "no"
        comp = f"{statistics.median(r['compile_s']):.2f}" if "compile_s" in r else "-"
        lines.append(
            f"| `{r['command']}` | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} "
            f"| {comp} | {target if target is not None else '-'} | {ok} |"
        )
    lines += ["", describe(result), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-fits", action="store_true", help="Only backends and validate.")
    ap.add_argument("--note", default="", help="Free text for the results (e.g. the load).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    a = ap.parse_args()
    rows = []
    for command, (args, target) in COMMANDS.items():
        seconds(args)  # warm the file cache
        rows.append(_row(command, [seconds(args) for _ in range(a.runs)], target))
    if not a.no_fits:
        rows += fit_rows(a.runs)
    publish(a.out, "startup", rows, markdown, runs=a.runs, note=a.note)


if __name__ == "__main__":
    main()
