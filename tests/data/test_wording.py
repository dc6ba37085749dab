"""Counts in words: the singular for one, the plural otherwise."""

from __future__ import annotations

import pytest

from tierflow.data.wording import counted


@pytest.mark.parametrize(
    ("n", "noun", "plural", "text"),
    [
        (1, "job", None, "1 job"),
        (0, "job", None, "0 jobs"),
        (2, "job", None, "2 jobs"),
        (1, "batch", "batches", "1 batch"),
        (1_234, "batch", "batches", "1,234 batches"),
        (-1, "day", None, "-1 days"),
    ],
)
def test_one_is_singular_and_every_other_count_plural(
    n: int, noun: str, plural: str | None, text: str
) -> None:
    assert counted(n, noun, plural) == text
