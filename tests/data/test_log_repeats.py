"""RepeatedLines: the first of a kind said, its copies within the window
dropped and counted in the next one said."""

from __future__ import annotations

import logging

import pytest

from tierflow.data.log_repeats import RepeatedLines


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_line_is_said_once_a_window_with_its_count() -> None:
    clock = _Clock()
    lines = RepeatedLines(60.0, clock=clock)
    assert lines.admit("db away") == "db away"
    clock.now += 1
    assert lines.admit("db away") is None
    assert lines.admit("other") == "other"  # another line is its own
    clock.now += 58.5
    assert lines.admit("db away") is None  # 59.5 s after it was said
    clock.now += 1
    assert lines.admit("db away") == "db away (2 more like it in the last 60 s)"
    clock.now += 61
    assert lines.admit("db away") == "db away"  # none dropped meanwhile


def test_the_same_failure_of_another_connection_is_a_repeat() -> None:
    lines = RepeatedLines(60.0, clock=_Clock())
    assert lines.admit("closing <psycopg.Connection [BAD] at 0x7f3a10>") is not None
    assert lines.admit("closing <psycopg.Connection [BAD] at 0x7f3b2c>") is None


def test_a_line_that_differs_only_in_a_duration_is_a_repeat() -> None:
    """A reason naming a session idle for N s is the same reason a second
    later (it was said at each retry); another session, or another wait
    for a lock, is a new one."""
    clock = _Clock()
    lines = RepeatedLines(30.0, clock=clock)
    held = (
        "gave up after waiting {} s for a lock (pid {}, idle in transaction for {} s)"
    )
    assert lines.admit(held.format(5, 42, 7)) is not None
    clock.now += 1
    assert lines.admit(held.format(0.1, 42, 8)) is None
    assert lines.admit(held.format(0.1, 43, 8)) is not None  # another session
    clock.now += 30
    assert lines.admit(held.format(0.1, 42, 38)) == (
        f"{held.format(0.1, 42, 38)} (1 more like it in the last 31 s)"
    )


def test_clear_says_the_next_at_once_and_few_lines_are_kept() -> None:
    clock = _Clock()
    lines = RepeatedLines(60.0, kept=2, clock=clock)
    assert lines.admit("a") == "a" and lines.admit("a") is None
    lines.clear()
    assert lines.admit("a") == "a"
    assert lines.admit("b") == "b" and lines.admit("c") == "c"  # "a" forgotten
    assert lines.admit("a") == "a" and lines.admit("c") is None


def test_say_logs_what_admit_lets_through_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    lines = RepeatedLines(60.0, clock=clock)
    logger = logging.getLogger("tierflow.test.repeats")
    error = RuntimeError("a defect")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        lines.say(logger, logging.ERROR, "failed", exc_info=error)
        lines.say(logger, logging.ERROR, "failed", exc_info=error)
        clock.now += 61.0
        lines.say(logger, logging.WARNING, "failed")
    said = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records]
    assert said[0][:2] == (logging.ERROR, "failed")
    assert said[0][2] is not None and said[0][2][1] is error
    assert said[1:] == [
        (logging.WARNING, "failed (1 more like it in the last 61 s)", None)
    ]


def test_lines_of_a_kind_given_by_their_key_are_repeats() -> None:
    """A line naming what it is about (a client's address) is a repeat of
    another of its ``key``: the first is said whole, the next one after the
    window with the count."""
    clock = _Clock()
    lines = RepeatedLines(30.0, clock=clock)
    assert lines.admit("10.0.0.1:5000: dropped", key="dropped") == (
        "10.0.0.1:5000: dropped"
    )
    assert lines.admit("10.0.0.2:5001: dropped", key="dropped") is None
    assert lines.admit("10.0.0.2:5001: dropped") is not None  # no key: its own
    clock.now += 31
    assert lines.admit("10.0.0.3:5002: dropped", key="dropped") == (
        "10.0.0.3:5002: dropped (1 more like it in the last 31 s)"
    )
