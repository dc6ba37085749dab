"""Parameter types the ``tierflow`` commands share beyond click's own."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from tierflow.data.calendar_days import no_such_day
from tierflow.data.errors import InputError
from tierflow.data.limits import TimeWindow, parse_instant
from tierflow.data.output_folder import file_in_the_way
from tierflow.data.written_numbers import (
    PLAIN_DIGITS,
    decimal_number,
    python_would_read,
    whole_number,
)


def _plain(
    parsed: object,
    value: Any,
    kind: click.ParamType[Any],
    param: click.Parameter | None,
    ctx: click.Context | None,
) -> None:
    """Fail ``kind``'s conversion of text ``value`` that its parser
    (``parsed``: None) refused, saying why when Python would have read it."""
    if parsed is not None or not isinstance(value, str):
        return
    whole = isinstance(kind, click.types.IntParamType)
    why = f": {PLAIN_DIGITS}" if python_would_read(value, whole=whole) else ""
    # A range's own name ("integer range") read as if a range were wanted.
    what = "integer" if whole else "number"
    kind.fail(f"{value!r} is not a valid {what}{why}.", param, ctx)


class WholeRange(click.IntRange):
    """``click.IntRange`` taking ASCII digits with an optional sign only:
    click's ``int()`` read ``--keep-days 3_0`` as 30, ``' 5 '`` as 5 and
    other scripts' digits as numbers (from the command line, a
    ``TIERFLOW_*`` variable or the settings file alike)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if isinstance(value, str):
            _plain(whole_number(value), value, self, param, ctx)
        return super().convert(value, param, ctx)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and ±inf: NaN passes every
    comparison of a range and inf passes an open top, and either would reach
    a solver's time limit or a capacity scale (from the command line, a
    ``TIERFLOW_*`` variable or the settings file alike). Its text is an
    ASCII decimal, as :class:`WholeRange`'s (``float()`` read ``3_0``)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if isinstance(value, str):
            _plain(decimal_number(value), value, self, param, ctx)
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        # -0 is 0: `--workload -0` was echoed "workload": -0.0 in JSON
        return number + 0.0


class Instant(click.ParamType[dt.datetime]):
    """An ISO 8601 instant with an offset (``Z`` allowed), optionally inside
    a time window: a bad one is a usage error (exit 2), as any bad flag
    value (``--at`` without an offset exited 1)."""

    name = "ISO8601"

    def __init__(self, window: TimeWindow | None = None) -> None:
        self.window = window

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value)
        try:
            return parse_instant(text, "instant", window=self.window)
        except InputError as exc:
            self.fail(f"{text!r}: {exc.reason}.", param, ctx)


class Day(click.DateTime):
    """A ``YYYY-MM-DD`` day (``--start``, ``--day``): click's ``DateTime``,
    saying why a day the calendar has not is refused (``2026-02-29``: "no
    such day: 2026 is not a leap year"), as every other date reader does;
    it read "does not match the format '%Y-%m-%d'", a format it has."""

    def __init__(self) -> None:
        super().__init__(formats=["%Y-%m-%d"])

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if isinstance(value, str):
            missing = no_such_day(value)
            if missing is not None:
                self.fail(f"{value!r}: {missing}.", param, ctx)
        return super().convert(value, param, ctx)


class OutputPath(click.Path):
    """A path to write (a file or a folder): click's checks, and also that
    the nearest existing folder above it is a folder, so that a command
    refuses ``--out report.csv/x`` before it writes anything else (a store
    row, a model) rather than failing at its last step."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        text = os.fsdecode(value) if isinstance(value, str | bytes) else None
        if text is not None and not text.strip():
            # an empty path is the current folder to pathlib: its files were
            # replaced there, or refused as "'.' is not a regular file"
            self.fail("an empty path names no file or folder.", param, ctx)
        if text is not None and not self.dir_okay:
            if text.endswith(("/", os.sep)):  # pathlib drops the slash
                self.fail(f"{text!r} names a folder; give a file name.", param, ctx)
            if text == "-" and not self.allow_dash:  # not standard output
                self.fail(
                    "'-' (standard output) is not taken here; give a file name.",
                    param,
                    ctx,
                )
        path = super().convert(value, param, ctx)
        above = file_in_the_way(Path(os.fsdecode(path)))
        if above is not None:
            self.fail(f"{str(above)!r} is a file, not a folder.", param, ctx)
        target = Path(os.fsdecode(path))
        if not self.dir_okay and (
            target.is_symlink() or (target.exists() and not target.is_file())
        ):
            # outputs are written beside the path and renamed over it: a link
            # (/dev/stdout), a device or a pipe would be replaced by a plain file
            self.fail(
                f"{str(target)!r} is not a regular file but a link, device or "
                "pipe (outputs are written to a new file and renamed over it).",
                param,
                ctx,
            )
        if not self.file_okay and target.exists() and not target.is_dir():
            # click's folder check refuses only a regular file: a device or a
            # pipe (/dev/null) ended in "File exists" once the command ran
            self.fail(
                f"{str(target)!r} is not a folder but a device or pipe.", param, ctx
            )
        return path


def refuse_input_as_output(
    out: Path | str | None, flag: str, **inputs: Path | None
) -> None:
    """A usage error when ``out`` (``flag``'s path) is one of the command's
    input files (``--transactions`` given as ``--out`` replaced the
    purchase log by its scores, exit 0). ``inputs``: option name (without
    ``--``) to path, None when not given; a URL ``out`` is no file."""
    if not isinstance(out, Path):
        return
    name = _input_at(out, inputs.items())
    if name is not None:
        raise click.BadParameter(
            f"{str(out)!r} is the --{name} file: an output never replaces an input.",
            param_hint=f"'{flag}'",
        )


def _input_at(out: Path, inputs: Iterable[tuple[str, Path | None]]) -> str | None:
    """The name of the input (name, path) ``out`` is (the same file, however
    named), None when it is none of them or does not exist."""
    if not out.exists():
        return None
    for name, path in inputs:
        if path is not None and path.exists() and os.path.samefile(out, path):
            return name
    return None


def refuse_network_table_as_output(out: Path, network_dir: Path) -> None:
    """A usage error when ``out`` is one of the tables of the network folder
    the command reads (``generate orders --out net/nodes.csv`` replaced the
    network's nodes by the orders drawn from them, exit 0)."""
    from tierflow.data.sample_network import NETWORK_TABLES

    tables = (
        (name, network_dir / f"{name}.{ext}")
        for name in NETWORK_TABLES
        for ext in ("csv", "parquet")
    )
    table = _input_at(out, tables)
    if table is not None:
        raise click.BadParameter(
            f"{str(out)!r} is the network's {table} table "
            "(--network): an output never replaces an input.",
            param_hint="'--out'",
        )
