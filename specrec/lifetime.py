"""A worker process that ends with the process that started it.

Study workers (``specrec.study.worker``) and the Pyro backend's chain workers run fits in child
processes; a child left running after its parent died would go on fitting what nobody waits for
(and a rerun would fit it again), so each child binds its life to its parent's at start.
"""

from __future__ import annotations

import os
import sys


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` dies, even by ``kill -9``.

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``), so no
    orphaned worker goes on fitting a study cell or a chain that nobody waits for.  If the parent is
    already gone (it died before this ran), exit at once.  Elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no libc prctl: keep running as before
        return
    if os.getppid() != parent:
        from specrec.errors import EXIT_FAILED

        os._exit(EXIT_FAILED)
