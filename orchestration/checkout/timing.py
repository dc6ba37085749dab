"""Per-stage timing of checkout calls (``OnlineRouter.open(profile=True)``).

A :class:`StageTimer` hands every call a :class:`Stopwatch`: it records how
long each stage took into ``timings`` (ns), or does nothing at all when
profiling is off, so the router's code carries no profiling branches.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol


class Stopwatch(Protocol):
    """The stages of one call."""

    def lap(self, stage: str) -> None:
        """Record the time since the previous lap (or the start) as ``stage``."""

    def measure(self, stage: str) -> contextlib.AbstractContextManager[None]:
        """Record the time a ``with`` block takes as ``stage`` (laps go on)."""

    def stop(self) -> None:
        """Record the whole call as ``total``."""


class StageTimer:
    """Durations (ns) per stage of every call, when ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        #: Stage → durations (ns), in the order the stages first ran.
        self.timings: dict[str, list[int]] = {}

    def start(self) -> Stopwatch:
        """A stopwatch for one call, started now."""
        if not self.enabled:
            return _IDLE
        return _Running(self.timings, time.perf_counter_ns())


class _Running:
    __slots__ = ("_last", "_start", "_timings")

    def __init__(self, timings: dict[str, list[int]], start: int) -> None:
        self._timings = timings
        self._start = self._last = start

    def lap(self, stage: str) -> None:
        now = time.perf_counter_ns()
        self._timings.setdefault(stage, []).append(now - self._last)
        self._last = now

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        begin = time.perf_counter_ns()
        yield
        self._timings.setdefault(stage, []).append(time.perf_counter_ns() - begin)

    def stop(self) -> None:
        self._timings.setdefault("total", []).append(
            time.perf_counter_ns() - self._start
        )


class _Idle:
    __slots__ = ()

    def lap(self, stage: str) -> None:
        pass

    def measure(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return _NOTHING

    def stop(self) -> None:
        pass


_IDLE = _Idle()
_NOTHING = contextlib.nullcontext()
