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
    # raises outside enabled: a Ctrl-C caught inside the block is raised again as it ends
    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        interrupt.call(release.wait, 30)  # a worker that would block for 30 s
    assert time.monotonic() - t0 < 5
    assert interrupt.busy()  # abandoned, still running: leave() would use os._exit
    release.set()
    deadline = time.monotonic() + 5
    while interrupt.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not interrupt.busy()


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler, whatever the test runner installed."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def ctrl_c_in_a_gc_callback():
    """The next collection delivers SIGINT inside a gc callback (as JAX's _xla_gc_callback
    met it): Python raises KeyboardInterrupt in the callback, where it is dropped."""
    import gc
    import signal

    fired: list[str] = []

    def callback(phase: str, info: dict) -> None:
        if not fired:
            fired.append(phase)
            signal.raise_signal(signal.SIGINT)

    gc.callbacks.append(callback)
    yield fired
    gc.callbacks.remove(callback)


def test_a_ctrl_c_dropped_in_a_gc_callback_still_ends_the_block(
    python_sigint_handler, ctrl_c_in_a_gc_callback, capsys
):
    import gc

    went_on = False
    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        gc.collect()
        went_on = True  # the exception itself was dropped: the block carries on to its end
    assert ctrl_c_in_a_gc_callback and went_on
    assert "Exception ignored" not in capsys.readouterr().err
    assert not interrupt.pending()  # raised once; a later block starts afresh
    with interrupt.enabled():
        pass


def test_a_dropped_ctrl_c_stops_the_next_call_and_the_next_phase(
    python_sigint_handler, ctrl_c_in_a_gc_callback
):
    import gc

    from specrec.progress import phase

    ran = []
    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        gc.collect()
        assert interrupt.pending()
        interrupt.call(ran.append, "inference")
    assert ran == []
    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        signal_dropped_again()
        phase(None, "evaluating the fit")
        ran.append("evaluation")
    assert ran == []


def signal_dropped_again() -> None:
    """Deliver SIGINT inside a gc callback once more (the fixture's callback fired already)."""
    import gc
    import signal

    def callback(phase: str, info: dict) -> None:
        gc.callbacks.remove(callback)
        signal.raise_signal(signal.SIGINT)

    gc.callbacks.append(callback)
    gc.collect()


def test_a_run_is_not_moved_into_place_after_a_dropped_ctrl_c(python_sigint_handler, tmp_path):
    from specrec.rundir import write_run

    def write(folder):
        (folder / "metrics.json").write_text("{}")
        signal_dropped_again()

    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        write_run(tmp_path / "runs", "run-1", write)
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_outside_a_commands_handler_is_specrecs_interrupt_not_clicks_abort(monkeypatch):
    """Before a command's own handler runs (click parsing, the group's callback) a Ctrl-C got
    click's "Aborted!" and exit 1."""
    from click.testing import CliRunner

    from specrec.cli import main
    from specrec.errors import EXIT_INTERRUPTED

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    from specrec import progress

    progress.phase(None, "evaluating the fit")  # an earlier command's last phase, same process
    monkeypatch.setattr("warnings.filterwarnings", ctrl_c)  # called by the group's callback
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "interrupted; no unfinished run was written" in result.output
    assert "Aborted" not in result.output


def test_a_ctrl_c_during_an_import_waits_for_the_import_to_finish(
    python_sigint_handler, tmp_path, monkeypatch
):
    """Raised inside an import, KeyboardInterrupt can cross an extension's initialiser (jaxlib's
    MLIR set-up, via nanobind), which aborts the process (rc -6): the import finishes first."""
    import importlib
    import sys

    (tmp_path / "slow_module_for_ctrl_c.py").write_text(
        "import signal\nsignal.raise_signal(signal.SIGINT)\nfinished = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = []
    with pytest.raises(KeyboardInterrupt), interrupt.enabled():
        imported.append(importlib.import_module("slow_module_for_ctrl_c").finished)
    sys.modules.pop("slow_module_for_ctrl_c", None)
    assert imported == [True]  # finished, then raised at the block's end
