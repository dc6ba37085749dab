"""``SolveParams``: one frozen value with one default per meaning."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tierflow.data.errors import InputError
from tierflow.solver.params import DEFAULT_RELATIVE_GAP, SolveParams


def test_defaults() -> None:
    params = SolveParams()
    assert (params.time_limit_s, params.seed, params.threads) == (10.0, 0, None)
    assert params.relative_gap == DEFAULT_RELATIVE_GAP == 1e-6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_limit_s": -1.0}, r"^field 'time_limit_s': value -1\.0: must be a number in \[0, 1,000,000\]$"),
        ({"time_limit_s": math.nan}, r"^field 'time_limit_s': value nan: must be a number in"),
        ({"seed": math.nan}, r"^field 'seed': value nan: must be an integer in \[0, 2,147,483,647\]$"),
        ({"seed": -1}, r"^field 'seed': value -1: must be an integer in"),
        ({"threads": 0}, r"^field 'threads': value 0: must be an integer in \[1, 1,024\]$"),
        ({"threads": math.nan}, r"^field 'threads': value nan: must be an integer in"),
        ({"relative_gap": -1e-3}, r"^field 'relative_gap': value -0\.001: must be a number in \[0, 1\]$"),
        ({"relative_gap": math.inf}, r"^field 'relative_gap': value inf: must be a number in"),
    ],
)  # fmt: skip
def test_bad_values_are_named(changes: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SolveParams(**changes)  # type: ignore[arg-type]


def test_frozen_and_replace_checks_again() -> None:
    params = SolveParams(time_limit_s=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.seed = 1  # type: ignore[misc]
    assert params.replace(seed=4) == SolveParams(time_limit_s=2.0, seed=4)
    with pytest.raises(ValueError, match="threads"):
        params.replace(threads=-2)


def test_deterministic_must_be_a_bool() -> None:
    with pytest.raises(
        InputError, match=r"^field 'deterministic': value 'yes': must be true or false$"
    ):
        SolveParams(deterministic="yes")  # type: ignore[arg-type]
    assert SolveParams(deterministic=True).clock_limit_s == math.inf
    assert SolveParams(time_limit_s=2.0).clock_limit_s == 2.0
