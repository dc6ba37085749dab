"""The progress bar of the long commands, on stderr (stdout stays the result)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


def _item(label: str | None) -> str | None:
    return label


@contextmanager
def progress_bar(
    label: str, length: int, *, show_pos: bool = True, show_item: bool = False
) -> Iterator[Any]:
    """A click progress bar on stderr; ``show_item`` shows ``update``'s item."""
    bar: Any
    with click.progressbar(
        length=length,
        label=label,
        file=sys.stderr,
        show_pos=show_pos,
        item_show_func=_item if show_item else None,
    ) as bar:
        yield bar
