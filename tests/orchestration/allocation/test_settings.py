"""AllocationSettings refuses what would allocate nothing or fail deep inside."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tierflow.data.errors import InputError
from tierflow.orchestration.allocation.settings import AllocationSettings
from tierflow.solver.registry import engine_names


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("batch_size", -1, r"value -1: must be an integer in \[1, 1,000,000\]$"),
        ("batch_size", 0, r"value 0: must be an integer in \[1, 1,000,000\]$"),
        ("batch_minutes", math.nan, r"value nan: must be a number in \(0, 1,440\]$"),
        ("batch_minutes", 10**30, r"value 10{30}: must be a number in \(0, 1,440\]$"),
        ("batch_minutes", "5", r"value '5': must be a number in"),
        ("time_limit_s", math.inf, r"value inf: must be a number in \[0, 1,000,000\]$"),
        ("release_minutes", -1.0, r"value -1\.0: must be a number in \[0, 10,080\]$"),
        ("bid_shift", math.nan, r"value nan: must be a number in \[0, inf\]$"),
        ("seed", -5, r"value -5: must be an integer in \[0, 2,147,483,647\]$"),
        ("expected_orders", 0, r"value 0: must be an integer in \[1, 100,000,000\]$"),
        ("n_jobs", 1.5, r"value 1\.5: must be an integer in \[1, 256\]$"),
        ("engine", "warp", r"value 'warp': unknown engine$"),
        ("backend", "spark", r"value 'spark': must be one of none, loky, threading, dask$"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_setting(setting: str, value: Any, message: str) -> None:
    """A negative batch size allocated nothing without a word; NaN or inf
    minutes failed inside the batching with numpy's error."""
    with pytest.raises(InputError, match=rf"^field '{setting}': {message}"):
        AllocationSettings(**{setting: value})


def test_the_defaults_and_every_engine_pass() -> None:
    for engine in engine_names(baselines=True):
        assert AllocationSettings(engine=engine).engine == engine
    assert AllocationSettings(bid_shift=math.inf).bid_shift == math.inf  # never
