"""The click options several ``tierflow`` commands share, each declared once.

Each is a decorator (or a factory of one, where the commands differ only in
the default or the help line); the flag names, destinations, defaults, help
texts and metavars are the commands' contract (``docs`` and ``--help``).
Every option is made by :func:`option` (a :class:`~tierflow.cli.config.ConfigOption`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from tierflow.cli.config import ConfigOption, ListOption
from tierflow.cli.option_values import ENGINE_NAMES
from tierflow.cli.param_types import FiniteFloatRange, OutputPath, WholeRange
from tierflow.data.errors import InputError, SolverError
from tierflow.data.extras import MissingExtraError
from tierflow.data.limits import MAX_SEED, MAX_TIME_LIMIT_S
from tierflow.data.logging_setup import LOG_FORMATS, LOG_LEVELS, configure_logging
from tierflow.data.store_location import default_state_location, describe_location

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("tierflow.cli")


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` whose value may come from ``TIERFLOW_*`` or the settings file."""
    return click.option(*param_decls, cls=ConfigOption, **attrs)


def list_option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """:func:`option` whose value is a comma-separated list: given twice on
    the command line it is refused (:class:`~tierflow.cli.config.ListOption`)."""
    return click.option(*param_decls, cls=ListOption, **attrs)


_LOG_META = "tierflow.logging"


def set_logging(ctx: click.Context, **values: str) -> None:
    """Set up logging with ``log_level``/``log_format`` from ``values``; the
    ones not given keep what the root command (or an earlier call) set."""
    root = ctx.find_root()
    current = root.meta.setdefault(
        _LOG_META, {"log_level": "info", "log_format": "text"}
    )
    current.update(values)
    configure_logging(current["log_level"], current["log_format"])


def _command_log_setting(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> None:
    """A command's own ``--log-level``/``--log-format``: overrides the root's."""
    if value is not None and param.name is not None:
        set_logging(ctx, **{param.name: value})


def _log_params() -> list[click.Parameter]:
    return [
        ConfigOption(
            ["--log-level"],
            type=click.Choice(LOG_LEVELS),
            default=None,
            expose_value=False,
            callback=_command_log_setting,
            help="Least severe log record written (stderr); as `tierflow "
            "--log-level`, which it overrides for this command.",
        ),
        ConfigOption(
            ["--log-format"],
            type=click.Choice(LOG_FORMATS),
            default=None,
            expose_value=False,
            callback=_command_log_setting,
            help="Log records as text or JSON lines; as `tierflow --log-format`, "
            "which it overrides for this command.",
        ),
    ]


def add_log_options(command: click.Command) -> None:
    """Give ``command`` (every command under it, for a group) its own
    ``--log-level`` and ``--log-format``, so they work after the command's
    name too."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_log_options(sub)
    elif not any(p.name == "log_level" for p in command.params):
        command.params.extend(_log_params())


def command_line_only(param: str, flag: str, run: str, nothing: str) -> None:
    """Refuse a drastic flag (``param`` of the running command, given as
    ``flag``) that is on but did not come from the command line: a standing
    setting (settings file, ``TIERFLOW_*``) would do it at every ``run``
    (``"load"``), not just the one that needs it. ``nothing``: what was not
    done (``"nothing written"``)."""
    ctx = click.get_current_context()
    if ctx.params.get(param) and (
        ctx.get_parameter_source(param) is not ParameterSource.COMMANDLINE
    ):
        raise InputError(
            "set by a settings file or variable: give it on the command line, "
            f"for the {run} that needs it; {nothing}",
            field=flag,
            value=True,
        )


def examples(*lines: str) -> str:
    """A command's ``epilog``: example command lines, kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def network_option(func: F) -> F:
    """``--network DIR`` (default: the embedded sample network)."""
    return option(
        "--network",
        "network_dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Network folder (default: the embedded US sample).",
    )(func)


class _StateOption(ConfigOption):
    """``--state``, whose help names the default store (from
    :mod:`tierflow.data.store_location`, which imports nothing heavy; the
    store's package costs 0.4 s), as it is when the help is shown
    (``$TIERFLOW_STATE`` then), not when the command was declared."""

    @property
    def help(self) -> str:
        return (
            "State store: a SQLite file or a postgresql:// URL (default: "
            f"$TIERFLOW_STATE or {describe_location(default_state_location())})."
        )

    @help.setter
    def help(self, value: str | None) -> None:
        """click sets it; the text is the property's."""


def state_option(func: F) -> F:
    """``--state DB`` (default ``$TIERFLOW_STATE`` or the user data folder)."""
    from tierflow.cli.state_location import STATE_LOCATION

    return click.option(
        "--state",
        "state_path",
        cls=_StateOption,
        type=STATE_LOCATION,
        default=None,
    )(func)


def json_option(help: str | None = None) -> Callable[[F], F]:
    """``--json``: print the result as JSON (``as_json``)."""
    return option("--json", "as_json", is_flag=True, help=help)


#: Random seeds (:data:`~tierflow.data.limits.MAX_SEED`).
SEED_RANGE = WholeRange(0, MAX_SEED)


def seed_option(default: int) -> Callable[[F], F]:
    """``--seed N``."""
    return option(
        "--seed",
        type=SEED_RANGE,
        default=default,
        show_default=True,
        help="Random seed.",
    )


def repeat_option(default: int) -> Callable[[F], F]:
    """``--repeat N``: repetitions of every measurement."""
    return option(
        "--repeat",
        type=WholeRange(1, 1000),
        default=default,
        show_default=True,
        help="Repetitions of every measurement.",
    )


def time_limit_option(default: float, help: str) -> Callable[[F], F]:
    """``--time-limit SECONDS`` (``time_limit``)."""
    return option(
        "--time-limit",
        "time_limit",
        type=FiniteFloatRange(0.0, MAX_TIME_LIMIT_S),
        default=default,
        show_default=True,
        help=help,
    )


def hindsight_time_limit_option(default: float) -> Callable[[F], F]:
    """``--hindsight-time-limit SECONDS``: the whole-day solve's limit."""
    return option(
        "--hindsight-time-limit",
        type=FiniteFloatRange(0.0, MAX_TIME_LIMIT_S),
        default=default,
        show_default=True,
        help="Seconds for the whole-day hindsight solve.",
    )


def history_option(learns: str) -> Callable[[F], F]:
    """``--history PAST.csv``: orders of earlier days, what ``learns`` from them."""
    return option(
        "--history",
        "history_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=f"Orders of earlier days (orders.csv columns): {learns}",
    )


def require_engine(name: str) -> None:
    """Nothing if engine ``name`` can run here; else the one-line error (a
    missing optional dependency names the extra that installs it)."""
    from tierflow.solver.engine import Availability
    from tierflow.solver.registry import get_engine

    engine = get_engine(name)
    state = engine.available()
    if state:
        return
    extra = getattr(engine, "extra", None)
    if state is Availability.NOT_INSTALLED and extra:
        raise MissingExtraError(f"{name} engine", extra)
    raise SolverError(f"the {name} engine cannot run here ({state.name.lower()})")


def _usable_engine(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    require_engine(value)
    return value


def engine_option(
    choices: Sequence[str] | None = None, help: str | None = None
) -> Callable[[F], F]:
    """``--engine NAME`` (default ``cpsat``; choices: the registry's engines,
    :data:`~tierflow.cli.option_values.ENGINE_NAMES`)."""
    return option(
        "--engine",
        type=click.Choice(list(choices if choices is not None else ENGINE_NAMES)),
        default="cpsat",
        show_default=True,
        callback=_usable_engine,
        help=help or "Solver engine (cbc needs: pip install 'tierflow[cbc]').",
    )


def engines_option(default: str, help: str) -> Callable[[F], F]:
    """``--engines A,B,...`` (read with :func:`parse_engines`)."""
    return list_option("--engines", default=default, show_default=True, help=help)


def parse_engines(value: str) -> list[str]:
    """The names of ``--engines``; a usage error names an unknown one.

    An engine that cannot run here stops the command when asked for, and is
    left out (with a warning) when it is only in the default list.
    """
    from tierflow.solver.registry import engine_names

    names = [v.strip() for v in value.split(",") if v.strip()]
    valid = engine_names()
    if not names:  # ran nothing and wrote an empty table, exit 0
        raise click.BadParameter(
            f"no engine given; choose from {', '.join(valid)}",
            param_hint="--engines",
        )
    for k, name in enumerate(names):
        if name not in valid:
            raise click.BadParameter(
                f"unknown engine {name!r}; choose from {', '.join(valid)}",
                param_hint="--engines",
            )
        if name in names[:k]:
            # each ran twice: results.csv held two rows of one instance,
            # engine and repeat, and the summary's medians took both
            raise click.BadParameter(
                f"engine {name!r} listed twice (--repeat repeats a run)",
                param_hint="--engines",
            )
    ctx = click.get_current_context(silent=True)
    source = None if ctx is None else ctx.get_parameter_source("engines")
    param = (
        None
        if ctx is None
        else next((p for p in ctx.command.params if p.name == "engines"), None)
    )
    defaulted = source is ParameterSource.DEFAULT or (
        source is ParameterSource.DEFAULT_MAP and param and value == param.default
    )
    usable = []
    for name in names:
        try:
            require_engine(name)
        except MissingExtraError as exc:
            if not defaulted:
                raise
            _log.warning("%s; left out of the default --engines", exc)
            continue
        usable.append(name)
    return usable


def maximize_option(help: str) -> Callable[[F], F]:
    """``--maximize``: the files' costs are profits."""
    return option("--maximize", is_flag=True, help=help)


def orders_file_option(help: str) -> Callable[[F], F]:
    """``--orders FILE`` (``orders_path``): an existing orders.csv."""
    return option(
        "--orders",
        "orders_path",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=help,
    )


def cltv_scores_option(dest: str, help: str) -> Callable[[F], F]:
    """``--cltv-scores FILE``: scores of ``tierflow cltv score``."""
    return option(
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
        return option(
            "--out",
            dest,
            required=True,
            type=OutputPath(file_okay=False, path_type=Path),
            help=help,
        )
    return option(
        "--out",
        dest,
        type=OutputPath(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


def out_file_option(help: str | None = None) -> Callable[[F], F]:
    """``--out FILE`` (required): the file to write."""
    return option(
        "--out",
        required=True,
        type=OutputPath(dir_okay=False, path_type=Path),
        help=help,
    )
