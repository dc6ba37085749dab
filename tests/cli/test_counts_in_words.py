"""A count of one is singular in what the commands print: ``bench gap``'s
summary said "1 repetition(s)", ``generate gap`` "1 jobs", ``generate
orders`` "1 orders ... over 1 day(s)", ``solve`` "holds 1 problem(s)",
``state prune`` "(1 days)" (``data.wording.counted`` now says each)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.cli.test_state import _prune
from tests.conftest import TINY_NETWORK
from tests.data.test_store_retention import NOW, seed
from tierflow.cli.main import cli
from tierflow.data.network import Network
from tierflow.data.store.retention import utc_text

#: One GAP problem: 2 agents, 1 job (costs, resources, capacities).
ONE_PROBLEM = "1\n2 1\n3\n4\n1\n1\n5 5\n"


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_bench_gap_of_one_repetition(tmp_path: Path) -> None:
    problem = tmp_path / "one.txt"
    problem.write_text(ONE_PROBLEM)
    out = _run(
        ["bench", "gap", str(problem), "--engines", "greedy", "--time-limit", "1",
         "--out", str(tmp_path / "gap")]
    )  # fmt: skip
    assert "Time limit 1 s per solve, 1 repetition. %" in out, out
    assert "(s)" not in (tmp_path / "gap" / "summary.md").read_text()


def test_generate_gap_of_one_job(tmp_path: Path) -> None:
    out = _run(
        ["generate", "gap", "--type", "D", "--agents", "2", "--jobs", "1",
         "--out", str(tmp_path / "d.txt")]
    )  # fmt: skip
    assert "(D, 2 agents x 1 job, seed 0)" in out, out


def test_generate_orders_of_one_order_on_one_day(tmp_path: Path) -> None:
    out = _run(
        ["generate", "orders", "--network", str(TINY_NETWORK), "--orders", "1",
         "--days", "1", "--out", str(tmp_path / "orders.csv")]
    )  # fmt: skip
    assert out.startswith("1 order, "), out
    assert " over 1 day written to " in out, out


def test_solve_of_a_file_of_one_problem(tmp_path: Path) -> None:
    problem = tmp_path / "one.txt"
    problem.write_text(ONE_PROBLEM)
    out = _run(["solve", str(problem), "--instance", "2", "--engine", "greedy"])
    assert "the file holds 1 problem" in out and "(s)" not in out, out


def test_state_prune_of_one_day(tmp_path: Path, tiny_network: Network) -> None:
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    out = _run(_prune(state, "--keep-days", "1", "--dry-run"))
    cutoff = utc_text(NOW - 86_400)
    assert out.startswith(f"{state}: rows older than {cutoff} (1 day) "), out


def test_solve_of_a_gap_file_one_number_short_of_a_1_x_1_problem(
    tmp_path: Path,
) -> None:
    """The reader said "(1 agents x 1 jobs): expected 1 values, found 0"."""
    problem = tmp_path / "short.txt"
    problem.write_text("1 1\n5\n")
    out = _run(["solve", str(problem)])
    assert out.strip().endswith(
        "unexpected end of file while reading the resource matrix "
        "(1 agent x 1 job): expected 1 value, found 0"
    ), out


def test_solve_greedy_of_one_item_it_could_not_place(tmp_path: Path) -> None:
    """Greedy's message said "1 items could not be placed"."""
    problem = tmp_path / "full.txt"
    problem.write_text("2 2\n1 2\n3 4\n1 1\n1 1\n1 0\n")  # room for one job
    out = _run(["solve", str(problem), "--engine", "greedy", "--json"])
    assert '"message": "1 item could not be placed"' in out, out
