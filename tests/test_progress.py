"""specrec.progress: each phase said as it starts, and a line naming the running phase after a
silence on stderr, never in the middle of output that keeps coming (no PPL needed)."""

from __future__ import annotations

import io
import re
import sys
import time

from specrec import progress


def _run(monkeypatch, body) -> str:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.heartbeat(silence_s=0.3):
        body()
    assert sys.stderr is err  # put back
    return err.getvalue()


def test_a_silent_phase_is_named_after_the_silence(monkeypatch) -> None:
    said: list[str] = []

    def body() -> None:
        progress.phase(said.append, "compiling the model")
        time.sleep(0.8)

    text = _run(monkeypatch, body)
    assert said == ["compiling the model"]
    assert re.fullmatch(r"(  \.\.\. still compiling the model \([01] s\)\n)+", text), text
    assert progress.current() == "compiling the model"  # what Ctrl-C's message names


def test_output_that_keeps_coming_is_not_interrupted(monkeypatch) -> None:
    def body() -> None:
        progress.phase(None, "sampling")
        for i in range(8):
            sys.stderr.write(f"\rstep {i}")
            time.sleep(0.1)

    assert "still" not in _run(monkeypatch, body)


def test_a_beat_after_a_bar_starts_its_own_line(monkeypatch) -> None:
    def body() -> None:
        progress.phase(None, "sampling")
        sys.stderr.write("\rwarmup 0 %")
        time.sleep(0.8)

    text = _run(monkeypatch, body)
    assert text.startswith("\rwarmup 0 %\n  ... still sampling (")


def test_off_writes_nothing(monkeypatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.heartbeat(enabled=False, silence_s=0.1):
        progress.phase(None, "evaluating")
        time.sleep(0.4)
    assert err.getvalue() == ""
