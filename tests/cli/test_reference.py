"""docs/cli.md names every option of every command."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

from tests.conftest import ROOT
from tierflow.cli.main import cli, subcommands

#: Options every command shares, documented once under "Logs and progress".
_SHARED = {"--help", "--log-level", "--log-format"}


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in subcommands(command):
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_option_is_in_the_command_reference() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [
        f"tierflow {' '.join(path)} {flag}"
        for path, command in _commands(cli)
        for param in command.params
        if isinstance(param, click.Option)
        for flag in (*param.opts, *param.secondary_opts)
        if flag.startswith("--")
        and flag not in _SHARED
        and not re.search(re.escape(flag) + r"(?![\w-])", reference)
    ]
    assert missing == []
