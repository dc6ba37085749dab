"""The stock and state commands the docs show run as written, and what they
print is what the docs say.

``docs/cli.md``'s ``tierflow stock`` and ``tierflow state`` lines are run in
an empty folder on the embedded sample (their ``[optional]`` flags
included), so a node or SKU the sample lacks fails here: ``stock show
--node WH-EAST --sku TEE`` (the tiny test network's) was exit 1, "unknown
node_id". The ``state migrate`` listing and the schema numbers quoted in
``docs/cli.md`` and ``docs/store.md`` are this release's: they said 15 once
migration 16 had come.

The JSON field lists ``docs/cli.md`` quotes as a command's ``--json``
(``network validate``, ``generate orders``, ``capacity show``, ``stock
load``, ...) are the
fields the command prints: ``capacity show --json``'s list lacked
``changed_at`` after the command had added it.

Every page's other commands (README.md and docs/*.md: shell blocks,
indented blocks and commands in the text) are parsed, not run: each
``tierflow`` line's command and flags exist and its values are taken, each
``python -m tierflow.benchmarks...`` line is taken by the module's parser,
each ``make`` target is the Makefile's, and each repository path
(``benchmarks/data/...``) is in a clone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.postgres import downgrade_store
from tierflow.cli.main import cli
from tierflow.data.store import SCHEMA_VERSION, open_store
from tierflow.data.store.schema import MIGRATION_SUMMARIES

CLI_MD = ROOT / "docs" / "cli.md"
STORE_MD = ROOT / "docs" / "store.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: Path, kind: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [m.group(2) for m in _BLOCK.finditer(text) if m.group(1) == kind]


def _stock_and_state_commands() -> list[str]:
    found = []
    for block in _blocks(CLI_MD, "bash"):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith(("tierflow stock ", "tierflow state ")):
                found.append(command.replace("[", "").replace("]", ""))
    return found


COMMANDS = _stock_and_state_commands()


def test_the_stock_and_state_commands_are_found() -> None:
    verbs = {" ".join(command.split()[1:3]) for command in COMMANDS}
    assert verbs == {"stock load", "stock show", "state prune", "state migrate"}


def test_the_stock_and_state_commands_run_as_written(
    tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # a line without --state writes here, never to the user's default store
    monkeypatch.setenv("TIERFLOW_STATE", str(tmp_path / "state.db"))
    # a count and a receipt of positions the sample holds
    (tmp_path / "count.csv").write_text(
        "node_id,sku,on_hand\nWH-MEM,ELE-0042,40\nWH-MEM,ELE-0003,0\n"
    )
    (tmp_path / "receipts.csv").write_text(
        "node_id,sku,on_hand\nWH-MEM,ELE-0042,24\nWH-ATL,ELE-0042,-2\n"
    )
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(cli, shlex.split(command)[1:], prog_name="tierflow")
        assert result.exit_code == 0, f"{command}:\n{result.output}"


def test_the_migrate_listing_is_this_releases(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    open_store(state).close()
    downgrade_store(state, 12)
    result = CliRunner().invoke(
        cli, ["state", "migrate", "--state", str(state)], prog_name="tierflow"
    )
    assert result.exit_code == 0, result.output
    printed = result.stdout.replace(str(state), "state.db")
    assert printed in _blocks(CLI_MD, "text")


def test_the_quoted_schema_numbers_are_this_releases() -> None:
    for page in (CLI_MD, STORE_MD):
        text = " ".join(page.read_text(encoding="utf-8").split())
        for reads in re.findall(r"this tierflow reads (\d+)", text):
            assert int(reads) == SCHEMA_VERSION, page.name
        for current in re.findall(r"schema (\d+), current", text):
            assert int(current) == SCHEMA_VERSION, page.name
    assert len(MIGRATION_SUMMARIES) == SCHEMA_VERSION


def _fields(spec: str) -> dict[str, str]:
    """The top-level keys of a quoted ``{a, b: [{c, d}], e: {f}}``, each with
    its nested spec (``"[{c, d}]"``, ``"{f}"``, or ``""``)."""
    fields: dict[str, str] = {}
    depth, start = 0, 1
    for at, char in enumerate(spec):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if (char == "," and depth == 1) or depth == 0:
            name, _, nested = spec[start:at].partition(":")
            fields[name.strip()] = nested.strip()
            start = at + 1
        if depth == 0:
            break
    return fields


def _quoted_json(text: str, prefix: str) -> dict[str, str]:
    """The field list quoted right after ``prefix`` (whitespace-insensitive)."""
    flat = " ".join(text.split())
    at = flat.index(prefix) + len(prefix)
    return _fields(flat[flat.index("{", at) :])


def _check(printed: object, quoted: dict[str, str], where: str) -> None:
    assert isinstance(printed, dict), where
    assert list(quoted) == list(printed), where
    for name, nested in quoted.items():
        if nested.startswith("[{") and printed[name]:
            inner = _fields(nested[1:])
            assert list(inner) == list(printed[name][0]), f"{where}: {name}"


def test_the_quoted_json_fields_are_the_commands(
    tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIERFLOW_STATE", str(tmp_path / "state.db"))
    text = CLI_MD.read_text(encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(
        '{"event_id": "e-1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-MEM", '
        '"type": "staffing", "value": 85}\n'
    )
    (tmp_path / "count.csv").write_text("node_id,sku,on_hand\nWH-MEM,ELE-0042,40\n")
    runner = CliRunner()
    runs: list[tuple[str | None, str]] = [
        ("`validate --json` prints ", "network validate --json"),
        ("`sample --json` prints ", "network sample --out sample --json"),
        (
            "history.csv's ``` `--json` prints ",
            "generate orders --orders 300 --days 3 --seed 1 --start 2026-01-05 "
            "--out history.csv --json",
        ),
        (
            "`generate gap --json` prints ",
            "generate gap --type D --agents 5 --jobs 20 --out d.txt --json",
        ),
        (
            "forecast --json` prints ",
            "capacity forecast --orders history.csv --no-ingest --json",
        ),
        (None, "capacity forecast --orders history.csv"),  # makes the store
        ("`show --json` prints ", "capacity show --json"),
        ("(stdin); # --json: ", "capacity ingest --events events.jsonl --json"),
        ("20 units down`; `--json`: ", "stock load --inventory count.csv --json"),
    ]
    for prefix, command in runs:
        result = runner.invoke(cli, shlex.split(command), prog_name="tierflow")
        assert result.exit_code == 0, f"{command}:\n{result.output}"
        if prefix is not None:
            _check(json.loads(result.stdout), _quoted_json(text, prefix), command)


# Every page's commands: the names, flags, values and make targets shown.
# `python -m tierflow.benchmarks.capacity_log` was quoted bare in docs/cli.md
# while its --state is required (a usage error, exit 2, run as written); the
# README's allocate named a `past.csv` no command of the pages makes.

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_STARTS = ("tierflow ", "python -m tierflow", "make ", ".venv/bin/", "PYTHONPATH=")
# the words the pages write for a value of the reader's own (FILE, DIR, N, ...)
_PLACEHOLDER = re.compile(
    r"\b(?:FILES?|DIR|[NMSHKTFVCDEX]|DATE|OUT|STATE|STORE|NODE|PER_DAY|FAMILY|"
    r"ADDR|ID|DB|URL|PAST|COMMAND|NAME)\b|[|<>$…]|\.\.\."
)
_SHELL = {"|", ">", ">>", "2>&1", "&&", ";"}
_INLINE = re.compile(r"`((?:tierflow |make |python -m tierflow|\.venv/bin/)[^`]*)`")


def _clean(command: str) -> list[str]:
    """The command's words: its comment, the brackets of optional parts,
    leading ``NAME=value`` settings, ``.venv/bin/`` and what follows a pipe
    or a redirection left out."""
    words = shlex.split(command.replace("[", "").replace("]", ""), comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words.pop(0)
    if words:
        words[0] = words[0].removeprefix(".venv/bin/")
    for at, word in enumerate(words):
        if word in _SHELL:
            return words[:at]
    return words


def _block_commands(page: Path) -> tuple[list[tuple[str, str]], str]:
    """The commands of the page's shell blocks and indented blocks (a
    line's ``\\`` continuations joined), and the page's other text."""
    found: list[tuple[str, str]] = []
    fence: str | None = None
    pending: list[str] = []
    prose: list[str] = []
    first = 0
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if text.startswith("```") and not pending:
            fence = None if fence is not None else text[3:]
            line = ""
        in_block = fence in ("bash", "sh", "") or (fence is None and line[:4] == "    ")
        if pending or (in_block and text.startswith(_STARTS)):
            first = first if pending else number
            pending.append(text.removesuffix("\\"))
            if not text.endswith("\\"):
                found.append((f"{page.name}:{first}", " ".join(pending)))
                pending = []
        prose.append("" if in_block or fence is not None else line)
    return found, "\n".join(prose)


def _page_commands() -> list[tuple[str, str, bool]]:
    """``(where, command, whole)`` for every command of every page: a line
    of a block is whole; one in backquotes in the text may name a command
    without its values (`tierflow allocate --history`)."""
    found: list[tuple[str, str, bool]] = []
    for page in PAGES:
        blocks, prose = _block_commands(page)
        found += [(where, command, True) for where, command in blocks]
        for match in _INLINE.finditer(prose):
            number = prose.count("\n", 0, match.start()) + 1
            command = " ".join(match.group(1).split())
            if re.match(r"tierflow \S+: ", command):
                continue  # a message quoted (`tierflow serve: state store ...`)
            found.append((f"{page.name}:{number}", command, False))
    return found


PAGE_COMMANDS = _page_commands()


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The tierflow command the words name and the words after its name."""
    command: click.Command = cli
    at = 1
    while isinstance(command, click.Group) and at < len(words):
        sub = command.get_command(click.Context(command), words[at])
        if sub is None:
            break
        command, at = sub, at + 1
    return command, words[at:]


def _flags(command: click.Command) -> set[str]:
    names = {"--help", "-h", "--log-level", "--log-format"}
    for param in command.params:
        names.update(param.opts + param.secondary_opts)
    return names


def _tierflow_lines() -> list[tuple[str, str, bool, list[str]]]:
    found = []
    for where, command, whole in PAGE_COMMANDS:
        words = _clean(command)
        if words[:1] == ["tierflow"]:
            found.append((where, command, whole, words))
    return found


def test_the_page_commands_are_found() -> None:
    starts = {_clean(command)[0] for _, command, _ in PAGE_COMMANDS}
    assert starts == {"tierflow", "python", "make"}
    assert len(_tierflow_lines()) > 300


def test_every_flag_a_page_shows_is_its_commands() -> None:
    wrong = []
    for where, command, _, words in _tierflow_lines():
        found, rest = _resolve(words)
        if isinstance(found, click.Group) and rest and rest[0][:1] != "-":
            if not _PLACEHOLDER.search(rest[0]):
                wrong.append(f"{where}: {command}: no command {rest[0]!r}")
            continue
        known = _flags(found)
        for word in rest:
            for flag in word.split("=")[0].split("/"):
                if flag.startswith("--") and flag not in known:
                    wrong.append(f"{where}: {command}: {found.name} has no {flag}")
    assert wrong == []


def _parse_error(words: list[str], whole: bool) -> str | None:
    """What tierflow's parser says of the line, without running it: None
    when it takes it, or when the reader makes the file it misses first
    (``history.csv``; the repository's own are checked below), or, for a
    command named in the text, when only its values are left out."""
    found, rest = _resolve(words)
    try:
        found.make_context(found.name, rest, parent=click.Context(cli))
    except click.exceptions.Exit:
        return None
    except click.ClickException as error:
        text = error.format_message()
        if re.search(r"'(.+?)' does not exist", text):
            return None
        value_left_out = isinstance(error, click.MissingParameter) or (
            "requires an argument" in text
        )
        return None if value_left_out and not whole else text
    return None


def test_the_page_commands_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    wrong = []
    for where, command, whole, words in _tierflow_lines():
        if _PLACEHOLDER.search(" ".join(words)):
            continue
        if isinstance(_resolve(words)[0], click.Group):
            continue  # a group named in the text (`tierflow cltv`)
        error = _parse_error(words, whole)
        if error is not None:
            wrong.append(f"{where}: {command}: {error}")
    assert wrong == []


def _repository_folder(word: str) -> bool:
    """Whether a path starts in one of the repository's own folders (its
    packages, ``benchmarks/``, ``docs/``, ``tests/``): a clone has it."""
    first = word.split("/", 1)[0]
    return "/" in word and (
        first in {"benchmarks", "docs", "tests"}
        or (ROOT / first / "__init__.py").exists()
    )


def test_the_repository_paths_the_commands_give_are_in_a_clone() -> None:
    wrong = []
    for where, command, _ in PAGE_COMMANDS:
        for word in _clean(command):
            path = word.split("=", 1)[-1]
            ours = _repository_folder(path) and not _PLACEHOLDER.search(path)
            if ours and not (ROOT / path).exists():
                wrong.append(f"{where}: {command}: no {path}")
    assert wrong == []


def test_the_make_targets_the_pages_name_are_the_makefiles() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
    wrong = []
    for where, command, _ in PAGE_COMMANDS:
        words = _clean(command)
        if words[:1] == ["make"]:
            for word in words[1:]:
                if "=" not in word and word not in targets and "*" not in word:
                    wrong.append(f"{where}: {command}: no target {word!r}")
    assert wrong == []


class _Parsed(Exception):
    """Raised in place of running a benchmark whose line was parsed."""


def _parse_benchmark(words: list[str], monkeypatch: pytest.MonkeyPatch) -> str | None:
    """What a benchmark module's parser says of ``python -m MODULE ARGS``,
    without running it (None: it takes them)."""
    module = importlib.import_module(words[2])
    main = module.main
    if isinstance(main, click.Command):
        found, rest = main, words[3:]
        while isinstance(found, click.Group) and rest:
            sub = found.get_command(click.Context(found), rest[0])
            found, rest = (sub, rest[1:]) if sub is not None else (found, rest)
            if sub is None:
                break
        try:
            found.make_context(words[2], rest)
        except click.ClickException as error:
            text = error.format_message()
            # a file an earlier command makes (`protocol --out` predictions)
            return None if "does not exist" in text else text
        return None
    parse = argparse.ArgumentParser.parse_args

    def parse_and_stop(parser: argparse.ArgumentParser, *args: Any) -> Any:
        parse(parser, *args)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    try:
        main(words[3:])
    except _Parsed:
        return None
    except SystemExit as stop:
        return f"exit {stop.code}"
    finally:
        monkeypatch.undo()
    return "ran to its end"


def test_the_benchmark_commands_the_pages_give_parse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    wrong, parsed = [], 0
    for where, command, _ in PAGE_COMMANDS:
        words = _clean(command)
        benchmark = words[:2] == ["python", "-m"] and words[2].startswith(
            "tierflow.benchmarks."
        )
        if not benchmark or _PLACEHOLDER.search(" ".join(words)):
            continue
        error = _parse_benchmark(words, monkeypatch)
        parsed += 1
        if error is not None:
            told = capsys.readouterr().err.strip().splitlines()[-1:]
            wrong.append(f"{where}: {command}: {error} {told}")
    assert wrong == []
    assert parsed > 20
