"""What ``tierflow simulate`` runs, and the clock its times are given in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tierflow.data.delivery_calendar import zone_info
from tierflow.data.errors import InputError
from tierflow.data.limits import (
    EVENT_WINDOW,
    MAX_SEED,
    MAX_TIME_LIMIT_S,
    require_number,
)
from tierflow.data.order_generator import Spike
from tierflow.orchestration.allocation.settings import require_deterministic
from tierflow.solver.registry import engine_names


def local_instant(day: dt.date, at: dt.time, zone: str) -> dt.datetime:
    """``at`` on ``day`` on ``zone``'s clock (the simulation's: the network's
    main zone, as the order generator's spike), as a UTC instant (daylight
    saving time included: a fixed UTC-5 put a March outage at 14:00 EDT)."""
    return dt.datetime.combine(day, at, zone_info(zone)).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """What ``tierflow simulate`` runs (see ``docs/simulation.md``).

    ``abandon_p``, ``recommended_p`` and ``cancel_p`` are the choice model's
    probabilities; ``outage_at`` is on the clock of the network's main zone
    (:attr:`~tierflow.data.network.Network.main_timezone`; ``None``: no outage).
    ``history_checkouts`` is the mean checkouts per day of the 14-day
    history (the forecast's and the staffing's only input; ``None``: the
    day's ``checkouts``, so the day's volume is known in expectation; below
    it, the day is a surprise peak).
    ``keep_capacity`` opens the day at the network's own capacities instead
    of staffing them to ``utilization`` of the history's mean day.
    ``stock_bid_prices=False`` runs the batch policy on capacity bid prices
    only (``AllocationSettings.stock_bid_prices``). ``deterministic`` runs
    every allocation policy deterministically
    (``AllocationSettings.deterministic``: the batches' CP-SAT, the hindsight
    plan and its bound on budgets of work, the bid-price LPs to their end),
    so the same command gives the same day on any machine
    (``docs/simulation.md``).
    """

    day: dt.date = dt.date(2026, 1, 19)
    checkouts: int = 3000
    seed: int = 11
    utilization: float = 0.92
    keep_capacity: bool = False
    spike: str | None = "19:00,2.0"
    outage_at: dt.time | None = dt.time(13, 0)
    engine: str = "cpsat"
    time_limit_s: float = 2.0
    hindsight_time_limit_s: float = 20.0
    stock_bid_prices: bool = True
    abandon_p: float = 0.03
    recommended_p: float = 0.75
    cancel_p: float = 0.02
    deterministic: bool = False
    history_checkouts: int | None = None

    def __post_init__(self) -> None:
        # the day's capacity events (the outage, the half-hourly forecast)
        # must be accepted by the event log, through the evening in UTC
        EVENT_WINDOW.require_days(self.day, self.day, field="--day")
        # the window's last day itself is refused too: said why (only then)
        next_day = self.day + dt.timedelta(days=1)
        EVENT_WINDOW.require_days(
            self.day,
            next_day,
            field="--day",
            value=f"{self.day} (its events run into {next_day})",
        )
        require_number(self.checkouts, "--checkouts", 1, 1_000_000, integer=True)
        if self.history_checkouts is not None:
            require_number(
                self.history_checkouts,
                "--history-checkouts",
                1,
                1_000_000,
                integer=True,
            )
        require_number(self.seed, "--seed", 0, MAX_SEED, integer=True)
        require_number(self.utilization, "--utilization", 0, 2, low_open=True)
        require_number(self.time_limit_s, "--time-limit", 0, MAX_TIME_LIMIT_S)
        require_number(
            self.hindsight_time_limit_s, "--hindsight-time-limit", 0, MAX_TIME_LIMIT_S
        )
        for name in ("abandon_p", "recommended_p", "cancel_p"):
            require_number(getattr(self, name), name, 0, 1)
        if self.engine not in engine_names(baselines=True):
            raise InputError("unknown engine", field="--engine", value=self.engine)
        if self.deterministic:  # --engine takes no baseline (nearest)
            require_deterministic(self.engine, baselines=False)
        if self.spike is not None:
            Spike.parse(self.spike)
        if self.outage_at is not None and not isinstance(self.outage_at, dt.time):
            raise InputError(
                "must be a time of day", field="--outage", value=self.outage_at
            )

    @property
    def history_per_day(self) -> int:
        """Checkouts per day of the history: ``history_checkouts``, else the
        day's ``checkouts``."""
        if self.history_checkouts is None:
            return self.checkouts
        return self.history_checkouts
