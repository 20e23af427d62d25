"""The Pyro backend's NUTS chains: one at a time in this process, or in parallel processes.

Chain ``c`` is always the same computation, ``run_chain`` seeded with ``seed + c`` on
``threads`` torch threads, wherever it runs; so the draws are the same bit for bit whether the
chains ran in turn or side by side (``tests/backends/test_parallel_chains_pyro.py``).

Pyro's own ``MCMC(num_chains=n)`` is not used (pyro-ppl 1.9.2, ``pyro/infer/mcmc/api.py``):
it runs chains in parallel only when ``n <= cpu_count() - 1``, so never two chains on two
cores; its parallel workers seed from ``torch.initial_seed() + chain`` while its sequential
runner does not reseed between chains, so the draws depend on which runner ran; each draw is
a round trip to the main process, which the worker waits for; and the kernel stays in the
worker, so the per-draw statistics ``RecordingNUTS`` keeps would be lost.

The processes are new interpreters (``BOOT``), not forks: forking a process whose torch (or
JAX) thread pools have started can deadlock.  They start with SIGINT blocked, so a Ctrl-C at
the terminal (sent to the whole process group) reaches only the main process, which ends
them: through ``terminate`` when the fit is interrupted where it runs, and through the kernel's
parent-death signal (``specrec.lifetime.die_with_parent``) when ``specrec.interrupt``
abandons the fit and ends the process with ``os._exit``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS
from pyro.infer.autoguide import init_to_value
from tqdm.auto import tqdm

from specrec.errors import EXIT_FAILED
from specrec.model.ir import Model
from specrec.spec.models import Inference
from specrec_pyro.translate import model_fn

#: Least time between two progress messages of a worker: a bar that moves, without a message
#: per NUTS iteration.
REPORT_S = 0.2

#: (diverging, lp, step size, leapfrog steps, mean accept probability, energy) of one draw.
Record = tuple[bool, float, float, int, float, float]


def quiet_jit_warnings() -> None:
    """torch 2.x deprecates ``torch.jit.trace``; say nothing a user cannot act on."""
    warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated", DeprecationWarning)


class RecordingNUTS(NUTS):
    """Pyro's NUTS, keeping the per-iteration statistics it computes but does not expose.

    Pyro reports only a list of divergent draw indices and a mean acceptance rate per chain;
    ArviZ wants per-draw ``diverging``, ``acceptance_rate``, ``n_steps``, ``step_size`` and
    ``lp``.  Each leapfrog step is one ``_build_basetree`` call (Pyro's own accept
    probability is the mean over those calls), so counting them here reproduces its numbers;
    a draw is divergent when any of its base trees is (the test Pyro itself uses), and ``lp``
    is minus the potential energy Pyro caches for the returned point.

    ``energy`` is the Hamiltonian (potential plus kinetic energy) of the returned point with
    the momentum it was reached with, what Stan and NumPyro report and ``az.bfmi`` reads; Pyro
    computes it for every leapfrog step but keeps none.  Each base tree is one new point, so
    its energy is recorded by the identity of the point's dict, which Pyro passes up the tree
    unchanged as the proposal (``_build_tree``) and caches when it accepts it; a draw that
    accepts no proposal stays at its start, with the energy the iteration began with (the
    momentum drawn by ``_sample_r``).  An id is reused only after its dict is freed, and the
    proposal is alive, so its entry is its own.  These are private hooks of pyro-ppl 1.9
    (``_build_basetree``, ``_sample_r``, ``_potential_energy_last``, ``_z_last``): the tests
    check them against the reference, so an upgrade that moves them fails loudly.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.records: list[Record] = []
        self._n_steps = 0
        self._accept_sum = 0.0
        self._diverged = False
        self._energies: dict[int, float] = {}  # id(point dict) -> its Hamiltonian
        self._start: tuple[Any, float] | None = None  # (start point dict, its Hamiltonian)

    def _sample_r(self, name: str) -> Any:
        r, r_unscaled = super()._sample_r(name)
        # called once per iteration, after the start's potential energy is cached
        kinetic = float(self._kinetic_energy(r_unscaled))
        self._start = (self._z_last, float(self._potential_energy_last) + kinetic)
        return r, r_unscaled

    def _build_basetree(self, *args: Any, **kwargs: Any) -> Any:
        tree = super()._build_basetree(*args, **kwargs)
        self._n_steps += 1
        self._accept_sum += float(tree.sum_accept_probs)
        self._diverged = self._diverged or bool(tree.diverging)
        kinetic = float(self._kinetic_energy(tree.r_right_unscaled))  # the one new point's
        self._energies[id(tree.z_proposal)] = float(tree.z_proposal_pe) + kinetic
        return tree

    def sample(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._n_steps, self._accept_sum, self._diverged = 0, 0.0, False
        self._energies, self._start = {}, None
        step_size = float(self.step_size)  # the size this iteration used (adapted after it)
        z = super().sample(params)
        pe = self._potential_energy_last  # the cache holds the returned point's energy
        if pe is None:
            with torch.no_grad():
                pe = self.potential_fn(z)
        energy = float("nan")  # a model without sample sites draws no momentum
        if self._start is not None:
            start, energy = self._start
            if self._z_last is not start:
                energy = self._energies[id(self._z_last)]
        self._energies, self._start = {}, None  # no point dict is kept past its iteration
        self.records.append(
            (
                self._diverged,
                -float(pe),
                step_size,
                self._n_steps,
                self._accept_sum / max(self._n_steps, 1),
                energy,
            )
        )
        return z


@dataclass
class Chain:
    """One chain's draws (draw, *shape), its per-draw records, and the process that ran it."""

    samples: dict[str, np.ndarray]
    records: list[Record]
    pid: int


def init_tensors(init: dict[str, np.ndarray], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The core's start as tensors of the fit dtype (the same conversion in every process)."""
    return {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in init.items()}


def run_chain(
    fn: Any,
    settings: Inference,
    init: dict[str, torch.Tensor],
    chain: int,
    jit: bool,
    bar: bool,
    hook: Any = None,
) -> Chain:
    """Chain ``chain`` of a NUTS fit, in this process, seeded with ``settings.seed + chain``
    (chain 0 of several is a 1-chain fit with the same seed).  ``bar``: Pyro's own bar."""
    pyro.set_rng_seed(settings.seed + chain)
    kernel = RecordingNUTS(
        fn,
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_tree_depth,
        init_strategy=init_to_value(values=init),
        jit_compile=jit,
        ignore_jit_warnings=True,
        max_plate_nesting=1,
    )
    mcmc = MCMC(
        kernel,
        num_samples=settings.draws,
        warmup_steps=settings.warmup,
        num_chains=1,
        disable_progbar=not bar,
        hook_fn=hook,
    )
    mcmc.run()
    samples = {k: v.detach().numpy() for k, v in mcmc.get_samples().items()}
    return Chain(samples, kernel.records[settings.warmup :], os.getpid())


def processes_for(chains: int, threads: int) -> int:
    """Processes to run ``chains`` in: one per chain, up to the cores this process may use
    (``specrec.evaluate.threads.threads``: its affinity, or a study worker's
    ``OMP_NUM_THREADS``) divided by the torch threads of each; 1 where a child process is not
    allowed (a daemonic process, such as a Dask worker's)."""
    from specrec.evaluate.threads import threads as cores

    if multiprocessing.current_process().daemon:
        return 1
    return max(1, min(chains, cores() // max(1, threads)))


@dataclass(frozen=True)
class Task:
    """What every chain of a NUTS fit needs, in this process or pickled to a worker: the
    model, the settings and start (numpy), the fit dtype, whether to trace, torch threads."""

    model: Model
    settings: Inference
    init: dict[str, np.ndarray]
    dtype: torch.dtype
    jit: bool
    threads: int


def run_chains(task: Task, progress: bool) -> tuple[list[Chain], int]:
    """All chains of a NUTS fit, in order, and the number of processes they ran in (1: in
    this process, one after another)."""
    settings = task.settings
    n = processes_for(settings.chains, task.threads)
    if n == 1:
        fn = model_fn(task.model, task.dtype)
        start = init_tensors(task.init, task.dtype)
        chains = range(settings.chains)
        return [run_chain(fn, settings, start, c, task.jit, progress) for c in chains], 1
    return _in_processes(task, progress, n)


#: A worker's first lines: the parent's pid and import path come in its arguments, then
#: ``_worker`` reads its task from stdin.  A new interpreter started with ``-c``, not
#: ``multiprocessing``'s spawn, which imports the caller's ``__main__`` again in every child:
#: a script without a ``__main__`` guard would run once more in each worker, up to its fit.
BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from specrec_pyro.chains import _worker; _worker(int(sys.argv[1]))"
)


def _in_processes(task: Task, progress: bool, n: int) -> tuple[list[Chain], int]:
    """Chain ``c`` in process ``c % n``; per-chain bars here, from the workers' messages.

    A thread per worker hands it its task on stdin and passes its messages (pickles on its
    stdout) to this thread, which alone draws the bars and gathers the chains.
    """
    settings = task.settings
    bars: dict[int, Any] = {}
    if progress:
        print(f"nuts: {settings.chains} chains in {n} processes", file=sys.stderr, flush=True)
        total = settings.warmup + settings.draws
        for c in range(settings.chains):
            bars[c] = tqdm(total=total, desc=f"Warmup [{c + 1}]", position=c, file=sys.stderr)
    inbox: queue.Queue[tuple] = queue.Queue()
    procs: list[subprocess.Popen] = []
    results: dict[int, Chain] = {}
    try:
        # SIGINT blocked in the children from their first instruction (the mask survives
        # fork and exec); here it is back as soon as they are started
        before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(n):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", BOOT, str(os.getpid()), json.dumps(sys.path)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                    )
                )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
        for k, proc in enumerate(procs):
            mine = (task, list(range(k, settings.chains, n)), progress)
            threading.Thread(target=_talk, args=(proc, mine, inbox), daemon=True).start()
        running = n
        while running:
            msg = inbox.get()
            if msg[0] == "eof":
                running -= 1
                continue
            _receive(msg, settings, bars, results)
        missing = [c for c in range(settings.chains) if c not in results]
        if missing:
            codes = [p.wait() for p in procs]
            raise RuntimeError(
                f"Pyro NUTS worker processes ended without chains {missing} (exit codes {codes})"
            )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for bar in bars.values():
            bar.close()
    return [results[c] for c in range(settings.chains)], len({r.pid for r in results.values()})


def _talk(proc: subprocess.Popen, task: tuple, inbox: queue.Queue) -> None:
    """Send a worker its task, then put each message it sends into ``inbox``, then "eof"."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        pickle.dump(task, proc.stdin)
        proc.stdin.close()
        while True:
            inbox.put(pickle.load(proc.stdout))
    except (EOFError, OSError, pickle.UnpicklingError):  # the worker has gone
        pass
    finally:
        inbox.put(("eof",))


def _receive(
    msg: tuple, settings: Inference, bars: dict[int, Any], results: dict[int, Chain]
) -> None:
    """Handle one worker message: progress, a finished chain, or the error a chain raised."""
    kind, chain = msg[0], msg[1]
    if kind == "step" and chain in bars:
        done, diag = msg[2], msg[3]
        bar = bars[chain]
        if done > settings.warmup and bar.n <= settings.warmup:
            bar.set_description(f"Sample [{chain + 1}]", refresh=False)
        bar.set_postfix(diag, refresh=False)
        bar.update(done - bar.n)
    elif kind == "chain":
        results[chain] = msg[2]
    elif kind == "error":
        exc, text = msg[2], msg[3]
        exc.add_note(f"(raised by chain {chain + 1}'s worker process:)\n{text}")
        raise exc


class _Report:
    """``MCMC``'s ``hook_fn`` in a worker: the chain's progress, at most every ``REPORT_S``
    and at the end of warm-up and of sampling."""

    def __init__(self, send: Callable[[tuple], None], chain: int, settings: Inference):
        self.send, self.chain = send, chain
        self.warmup, self.draws = settings.warmup, settings.draws
        self.last = 0.0

    def __call__(self, kernel: Any, params: Any, stage: str, i: int) -> None:
        sampling = stage.startswith("Sample")
        now = time.monotonic()
        if now - self.last < REPORT_S and i + 1 != (self.draws if sampling else self.warmup):
            return
        self.last = now
        done = i + 1 + (self.warmup if sampling else 0)
        self.send(("step", self.chain, done, dict(kernel.logging())))


def _worker(parent: int) -> None:
    """A worker process (after ``BOOT``): reads its task from stdin, runs its chains in turn
    and sends each back when done; an error is sent back with its traceback, never printed.

    Messages are pickles on the stdout this process started with; whatever a library prints
    goes to stderr instead, so it cannot corrupt them.  Once the parent has gone (a Ctrl-C
    while this one started) it ends without a word: no one is left to read it.
    """
    from specrec.lifetime import die_with_parent

    die_with_parent(parent)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)

    def send(msg: tuple) -> None:
        pickle.dump(msg, out)
        out.flush()

    try:
        task, chains, progress = pickle.load(sys.stdin.buffer)
        settings, chain = task.settings, chains[0]
        try:
            quiet_jit_warnings()
            torch.set_num_threads(task.threads)
            fn = model_fn(task.model, task.dtype)
            start = init_tensors(task.init, task.dtype)
            for chain in chains:
                hook = _Report(send, chain, settings) if progress else None
                run = run_chain(fn, settings, start, chain, task.jit, False, hook)
                send(("chain", chain, run))
        except (EOFError, BrokenPipeError):
            raise
        except Exception as exc:
            try:
                send(("error", chain, exc, traceback.format_exc()))
            except (pickle.PicklingError, TypeError, AttributeError):  # not picklable: its text
                send(("error", chain, RuntimeError(repr(exc)), traceback.format_exc()))
    except (EOFError, BrokenPipeError):  # the parent has gone
        os._exit(EXIT_FAILED)
    out.close()
