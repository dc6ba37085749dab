"""Worker processes released together (the harness of the contention
figures), and the CPU accounting of the benchmarks: what a process tree used,
and what the processes a bench does not know used during one of its phases
(a run beside other work is not comparable with one on an idle machine)."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple


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


def _stat(stat: Path) -> tuple[int, float, float]:
    """``(parent pid, user + system CPU seconds, CPU seconds of its reaped
    children)`` from a ``/proc/PID/stat``."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) * _TICK_S
    return int(fields[1]), own, (int(fields[13]) + int(fields[14])) * _TICK_S


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    return _stat(Path(f"/proc/{pid}/stat"))[1]


def _trees_cpu_seconds(pids: Iterable[int], *, reaped: bool) -> float:
    """CPU seconds of the processes ``pids`` and their live descendants, each
    counted once however the trees overlap; with ``reaped``, also what their
    exited children used (a process's ``cutime + cstime``), so a child that
    ended during a phase still counts for its tree."""
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = int(entry.parent.name)
            parent[child], own, gone = _stat(entry)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        used[child] = own + gone if reaped else own
    children: dict[int, list[int]] = {}
    for c, pp in parent.items():
        children.setdefault(pp, []).append(c)
    seen: set[int] = set()
    todo = [p for p in pids if p in used]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += children.get(p, [])
    return sum(used[p] for p in seen)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live descendants
    (a server's workers, PostgreSQL's backends). Read before and after a load
    phase: the difference is what the phase cost the server."""
    return _trees_cpu_seconds([pid], reaped=False)


# ------------------------------------------------- other processes' CPU
#: A phase in which other processes kept more cores than this busy ran
#: disturbed: its CPU per request is not comparable with an idle run's
#: (``docs/benchmarks.md``).
DISTURBED_CORES = 0.1
#: The busy columns of ``/proc/stat``: user, nice, system, irq, softirq,
#: steal (guest time is already inside user; idle and iowait are not busy).
_BUSY = (0, 1, 2, 5, 6, 7)


class CpuReading(NamedTuple):
    """One instant of the machine's CPU: what :func:`other_cpu` subtracts."""

    #: ``time.perf_counter()`` when read.
    at: float
    #: Busy jiffies of each CPU so far (``/proc/stat``).
    busy_jiffies: tuple[int, ...]
    #: CPU seconds of the known process trees so far.
    known_s: float


def read_cpu(known: Iterable[int]) -> CpuReading:
    """The machine's busy jiffies per CPU and the CPU seconds of the process
    trees rooted at ``known`` (their exited children included)."""
    busy = []
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            busy.append(sum(int(values[i]) for i in _BUSY if i < len(values)))
    known_s = _trees_cpu_seconds(known, reaped=True)
    return CpuReading(time.perf_counter(), tuple(busy), known_s)


def other_cores(
    before: CpuReading, after: CpuReading, tick_s: float = _TICK_S
) -> dict[str, Any]:
    """What the processes the bench does not know used between two
    readings, in cores: the machine's busy CPU minus the known trees'.

    ``other_cores`` is near 0 on an idle machine and about 1 with a test
    suite running beside the bench; above :data:`DISTURBED_CORES` the phase
    ran ``disturbed``. It is never below 0 (ticks of ``/proc/stat`` and of
    the processes are sampled apart)."""
    wall = after.at - before.at
    per_cpu = [
        (b - a) * tick_s / wall
        for a, b in zip(before.busy_jiffies, after.busy_jiffies, strict=True)
    ]
    busy, known = sum(per_cpu), (after.known_s - before.known_s) / wall
    other = max(busy - known, 0.0)
    return {
        "wall_s": round(wall, 3),
        "busy_cores": round(busy, 3),
        "busy_cores_per_cpu": [round(c, 3) for c in per_cpu],
        "known_cores": round(known, 3),
        "other_cores": round(other, 3),
        "disturbed": other > DISTURBED_CORES,
    }


@contextmanager
def other_cpu(known: Iterable[int]) -> Iterator[dict[str, Any]]:
    """The CPU other processes used during the ``with`` block, in cores
    (:func:`other_cores`), filled into the yielded dict on exit.

    ``known`` are the roots of the trees the bench accounts for: itself
    (:func:`os.getpid`, which covers the servers and clients it started),
    and any it did not start (PostgreSQL's postmaster)."""
    roots = list(known)
    figures: dict[str, Any] = {}
    before = read_cpu(roots)
    yield figures
    figures.update(other_cores(before, read_cpu(roots)))


def disturbed_lines(phases: dict[str, dict[str, Any]]) -> list[str]:
    """One line per phase that ran disturbed (``phases``: name -> the figures
    of :func:`other_cpu`), for a run's ``summary.md``."""
    return [
        f"disturbed: other processes used {f['other_cores']:.2f} cores during "
        f"{name}; the figures are not comparable with an idle run."
        for name, f in phases.items()
        if f["disturbed"]
    ]
