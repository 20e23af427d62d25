"""What every benchmark records with its figures, and how it writes them.

A figure is only comparable with the machine, the load and the library versions it was measured
with, so every results file carries the same ``machine`` and ``versions`` blocks; and a results
file is written whole or not at all (a benchmark killed half-way leaves the previous one intact).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: the libraries a figure depends on, by distribution name
LIBRARIES = ("numpyro", "jax", "pymc", "pytensor", "pyro-ppl", "torch")


def now() -> str:
    """The UTC time a benchmark ran, as its results file states it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def commit() -> str | None:
    """The commit the figures were measured at, ``+dirty`` when the tree had uncommitted
    changes (a figure from a dirty tree measures code no commit holds); None outside git."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine(note: str = "") -> dict:
    """CPU, cores, memory and the load average when the benchmark started (a busy machine
    slows every timing; the load says how busy), plus a free-text note from the command line."""
    info: dict = {"platform": platform.platform(), "python": platform.python_version()}
    info["cpus"] = os.cpu_count()
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory_gb"] = round(int(mem) / 1024**2, 1)
        cpu = [
            ln
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ]
        info["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else None
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if note:
        info["note"] = note
    return info


def library_versions(*dists: str) -> dict[str, str | None]:
    """specrec's own versions block plus the named PPL libraries (all of ``LIBRARIES`` when
    none are named)."""
    from specrec.fitting import versions

    return versions() | {d: versions(d).get(d) for d in dists or LIBRARIES}


def cell(value: object, fmt: str = ".4f") -> str:
    """A table cell: ``value`` formatted, or "-" where a run has no such figure."""
    return "-" if value is None else format(value, fmt)


def describe(result: dict) -> str:
    """One line for a results page: the command, the machine and the versions."""
    m = result["machine"]
    where = f"{m.get('cpu') or m.get('platform')} ({m.get('cpus')} cores"
    if m.get("load_average_at_start"):
        where += f", load {m['load_average_at_start'][0]:.1f} at start"
    where += ")"
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v and k != "platform")
    at = f" at {result['commit'][:12]}" if result.get("commit") else ""
    line = f"`{result['command']}`{at} on {where}; versions: {versions}"
    return line + (f". Note: {m['note']}" if m.get("note") else "")


def write(out: Path, result: dict, markdown: str) -> None:
    """``out`` (JSON) and its ``.md`` page, each replaced atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (out, json.dumps(result, indent=2, default=str) + "\n"),
        (out.with_suffix(".md"), markdown),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def publish(
    out: str | Path,
    benchmark: str,
    rows: list,
    markdown: Callable[[dict], str],
    *,
    note: str = "",
    versions: dict | None = None,
    **fields: object,
) -> dict:
    """Write a benchmark's rows with the date, command, machine and versions, as ``out`` (JSON)
    and its ``.md`` page, print the page, and return the result."""
    result = {
        "benchmark": benchmark,
        "date": now(),
        "command": shlex.join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "commit": commit(),
        "machine": machine(note),
        "versions": versions or library_versions(),
        **fields,
        "rows": rows,
    }
    text = markdown(result)
    write(Path(out), result, text)
    print(text)
    return result


def sampler_figures(run, wall_s: float) -> dict:  # type: ignore[no-untyped-def]
    """The figures every sampler benchmark reports of one fit: accuracy, time, and R-hat and
    ESS on the predictions (rotation and label invariant), with ESS per second of fit."""
    m, d = run.metrics, run.metrics["diagnostics"]
    out = {
        "test_rmse": m["metrics"]["test"]["rmse"],
        "fit_s": m["timing"]["fit_s"],
        "compile_s": m["timing"]["compile_s"],
        "wall_s": wall_s,
        "pred_rhat_max": d.get("pred_rhat_max"),
        "pred_ess_bulk_min": d.get("pred_ess_bulk_min"),
    }
    if out["pred_ess_bulk_min"] and out["fit_s"]:
        out["pred_ess_per_s"] = out["pred_ess_bulk_min"] / out["fit_s"]
    return out
