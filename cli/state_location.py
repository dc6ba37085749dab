"""``--state``: a SQLite file, or a PostgreSQL URL passed through as given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierflow.data.store import is_postgres_url


class StateLocation(click.Path):
    """A file path (as :class:`click.Path` checks it) or a ``postgresql://`` URL."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if is_postgres_url(value):
            return value
        return super().convert(value, param, ctx)


#: The ``--state`` type of every command (metavar ``FILE``, as before).
STATE_LOCATION = StateLocation(dir_okay=False, path_type=Path)
