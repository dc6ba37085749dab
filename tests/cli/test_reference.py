"""docs/cli.md names every option of every command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

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


#: The pages a newcomer follows: the README and ``docs/*.md`` (not the
#: dated history under ``docs/results/``).
_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: ``tierflow`` and what follows it on its line, up to the end of an inline
#: code span (a backtick) or the line.
_INVOCATION = re.compile(r"(?<![\w.-])tierflow((?: +[^\s`]+)*)")
#: The root's options that take a value, allowed before the command's name.
_ROOT_VALUED = {"--config", "--log-level", "--log-format"}


def _unknown_flags(text: str) -> list[str]:
    """Every ``tierflow COMMAND ... --flag`` in ``text`` (a line ending in
    ``\\`` continues on the next) whose command has no such option."""
    # every command takes --help (click adds it outside ``params``)
    root = {flag for param in cli.params for flag in param.opts} | {"--help"}
    ctx = click.Context(cli)
    unknown = []
    for line in text.replace("\\\n", " ").splitlines():
        for match in _INVOCATION.finditer(line):
            words = match.group(1).split()
            command: click.Command = cli
            path: list[str] = []
            while words:
                word = words[0]
                if word in _ROOT_VALUED and not path:
                    words = words[2:]
                elif isinstance(command, click.Group) and re.fullmatch(r"[a-z]+", word):
                    sub = command.get_command(ctx, word)
                    if sub is None:
                        break
                    command, path = sub, [*path, word]
                    words = words[1:]
                else:
                    break
            if not path:
                continue
            known = root | {
                flag
                for param in command.params
                if isinstance(param, click.Option)
                for flag in (*param.opts, *param.secondary_opts)
            }
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", " ".join(words)):
                if flag not in known:
                    unknown.append(f"tierflow {' '.join(path)} {flag}")
    return unknown


def test_a_flag_the_command_lacks_is_found() -> None:
    text = (
        "run `tierflow solve x.txt --engine greedy --engin cpsat` or\n"
        "tierflow --log-format json bench gap --repeat 3 \\\n"
        "    [--no-such-flag] # [--json]\n"
        "then `tierflow allocate --out o`; `--not-an-allocate-flag`\n"
    )
    assert _unknown_flags(text) == [
        "tierflow solve --engin",
        "tierflow bench gap --no-such-flag",
    ]


@pytest.mark.parametrize("page", _PAGES, ids=lambda p: p.name)
def test_every_flag_the_docs_show_exists(page: Path) -> None:
    assert _unknown_flags(page.read_text(encoding="utf-8")) == []


def test_every_serve_synopsis_names_every_option() -> None:
    """``tierflow serve [...]`` is spelled out whole on two pages (cli.md,
    service.md); service.md's lacked ``--operator-reads`` and ``--samples``
    once they were added."""
    serve = cli.get_command(click.Context(cli), "serve")
    assert serve is not None
    flags = [
        param.opts[0]
        for param in serve.params
        if isinstance(param, click.Option) and param.opts[0] not in _SHARED
    ]
    synopses = [
        (page.name, line)
        for page in _PAGES
        for line in page.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        if line.startswith("tierflow serve [")
    ]
    assert sorted({name for name, _ in synopses}) == ["cli.md", "service.md"]
    missing = [
        (name, flag)
        for name, line in synopses
        for flag in flags
        if not re.search(re.escape(flag) + r"(?![\w-])", line)
    ]
    assert missing == []


def test_every_flag_a_help_example_shows_exists() -> None:
    """The examples of every ``--help`` are held to the same rule."""
    from click.testing import CliRunner

    unknown = []
    for path, _ in _commands_and_groups(cli):
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, result.output
        unknown += _unknown_flags(result.output.split("Examples:", 1)[-1])
    assert unknown == []


def _commands_and_groups(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in subcommands(command):
            yield from _commands_and_groups(sub, (*path, name))


#: A code span (inline, or a line of a fenced block) that runs ``tierflow``:
#: at its start (after ``VAR=value``s and a folder, ``.venv/bin/``), after a
#: pipe or ``&&``, or as ``python -m tierflow``; then its words. A span that
#: only names tierflow (an error message's "a tierflow state store") is not one.
_RUN = re.compile(
    r"(?:^\s*(?:[A-Z_]+=\S*\s+)*|[|&;]\s*|python3? -m\s+)"
    r"(?:[\w.~/-]*/)?tierflow +([a-z][\w-]*)(?: +([a-z][\w-]*))?"
)


def _code(text: str) -> Iterator[str]:
    """The inline code spans of ``text`` (joined across a line break) and the
    lines of its fenced blocks."""
    fenced = False
    prose = []
    for line in text.splitlines():
        if re.match(r"^\s*```", line):
            fenced = not fenced
        elif fenced:
            yield line
        else:
            prose.append(line)
    for span in re.findall(r"`([^`]+)`", "\n".join(prose)):
        yield span.replace("\n", " ")


def _unknown_commands(text: str) -> list[str]:
    """Every ``tierflow COMMAND [SUBCOMMAND]`` in the code of ``text`` whose
    command or subcommand does not exist (``_unknown_flags`` passes over them:
    it cannot tell a command from the prose's "tierflow is ...")."""
    ctx = click.Context(cli)
    unknown = []
    for code in _code(text):
        for name, sub_name in _RUN.findall(code):
            command = cli.get_command(ctx, name)
            if command is None:
                unknown.append(f"tierflow {name}")
            elif (
                isinstance(command, click.Group)
                and sub_name
                and command.get_command(ctx, sub_name) is None
            ):
                unknown.append(f"tierflow {name} {sub_name}")
    return unknown


def test_a_command_that_does_not_exist_is_found() -> None:
    text = (
        "tierflow is an engine; run `tierflow simulat --out o` or\n"
        "`Error: not a tierflow state store` in\n"
        "`tierflow capacity\nshw --json`, not `tierflow capacity show`.\n"
        "```bash\n"
        ".venv/bin/tierflow bench gapp --json   # tierflow network sample\n"
        "some-feed | tierflow capacty ingest --events -\n"
        "tierflow COMMAND --help\n"
        "from tierflow import solve\n"
        "```\n"
    )
    assert _unknown_commands(text) == [
        "tierflow bench gapp",
        "tierflow capacty",
        "tierflow simulat",
        "tierflow capacity shw",
    ]


@pytest.mark.parametrize("page", _PAGES, ids=lambda p: p.name)
def test_every_command_the_docs_show_exists(page: Path) -> None:
    assert _unknown_commands(page.read_text(encoding="utf-8")) == []


def test_every_command_a_help_example_shows_exists() -> None:
    from click.testing import CliRunner

    unknown = []
    for path, _ in _commands_and_groups(cli):
        result = CliRunner().invoke(cli, [*path, "--help"])
        examples = result.output.split("Examples:", 1)[-1]
        unknown += _unknown_commands(f"```\n{examples}\n```")
    assert unknown == []
