"""The click options several ``tierflow`` commands share, each declared once.

Each is a decorator (or a factory of one, where the commands differ only in
the default or the help line); the flag names, destinations, defaults, help
texts and metavars are the commands' contract (``docs`` and ``--help``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from tierflow.cli.state_location import STATE_LOCATION
from tierflow.data.store import default_state_location, describe_location
from tierflow.solver.registry import engine_names

F = TypeVar("F", bound=Callable[..., Any])


def network_option(func: F) -> F:
    """``--network DIR`` (default: the embedded sample network)."""
    return click.option(
        "--network",
        "network_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Network folder (default: the embedded US sample).",
    )(func)


def state_option(func: F) -> F:
    """``--state DB`` (default ``$TIERFLOW_STATE`` or the user data folder)."""
    return click.option(
        "--state",
        "state_path",
        type=STATE_LOCATION,
        default=None,
        help="State store (default: $TIERFLOW_STATE or "
        f"{describe_location(default_state_location())}).",
    )(func)


def json_option(help: str | None = None) -> Callable[[F], F]:
    """``--json``: print the result as JSON (``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def seed_option(default: int) -> Callable[[F], F]:
    """``--seed N``."""
    return click.option("--seed", type=int, default=default, show_default=True)


def repeat_option(default: int) -> Callable[[F], F]:
    """``--repeat N``: repetitions of every measurement."""
    return click.option(
        "--repeat", type=click.IntRange(min=1), default=default, show_default=True
    )


def time_limit_option(default: float, help: str) -> Callable[[F], F]:
    """``--time-limit SECONDS`` (``time_limit``)."""
    return click.option(
        "--time-limit",
        "time_limit",
        type=click.FloatRange(min=0.0),
        default=default,
        show_default=True,
        help=help,
    )


def hindsight_time_limit_option(default: float) -> Callable[[F], F]:
    """``--hindsight-time-limit SECONDS``: the whole-day solve's limit."""
    return click.option(
        "--hindsight-time-limit",
        type=click.FloatRange(min=0.0),
        default=default,
        show_default=True,
        help="Seconds for the whole-day hindsight solve.",
    )


def engine_option(
    choices: Sequence[str] | None = None, help: str | None = None
) -> Callable[[F], F]:
    """``--engine NAME`` (default ``cpsat``; choices: the registry's engines)."""
    return click.option(
        "--engine",
        type=click.Choice(list(choices) if choices is not None else engine_names()),
        default="cpsat",
        show_default=True,
        help=help,
    )


def engines_option(default: str, help: str) -> Callable[[F], F]:
    """``--engines A,B,...`` (read with :func:`parse_engines`)."""
    return click.option("--engines", default=default, show_default=True, help=help)


def parse_engines(value: str) -> list[str]:
    """The names of ``--engines``; a usage error names an unknown one."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    valid = engine_names()
    for name in names:
        if name not in valid:
            raise click.BadParameter(
                f"unknown engine {name!r}; choose from {', '.join(valid)}",
                param_hint="--engines",
            )
    return names


def maximize_option(help: str) -> Callable[[F], F]:
    """``--maximize``: the files' costs are profits."""
    return click.option("--maximize", is_flag=True, help=help)


def orders_file_option(help: str) -> Callable[[F], F]:
    """``--orders FILE`` (``orders_path``): an existing orders.csv."""
    return click.option(
        "--orders",
        "orders_path",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=help,
    )


def cltv_scores_option(dest: str, help: str) -> Callable[[F], F]:
    """``--cltv-scores FILE``: scores of ``tierflow cltv score``."""
    return click.option(
        "--cltv-scores",
        dest,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=help,
    )


def out_folder_option(
    default: Path | None = None, *, dest: str = "out", help: str | None = None
) -> Callable[[F], F]:
    """``--out DIR``: required without a default, else shown with it."""
    if default is None:
        return click.option(
            "--out",
            dest,
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help=help,
        )
    return click.option(
        "--out",
        dest,
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


def out_file_option(help: str | None = None) -> Callable[[F], F]:
    """``--out FILE`` (required): the file to write."""
    return click.option(
        "--out",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=help,
    )
