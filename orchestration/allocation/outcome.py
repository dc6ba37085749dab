"""What an allocation run did: per-batch figures and the ``summary.json`` contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tierflow.data.allocation_rows import COST_PARTS
from tierflow.data.vocabulary import TIERS, AllocationStatus, Tier
from tierflow.orchestration.allocation.repricing import Repricing
from tierflow.orchestration.allocation.settings import AllocationSettings

#: Decimals of ``summary.json``'s money, rates and times: the cost column's,
#: so a tool summing ``allocations.csv`` gets the same figure, and no sum of
#: floats prints as its repr (1077.6000000000001).
DECIMALS = 6


def _round(value: float) -> float:
    return round(float(value), DECIMALS) + 0.0  # never -0.0


@dataclass(slots=True)
class BatchStat:
    """Per-batch figures for the summary.

    ``rerouted``, ``pulled_back`` (order ids) and ``reroute_cost_delta`` are
    the batch's share of the run's totals, so that a resumed run adds up the
    batches an earlier process committed (``docs/allocation.md``, resume).
    ``bid_prices`` and ``bid_total`` are set on a batch that refreshed the
    bid prices (per node, and the forecast day total they were computed
    for), so that a resumed run starts with the prices in force.
    """

    batch: int
    n_items: int
    solve_s: float
    status: str
    fallback: bool
    bid_price_max: float
    rerouted: int = 0
    pulled_back: tuple[str, ...] = ()
    reroute_cost_delta: float = 0.0
    bid_prices: tuple[float, ...] = ()
    bid_total: float | None = None


@dataclass(slots=True)
class AllocationOutcome:
    """What a run did; :meth:`summary` is the ``summary.json`` contract."""

    rows: pd.DataFrame
    stats: list[BatchStat]
    settings: AllocationSettings
    runtime_s: float
    rerouted: int
    pulled_back: tuple[str, ...]
    reroute_cost_delta: float
    lp_bound: float | None
    utilization: NDArray[np.float64]
    node_ids: tuple[str, ...]
    utilization_trace: list[tuple[float, NDArray[np.float64]]] = field(
        default_factory=list
    )
    n_orders: int = 0
    tiers: dict[str, str] = field(default_factory=dict)
    #: Where the bid prices' demand forecast came from: ``history``,
    #: ``intraday`` or ``override`` (``--expected-orders``); ``none``
    #: without bid prices.
    forecast: str = "intraday"
    #: The rows re-priced from the network's tables (:mod:`.repricing`).
    repriced: Repricing | None = None
    #: What stopped the hindsight bound's LP and branch and bound
    #: (:class:`~tierflow.solver.linear_program.ProvenBound`), ``None``
    #: without ``hindsight``.
    lp_bound_stop: dict[str, str | None] | None = None
    #: A deterministic bound's budget (``BoundBudget.as_dict``), else ``None``.
    lp_bound_budget: dict[str, float | int] | None = None
    #: The capacity events the run applied (every one, by its end, but
    #: for a hindsight run, which applies none).
    events_applied: int = 0
    #: Of the run's events, those later than its last batch of orders:
    #: applied by a batch of their own when they pull back an order not yet
    #: released, else to the day's final state only.
    events_after_last_batch: int = 0

    def summary(self) -> dict[str, Any]:
        """The run summary (see issue 6's ``summary.json`` fields)."""
        return {
            "n_orders": int(self.n_orders),
            **self._order_counts(),
            **self._costs(),
            "rerouted": int(self.rerouted),
            "pulled_back": len(self.pulled_back),
            "reroute_cost_delta": _round(self.reroute_cost_delta),
            "events_applied": int(self.events_applied),
            "events_after_last_batch": int(self.events_after_last_batch),
            **self._service_levels(),
            "max_node_utilization": _round(np.max(self.utilization, initial=0.0)),
            "runtime_s": _round(self.runtime_s),
            **self._batch_figures(),
            "engine": self.settings.engine,
            "bid_prices": self.settings.batch_bid_prices,
            "hindsight": self.settings.hindsight,
            "lp_bound": self.lp_bound,
            "lp_bound_stop": self.lp_bound_stop,
            "lp_bound_budget": self.lp_bound_budget,
            "forecast": self.forecast,
            "repriced_total_cost": None
            if self.repriced is None
            else _round(self.repriced.total),
            "repricing_problems": None
            if self.repriced is None
            else len(self.repriced.problems),
        }

    def promises_by_tier(self) -> dict[str, dict[str, int]]:
        """Per tier: its orders, how many were delivered in full by the
        promised date (what ``service_level_by_tier`` is the share of), and
        how many of those only as expected (``waiting``: a line waits a day,
        its next-day shipment due by then; the day does not ship it)."""
        on_time = _on_time(self.rows)
        waits = _waiting(self.rows)
        tier_of = pd.Series(self.tiers, dtype=object)
        out: dict[str, dict[str, int]] = {}
        for tier in TIERS:
            ids = tier_of.index[tier_of == tier]
            kept = on_time.reindex(ids).fillna(False).astype(bool)
            waiting = kept & waits.reindex(ids).fillna(False).astype(bool)
            out[tier] = {
                "orders": len(ids),
                "kept": int(kept.sum()),
                "waiting": int(waiting.sum()),
            }
        return out

    def _order_counts(self) -> dict[str, int]:
        """Orders by status (one unfillable or deferred line decides it)."""
        status = self.rows.groupby("order_id", sort=False)["status"].agg(
            lambda s: _order_status(set(s))
        )
        return {
            "n_allocated": int((status == AllocationStatus.ALLOCATED).sum()),
            "n_deferred": int((status == AllocationStatus.DEFERRED).sum()),
            "n_unfillable": int((status == AllocationStatus.UNFILLABLE).sum()),
        }

    def _costs(self) -> dict[str, float | int]:
        """Total cost, its parts, and the orders shipped from several nodes."""
        rows = self.rows
        cost = pd.to_numeric(rows["cost"], errors="coerce").fillna(0.0)
        if set(COST_PARTS) <= set(rows.columns):
            parts = {
                k: _round(pd.to_numeric(rows[k], errors="coerce").fillna(0.0).sum())
                for k in COST_PARTS
            }
        else:
            parts = dict.fromkeys(COST_PARTS, float("nan"))
        return {
            "total_cost": _round(cost.sum()),
            "shipping_cost": parts["shipping"],
            "handling_cost": parts["handling"],
            "penalty_cost": parts["penalty"],
            "split_orders": _split_orders(rows),
        }

    def _service_levels(self) -> dict[str, Any]:
        """Share of each tier's orders delivered in full by the promised date."""
        on_time = _on_time(self.rows)
        shipped = on_time & ~_waiting(self.rows).reindex(on_time.index).fillna(False)
        tier_of = pd.Series(self.tiers)
        service_level: dict[str, float | None] = {}
        shipped_level: dict[str, float | None] = {}
        for tier in TIERS:
            ids = tier_of.index[tier_of == tier]
            if len(ids) == 0:
                service_level[tier] = shipped_level[tier] = None
                continue
            service_level[tier] = _round(on_time.reindex(ids).fillna(False).mean())
            shipped_level[tier] = _round(shipped.reindex(ids).fillna(False).mean())
        return {
            "platinum_on_time_rate": service_level.get(Tier.PLATINUM),
            "service_level_by_tier": service_level,
            # the same without the lines that wait: what the day itself shipped
            # on time (a day short of capacity defers much, and its waiting
            # lines counted as kept when due by the promise if shipped next day)
            "shipped_on_time_by_tier": shipped_level,
        }

    def _batch_figures(self) -> dict[str, float | int]:
        solve_times = [s.solve_s for s in self.stats]
        return {
            "batch_solve_p95_s": _round(np.percentile(solve_times, 95))
            if solve_times
            else 0.0,
            "n_batches": len(self.stats),
            "fallback_batches": int(sum(s.fallback for s in self.stats)),
        }


def _order_status(statuses: set[str]) -> str:
    if AllocationStatus.UNFILLABLE in statuses:
        return AllocationStatus.UNFILLABLE
    if AllocationStatus.DEFERRED in statuses:
        return AllocationStatus.DEFERRED
    return AllocationStatus.ALLOCATED


def _split_orders(rows: pd.DataFrame) -> int:
    """Orders that ship as separate lines: an allocated line the allocator
    marked split (``split`` stock or room, whether the other lines ship now,
    wait or share its node; a waiting line carries no mark), or lines
    allocated at several nodes."""
    allocated = rows[rows["status"] == AllocationStatus.ALLOCATED]
    by_node = allocated.groupby("order_id")["node_id"].nunique()
    split = set(by_node.index[by_node > 1])
    if "split" in rows.columns:
        marked = allocated["split"].fillna("").astype(str) != ""
        split |= set(allocated.loc[marked, "order_id"])
    return len(split)


def _waiting(rows: pd.DataFrame) -> pd.Series:
    """Per order: whether a line of it waits (deferred to a later day)."""
    waits = rows["status"] == AllocationStatus.DEFERRED
    return waits.groupby(rows["order_id"], sort=False).any()


def _on_time(rows: pd.DataFrame) -> pd.Series:
    """Per order: every line delivered by its promised date — allocated and
    due by then, or waiting a day and still expected by then (a waiting line
    ships the next ship day by its best option: ``expected_delivery``)."""
    promised = rows["promised_date"].astype(str)
    shipped = (rows["status"] == AllocationStatus.ALLOCATED) & (
        rows["delivery_date"].astype(str) <= promised
    )
    if "expected_delivery" in rows.columns:
        expected = rows["expected_delivery"].fillna("").astype(str)
        waits = (rows["status"] == AllocationStatus.DEFERRED) & (expected != "")
        shipped |= waits & (expected <= promised)
    return shipped.groupby(rows["order_id"], sort=False).all()
