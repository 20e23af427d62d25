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
_state: dict[str, Any] = {"enabled": False, "abandoned": []}


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Inside the block, ``call`` runs its work on a worker thread (the CLI's fit and compare)."""
    before, _state["enabled"] = _state["enabled"], True
    try:
        yield
    finally:
        _state["enabled"] = before


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, interruptible by Ctrl-C at any moment when enabled."""
    if not _state["enabled"] or threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
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
            pass
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
