"""The evaluator's threads: numpy drops the GIL inside its array operations, so work split by
draws or by blocks of ratings runs on every core without copying arrays to processes."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def threads() -> int:
    """Cores to use: the process's thread limit (a study worker sets OMP_NUM_THREADS), or all."""
    limit = os.environ.get("OMP_NUM_THREADS", "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(limit) if limit.isdigit() else (cores or 1))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], ahead: int = 4) -> Iterator[R]:
    """``map(fn, items)`` on ``threads()`` threads, results in the items' order, with at most
    ``ahead`` results per thread computed before they are consumed (each may be a rows-sized
    array).  What the consumer does with a result (e.g. draw from one random generator) stays
    in its own thread, in order, so results never depend on the schedule."""
    n = threads()
    if n == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(n) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= n * ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
