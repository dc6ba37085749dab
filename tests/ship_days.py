"""WH-EAST's ship days on the tiny network (New York, cutoff 18:00, the
carrier calendar): when an order placed at an instant ships, and one ship
day later (the overflow tier's delay). Shared by the pricer's, the
planner's and ``tierflow options``' tests."""

from __future__ import annotations

import datetime as dt

ET = dt.timezone(dt.timedelta(hours=-5))  # New York in November

#: (the order's instant, its ship day, one ship day later).
WH_EAST_SHIP_DAYS = [
    # a Thursday before the 18:00 cutoff: today, then tomorrow
    (dt.datetime(2026, 11, 5, 10, tzinfo=ET), "2026-11-05", "2026-11-06"),
    # a Thursday after it: Friday, then Saturday (a ship day)
    (dt.datetime(2026, 11, 5, 19, tzinfo=ET), "2026-11-06", "2026-11-07"),
    # a Friday after it: Saturday, then Monday (no Sunday shipping)
    (dt.datetime(2026, 11, 6, 19, tzinfo=ET), "2026-11-07", "2026-11-09"),
    # a Saturday before the cutoff: today, then Monday
    (dt.datetime(2026, 11, 7, 10, tzinfo=ET), "2026-11-07", "2026-11-09"),
    # a Saturday after it, and a Sunday: Monday, then Tuesday (a day added
    # to the instant rolled onto Monday too: "later" was Monday, with Gold)
    (dt.datetime(2026, 11, 7, 20, 30, tzinfo=ET), "2026-11-09", "2026-11-10"),
    (dt.datetime(2026, 11, 8, 12, tzinfo=ET), "2026-11-09", "2026-11-10"),
    # Thanksgiving (closed): Friday, then Saturday
    (dt.datetime(2026, 11, 26, 10, tzinfo=ET), "2026-11-27", "2026-11-28"),
    # the Wednesday before it: today, then Friday (the holiday skipped)
    (dt.datetime(2026, 11, 25, 10, tzinfo=ET), "2026-11-25", "2026-11-27"),
]
