"""The meter of other processes' CPU during a bench phase: the arithmetic on
given readings, and one real spinner inside and outside the known trees."""

from __future__ import annotations

import subprocess
import sys
import time

from tierflow.benchmarks.processes import (
    CpuReading,
    cpu_seconds,
    disturbed_lines,
    other_cores,
    other_cpu,
)

TICK = 0.01  # 100 jiffies a second, as Linux's USER_HZ


def test_idle_phase_with_only_the_known_trees_busy() -> None:
    # 2 s; CPU 0 busy 150 jiffies (1.5 s), CPU 1 10 jiffies; known trees 1.52 s
    before = CpuReading(at=10.0, busy_jiffies=(1000, 2000), known_s=5.0)
    after = CpuReading(at=12.0, busy_jiffies=(1150, 2010), known_s=6.52)
    f = other_cores(before, after, TICK)
    assert f == {
        "wall_s": 2.0,
        "busy_cores": 0.8,
        "busy_cores_per_cpu": [0.75, 0.05],
        "known_cores": 0.76,
        "other_cores": 0.04,
        "disturbed": False,
    }


def test_a_spinner_outside_the_known_trees_adds_one_core() -> None:
    # the same phase, plus 200 jiffies on CPU 1 that no known tree used
    before = CpuReading(at=10.0, busy_jiffies=(1000, 2000), known_s=5.0)
    after = CpuReading(at=12.0, busy_jiffies=(1150, 2210), known_s=6.52)
    f = other_cores(before, after, TICK)
    assert f["other_cores"] == 1.04
    assert f["busy_cores_per_cpu"] == [0.75, 1.05]
    assert f["disturbed"] is True


def test_a_spinner_inside_a_known_tree_adds_nothing() -> None:
    # the same 200 jiffies, now also in the known trees' CPU seconds
    before = CpuReading(at=10.0, busy_jiffies=(1000, 2000), known_s=5.0)
    after = CpuReading(at=12.0, busy_jiffies=(1150, 2210), known_s=8.52)
    f = other_cores(before, after, TICK)
    assert (f["known_cores"], f["other_cores"], f["disturbed"]) == (1.76, 0.04, False)


def test_known_cpu_above_the_busy_ticks_is_no_negative_other() -> None:
    # process ticks and /proc/stat ticks are sampled apart
    before = CpuReading(at=0.0, busy_jiffies=(0,), known_s=0.0)
    after = CpuReading(at=1.0, busy_jiffies=(50,), known_s=0.52)
    assert other_cores(before, after, TICK)["other_cores"] == 0.0


def test_the_threshold_of_disturbed() -> None:
    before = CpuReading(at=0.0, busy_jiffies=(0, 0), known_s=0.0)
    just = CpuReading(at=1.0, busy_jiffies=(5, 5), known_s=0.0)
    over = CpuReading(at=1.0, busy_jiffies=(6, 5), known_s=0.0)
    assert other_cores(before, just, TICK)["disturbed"] is False  # 0.10
    assert other_cores(before, over, TICK)["disturbed"] is True  # 0.11
    lines = disturbed_lines(
        {"the load": other_cores(before, over, TICK),
         "the baseline": other_cores(before, just, TICK)}
    )  # fmt: skip
    assert lines == [
        "disturbed: other processes used 0.11 cores during the load; "
        "the figures are not comparable with an idle run."
    ]


_SPIN = "while True: pass"
#: A parent that starts a spinner and waits for it (a server's master and
#: its worker).
_PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_SPIN!r}])"


def test_real_spinners_inside_and_outside_the_known_trees() -> None:
    """One 2 s phase, one spinner in a known tree (a child of the pid passed
    as known) and one outside every known tree.

    ``make test`` runs another xdist worker beside this one, and other work
    may share the machine, so the phase is not idle and its other_cores
    alone says little. Each bound below therefore compares figures of the
    same phase with the spinners' own CPU (read from /proc for each), which
    noise beside the test does not change: the outside spinner is all in
    other_cores, the inside one all in known_cores and none of it in
    other_cores. The 0.1 core margins cover ticks sampled apart; a spinner's
    own share of a core depends on that load, so it is read, not assumed."""
    inside_parent = subprocess.Popen([sys.executable, "-c", _PARENT])
    outside = subprocess.Popen([sys.executable, "-c", _SPIN])
    try:
        deadline = time.monotonic() + 30
        while len(_children(inside_parent.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        (inside,) = _children(inside_parent.pid)
        time.sleep(0.3)  # both spinning
        in0, out0 = cpu_seconds(inside), cpu_seconds(outside.pid)
        with other_cpu([inside_parent.pid]) as f:
            time.sleep(2.0)
        in_cores = (cpu_seconds(inside) - in0) / f["wall_s"]
        out_cores = (cpu_seconds(outside.pid) - out0) / f["wall_s"]
    finally:
        subprocess.run(["pkill", "-P", str(inside_parent.pid)], check=False)
        for p in (inside_parent, outside):
            p.kill()
            p.wait()
    # the machine's two cores are busy (two spinners at least), and whatever
    # keeps them busy beside the inside spinner is not known: >= 0.3 core
    # other however the load beside the test shares them
    assert f["other_cores"] >= 0.3
    assert in_cores > 0.05  # the inside spinner ran (a share of a core)
    assert f["other_cores"] >= out_cores - 0.1  # outside: counted
    assert f["known_cores"] >= in_cores - 0.1  # inside: known ...
    assert f["other_cores"] <= f["busy_cores"] - in_cores + 0.1  # ... not other
    assert f["disturbed"] is True


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]
