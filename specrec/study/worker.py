"""What runs in a worker process: one cell, ``specrec.fitting.fit`` exactly as ``specrec fit``.

Kept free of heavy imports at module level: the thread limits must be in the environment before
NumPy, JAX or torch start their thread pools, which happens when ``fit`` imports a backend.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from specrec.lifetime import die_with_parent

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def limit_threads(threads: int) -> None:
    """Cap BLAS, OpenMP (torch) and XLA (JAX) threads so workers x threads <= cores.

    Effective only before those libraries are imported in this process: the local pool calls it
    as the worker initializer; on a Dask cluster start the workers with these variables set.
    """
    n = str(max(1, int(threads)))
    for var in THREAD_VARS:
        os.environ[var] = n
    os.environ["XLA_FLAGS"] = with_thread_flags(os.environ.get("XLA_FLAGS", ""), n)


def with_thread_flags(flags: str, n: str) -> str:
    """``flags`` (the user's ``XLA_FLAGS``, kept as written) with the thread flags appended,
    each only if no token of that name is there yet: the user's choice, or an earlier call's.

    The tokens are the common recipe, ``--xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=N``.  The first keeps XLA:CPU's Eigen calls on one thread.
    The second has no dashes on purpose: XLA has no flag of that name and reads only ``--``
    tokens, so it passes over it, while ``--intra_op_parallelism_threads=N`` would abort the
    process at JAX's start ("Unknown flag in XLA_FLAGS", jaxlib 0.10.2).
    """
    have = {_flag_name(token) for token in flags.split()}
    ours = ("--xla_cpu_multi_thread_eigen=false", f"intra_op_parallelism_threads={n}")
    extra = [token for token in ours if _flag_name(token) not in have]
    return " ".join([flags.strip(), *extra]).strip() if extra else flags


def _flag_name(token: str) -> str:
    return token.lstrip("-").split("=", 1)[0]


def start_local_worker(threads: int, parent: int) -> None:
    """The local pool's initializer: thread limits, and death with the runner."""
    limit_threads(threads)
    die_with_parent(parent)


def stamp_on_worker(threads: int) -> None:
    """ArviZ's daily stamp from a Dask worker (``executors.stamp_before_cells``), the thread
    limits first, as a cell sets them: importing ArviZ loads SciPy, whose BLAS reads them."""
    from specrec.study.executors import stamp_arviz_day

    limit_threads(threads)
    stamp_arviz_day()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_cell(task: dict) -> dict:
    """Fit one cell and return what the store records; never raises for a failed fit.

    ``task``: ``spec`` (path), ``overrides``, ``backend``, ``data`` (path or None), ``out`` (the
    cell's folder of run directories), ``threads``.  The metrics travel back as the text of the
    run's metrics.json, so a remote worker's result reaches the store even without a shared disk.
    """
    import warnings

    limit_threads(task.get("threads", 1))
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="numpyro")
    try:
        from specrec.fitting import fit
        from specrec.study.lease import holding

        with holding(task["out"], worker_name()):  # a rerun does not start this cell meanwhile
            run = fit(
                task["spec"],
                backend=task["backend"],
                data=task["data"],
                overrides=list(task["overrides"]),
                out=task["out"],
                progress=False,
            )
        assert run.path is not None
        metrics = (Path(run.path) / "metrics.json").read_text()
        return {"ok": True, "run_dir": str(run.path), "metrics": metrics, "worker": worker_name()}
    except Exception as exc:  # a failed cell is a result; the study goes on
        return {"ok": False, "error": error_text(exc), "worker": worker_name()}


def error_text(exc: BaseException) -> str:
    from specrec.errors import SpecrecError

    return str(exc) if isinstance(exc, SpecrecError) else f"{type(exc).__name__}: {exc}"
