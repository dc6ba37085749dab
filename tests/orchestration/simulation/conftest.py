"""One small simulated day for the end-to-end test (``test_day.py``) and the
report's tests (``test_report.py``): the same ``tierflow simulate`` run
serves both, instead of one run each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.spend_scores import write_spend_scores
from tierflow.cli.main import cli
from tierflow.orchestration.simulation import report
from tierflow.orchestration.simulation.day import SimulationResult
from tierflow.orchestration.simulation.report import write_report

#: Checkouts of the small day: every tier, overflow orders moved (more than
#: one: the report's plural forms), an upgrade, the outage (:func:`small_day`
#: checks), in less than half the time of 160.
CHECKOUTS = 60
#: A day on which every part the tests read happens (an upgrade confirmed is
#: the rarest: about one day in three of 60 checkouts).
SEED = 7


@dataclass(frozen=True)
class SmallDay:
    """The run as the command line saw it (``invoked``: exit code, stdout),
    its folder, and what its report was written from: the
    :class:`SimulationResult` and the summary ``write_report`` returned."""

    invoked: Result
    out: Path
    result: SimulationResult
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def small_day(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SmallDay:
    """``tierflow simulate --json --deterministic`` of a small day on the
    sample network (:data:`CHECKOUTS`, given scores, outage at 09:00, CP-SAT
    with 1 s batches, a 2 s hindsight solve). Deterministic, so the day and
    its bound do not hang on the machine's load: on the clock, a 2-core
    machine with 8 busy processes left the hindsight LP no time at all (no
    bound, ``lp_bound_stop`` ``time_limit``), and the report's tests read a
    finished one. The command's ``write_report`` is wrapped (the same
    function, then a note of what it was called with) to keep the result."""
    folder = tmp_path_factory.mktemp("small-day")
    scores = write_spend_scores(sample_dir, folder / "scores.csv")
    out = folder / "sim"
    written: list[tuple[SimulationResult, dict[str, Any]]] = []

    def kept(result: SimulationResult, path: Path) -> dict[str, Any]:
        summary = write_report(result, path)
        written.append((result, summary))
        return summary

    with pytest.MonkeyPatch.context() as patch:
        # the command imports it when it runs, from its module
        patch.setattr(report, "write_report", kept)
        invoked = CliRunner().invoke(
            cli,
            [
                "simulate",
                "--seed",
                str(SEED),
                "--checkouts",
                str(CHECKOUTS),
                "--cltv-scores",
                str(scores),
                "--hindsight-time-limit",
                "2",
                "--time-limit",
                "1",
                "--outage",
                "09:00",
                "--out",
                str(out),
                "--json",
                "--deterministic",
            ],
        )
    assert invoked.exit_code == 0, invoked.output
    ((result, summary),) = written
    # what the tests read is on the day: every tier, overflow orders moved
    # and shipped on the day, an upgrade, the outage
    assert set(summary["tier_mix"]) == {"platinum", "gold", "silver", "overflow"}
    assert summary["overflow"]["orders_moved"] > 1
    assert summary["overflow"]["work_shipped_on_the_day"] > 0
    assert summary["upgrades"]["confirmed"] > 0 and summary["outage_node"]
    return SmallDay(invoked, out, result, summary)
