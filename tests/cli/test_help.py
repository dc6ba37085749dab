"""Every command's ``--help`` is written for people: an example, help on every option."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tierflow.cli.config import ConfigOption
from tierflow.cli.main import COMMANDS as TOP_COMMANDS
from tierflow.cli.main import cli, subcommands


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in subcommands(command):
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(cli))
IDS = [" ".join(("tierflow", *path)) for path, _ in COMMANDS]


def test_every_command_is_here() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {
        "simulate",
        "allocate",
        "bench gap",
        "cltv retrain",
        "cltv rollback",
        "capacity show",
    } <= names
    assert len(COMMANDS) == 34  # the root, 7 groups, 26 commands


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_has_an_example(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    examples = result.stdout.split("Examples:\n", 1)
    assert len(examples) == 2, f"tierflow {' '.join(path)} --help has no example"
    first = examples[1].splitlines()[0].strip()
    assert first.startswith("tierflow ") or "tierflow " in first


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_has_help_and_reads_the_settings(
    path: tuple[str, ...], command: click.Command
) -> None:
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_eager:
            continue
        assert param.help, f"tierflow {' '.join(path)} {param.opts[0]} has no help"
        assert isinstance(param, ConfigOption), param.opts


#: Commands that print no result (``serve`` runs until stopped).
NO_RESULT = {("serve",)}


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_with_a_result_has_json_and_the_log_options(
    path: tuple[str, ...], command: click.Command
) -> None:
    if isinstance(command, click.Group):
        return
    flags = {o for p in command.params for o in p.opts}
    assert {"--log-level", "--log-format"} <= flags, path
    assert ("--json" in flags) is (path not in NO_RESULT), path


@pytest.mark.parametrize(
    "module", ["tierflow", "tierflow.cli.main", "tierflow.cli.entry"]
)
def test_python_m_runs_the_commands(module: str) -> None:
    # `python -m tierflow.cli.entry` (the console script's module) ran nothing
    # and exited 0; `python -m tierflow` said "'tierflow' is a package and
    # cannot be directly executed", exit 1
    done = subprocess.run(
        [sys.executable, "-m", module, "solve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: tierflow solve")


def test_python_m_tierflow_ends_an_error_as_the_script_does(tmp_path: Path) -> None:
    """``python -m tierflow`` is the console script: a bad input is one
    line and exit 1, no traceback."""
    bad = tmp_path / "gap.txt"
    bad.write_text("1 x\n")
    done = subprocess.run(
        [sys.executable, "-m", "tierflow", "solve", str(bad), "--engine", "greedy"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: {bad}: token 2 (line 1): value 'x': not a number "
        "(in the number of jobs n)\n"
    )


def test_the_list_of_commands_says_what_each_command_says_of_itself() -> None:
    """``tierflow --help`` lists the commands from ``COMMANDS`` without
    importing them: each line there is the command's own short help."""
    listed = {name: text for name, (_, _, text) in TOP_COMMANDS.items()}
    own = {name: sub.get_short_help_str(1000) for name, sub in subcommands(cli)}
    assert listed == own


def test_the_top_help_and_a_command_import_no_other_command() -> None:
    """``tierflow --help`` imported every command's modules (pandas,
    OR-Tools, scikit-learn: 3 s); now none, and ``tierflow capacity --help``
    only its own (and what it uses), none of the others'."""
    probe = (
        "import sys\n"
        "from tierflow.cli.main import cli\n"
        "try:\n"
        "    cli(sys.argv[1:], prog_name='tierflow')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('tierflow.cli.')"
        " and m.endswith('_cmd')), 'pandas' in sys.modules, file=sys.stderr)\n"
    )
    loaded = []
    for args in (["--help"], ["capacity", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Commands:" in done.stdout
        loaded.append(done.stderr.strip().splitlines()[-1])
    assert loaded[0] == "[] False"
    modules = loaded[1].rsplit(" ", 1)[0]
    assert "tierflow.cli.capacity_cmd" in modules
    assert not any(
        f"tierflow.cli.{name}_cmd" in modules
        for name in ("cltv", "simulate", "allocate", "serve", "bench")
    )


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_state_option_says_it_takes_a_postgresql_url(
    path: tuple[str, ...], command: click.Command
) -> None:
    """Every ``--state`` takes a SQLite file or a PostgreSQL URL
    (docs/cli.md: ``--state DB|URL``); its metavar is ``FILE``, so the help
    says so (``cltv retrain``'s said "SQLite state store", the others
    named a file default only)."""
    for param in command.params:
        if "--state" in param.opts:
            assert isinstance(param, click.Option)
            assert "a SQLite file or a postgresql:// URL" in (param.help or ""), (
                f"tierflow {' '.join(path)} --state: {param.help}"
            )


STATE_COMMANDS = [
    (path, command)
    for path, command in COMMANDS
    if any("--state" in p.opts for p in command.params)
]


@pytest.mark.parametrize(
    ("path", "command"),
    STATE_COMMANDS,
    ids=[" ".join(("tierflow", *path)) for path, _ in STATE_COMMANDS],
)
@pytest.mark.parametrize("source", ["environment", "settings file"])
def test_state_help_never_shows_the_urls_password(
    path: tuple[str, ...], command: click.Command, source: str, tmp_path: Path
) -> None:
    """``--help`` shows a ``--state`` given by ``TIERFLOW_<COMMAND>_STATE``
    or ``tierflow.toml`` as its default, the password masked as everywhere
    else: it printed ``[default: postgresql://tf:s3cret@db/x]`` whole
    (only ``$TIERFLOW_STATE`` was masked)."""
    url = "postgresql://tf:s3cret@db:5432/x?sslmode=require&password=p4ss"
    env: dict[str, str | None] = {"TIERFLOW_CONFIG": None, "TIERFLOW_STATE": None}
    if source == "environment":
        env["_".join(("TIERFLOW", *path, "STATE")).upper()] = url
    else:
        config = tmp_path / "tierflow.toml"
        config.write_text(f'[{".".join(path)}]\nstate = "{url}"\n')
        env["TIERFLOW_CONFIG"] = str(config)
    result = CliRunner().invoke(cli, [*path, "--help"], env=env)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output and "p4ss" not in result.output
    shown = " ".join(result.output.split())
    assert "postgresql://tf@db:5432/x?sslmode=require" in shown.replace(" ", ""), shown
