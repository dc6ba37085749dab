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
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

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
