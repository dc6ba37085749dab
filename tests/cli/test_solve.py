"""`tierflow solve` and `tierflow bench gap`: the JSON contract, exit codes, files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.conftest import DATA_DIR, GAP_DIR
from tests.instances import defer_and_stock
from tierflow.cli.main import cli
from tierflow.data.orlib_gap import read_orlib_gap
from tierflow.formulations.problem import AssignmentProblem
from tierflow.solver import SolveParams, Status
from tierflow.solver.engine import BundledEngine, Capabilities, Hint
from tierflow.solver.result import Limit, SolveResult, no_solution

CONTRACT = {
    "name",
    "engine",
    "status",
    "limit",
    "objective",
    "bound",
    "gap",
    "runtime_s",
    "n_items",
    "n_agents",
    "feasible",
    "assignment",
}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _json_runs(*args: str) -> list[dict[str, object]]:
    """``bench gap ... --json``'s runs (stdout alone: the progress is on stderr)."""
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    runs: list[dict[str, object]] = json.loads(result.stdout)["runs"]
    return runs


def test_solve_json_prints_one_object_per_problem() -> None:
    code, out = _run(
        "solve",
        str(GAP_DIR / "gap2.txt"),
        "--format",
        "orlib-gap",
        "--engine",
        "cpsat",
        "--time-limit",
        "10",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0, out
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in records] == [f"gap2-{k}" for k in range(1, 6)]
    assert [r["objective"] for r in records] == [277.0, 269.0, 260.0, 269.0, 267.0]
    for record in records:
        assert set(record) >= CONTRACT
        assert record["status"] == "optimal" and record["feasible"] is True
        assert record["n_items"] == 20 and record["n_agents"] == 5
        assert len(record["assignment"]) == 20
        assert all(0 <= a < 5 for a in record["assignment"])


def test_solve_maximize_reports_profit() -> None:
    code, out = _run(
        "solve",
        str(GAP_DIR / "gap1.txt"),
        "--instance",
        "1",
        "--maximize",
        "--engine",
        "highs",
        "--time-limit",
        "10",
        "--json",
    )
    assert code == 0, out
    record = json.loads(out)
    assert record["objective"] == 336.0
    assert record["bound"] >= record["objective"]


def test_solve_table_output() -> None:
    code, out = _run(
        "solve", str(GAP_DIR / "gap1.txt"), "--instance", "2", "--engine", "greedy"
    )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "engine", "status"]
    assert lines[1].split()[:3] == ["gap1-2", "greedy", "feasible"]
    assert lines[1].endswith("True")


def test_solve_npz(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    defer_and_stock().problem.save(path)
    code, out = _run("solve", str(path), "--format", "npz", "--engine", "cbc", "--json")
    assert code == 0, out
    record = json.loads(out)
    assert record["objective"] == 5.5
    assert record["assignment"] == [0, -1, 1]


def test_an_npz_without_format_npz_is_named_with_its_flag(tmp_path: Path) -> None:
    """A problem saved by ``AssignmentProblem.save`` solved without
    ``--format npz`` was "a ZIP archive (a spreadsheet's own format?), not
    text: save it as CSV UTF-8 (comma delimited)": advice for a spreadsheet,
    not for the flag the user left out."""
    path = tmp_path / "p.npz"
    defer_and_stock().problem.save(path)
    code, out = _run("solve", str(path))
    assert code == 1
    assert out.strip().endswith(
        f"Error: {path}: a NumPy archive (.npz), not text: where the command "
        "has it, give --format npz"
    )


@pytest.mark.parametrize("engine", ["highs", "cbc"])
def test_an_overload_of_one_in_a_billion_is_not_called_optimal(
    tmp_path: Path, engine: str
) -> None:
    """Agent 1 holds 1e9; jobs 1 and 3 use 1 and 1e9 of it (profits 5 and 5),
    one unit too many. HiGHS and CBC took them together and reported profit
    15 ``optimal``, ``feasible: true``; the optimum is 7. Now that solution
    is refused and the fallback's 7 is reported, not proven."""
    path = tmp_path / "billion.txt"
    path.write_text("2 3\n5 1 5\n1 5 1\n1 1 1000000000\n1000000000 1 1\n1000000000 1\n")
    code, out = _run("solve", str(path), "--maximize", "--engine", engine, "--json")
    assert code == 0, out
    record = json.loads(out)
    assert (record["objective"], record["feasible"]) == (7.0, True)
    assert record["status"] == "feasible" and record["fallback_from"] == engine
    assert record["bound"] >= 7.0


def test_bad_file_exits_1_with_located_message() -> None:
    code, out = _run("solve", str(DATA_DIR / "gap_bad" / "non_numeric.txt"))
    assert code == 1
    assert out.strip() == (
        f"Error: {DATA_DIR / 'gap_bad' / 'non_numeric.txt'}: problem 1: token 8 "
        "(line 4): value 'x5': not a number (in the cost matrix (2 agents x 3 jobs))"
    )
    assert "Traceback" not in out


def test_instance_out_of_range() -> None:
    code, out = _run("solve", str(GAP_DIR / "gap1.txt"), "--instance", "9")
    assert code == 1
    assert "field '--instance': value 9: the file holds 5 problems" in out


class _Stuck(BundledEngine):
    """Stands in for ``highs``, finding nothing before its time limit (as HiGHS
    on c10200 in 0.01 s, most of the time)."""

    name = "highs"
    capabilities = Capabilities()

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        return no_solution(
            self.name, problem.n_items, Status.NO_SOLUTION, 0.0, limit=Limit.TIME
        )


def test_json_says_which_limit_stopped_it_and_whose_fallback_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tierflow.solver import registry

    monkeypatch.setitem(registry._ENGINES, "highs", _Stuck())
    code, out = _run(
        "solve", str(GAP_DIR / "gap1.txt"), "--instance", "1", "--engine", "highs",
        "--json",
    )  # fmt: skip
    assert code == 0, out
    record = json.loads(out)
    assert (record["engine"], record["fallback_from"]) == ("greedy", "highs")
    assert (record["status"], record["limit"]) == ("feasible", "time")
    code, out = _run("solve", str(GAP_DIR / "gap1.txt"), "--instance", "1", "--json")
    record = json.loads(out)
    assert (record["status"], record["limit"]) == ("optimal", "none")
    assert "fallback_from" not in record


def test_instance_counts_from_one() -> None:
    for k in ("0", "-3"):
        code, out = _run("solve", str(GAP_DIR / "gap1.txt"), "--instance", k)
        assert code == 2, out
        assert f"Invalid value for '--instance': {k} is not in the range" in out


def test_unknown_engine_is_a_usage_error() -> None:
    code, out = _run("solve", str(GAP_DIR / "gap1.txt"), "--engine", "gurobi")
    assert code == 2
    assert "'gurobi' is not one of" in out


def test_bench_gap_writes_results_summary_and_plot(tmp_path: Path) -> None:
    out_dir = tmp_path / "bench"
    code, out = _run(
        "bench",
        "gap",
        str(GAP_DIR / "gap1.txt"),
        "--engines",
        "cpsat,greedy,lp",
        "--time-limit",
        "2",
        "--repeat",
        "2",
        "--out",
        str(out_dir),
    )
    assert code == 0, out
    with (out_dir / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 * 3 * 2
    cpsat = [r for r in rows if r["engine"] == "cpsat"]
    assert all(float(r["pct_above_best"]) == 0.0 for r in cpsat)
    assert all(r["status"] == "optimal" and r["feasible"] == "True" for r in cpsat)
    greedy = [r for r in rows if r["engine"] == "greedy"]
    assert all(float(r["pct_above_best"]) >= 0.0 for r in greedy)
    summary = (out_dir / "summary.md").read_text()
    assert "| cpsat | 5/5 | 0.000 | 0.000 |" in summary
    assert (out_dir / "gap_vs_time.png").stat().st_size > 10_000


def _bench_gap1(
    table: Path, best_known: str, engine: str, out_dir: Path
) -> tuple[int, str]:
    """``bench gap`` of gap1.txt (max) with gap1-1's best known ``value,proven``."""
    table.write_text(
        f"instance,direction,best_known,proven_optimal\ngap1-1,max,{best_known}\n"
    )
    return _run(
        "bench", "gap", str(GAP_DIR / "gap1.txt"), "--maximize",
        "--engines", engine, "--time-limit", "1", "--repeat", "1",
        "--best-known", str(table), "--out", str(out_dir),
    )  # fmt: skip


def test_bench_gap_refuses_a_best_known_no_solution_reaches(tmp_path: Path) -> None:
    # gap1-1's LP bound (max) is 343.59: a best known of 400 made greedy's
    # optimal 336 read "16 % above best"
    table, out_dir = tmp_path / "bk.csv", tmp_path / "bench"
    code, out = _bench_gap1(table, "400,true", "greedy", out_dir)
    assert code == 1, out
    assert out.strip().splitlines()[-1] == (
        f"Error: {table}: row 2: field 'best_known': value 400.0: above the LP "
        "bound 343.5872093 of gap1-1 (max): no solution reaches it"
    )
    assert not out_dir.exists()


def test_bench_gap_says_a_proven_best_known_a_solution_beats(tmp_path: Path) -> None:
    """A "proven optimal" value that a checked solution beats (gap1-1's
    optimum is 336) is a wrong row: the run exited 0 reporting -1.8 % above
    best. Its reports are written, then the row is named, exit 1."""
    table, out_dir = tmp_path / "bk.csv", tmp_path / "bench"
    code, out = _bench_gap1(table, "330,true", "cpsat", out_dir)
    assert code == 1, out
    assert out.strip().splitlines()[-1] == (
        f"Error: {table}: row 2: field 'best_known': value 330.0: given as proven "
        "optimal, but cpsat's checked solution of gap1-1 (max) is 336"
    )
    assert (out_dir / "results.csv").exists()
    # not proven: a better solution is news, not an error
    assert _bench_gap1(table, "330,false", "cpsat", out_dir)[0] == 0


class _Liar(BundledEngine):
    """Reports every problem solved at an objective of 0 with job 1 on agent 1."""

    name = "liar"
    capabilities = Capabilities()

    def solve(
        self, problem: AssignmentProblem, params: SolveParams, warm_start: Hint = None
    ) -> SolveResult:
        return SolveResult(
            engine=self.name,
            status=Status.OPTIMAL,
            objective=0.0,
            bound=0.0,
            runtime_s=0.0,
            assignment=np.zeros(problem.n_items, dtype=np.int64),
        )


def test_bench_gap_fails_a_solution_verify_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a refused solution was a row with feasible False and exit 0: an engine
    # bug read as "not solved"
    from tierflow.solver import registry

    monkeypatch.setitem(registry._ENGINES, "liar", _Liar())
    out_dir = tmp_path / "bench"
    code, out = _run(
        "bench", "gap", str(GAP_DIR / "gap1.txt"), "--engines", "liar,greedy",
        "--time-limit", "0.2", "--repeat", "1", "--out", str(out_dir),
    )  # fmt: skip
    assert code == 1, out
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith(
            "Error: 5 of 10 solutions failed verify, e.g. gap1-1 liar seed 0: liar: capacity agent 0"
        )
    )
    with (out_dir / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    liar = [r for r in rows if r["engine"] == "liar"]
    assert all(r["error"].startswith("liar: capacity agent 0") for r in liar)
    assert all(r["error"] == "" for r in rows if r["engine"] == "greedy")


def test_bench_gap_rejects_unknown_engine(tmp_path: Path) -> None:
    code, out = _run("bench", "gap", "--engines", "cpsat,nope", "--out", str(tmp_path))
    assert code == 2
    assert "unknown engine 'nope'" in out


def test_bench_gap_refuses_an_engine_listed_twice(tmp_path: Path) -> None:
    """``--engines greedy,lp,greedy`` ran greedy twice as repeat 0: two rows
    of one instance, engine and repeat in results.csv, both in the
    summary's medians of "1 repetition"."""
    out_dir = tmp_path / "b"
    code, out = _run(
        "bench", "gap", str(DATA_DIR / "gap_bad" / "valid.txt"),
        "--engines", "greedy,lp,greedy", "--out", str(out_dir),
    )  # fmt: skip
    assert code == 2
    assert (
        "Error: Invalid value for --engines: engine 'greedy' listed twice "
        "(--repeat repeats a run)" in out
    )
    assert not out_dir.exists()


@pytest.mark.parametrize("engines", ["", " , "])
def test_bench_gap_refuses_no_engine(tmp_path: Path, engines: str) -> None:
    """``--engines ''`` ran nothing, wrote a header-only results.csv and an
    empty table with matplotlib's warning, exit 0."""
    code, out = _run("bench", "gap", "--engines", engines, "--out", str(tmp_path / "b"))
    assert code == 2
    assert (
        "Error: Invalid value for --engines: no engine given; choose from cpsat" in out
    )
    assert not (tmp_path / "b").exists()


def test_generate_gap_writes_a_readable_instance(tmp_path: Path) -> None:
    out = tmp_path / "d05020.txt"
    code, text = _run(
        "generate",
        "gap",
        "--type",
        "D",
        "--agents",
        "5",
        "--jobs",
        "20",
        "--seed",
        "4",
        "--out",
        str(out),
    )
    assert code == 0, text
    code, text = _run("solve", str(out), "--engine", "cpsat", "--json")
    assert code == 0, text
    record = json.loads(text)
    assert record["name"] == "d05020"
    assert (record["n_items"], record["n_agents"]) == (20, 5)
    assert record["feasible"] is True


def _generate_gap(out: Path, kind: str, agents: int, jobs: int) -> Result:
    size = ["--agents", str(agents), "--jobs", str(jobs)]
    return CliRunner().invoke(
        cli, ["generate", "gap", "--type", kind, *size, "--out", str(out), "--json"]
    )


def test_generate_gap_warns_of_a_job_no_agent_can_take_alone(tmp_path: Path) -> None:
    """Type C, 2 agents, 1 job: each capacity, floor(0.8 a / 2), is below
    the job's resource, so no agent can take it and the instance is
    infeasible. It is written all the same (the published formula), exit 0,
    with one warning on stderr naming the job (until 2026-12-06 nothing
    said so; ``solve`` found it infeasible), and ``--json`` lists it."""
    out = tmp_path / "c0201.txt"
    result = _generate_gap(out, "c", 2, 1)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["jobs_fitting_no_agent"] == [1]
    said = result.stderr.strip().splitlines()
    assert len(said) == 1, said
    assert f"{out} is infeasible: job 1 fits no agent even alone (job 1's " in said[0]
    assert "22 > 8 at agent 1, 18 > 7 at agent 2" in said[0]
    code, text = _run("solve", str(out), "--engine", "cpsat", "--json")
    assert code == 0, text
    assert json.loads(text)["status"] == "infeasible"
    # a size the formula was published for: no job alone is too big, no word
    fine = _generate_gap(tmp_path / "c0520.txt", "c", 5, 20)
    assert fine.exit_code == 0, fine.output
    assert json.loads(fine.stdout)["jobs_fitting_no_agent"] == []
    assert fine.stderr == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--start", "2029-01-01"], "Invalid value for --start: 2029-01-01: outside"),
        (["--start", "2026-01-01", "--days", "3660"],
         "Invalid value for --days: 3660 (through 2036-01-08): outside"),
    ],
)  # fmt: skip
def test_generate_orders_outside_the_window_is_a_usage_error(
    tmp_path: Path, args: list[str], said: str
) -> None:
    """A start or a day count that runs past what orders.csv accepts was
    exit 1, and --start was blamed for a --days too long."""
    out = tmp_path / "o.csv"
    code, text = _run("generate", "orders", "--orders", "5", *args, "--out", str(out))
    assert code == 2, text
    assert f"Error: {said} the allowed window" in text
    assert not out.exists()


@pytest.mark.parametrize("table", ["nodes.csv", "customers.csv", "inventory.parquet"])
def test_generate_orders_never_writes_over_a_table_of_its_network(
    tmp_path: Path, table: str
) -> None:
    """``--out`` naming a table of the ``--network`` folder is a usage error
    and the table is left as it was: ``--out net/nodes.csv`` replaced the
    network's nodes by the orders drawn from them, exit 0 (2026-12-07)."""
    net = tmp_path / "net"
    code, text = _run("network", "sample", "--out", str(net))
    assert code == 0, text
    if table.endswith(".parquet"):
        (net / "inventory.csv").unlink()
        stock = {"node_id": ["WH-EWR"], "sku": ["BEA-0001"], "on_hand": [5]}
        pd.DataFrame(stock).to_parquet(net / table)
    before = (net / table).read_bytes()
    code, text = _run(
        "generate", "orders", "--network", str(net), "--orders", "5",
        "--out", str(net / ".." / "net" / table),
    )  # fmt: skip
    assert code == 2, text
    assert text.strip().splitlines()[-1] == (
        f"Error: Invalid value for '--out': '{net / '..' / 'net' / table}' is the "
        f"network's {table.split('.')[0]} table (--network): an output never "
        "replaces an input."
    )
    assert (net / table).read_bytes() == before
    # beside the tables, the orders are written
    code, text = _run(
        "generate", "orders", "--network", str(net), "--orders", "5",
        "--out", str(net / "orders.csv"),
    )  # fmt: skip
    assert code == 0, text
    assert (net / "orders.csv").is_file()


def test_bench_gap_of_problems_no_engine_solves_plots_without_a_warning(
    tmp_path: Path,
) -> None:
    """Every run infeasible: the plot had no point and matplotlib warned on
    stderr ("UserWarning: No artists with labels found to put in legend",
    with the source line), which ``filterwarnings = error`` makes an error
    here. The plot now says there is nothing to show."""
    infeasible = tmp_path / "infeasible.txt"
    infeasible.write_text("1\n2 2\n1 1\n1 1\n5 5\n5 5\n4 4\n")
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "gap", str(infeasible), "--engines", "greedy,lp",
            "--time-limit", "1", "--out", str(out_dir),
        ],
    )  # fmt: skip
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0
    assert "| greedy | 0/1 | - | - | - | 0/1 |" in result.output
    assert (out_dir / "gap_vs_time.png").stat().st_size > 10_000


def _results_without_timings(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(newline="") as f:
        return [
            {
                k: v
                for k, v in row.items()
                if k not in ("runtime_s", "batch_solve_p95_s")
            }
            for row in csv.DictReader(f)
        ]


def test_bench_allocation_deterministic_repeats_its_day(tmp_path: Path) -> None:
    """``bench allocation`` had no ``--deterministic``: a baseline could not
    be reproduced. With it every policy runs as ``allocate
    --deterministic``: two runs give the same rows and the same bound. 60
    orders: branch and bound still stops on its budget of checks."""
    args = ["bench", "allocation", "--orders", "60", "--engines", "cpsat"]
    args += ["--time-limit", "0.2", "--hindsight-time-limit", "2", "--deterministic"]
    summaries = []
    for name in ("a", "b"):
        done = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / name), "--json"])
        assert done.exit_code == 0, done.output
        summaries.append(json.loads(done.stdout))
    first, second = summaries
    assert first["deterministic"] is True
    assert repr(first["lp_bound"]) == repr(second["lp_bound"])
    assert first["lp_bound_stop"] == {
        "lp": "finished",
        "branch_and_bound": "mip_checks",
    }
    assert first["lp_bound_budget"]["seconds"] == 1.0  # 2 s x (1 - PLAN_SHARE)
    assert _results_without_timings(tmp_path / "a") == _results_without_timings(
        tmp_path / "b"
    )


@pytest.mark.parametrize("days", [[], ["--days", "2", "--engines", "highs"]])
def test_bench_allocation_deterministic_refuses_an_engine_on_the_clock(
    days: list[str], tmp_path: Path
) -> None:
    """The default engines include highs, which stops on the clock: refused
    in ``allocate``'s words before a day is generated (with ``--days`` the
    first engine, the only one that runs), suggesting only engines
    ``--engines`` takes (it suggested ``nearest``, an unknown engine there)."""
    out = tmp_path / "bench"
    code, text = _run(
        "bench", "allocation", *days, "--deterministic", "--out", str(out)
    )
    assert code == 1
    assert text.endswith(
        "Error: field 'engine': value 'highs': stops on the clock, so it cannot "
        "solve deterministically (use cpsat, greedy, cpsat-plain)\n"
    ), text
    assert not out.exists()


#: A profit-maximization GAP of 3 agents and 10 jobs (OR-Library format): its
#: optimum is 80 (cpsat proves it), its LP bound 81.4, and greedy stops at 79.
_TINY_MAX_GAP = """1
3 10
2 2 8 6 8 8 7 1 9 9
6 9 5 3 8 5 4 6 7 1
5 2 9 8 5 6 3 9 6 7
1 1 2 3 4 1 5 4 2 2
1 3 2 4 5 1 2 3 1 2
3 1 4 2 4 3 5 3 5 4
9 10 11
"""


def test_bench_gap_says_a_maximize_shortfall_is_below_best(tmp_path: Path) -> None:
    """greedy's 79 on a problem whose best profit is 80 was reported "1.250 %
    above best", the minimize case's words: a maximize run's gap is below
    best (and below the LP bound), in the summary and in the columns added
    for it (``pct_below_best``, ``pct_below_lp``; ``pct_above_*`` kept)."""
    gap = tmp_path / "tiny.txt"
    gap.write_text(_TINY_MAX_GAP)
    (tmp_path / "best_known.csv").write_text(
        "instance,direction,best_known,proven_optimal\ntiny-1,max,80,true\n"
    )
    out_dir = tmp_path / "bench"
    code, out = _run(
        "bench", "gap", str(gap), "--maximize", "--engines", "greedy",
        "--time-limit", "1", "--out", str(out_dir),
    )  # fmt: skip
    assert code == 0, out
    assert "above" not in out
    assert (
        "| engine | solved | mean % below best | max % below best | "
        "mean % below LP | proven optimal | median time s | median µs/item |"
    ) in out
    assert "| greedy | 1/1 | 1.250 | 1.250 | 2.948 |" in out
    assert (
        "1 repetition. % below best known / below the LP bound (profits): lower is better."
        in out
    )
    assert (
        "% is below best known where one is given, otherwise below the LP bound." in out
    )
    with open(out_dir / "results.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["objective"], row["best_known"]) == ("79.0", "80.0")
    assert float(row["pct_below_best"]) == pytest.approx(1.25)
    assert float(row["pct_below_lp"]) == pytest.approx(100 * 2.4 / 81.4)
    # kept for readers of the earlier files: the same shortfall
    assert float(row["pct_above_best"]) == pytest.approx(1.25)
    (run,) = _json_runs(
        "bench", "gap", str(gap), "--maximize", "--engines", "greedy",
        "--time-limit", "1", "--out", str(out_dir),
    )  # fmt: skip
    assert run["pct_below_best"] == pytest.approx(1.25)
    assert run["pct_below_lp"] == pytest.approx(100 * 2.4 / 81.4)


def test_bench_gap_minimize_runs_have_no_below_columns(tmp_path: Path) -> None:
    """A minimize run's gap is above best: its ``pct_below_*`` are empty."""
    gap = tmp_path / "tiny.txt"
    gap.write_text(_TINY_MAX_GAP)
    (run,) = _json_runs(
        "bench", "gap", str(gap), "--engines", "greedy", "--time-limit", "1",
        "--out", str(tmp_path / "bench"),
    )  # fmt: skip
    assert run["pct_below_best"] is None and run["pct_below_lp"] is None
    assert run["pct_above_lp"] is not None


def test_generate_gap_too_large_is_a_usage_error_naming_the_flags(
    tmp_path: Path,
) -> None:
    """``--agents`` and ``--jobs`` each in their range but their product past
    the 50,000,000 entries an instance may hold (10,000 x 1,000,000 would need
    80 GB of floats) was exit 1 with ``field 'size': value (10000, 1000000)``,
    naming neither flag, where every other bad value of the command is a
    usage error; nothing is written."""
    out = tmp_path / "huge.txt"
    result = _generate_gap(out, "d", 10_000, 1_000_000)
    assert result.exit_code == 2, result.output
    said = result.stderr.strip().splitlines()[-1]
    assert said == (
        "Error: Invalid value for --agents x --jobs: 10000 x 1000000: "
        "agents x jobs must be at most 50,000,000"
    ), said
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_generate_gap_leaves_no_temporary_file_and_clobbers_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance was written to ``OUT.tmp`` and renamed: a user's own
    ``c.txt.tmp`` beside it was overwritten and moved away, and a failed
    write (a full disk) left the half-written ``OUT.tmp`` behind."""
    out = tmp_path / "c.txt"
    mine = tmp_path / "c.txt.tmp"
    mine.write_text("my notes\n")
    result = _generate_gap(out, "c", 5, 20)
    assert result.exit_code == 0, result.output
    assert mine.read_text() == "my notes\n"
    assert read_orlib_gap(out)[0].weight.shape == (20, 5)

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    failed = _generate_gap(tmp_path / "d.txt", "d", 5, 20)
    assert failed.exit_code == 1, failed.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "c.txt.tmp"]
