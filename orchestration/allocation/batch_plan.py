"""The day cut into micro-batches: which orders each batch holds, and when it closes."""

from __future__ import annotations

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
    order = np.argsort(created_at, kind="stable")
    if order.size == 0:
        return []
    if size is not None:
        return [order[i : i + size] for i in range(0, order.size, size)]
    t = created_at[order].astype("datetime64[s]").astype(np.int64)
    width = _width_s(minutes)
    window = (t - t[0]) // width
    cuts = np.flatnonzero(np.diff(window)) + 1
    return list(np.split(order, cuts))


def _width_s(minutes: float) -> int:
    """A time window's width in whole seconds (at least one)."""
    return max(int(minutes * 60), 1)


def window_ends(
    created_at: NDArray[np.datetime64], windows: list[NDArray[np.intp]], minutes: float
) -> list[np.datetime64]:
    """When each time window of :func:`batch_windows` ends: the first instant
    its batch is known to be complete (an order could still join it until
    then), so the earliest it can be decided."""
    if not windows:
        return []
    first = created_at.min().astype("datetime64[s]")
    width = np.timedelta64(_width_s(minutes), "s")
    return [
        first
        + ((created_at[w].min().astype("datetime64[s]") - first) // width + 1) * width
        for w in windows
    ]


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
    """

    windows: tuple[NDArray[np.intp], ...]
    times: tuple[np.datetime64, ...]
    hindsight: bool = False

    @classmethod
    def of(cls, orders: Orders, settings: AllocationSettings) -> BatchPlan:
        """Time windows (or batches of ``batch_size``), or the whole day."""
        if settings.hindsight:  # one batch, none for a day without orders
            order = np.argsort(orders.created_at, kind="stable").astype(np.intp)
            windows = [order] if order.size else []
        else:
            windows = batch_windows(
                orders.created_at,
                minutes=settings.batch_minutes,
                size=settings.batch_size,
            )
        if settings.hindsight or settings.batch_size is not None:
            # a batch of N orders is complete when its last one arrives
            times = [
                orders.created_at[w].max().astype("datetime64[s]") for w in windows
            ]
        else:
            times = window_ends(orders.created_at, windows, settings.batch_minutes)
        return cls(tuple(windows), tuple(times), settings.hindsight)

    def __len__(self) -> int:
        return len(self.windows)

    def close_times(self, n_orders: int) -> NDArray[np.datetime64]:
        """Per order, when its batch closes (its release to a node online)."""
        out = np.empty(n_orders, dtype="datetime64[s]")
        for window, at in zip(self.windows, self.times, strict=True):
            out[window] = at
        return out

    def decided_at(self, batch: int) -> np.datetime64 | None:
        """When the batch is decided (``None`` in hindsight: every order's own time)."""
        return None if self.hindsight else self.times[batch]

    def seconds(self, batch: int) -> float:
        """When the batch closes, in epoch seconds."""
        return epoch_seconds(self.times[batch])
