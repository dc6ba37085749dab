"""Where a server's workers run: one CPU each, every thread of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tierflow.service.cpus import allowed_cpus, worker_cpu, worker_cpus


def test_workers_take_the_cpus_round_robin() -> None:
    assert [worker_cpu(k, (2, 5)) for k in range(5)] == [2, 5, 2, 5, 2]
    assert worker_cpu(0, ()) is None  # nothing to pin to: the OS places it


def test_workers_whose_calls_run_in_threads_are_pinned_unless_told() -> None:
    every = allowed_cpus()
    assert every == tuple(sorted(os.sched_getaffinity(0)))
    assert worker_cpus(None, threaded=True) == every  # PostgreSQL
    assert worker_cpus(None, threaded=False) == ()  # SQLite
    assert worker_cpus(True, threaded=False) == every
    assert worker_cpus(False, threaded=True) == ()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_pinning_moves_every_thread_of_the_process() -> None:
    """A thread started before the pin and one started after both run on
    the one CPU (in a child process: the tests' own stays where it is)."""
    code = textwrap.dedent(
        """
        import os, threading
        from tierflow.service.cpus import allowed_cpus, pin_process
        stop = threading.Event()
        before = threading.Thread(target=stop.wait); before.start()
        cpu = allowed_cpus()[-1]
        pin_process(cpu)
        after = threading.Thread(target=stop.wait); after.start()
        tids = [before.native_id, after.native_id, threading.get_native_id()]
        print(cpu, *(sorted(os.sched_getaffinity(t)) for t in tids))
        stop.set()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    cpu = int(out[0])
    assert out[1].split() == [f"[{cpu}]"] * 3
