"""Which CPU each server worker runs on (``tierflow serve --pin-cpus``).

A worker is one Python process whose threads share one GIL: its event loop
and, on PostgreSQL, the threads the store's calls run in. Left to the OS,
those threads are spread over CPUs, and every hand-off of the GIL between
them becomes a wake-up on another CPU. Measured on this project's 2-vCPU
machine (one worker, PostgreSQL, 50 clients, the sample network): 1,976 and
2,321 µs of server CPU per checkout call spread over both CPUs, against
955-1,099 µs on one. So a worker whose calls run in threads runs on one CPU
of those the server may use: worker ``k`` on the ``k``-th (round robin when
there are more workers than CPUs). A SQLite worker answers on its event
loop alone and costs the same either way, and left free its follower's
checkpoints run beside the loop on another CPU: it is not pinned unless
asked. ``docs/service.md``, "Fleet figures".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

#: Where Linux lists a process's threads.
_TASKS = Path("/proc/self/task")


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on, in order; empty where the OS
    cannot pin a process (not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return ()
    return tuple(sorted(os.sched_getaffinity(0)))


def worker_cpus(pin: bool | None, *, threaded: bool) -> tuple[int, ...]:
    """The CPUs the workers are pinned to, one each (empty: not pinned).

    ``pin`` None pins a worker whose calls run in threads (``threaded``).
    """
    return allowed_cpus() if (threaded if pin is None else pin) else ()


def worker_cpu(slot: int, cpus: Sequence[int]) -> int | None:
    """The CPU of worker ``slot`` (None: leave it to the OS)."""
    return cpus[slot % len(cpus)] if cpus else None


def pin_process(cpu: int | None) -> None:
    """Run every thread of this process on ``cpu`` (threads started later
    inherit it); nothing for None."""
    if cpu is None:
        return
    threads = [int(t.name) for t in _TASKS.iterdir()] if _TASKS.is_dir() else [0]
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended
            os.sched_setaffinity(tid, {cpu})
