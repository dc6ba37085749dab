"""The CLI group loads and solves the smallest shipped GAP file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli


def test_solve_gap1_json(gap_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "solve",
            str(gap_dir / "gap1.txt"),
            "--engine",
            "cpsat",
            "--time-limit",
            "5",
            "--json",
            "--instance",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip())
    assert record["objective"] == 261.0
    assert record["feasible"] is True
