"""What ``tierflow simulate`` runs, and the clock its times are given in."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from tierflow.data.errors import InputError
from tierflow.data.limits import EVENT_WINDOW

#: New York noon is the reference for the outage time (events are instants).
NEW_YORK_OFFSET_H = 5


def new_york(day: dt.date, at: dt.time) -> dt.datetime:
    """``at`` on ``day``, New York (standard) time, as a UTC instant."""
    return dt.datetime.combine(day, at, dt.UTC) + dt.timedelta(hours=NEW_YORK_OFFSET_H)


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """What ``tierflow simulate`` runs (see ``docs/simulation.md``).

    ``abandon_p``, ``recommended_p`` and ``cancel_p`` are the choice model's
    probabilities; ``outage_at`` is New York time (``None``: no outage).
    """

    day: dt.date = dt.date(2026, 1, 19)
    checkouts: int = 3000
    seed: int = 11
    utilization: float = 0.92
    spike: str | None = "19:00,2.0"
    outage_at: dt.time | None = dt.time(13, 0)
    engine: str = "cpsat"
    time_limit_s: float = 2.0
    hindsight_time_limit_s: float = 20.0
    abandon_p: float = 0.03
    recommended_p: float = 0.75
    cancel_p: float = 0.02

    def __post_init__(self) -> None:
        # the day's capacity events (the outage, the half-hourly forecast)
        # must be accepted by the event log, through the evening in UTC
        EVENT_WINDOW.require_days(
            self.day,
            self.day + dt.timedelta(days=1),
            field="--day",
            value=self.day.isoformat(),
        )
        if self.checkouts < 1:
            raise InputError("must be >= 1", field="--checkouts", value=self.checkouts)
        numbers = (
            ("--utilization", self.utilization, 1e-9),
            ("--time-limit", self.time_limit_s, 0.0),
            ("--hindsight-time-limit", self.hindsight_time_limit_s, 0.0),
        )
        for name, value, least in numbers:
            if not (math.isfinite(value) and value >= least):
                raise InputError(
                    f"must be a finite number >= {least:g}", field=name, value=value
                )
        for name in ("abandon_p", "recommended_p", "cancel_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError("must be in [0, 1]", field=name, value=value)
