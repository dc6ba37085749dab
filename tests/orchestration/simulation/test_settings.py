"""SimulationSettings refuses, by the option's name, what would fail mid-run."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from tierflow.data.errors import InputError
from tierflow.orchestration.simulation.settings import SimulationSettings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"checkouts": math.nan}, r"^field '--checkouts': value nan: must be an integer in \[1, 1,000,000\]$"),
        ({"checkouts": 1.5}, r"^field '--checkouts': value 1\.5: must be an integer"),
        ({"history_checkouts": 0}, r"^field '--history-checkouts': value 0: must be an integer in \[1, 1,000,000\]$"),
        ({"history_checkouts": -3}, r"^field '--history-checkouts': value -3: must be an integer in \[1, 1,000,000\]$"),
        ({"history_checkouts": 1.5}, r"^field '--history-checkouts': value 1\.5: must be an integer"),
        ({"utilization": math.inf}, r"^field '--utilization': value inf: must be a number in \(0, 2\]$"),
        ({"time_limit_s": -1}, r"^field '--time-limit': value -1: must be a number in \[0, 1,000,000\]$"),
        ({"engine": "warp"}, r"^field '--engine': value 'warp': unknown engine$"),
        ({"spike": "25:00,2"}, r"^field '--spike': value '25:00,2'"),
        ({"outage_at": "13:00"}, r"^field '--outage': value '13:00': must be a time of day$"),
        ({"cancel_p": 2}, r"^field 'cancel_p': value 2: must be a number in \[0, 1\]$"),
        # TIERFLOW_NOW is 2026-06-01: the day's capacity events must fit the
        # event log's window, a year ahead at most
        ({"day": dt.date(2999, 1, 1)}, r"^field '--day': value '2999-01-01': outside the allowed window 2016-06-01 \.\. 2027-06-01"),
        ({"day": dt.date(2027, 6, 1)}, r"^field '--day': value '2027-06-01 \(its events run into 2027-06-02\)': outside the allowed window 2016-06-01 \.\. 2027-06-01"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_option(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SimulationSettings(**changes)


def test_the_defaults_pass() -> None:
    assert SimulationSettings().checkouts == 3000
