"""specrec.interrupt: the inference on a worker thread so that Ctrl-C is answered at once."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from specrec import interrupt


def test_off_outside_enabled_runs_in_the_calling_thread():
    assert interrupt.call(threading.current_thread) is threading.main_thread()


def test_enabled_runs_on_a_worker_and_hands_back_value_and_errors():
    with interrupt.enabled():
        assert interrupt.call(threading.current_thread) is not threading.main_thread()
        assert interrupt.call(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(ZeroDivisionError):
            interrupt.call(lambda: 1 / 0)
    assert interrupt.call(threading.current_thread) is threading.main_thread()


def test_ctrl_c_reaches_the_main_thread_while_the_worker_is_busy():
    release = threading.Event()
    threading.Timer(0.3, _thread.interrupt_main).start()
    t0 = time.monotonic()
    with interrupt.enabled(), pytest.raises(KeyboardInterrupt):
        interrupt.call(release.wait, 30)  # a worker that would block for 30 s
    assert time.monotonic() - t0 < 5
    assert interrupt.busy()  # abandoned, still running: leave() would use os._exit
    release.set()
    deadline = time.monotonic() + 5
    while interrupt.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not interrupt.busy()
