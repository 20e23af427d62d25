"""Start-up time of the CLI: whole processes, as a user waits for them (median of 5).

    python benchmarks/startup.py [--runs 5] [--out benchmarks/results/startup.json]

Targets: ``specrec backends`` <= 2 s, ``specrec validate`` <= 1.5 s.  Fits are not timed here:
their start-up is dominated by the PPL's compilation.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "specrec backends": (["backends"], 2.0),
    "specrec validate specs/quickstart.yaml": (["validate", "specs/quickstart.yaml"], 1.5),
}


def seconds(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "specrec.cli", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def markdown(result: dict) -> str:
    lines = [
        "# CLI start-up time",
        "",
        f"Whole processes, median of {result['runs']} (after one warm-up run).",
        "",
        "| command | median s | min s | max s | target s | ok |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ok = "yes" if r["median_s"] <= r["target_s"] else "no"
        lines.append(
            f"| `{r['command']}` | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} "
            f"| {r['target_s']} | {ok} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    a = ap.parse_args()
    rows = []
    for command, (args, target) in COMMANDS.items():
        seconds(args)  # warm the file cache
        times = [seconds(args) for _ in range(a.runs)]
        rows.append(
            {
                "command": command,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "target_s": target,
                "times_s": times,
            }
        )
    publish(a.out, "startup", rows, markdown, runs=a.runs)


if __name__ == "__main__":
    main()
