"""The day cut into micro-batches: which orders each batch holds, and when it closes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.data.orders import Orders
from tierflow.orchestration.allocation.settings import AllocationSettings


def batch_windows(
    created_at: NDArray[np.datetime64],
    *,
    minutes: float,
    size: int | None,
) -> list[NDArray[np.intp]]:
    """Order indices of each micro-batch, in time order (deterministic)."""
    if size is not None:
        order = np.argsort(created_at, kind="stable")
        return [order[i : i + size] for i in range(0, order.size, size)]
    return time_windows(created_at, minutes)[0]


def time_windows(
    created_at: NDArray[np.datetime64], minutes: float
) -> tuple[list[NDArray[np.intp]], list[np.datetime64]]:
    """Order indices of each time window of ``minutes`` from the day's first
    order, in time order, and when each ends: the first instant its batch is
    known to be complete (an order could still join it until then), so the
    earliest it can be decided."""
    order = np.argsort(created_at, kind="stable")
    if order.size == 0:
        return [], []
    t = created_at[order].astype("datetime64[s]")
    width = window_seconds(minutes)
    window = (t - t[0]).astype(np.int64) // width
    cuts = np.flatnonzero(np.diff(window)) + 1
    starts = np.concatenate(([0], cuts))
    ends = t[0] + (window[starts] + 1) * np.timedelta64(width, "s")
    return list(np.split(order, cuts)), list(ends)


def window_seconds(minutes: float) -> int:
    """A time window of ``minutes`` in whole seconds, at least one: the grid
    of :func:`time_windows`, and of the batches an event after the last
    order's falls in (:meth:`BatchPlan.of`)."""
    return max(int(minutes * 60), 1)


def _utc(at: np.datetime64) -> str:
    """``at`` to the second, in UTC with a ``Z``."""
    return str(np.datetime_as_string(at.astype("datetime64[s]"), timezone="UTC"))


def epoch_seconds(at: np.datetime64) -> float:
    """``at`` as seconds since the epoch (the clock of events and releases)."""
    return float(at.astype("datetime64[s]").astype(np.int64))


@dataclass(frozen=True, slots=True, eq=False)
class BatchPlan:
    """The batches of one run, numbered deterministically from the inputs.

    Attributes
    ----------
    windows
        Order indices of each batch, in time order.
    times
        When each batch closes: the end of its time window (an order may join
        it until then, so it is not decided earlier); for batches of
        ``batch_size`` orders and for hindsight, the creation time of its
        latest order.
    hindsight
        One batch holding the whole day, decided with hindsight (no clock).
    tail
        How many of the last batches hold no order: one per boundary after
        the last order's batch that a capacity event falls by (the event's
        own time for batches of ``batch_size``). Such a batch re-solves the
        orders its events pull back, and is not run when they pull back none
        (``docs/allocation.md``, *Rerouting*).
    """

    windows: tuple[NDArray[np.intp], ...]
    times: tuple[np.datetime64, ...]
    hindsight: bool = False
    tail: int = 0

    @classmethod
    def of(
        cls,
        orders: Orders,
        settings: AllocationSettings,
        event_times: Sequence[float] = (),
    ) -> BatchPlan:
        """Time windows (or batches of ``batch_size``), or the whole day;
        then a batch without orders at each boundary after the last one
        that an event of ``event_times`` (epoch seconds) falls by."""
        plan = cls._of_orders(orders, settings)
        if plan.hindsight or not plan.times:
            return plan
        last = epoch_seconds(plan.times[-1])
        width = window_seconds(settings.batch_minutes)
        first = epoch_seconds(
            orders.created_at.min().astype("datetime64[s]")  # the grid's origin
        )
        tail: set[int] = set()
        for ts in event_times:
            if ts <= last:
                continue
            if settings.batch_size is None:  # the next boundary of the grid
                tail.add(int(first + math.ceil((ts - first) / width) * width))
            else:
                tail.add(math.ceil(ts))
        times = [np.datetime64(t, "s") for t in sorted(tail)]
        empty = np.empty(0, dtype=np.intp)
        return cls(
            plan.windows + (empty,) * len(times),
            plan.times + tuple(times),
            tail=len(times),
        )

    @classmethod
    def _of_orders(cls, orders: Orders, settings: AllocationSettings) -> BatchPlan:
        """The batches of the orders alone."""
        if not settings.hindsight and settings.batch_size is None:
            windows, times = time_windows(orders.created_at, settings.batch_minutes)
            return cls(tuple(windows), tuple(times))
        if settings.hindsight:  # one batch, none for a day without orders
            order = np.argsort(orders.created_at, kind="stable").astype(np.intp)
            windows = [order] if order.size else []
        else:
            windows = batch_windows(
                orders.created_at,
                minutes=settings.batch_minutes,
                size=settings.batch_size,
            )
        # a batch of N orders (or the whole day) is complete when its last
        # order arrives
        times = [orders.created_at[w].max().astype("datetime64[s]") for w in windows]
        return cls(tuple(windows), tuple(times), settings.hindsight)

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def n_order_batches(self) -> int:
        """The batches holding orders (before the :attr:`tail`)."""
        return len(self.windows) - self.tail

    def close_times(self, n_orders: int) -> NDArray[np.datetime64]:
        """Per order, when its batch closes (its release to a node online)."""
        out = np.empty(n_orders, dtype="datetime64[s]")
        for window, at in zip(self.windows, self.times, strict=True):
            out[window] = at
        return out

    def decided_at(self, batch: int) -> np.datetime64 | None:
        """When the batch is decided (``None`` in hindsight: every order's own time)."""
        return None if self.hindsight else self.times[batch]

    def describe(self, batch: int, created_at: NDArray[np.datetime64]) -> str:
        """The batch as an error names it: its index and time window, from
        its first order to its close (UTC), e.g. ``batch 3 of 60 (orders of
        2026-01-05T11:00:00Z to 2026-01-05T11:15:00Z)``."""
        name = f"batch {batch} of {len(self)}"
        if self.hindsight:
            return f"{name} (the whole day, in hindsight)"
        close = _utc(self.times[batch])
        window = self.windows[batch]
        if not window.size:
            return f"{name} (no new orders, at {close})"
        return f"{name} (orders of {_utc(created_at[window].min())} to {close})"

    def seconds(self, batch: int) -> float:
        """When the batch closes, in epoch seconds."""
        return epoch_seconds(self.times[batch])
