"""``SolveParams``: one frozen value with one default per meaning."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tierflow.solver.params import DEFAULT_RELATIVE_GAP, SolveParams


def test_defaults() -> None:
    params = SolveParams()
    assert (params.time_limit_s, params.seed, params.threads) == (10.0, 0, None)
    assert params.relative_gap == DEFAULT_RELATIVE_GAP == 1e-6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_limit_s": -1.0}, r"time_limit_s must be >= 0, got -1.0"),
        ({"time_limit_s": math.nan}, r"time_limit_s must be >= 0, got nan"),
        ({"threads": 0}, r"threads must be >= 1 or None, got 0"),
        ({"relative_gap": -1e-3}, r"relative_gap must be >= 0, got -0.001"),
        ({"relative_gap": math.inf}, r"relative_gap must be >= 0, got inf"),
    ],
)
def test_bad_values_are_named(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SolveParams(**changes)  # type: ignore[arg-type]


def test_frozen_and_replace_checks_again() -> None:
    params = SolveParams(time_limit_s=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.seed = 1  # type: ignore[misc]
    assert params.replace(seed=4) == SolveParams(time_limit_s=2.0, seed=4)
    with pytest.raises(ValueError, match="threads"):
        params.replace(threads=-2)
