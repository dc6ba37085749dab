"""AllocationSettings refuses what would allocate nothing or fail deep inside."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.orchestration.allocation.conftest import MakeOrders
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.orchestration.allocation.day_allocator import DayAllocator
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


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"capacity": np.full(3, -5.0)}, r"^field 'capacity': index 0: value -5\.0: must be a number in \[0, 1,000,000,000\]$"),
        ({"capacity": np.ones(1)}, r"^field 'capacity': shape \(1,\), expected \(3,\)$"),
        ({"stock": "stock"}, r"^field 'stock': (not an array|shape)"),
        ({"stock": "nan"}, r"^field 'stock': index \(0, 0\): value nan: must be an integer in"),
        ({"predicted_spend": np.ones(2)}, r"^field 'predicted_spend': shape \(2,\), expected \(1,\)$"),
    ],
)  # fmt: skip
def test_the_arrays_a_caller_hands_in_are_checked(
    tiny_network: Network, make_orders: MakeOrders, given: dict[str, Any], message: str
) -> None:
    """A negative capacity deferred every order, a NaN stock made every line
    unfillable, and a short spend array was an IndexError."""
    orders = make_orders(["W,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1"])
    if isinstance(given.get("stock"), str) and given["stock"] == "nan":
        given = {"stock": np.full(tiny_network.inventory.shape, np.nan)}
    with pytest.raises(InputError, match=message):
        DayAllocator(tiny_network, orders, **given)


def test_the_run_identity_leaves_out_how_the_work_is_spread() -> None:
    """``--jobs`` and the parallel backend were part of the run id: a run
    resumed with another --jobs started again from batch 0. They only
    spread the same partitions; partitioning itself (backend none or not),
    the engine, the time limit, the seed and the batching still count."""
    base = AllocationSettings(backend="loky", n_jobs=2).identity()
    spreads: tuple[dict[str, Any], ...] = (
        {"backend": "threading", "n_jobs": 1},
        {"backend": "dask", "n_jobs": 2},
        {"backend": "loky", "n_jobs": 16},
    )
    for spread in spreads:
        assert AllocationSettings(**spread).identity() == base
    assert "n_jobs" not in base and "backend" not in base
    assert base["partitioned"] is True
    assert AllocationSettings(backend="none").identity()["partitioned"] is False
    for changed in (
        {"backend": "none"},
        {"engine": "greedy"},
        {"time_limit_s": 3.0},
        {"seed": 1},
        {"batch_size": 4},
        {"threads": 1},
    ):
        given: dict[str, Any] = {"backend": "loky", **changed}
        assert AllocationSettings(**given).identity() != base
