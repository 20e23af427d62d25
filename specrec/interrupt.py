"""Ctrl-C that answers at once, even while a PPL runs one long compiled loop.

Python runs a signal handler only between bytecodes of the main thread.  NumPyro's NUTS without
its bar (``--quiet``, and whenever ``CI`` or ``PYTEST_XDIST_WORKER`` is set, where NumPyro turns
the bar off) and the core JAX kernels run a whole chain as one XLA call, so a Ctrl-C there waited
for the chain to end: minutes on a real data set.  ``call`` runs the work on a worker thread and
keeps the main thread in short joins, so KeyboardInterrupt reaches the main thread at once.

The worker is a daemon thread that is abandoned, not stopped (nothing can stop an XLA call in
flight).  The inference phase writes nothing, so abandoning it loses nothing; ``leave`` ends the
process with ``os._exit`` when a worker is still running, so interpreter shutdown neither waits
for it nor tears down the runtime under it.

Off outside ``enabled()`` (the CLI's fit and compare are inside): a library caller keeps plain,
single-threaded calls and its own KeyboardInterrupt.

A Ctrl-C is also never lost.  Python raises KeyboardInterrupt wherever the main thread happens
to be, and when that is a garbage-collector or weakref callback (JAX's ``_xla_gc_callback``
runs at every collection once JAX is imported) the exception is printed as "Exception ignored
in ..." and dropped: the fit carried on and exited 0.  Inside ``enabled()`` the SIGINT handler
first records the signal; ``check`` raises KeyboardInterrupt when one is recorded, and it is
called by ``call`` (before, every 0.1 s during, and after the work), by ``progress.phase``
as each phase starts, by ``rundir.write_run`` before a run is moved into place, and when the
``enabled()`` block ends, so a dropped interrupt still stops the command with exit 130 within
a phase.  The dropped KeyboardInterrupt itself is not printed ("Exception ignored ...").
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

_JOIN_S = 0.1
_state: dict[str, Any] = {"enabled": False, "abandoned": [], "pending": False}


def _record(signum: int, frame: Any) -> None:
    """SIGINT inside ``enabled()``: remember it, then raise as Python's own handler does, but
    not while a module is being imported: an extension's initialiser that calls back into
    Python (jaxlib's MLIR set-up, through nanobind) turns the exception into a C++ one and the
    process aborts (rc -6).  There the import finishes and ``check`` raises at the next phase."""
    _state["pending"] = True
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return
        frame = frame.f_back
    raise KeyboardInterrupt


def pending() -> bool:
    """Whether a Ctrl-C arrived inside ``enabled()`` (even one whose exception was dropped)."""
    return bool(_state["pending"])


def check() -> None:
    """Raise KeyboardInterrupt in the main thread if a Ctrl-C was recorded inside ``enabled()``
    (its own exception may have been dropped by a callback); elsewhere, nothing."""
    if _state["pending"] and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Inside the block, ``call`` runs its work on a worker thread (the CLI's fit and compare),
    and a Ctrl-C is recorded so that it stops the block even if its exception is dropped: the
    block raises KeyboardInterrupt at its end when one was recorded, also when code inside
    caught it (a PPL that turns Ctrl-C into an early, partial result)."""
    import signal

    before, _state["enabled"] = _state["enabled"], True
    outermost = not before and threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if outermost else None
    ours = outermost and previous is signal.default_int_handler  # not when ignored or replaced
    if ours:
        _state["pending"] = False
        signal.signal(signal.SIGINT, _record)
        hook, sys.unraisablehook = sys.unraisablehook, _quiet_hook(sys.unraisablehook)
    try:
        yield
        if ours:
            check()
    finally:
        _state["enabled"] = before
        if ours:
            signal.signal(signal.SIGINT, previous)
            sys.unraisablehook = hook
            _state["pending"] = False  # raised by now; nothing outside the block raises it again


def _quiet_hook(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """An unraisable-exception hook that keeps quiet about a recorded Ctrl-C (``check`` raises
    it in ordinary code) and passes anything else on."""

    def hook(args: Any) -> None:
        if isinstance(args.exc_value, KeyboardInterrupt) and _state["pending"]:
            return
        previous(args)

    return hook


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, interruptible by Ctrl-C at any moment when enabled."""
    if not _state["enabled"] or threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    check()
    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: an interrupted join marks a live thread stopped

    def work() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the main thread as it was raised
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="specrec-inference", daemon=True).start()
    try:
        while not done.wait(_JOIN_S):
            check()  # a Ctrl-C whose exception a callback on this thread dropped
        check()
    except KeyboardInterrupt:
        _state["abandoned"].append(done)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def busy() -> bool:
    """Whether an interrupted worker is still computing."""
    return not all(done.is_set() for done in _state["abandoned"])


def leave(code: int) -> NoReturn:
    """Exit with ``code``; at once (``os._exit``) when an abandoned worker still runs."""
    if busy():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@contextlib.contextmanager
def redelivered() -> Iterator[None]:
    """Ctrl-C that lands in a finaliser or weakref callback is raised again in ordinary code.

    Python cannot raise from ``__del__`` or a weakref callback: a KeyboardInterrupt there is
    printed as "Exception ignored in ..." with a traceback, and the interrupt is lost.  A long
    loop that collects garbage (``study run``) met this when the signal came at the wrong
    moment.  Here such an interrupt is not printed; the signal is sent again to the main
    thread from another one a moment later (raised from the hook itself, it would land in the
    hook), and Python's handler raises it in the main thread's ordinary code, where the
    caller's ``except`` sees it; landing in a callback again, it goes round once more.
    """
    import signal

    previous = sys.unraisablehook

    def hook(args: Any) -> None:
        if isinstance(args.exc_value, KeyboardInterrupt):
            main = threading.main_thread().ident
            again = threading.Timer(0.01, signal.pthread_kill, (main, signal.SIGINT))
            again.daemon = True
            again.start()
            return
        previous(args)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
