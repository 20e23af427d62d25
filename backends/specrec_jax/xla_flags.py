"""XLA's CPU flags, which JAX reads once, when its first computation starts its backend.

Both JAX-using backends (NumPyro, and PyMC through pytensor's JAX linker) and the study
workers set flags here, before anything has run, and never override a flag the user set in
``XLA_FLAGS``.  Importing this module imports no JAX.
"""

from __future__ import annotations

import os
import sys

#: jaxlib 0.10's CPU compiler hands fusions of small batched ops to YNNPACK by default.  On the
#: Gibbs sweep of BPMF (ML-100k, D = 10: batched D x D factorisations and solves for every
#: user and item row) that made 200 sweeps take 45.8 s against 5.9 s without it, measured in
#: one run on the 2-core machine; map, vi and NUTS fits of the quickstart were no slower
#: without it.  An empty list of fusion types switches the YNNPACK fusions off.
NO_YNN_FUSIONS = "--xla_cpu_experimental_ynn_fusion_type="


def add_flag(flag: str, name: str | None = None) -> bool:
    """Append ``flag`` to ``XLA_FLAGS`` unless a flag called ``name`` (default: the flag's own
    name) is already there.  Returns whether it was added.

    Too late once JAX has started a backend in this process (the flags were read then); the
    function then leaves the environment alone and returns False.
    """
    name = name or flag.split("=", 1)[0]
    flags = os.environ.get("XLA_FLAGS", "")
    if name in flags or _jax_started():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
    return True


def prefer_fast_cpu_fusions() -> None:
    """Switch jaxlib's YNNPACK fusions off (see ``NO_YNN_FUSIONS``) unless the user chose."""
    add_flag(NO_YNN_FUSIONS)


def _jax_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without this private helper: assume not
        return False


#: JAX's CPU platform is one device unless this flag asks for more; the NumPyro backend runs
#: one NUTS chain per device at a time (``specrec_numpyro.backend._on_devices``).
HOST_DEVICES = "--xla_force_host_platform_device_count"


def cores() -> int:
    """The cores this process may run on: its affinity mask where the OS has one, else
    ``os.cpu_count()``; fewer when ``XLA_FLAGS`` caps XLA's threads (as the study worker does,
    ``intra_op_parallelism_threads=N``), so that devices x workers stay within the cores."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    for token in os.environ.get("XLA_FLAGS", "").split():
        name, _, value = token.lstrip("-").partition("=")
        if name == "intra_op_parallelism_threads" and value.isdigit() and int(value) > 0:
            n = min(n, int(value))
    return max(1, n)


def use_host_devices() -> bool:
    """One JAX CPU device per core (``cores()``), unless the user set ``HOST_DEVICES``.

    A computation placed on no other device runs on the first one as before: the quickstart's
    map, vi, gibbs and 1-chain NUTS fits took the same fit and compile time with 2 devices as
    with 1 (2-core machine, warm compilation cache; the cache's keys include the device
    count, so each program compiles once more after the count changes).  Returns whether it
    was added.
    """
    n = cores()
    return n > 1 and add_flag(f"{HOST_DEVICES}={n}")
