"""CPU accounting of the benchmarks: a server's workers count with it."""

from __future__ import annotations

import subprocess
import sys
import time

from tierflow.benchmarks.processes import cpu_seconds, tree_cpu_seconds

#: A child that burns 0.5 s of CPU, then waits to be killed.
_BURN = (
    "import time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.5:\n"
    "    pass\n"
    "time.sleep(60)\n"
)
#: A parent that only starts the child and waits for it (as a server's
#: master process waits for its workers).
_PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_BURN!r}])"


def test_a_process_trees_cpu_counts_its_children() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT])
    try:
        deadline = time.monotonic() + 30
        while tree_cpu_seconds(parent.pid) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree, own = tree_cpu_seconds(parent.pid), cpu_seconds(parent.pid)
        assert tree >= 0.5  # the child's burn is counted
        assert own < 0.4  # the parent alone only started Python
        assert tree >= own + 0.4
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()


def test_a_process_that_is_not_there_costs_nothing() -> None:
    assert tree_cpu_seconds(2**22 + 1) == 0.0  # above Linux's largest pid
