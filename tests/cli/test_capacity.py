"""``tierflow capacity ingest --json``: the same figures the text line shows."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tierflow.cli.main import cli


def _event(i: int) -> str:
    return json.dumps(
        {"event_id": f"e{i}", "ts": f"2026-01-05T10:0{i}:00Z", "node_id": "WH-EAST"}
        | {"type": "backlog", "value": 10 + i}
    )


def test_ingest_json(tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    events.write_text("\n".join(_event(i) for i in (0, 1, 1)) + "\n")
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK)]
    args += ["--state", str(tmp_path / "s.db"), "--events", str(events)]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert text.stdout == "2 events applied, 1 duplicates ignored (log at seq 2)\n"
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"applied": 0, "duplicates": 3, "last_seq": 2}
