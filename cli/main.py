"""The ``tierflow`` command: a click group that only parses, calls and prints.

Errors raised on purpose (:class:`tierflow.data.errors.TierflowError`) become one-line
messages with exit code 1, never a traceback; usage errors exit 2 (click);
Ctrl-C is one line and exit 130, a closed pipe (``| head -1``) exit 141
with nothing on stderr (:mod:`tierflow.cli.entry`, the console script,
which imports this module only once it handles Ctrl-C itself).
Every option also reads ``TIERFLOW_*`` and ``tierflow.toml`` (:mod:`tierflow.cli.config`).
``--log-level`` and ``--log-format`` are taken before the command's name and
by every command itself (:func:`tierflow.cli.options.add_log_options`).
"""

from __future__ import annotations

import errno
import importlib
from pathlib import Path
from typing import Any

import click

from tierflow.cli.config import (
    CONFIG_ENV,
    CONFIG_FILE,
    ENV_PREFIX,
    HELP_ASKED,
    load_settings,
    print_example,
)
from tierflow.cli.entry import ClosedPipe, Interrupted, stdout_closed
from tierflow.cli.entry import main as entry_main
from tierflow.cli.options import add_log_options, examples, option, set_logging
from tierflow.data.errors import TierflowError
from tierflow.data.logging_setup import LOG_FORMATS, LOG_LEVELS


def _output_error(exc: OSError) -> ClosedPipe | click.ClickException:
    """An ``OSError`` as one line naming its file, if any (a write to
    standard output names none: ``> /dev/full``); standard output closed by
    its reader (``| head``) as :class:`~tierflow.cli.entry.ClosedPipe`, the
    quiet exit 141 (click's own was exit 1, our exit for bad input)."""
    if exc.errno == errno.EPIPE and stdout_closed():
        return ClosedPipe()
    where = f"{exc.filename}: " if exc.filename else ""
    return click.ClickException(f"{where}{exc.strerror or exc}")


class TierflowGroup(click.Group):
    """A group that turns tierflow errors into clean ``ClickException``s, and
    Ctrl-C into :class:`~tierflow.cli.entry.Interrupted`, which click lets
    through to the console script (its own "Aborted!" exits 1)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise Interrupted from None
        except OSError as exc:
            # the root's own answers (--help, --version, --example-config)
            # are written here, before invoke: '> /dev/full' was a traceback
            raise _output_error(exc) from None

    def make_parser(self, ctx: click.Context) -> Any:
        """click's parser, with ``--config`` read before ``--help``: click
        processes the eager options given on the line before those not
        given, so ``tierflow --help`` was printed before the settings file
        was read and showed the built-in defaults, not the file's. A file
        that cannot be read does not keep the help from showing
        (:data:`~tierflow.cli.config.HELP_ASKED`)."""
        parser = super().make_parser(ctx)
        config = next(p for p in self.get_params(ctx) if p.name == "config")
        help_option = self.get_help_option(ctx)
        parse = parser.parse_args

        def config_first(args: list[str]) -> Any:
            opts, rest, order = parse(args)
            if help_option not in order:
                return opts, rest, order
            ctx.meta[HELP_ASKED] = True
            return opts, rest, [config, *(p for p in order if p is not config)]

        parser.parse_args = config_first  # type: ignore[method-assign]
        return parser

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted from None
        except TierflowError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise _output_error(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported on first use (with the log
        options every command takes after its name)."""
        found = self.commands.get(cmd_name)
        if found is None and cmd_name in COMMANDS:
            module, name, _ = COMMANDS[cmd_name]
            found = getattr(importlib.import_module(module), name)
            assert isinstance(found, click.Command)
            add_log_options(found)
            self.add_command(found, cmd_name)
        return found

    def format_commands(
        self, ctx: click.Context, formatter: click.HelpFormatter
    ) -> None:
        """The list of commands with their short help, no module imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None and loaded.hidden:
                continue
            # a stand-in shortens an unloaded command's help as click does
            shown = loaded or click.Command(name, help=COMMANDS[name][2])
            rows.append((name, shown.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=TierflowGroup,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "auto_envvar_prefix": ENV_PREFIX,
    },
    epilog=examples(
        "tierflow simulate --out out/simulate",
        "tierflow --log-format json --log-level debug allocate --orders o.csv --out out/a",
        "TIERFLOW_SIMULATE_CHECKOUTS=500 tierflow --config my.toml simulate",
    ),
)
@click.version_option(package_name="tierflow")
@click.option(
    "--example-config",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    allow_from_autoenv=False,
    callback=print_example,
    help="Print the example settings file (every setting, with its default) "
    "and exit: tierflow --example-config > tierflow.toml",
)
@click.option(
    "--config",
    # a folder is refused by load_settings, in one line naming who gave it
    # (click's own check was a usage error that kept --help from answering)
    type=click.Path(path_type=Path),
    metavar="FILE",
    envvar=CONFIG_ENV,
    is_eager=True,
    expose_value=False,
    callback=load_settings,
    help=f"Settings file (TOML; default: ./{CONFIG_FILE} if present; "
    f"also ${CONFIG_ENV}).",
)
@option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="Least severe log record written (stderr).",
)
@option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Log records as text lines or as JSON lines.",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_format: str) -> None:
    """tierflow: fulfillment orchestration with CLTV-aware tiering and allocation.

    Every option may also come from a TIERFLOW_<COMMAND>_<OPTION> variable or
    from tierflow.toml (command line > environment > file > default).
    """
    set_logging(ctx, log_level=log_level, log_format=log_format)


#: Each command: its module and object, and the short help ``tierflow --help``
#: lists (the command's own, checked by ``tests/cli/test_help.py``). A command's
#: module is imported when the command runs (or a settings file sets it): every
#: module at start cost ``tierflow --help`` 2-3 s of imports, and every command
#: the others' (``tierflow options`` 2.7 s, of which its own 1.6 s).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "allocate": (
        "tierflow.cli.allocate_cmd",
        "allocate_command",
        "Allocate ORDERS to nodes; write OUT/allocations.csv and OUT/summary.json.",
    ),
    "bench": (
        "tierflow.cli.bench_cmd",
        "bench",
        "Benchmarks: engines, allocation policies, checkout latency.",
    ),
    "capacity": (
        "tierflow.cli.capacity_cmd",
        "capacity",
        "The capacity monitor: events in, capacity scores out.",
    ),
    "cltv": (
        "tierflow.cli.cltv_cmd",
        "cltv",
        "Customer lifetime value: train, score, evaluate, daily retrain, rollback.",
    ),
    "generate": (
        "tierflow.cli.generate_cmd",
        "generate",
        "Generate seeded synthetic data.",
    ),
    "network": (
        "tierflow.cli.network_cmd",
        "network",
        "Fulfillment network data: validate a folder, write the sample.",
    ),
    "options": (
        "tierflow.cli.options_cmd",
        "options_command",
        "Tiered fulfillment options (Platinum/Gold/Silver/Overflow) for one cart.",
    ),
    "serve": (
        "tierflow.cli.serve_cmd",
        "serve_command",
        "Serve the checkout API, the checkout page (/) and operations page (/ops).",
    ),
    "simulate": (
        "tierflow.cli.simulate_cmd",
        "simulate_command",
        "One day on the network: CLTV, checkouts, choices, allocation, report.",
    ),
    "stock": (
        "tierflow.cli.stock_cmd",
        "stock",
        "Live stock in a state store: load counts and receipts, show it.",
    ),
    "state": (
        "tierflow.cli.state_cmd",
        "state",
        "The state store's upkeep: prune old rows nothing live needs, migrate "
        "its schema.",
    ),
    "solve": (
        "tierflow.cli.solve_cmd",
        "solve_command",
        "Solve every problem in FILE with ENGINE; verify each solution.",
    ),
}


def subcommands(group: click.Group) -> list[tuple[str, click.Command]]:
    """Every command of ``group`` by name, in order, each loaded (for the
    reference and the tests that go through every command)."""
    ctx = click.Context(group)
    found = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    return [(name, command) for name, command in found if command is not None]


def run() -> None:
    """The commands, as ``tierflow`` (:func:`tierflow.cli.entry.main` calls it)."""
    cli(prog_name="tierflow")


def main() -> None:
    """``python -m tierflow.cli.main``: as the console script, once imported
    (Ctrl-C during these imports is Python's own)."""
    entry_main(run)


if __name__ == "__main__":  # pragma: no cover
    main()
