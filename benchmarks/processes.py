"""Worker processes released together: the harness of the contention figures."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def _stat(stat: Path) -> tuple[int, float]:
    """``(parent pid, user + system CPU seconds)`` from a ``/proc/PID/stat``."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * _TICK_S


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    return _stat(Path(f"/proc/{pid}/stat"))[1]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live descendants
    (a server's workers, PostgreSQL's backends). Read before and after a load
    phase: the difference is what the phase cost the server."""
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = int(entry.parent.name)
            parent[child], used[child] = _stat(entry)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += used.get(p, 0.0)
        todo += [c for c, pp in parent.items() if pp == p]
    return total
