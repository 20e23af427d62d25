"""Ctrl-C during a fit: a message naming the phase, exit 130, no traceback or crash, and no
run directory (finished or half-written) left behind.  Real processes and a real SIGINT, while
the model compiles and while NUTS samples."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from specrec.errors import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "quickstart.yaml"


class _Fit:
    """``specrec fit`` in a child process whose stderr is collected as it comes."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        env = {**os.environ, "SPECREC_JAX_CACHE": "off"}  # a compile long enough to hit
        env["CI"] = "1"  # NumPyro's bar off however the suite is run: one XLA call per chain
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "backends")])
        self.out = tmp_path / "runs"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "specrec.cli", "fit", str(SPEC), *args, "--out", str(self.out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.text = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while needle not in self.text:
            assert self.proc.poll() is None, f"ended before {needle!r}:\n{self.text}"
            assert time.monotonic() < end, f"no {needle!r} after {timeout} s:\n{self.text}"
            time.sleep(0.05)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=120)
        self._reader.join(timeout=10)
        return rc


def _nothing_written(fit: _Fit) -> None:
    folder = fit.out / "quickstart"
    assert not folder.exists() or list(folder.iterdir()) == []  # no run, no .tmp-* folder
    assert "Traceback" not in fit.text


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_ctrl_c_while_compiling(tmp_path: Path) -> None:
    fit = _Fit(tmp_path, "--method", "map")
    fit.wait_for("compiling the model")
    time.sleep(0.5)
    assert fit.interrupt() == EXIT_INTERRUPTED, fit.text
    assert "interrupted while compiling the model, then running map" in fit.text
    assert "no unfinished run was written" in fit.text
    _nothing_written(fit)


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_ctrl_c_while_sampling(tmp_path: Path) -> None:
    fit = _Fit(tmp_path, "--set", "inference.warmup=40000", "--set", "inference.draws=40000")
    fit.wait_for("compiling the model")
    # With NumPyro's bar off (CI set above) the sign that sampling has started is specrec's
    # watcher: the quickstart compiles in ~6 s without the cache, and
    # 80,000 iterations take minutes, so at 20 s the chain is running.
    # the heartbeat's seconds drift (16 s, 21 s...): wait for any count of 20 s or more
    end = time.monotonic() + 300
    while not re.search(r"then running nuts \((?:[2-9]\d|\d{3,}) s\)", fit.text):
        assert fit.proc.poll() is None and time.monotonic() < end, fit.text
        time.sleep(0.1)
    assert fit.interrupt() == EXIT_INTERRUPTED, fit.text
    assert "interrupted while compiling the model, then running nuts" in fit.text
    _nothing_written(fit)


@pytest.mark.backend("pyro")
@pytest.mark.slow
def test_ctrl_c_while_pyro_chains_sample_in_processes(tmp_path: Path) -> None:
    """The SIGINT reaches the main process only; its chain processes go with it, silently."""
    import psutil

    fit = _Fit(
        tmp_path, "-b", "pyro", "--set", "inference.warmup=40000", "--set", "inference.draws=10"
    )
    fit.wait_for("nuts: 2 chains in 2 processes")
    deadline = time.monotonic() + 30  # the line is said as the workers start, not after

    def chain_workers() -> list:
        return [
            p
            for p in psutil.Process(fit.proc.pid).children()
            if "specrec_pyro" in " ".join(p.cmdline())
        ]

    workers = chain_workers()
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = chain_workers()
    assert len(workers) == 2
    fit.wait_for("Warmup [2]")
    end = time.monotonic() + 120
    while not re.search(r"[1-9][0-9]*/40010 ", fit.text):  # a bar has moved: a chain samples
        assert time.monotonic() < end and fit.proc.poll() is None, fit.text
        time.sleep(0.1)
    assert fit.interrupt() == EXIT_INTERRUPTED, fit.text
    assert "interrupted while" in fit.text
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []
    _nothing_written(fit)


@pytest.mark.backend("numpyro")
@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_a_map_fit_stops_it(tmp_path: Path) -> None:
    """SIGINT 1-6 s in: while specrec and JAX load and compile.  A Ctrl-C that landed in JAX's
    garbage-collector callback was printed as "Exception ignored in _xla_gc_callback" and lost:
    the fit went on and exited 0.  Every delay must end the fit with exit 130."""
    # many optimiser steps: the load and compile phases are as ever, and on an idle machine
    # the fit (5 s with the default 4000 steps) is still running at 6 s
    steps = ("--set", "inference.steps=400000")
    for delay in (1.0, 2.0, 3.0, 3.4, 4.0, 5.0, 6.0):
        fit = _Fit(tmp_path / f"after-{delay}", "--method", "map", *steps)
        time.sleep(delay)
        assert fit.proc.poll() is None, f"ended before {delay} s:\n{fit.text}"
        rc = fit.interrupt()
        assert rc == EXIT_INTERRUPTED, f"SIGINT after {delay} s: rc {rc}\n{fit.text}"
        assert re.search(r"interrupted( while [^;]+)?; no unfinished run was written", fit.text)
        assert "Exception ignored" not in fit.text, fit.text
        _nothing_written(fit)
