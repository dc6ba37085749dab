"""Worker processes released together: the harness of the contention figures."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import Any


def run_together(
    target: Callable[..., None],
    args: Sequence[tuple[Any, ...]],
    *,
    timeout_s: float,
) -> tuple[list[Any], float]:
    """One spawned process per ``args`` tuple, all released at once.

    Each runs ``target(*args, barrier, queue)``: it waits at the barrier,
    works, then puts one result on the queue. Returns the results (in the
    order they arrived) and the ``perf_counter`` instant of the release.
    """
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(args) + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, queue)) for a in args]
    for p in procs:
        p.start()
    barrier.wait()
    released = time.perf_counter()
    results = [queue.get(timeout=timeout_s) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results, released
