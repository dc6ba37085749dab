"""The ``tierflow`` command: a click group that only parses, calls and prints.

Errors raised on purpose (:class:`tierflow.data.errors.TierflowError`) become one-line
messages with exit code 1, never a traceback; usage errors exit 2 (click).
"""

from __future__ import annotations

from typing import Any

import click

from tierflow.data.errors import TierflowError


class TierflowGroup(click.Group):
    """A group that turns tierflow errors into clean ``ClickException``s."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TierflowError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(
                f"{exc.filename or ''}: {exc.strerror}"
            ) from None


@click.group(
    cls=TierflowGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="tierflow")
def cli() -> None:
    """tierflow: fulfillment orchestration with CLTV-aware tiering and allocation."""


def _register() -> None:
    from tierflow.cli.bench_cmd import bench
    from tierflow.cli.cltv_cmd import cltv
    from tierflow.cli.generate_cmd import generate
    from tierflow.cli.solve_cmd import solve_command

    cli.add_command(solve_command)
    cli.add_command(bench)
    from tierflow.cli.network_cmd import network

    cli.add_command(network)
    cli.add_command(generate)
    from tierflow.cli.capacity_cmd import capacity

    cli.add_command(capacity)
    from tierflow.cli.allocate_cmd import allocate_command

    cli.add_command(allocate_command)
    from tierflow.cli.options_cmd import options_command

    cli.add_command(options_command)
    cli.add_command(cltv)
    from tierflow.cli.simulate_cmd import simulate_command

    cli.add_command(simulate_command)
    from tierflow.cli.serve_cmd import serve_command

    cli.add_command(serve_command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tierflow")


if __name__ == "__main__":  # pragma: no cover
    main()
