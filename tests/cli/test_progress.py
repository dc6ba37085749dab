"""Progress lines when stderr is not a terminal (piped, in CI, under make)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.test_allocate import _write_orders
from tests.conftest import TINY_NETWORK
from tierflow.cli.main import cli
from tierflow.cli.progress import LineProgress


def test_a_line_every_ten_percent_and_at_the_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tierflow.progress")
    with LineProgress("work", 200, heartbeat_s=60.0) as bar:
        for i in range(200):
            bar.update(1, f"item {i}")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "work: started, 0 s"
    assert len(messages) == 12 and messages[-1].startswith(
        "work: done, 200/200 (100 %)"
    )
    assert messages[5].startswith("work: 100/200 (50 %), item 99,")


def test_the_end_line_says_how_it_ended(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tierflow.progress")
    with LineProgress("steps", 5, heartbeat_s=60.0) as bar:
        bar.update(3)  # the last steps are not reported: finished is 100 %
    assert caplog.records[-1].getMessage().startswith("steps: done, 5/5 (100 %)")
    with pytest.raises(RuntimeError), LineProgress("steps", 5, heartbeat_s=60.0):
        raise RuntimeError
    assert caplog.records[-1].__dict__["state"] == "failed"


def test_a_heartbeat_while_nothing_moves(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tierflow.progress")
    with LineProgress("training", None, heartbeat_s=0.2):
        time.sleep(0.7)
    states = [r.__dict__["state"] for r in caplog.records]
    assert states[0] == "started" and states[-1] == "done"
    assert states.count("running") >= 2


def test_allocate_logs_progress_as_json_lines(tmp_path: Path) -> None:
    orders = _write_orders(tmp_path / "orders.csv", 40)
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    args += ["--engine", "greedy", "--batch-minutes", "60", "--json"]
    result = CliRunner().invoke(
        cli, ["--log-format", "json", *args, "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_orders"] == 40
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records[0]["message"].startswith("no CLTV scores")
    assert records[0]["level"] == "warning"
    records = [r for r in records if r["logger"] == "tierflow.progress"]
    assert records[0]["state"] == "started" and records[-1]["state"] == "done"
    assert records[-1]["done"] == records[-1]["total"] and records[-1]["pct"] == 100.0
    quiet = CliRunner().invoke(
        cli, ["--log-level", "error", *args, "--out", str(tmp_path / "b")]
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_every_command_takes_the_log_options_too(tmp_path: Path) -> None:
    """``tierflow allocate --log-level error`` as ``tierflow --log-level error
    allocate``; a command's own setting (here its variable) wins over the root's."""
    orders = _write_orders(tmp_path / "orders.csv", 20)
    args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
    args += ["--engine", "greedy", "--json"]
    quiet = CliRunner().invoke(
        cli, [*args, "--log-level", "error", "--out", str(tmp_path / "a")]
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""
    env = {"TIERFLOW_ALLOCATE_LOG_FORMAT": "json"}
    result = CliRunner().invoke(
        cli, ["--log-format", "text", *args, "--out", str(tmp_path / "b")], env=env
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and records[-1]["logger"] == "tierflow.progress"
    assert records[-1]["state"] == "done"


def test_only_if_slow_says_nothing_for_quick_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``cltv score``'s stage: silent when quick (a one-line error stays one
    line), heartbeat and end lines once it has been running a while."""
    caplog.set_level(logging.INFO, logger="tierflow.progress")
    with LineProgress("quick", 10, heartbeat_s=60.0, only_if_slow=True) as bar:
        bar.update(10)
    with (
        pytest.raises(RuntimeError),
        LineProgress("quick", None, heartbeat_s=60.0, only_if_slow=True),
    ):
        raise RuntimeError
    assert caplog.records == []
    with LineProgress("slow", None, heartbeat_s=0.2, only_if_slow=True):
        time.sleep(0.7)
    states = [r.__dict__["state"] for r in caplog.records]
    assert states[0] == "running" and states[-1] == "done"
