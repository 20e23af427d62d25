"""What a command is doing, said as it starts each phase, and never more than 5 s of silence.

A fit spends seconds in places that print nothing of their own: importing a PPL, compiling the
model (inside the PPL, before its progress bar moves), evaluating and writing the run.  Each
phase is announced by ``phase``; while ``heartbeat`` runs (the CLI's fit and compare), a
background thread watches stderr and, when nothing was written for ``SILENCE_S``, prints one
line saying which phase is still running and for how long.  Output of the libraries (NumPyro's
bar, a backend's step lines) counts as activity, so a moving bar is never interrupted.

Importing this module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: Longest silence on stderr before the heartbeat says what is still running.
SILENCE_S = 5.0
#: How often the heartbeat thread looks.
_TICK_S = 0.25

#: Off a terminal (a log file, CI), a ``Counter`` prints a line at most this often: often
#: enough that the heartbeat never needs to speak while it moves.
LOG_EVERY_S = 4.0

_current: dict[str, Any] = {"name": None, "since": 0.0}


def phase(say: Callable[[str], None] | None, name: str) -> None:
    """Start phase ``name``: say it (when there is someone to tell) and let the heartbeat
    name it while it lasts.  A Ctrl-C recorded inside ``interrupt.enabled()`` whose exception
    was dropped (in a garbage-collector callback) is raised here, before the phase starts."""
    from specrec import interrupt

    interrupt.check()
    _current["name"], _current["since"] = name, time.monotonic()
    if say is not None:
        say(name)


def reset() -> None:
    """No phase running: a new command starts here, so a Ctrl-C before its first phase is not
    blamed on the last phase of an earlier command in the same process (CliRunner, notebooks)."""
    _current["name"] = None


def current() -> str | None:
    """The phase running now (None before the first)."""
    return _current["name"]


class _Watched:
    """A text stream that remembers when it was last written to and whether the last text
    ended a line; everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.last_write = time.monotonic()
        self.at_line_start = True
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            n = self._stream.write(text)
            if text:
                self.last_write = time.monotonic()
                self.at_line_start = text.endswith("\n")
            return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def heartbeat(enabled: bool = True, silence_s: float = SILENCE_S) -> Iterator[None]:
    """Inside the block, a line on stderr whenever it has been silent for ``silence_s``."""
    if not enabled:
        yield
        return
    watched = _Watched(sys.stderr)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(_TICK_S):
            now = time.monotonic()
            name = _current["name"]
            if name is None or now - watched.last_write < silence_s:
                continue
            with watched.lock:
                lead = "" if watched.at_line_start else "\n"
                elapsed = now - _current["since"]
                watched._stream.write(f"{lead}  ... still {name} ({elapsed:.0f} s)\n")
                watched._stream.flush()
                watched.last_write, watched.at_line_start = now, True

    _current["name"] = None
    sys.stderr = watched  # type: ignore[assignment]
    thread = threading.Thread(target=beat, name="specrec-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sys.stderr = watched._stream  # the last phase stays current: Ctrl-C's message names it


class Counter:
    """One line of progress on stderr, such as ``vi: step 300/2000  loss 1.2e+04``.

    On a terminal it is redrawn in place (``\\r``).  Written to a log file or a CI log, carriage
    returns pile up into one line that holds every state, so there it prints a whole line at
    most every ``LOG_EVERY_S`` seconds, and the last state when it closes.  Every counter of
    the core and the backends (optimiser steps, sweeps) goes through this one class.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        isatty = getattr(sys.stderr, "isatty", None)
        self.terminal = bool(enabled and isatty is not None and isatty())
        self._pending: str | None = None  # off a terminal: the newest state not printed yet
        self._printed_at = -float("inf")
        self._drawn = False

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        if self.terminal:
            print("\r" + text, end="", file=sys.stderr, flush=True)
            self._drawn = True
            return
        now = time.monotonic()
        if now - self._printed_at >= LOG_EVERY_S:
            print(text, file=sys.stderr, flush=True)
            self._printed_at, self._pending = now, None
        else:
            self._pending = text

    def close(self) -> None:
        """End the line (terminal) or print the state not yet printed (elsewhere)."""
        if self._drawn:
            print(file=sys.stderr, flush=True)
        elif self._pending is not None:
            print(self._pending, file=sys.stderr, flush=True)
        self._pending, self._drawn = None, False
