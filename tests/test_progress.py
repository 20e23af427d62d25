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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_counter_redraws_in_place_on_a_terminal(monkeypatch) -> None:
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    line = progress.Counter()
    for i in range(3):
        line.show(f"step {i}")
    line.close()
    assert err.getvalue() == "\rstep 0\rstep 1\rstep 2\n"


def test_off_a_terminal_a_counter_prints_whole_lines_now_and_then_and_its_last_state(
    monkeypatch,
) -> None:
    """A CI log or a file gets readable lines: the first state, at most one line per
    ``LOG_EVERY_S``, and the last state at the end; never a carriage return."""
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.2)
    line = progress.Counter()
    for i in range(5):
        line.show(f"step {i}")
    time.sleep(0.3)
    line.show("step 5")
    line.show("step 6")
    line.close()
    assert err.getvalue() == "step 0\nstep 5\nstep 6\n"


def test_a_disabled_counter_prints_nothing(monkeypatch) -> None:
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    line = progress.Counter(enabled=False)
    line.show("step 1")
    line.close()
    assert err.getvalue() == ""
