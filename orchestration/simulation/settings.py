"""What ``tierflow simulate`` runs, and the clock its times are given in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
