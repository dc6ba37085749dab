"""The benchmark scripts read their number options as the CLI does: ASCII
digits with an optional sign, or argparse's usage error naming both."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tierflow.benchmarks.arguments import decimal, whole


@pytest.mark.parametrize(
    ("module", "option", "text"),
    [
        ("greedy_speed", "--repeat", "3_0"),
        ("greedy_speed", "--repeat", " 5 "),
        ("greedy_speed", "--repeat", "٣"),
        ("thin_stock", "--time-limit", "1_0"),
        ("thin_stock", "--time-limit", "nan"),
    ],
)
def test_a_number_int_or_float_would_read_is_a_usage_error(
    module: str, option: str, text: str
) -> None:
    """``int()`` read ``--repeat 3_0`` as 30 and the benchmark ran (minutes);
    ``float()`` took ``nan`` as a time limit."""
    done = subprocess.run(
        [sys.executable, "-m", f"tierflow.benchmarks.{module}", option, text],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert f"error: argument {option}: {text!r} is not " in done.stderr


def test_plain_numbers_are_read() -> None:
    assert [whole(t) for t in ("30", "-4", "+007")] == [30, -4, 7]
    assert [decimal(t) for t in ("1", "2.5", ".5", "1e3")] == [1.0, 2.5, 0.5, 1000.0]
    for text in ("3_0", "", "1.0", "３"):
        with pytest.raises(argparse.ArgumentTypeError, match="digits 0-9"):
            whole(text)
    with pytest.raises(argparse.ArgumentTypeError, match="not a finite number"):
        decimal("inf")
