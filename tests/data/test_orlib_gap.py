"""OR-Library GAP: the public set solved to best-known, reader errors, generator."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR, GAP_DIR
from tierflow.data.errors import InputError
from tierflow.data.orlib_gap import (
    GapData,
    format_orlib_gap,
    generate_chu_beasley,
    parse_orlib_gap,
    read_best_known,
    read_orlib_gap,
)
from tierflow.formulations.gap import gap_instance, load_gap_file
from tierflow.solver import Status, solve, verify

BEST = read_best_known(GAP_DIR / "best_known.csv")
PUBLIC = [
    inst for f in ("gap1", "gap2") for inst in load_gap_file(GAP_DIR / f"{f}.txt")
]


@pytest.mark.parametrize("inst", PUBLIC, ids=lambda i: i.name)
def test_public_problems_solve_to_best_known_min(inst: object) -> None:
    from tierflow.formulations.gap import GapInstance

    assert isinstance(inst, GapInstance)
    result = solve(inst.problem, "cpsat", time_limit_s=10.0)
    assert result.status is Status.OPTIMAL
    assert verify(inst.problem, result) == BEST[(inst.name, "min")].value


@pytest.mark.parametrize("name", ["gap1-1", "gap2-5"])
def test_maximization_reaches_or_library_optimum(name: str) -> None:
    stem, k = name.split("-")
    inst = load_gap_file(GAP_DIR / f"{stem}.txt", maximize=True)[int(k) - 1]
    result = solve(inst.problem, "highs", time_limit_s=10.0)
    assert result.status is Status.OPTIMAL
    assert inst.reported(result.objective) == BEST[(name, "max")].value


def test_reader_transposes_to_item_major() -> None:
    data = read_orlib_gap(DATA_DIR / "gap_bad" / "valid.txt")
    assert len(data) == 1
    d = data[0]
    assert d.name == "valid-1"
    assert d.cost.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert d.weight.tolist() == [[1, 2], [1, 2], [1, 2]]
    assert d.capacity.tolist() == [5, 5]


def test_single_problem_files_have_no_count_line() -> None:
    data = read_orlib_gap(GAP_DIR / "c05100.txt")
    assert [(d.name, d.n_jobs, d.n_agents) for d in data] == [("c05100", 100, 5)]


def test_the_layout_does_not_decide_the_kind(tmp_path: Path) -> None:
    """Rows wrap freely: a multi-problem file written on one line (its first
    line no longer a lone count) reads as the same problems; it was taken
    for one problem and refused ('726 tokens left over')."""
    text = (GAP_DIR / "gap1.txt").read_text()
    flat = tmp_path / "gap1.txt"
    flat.write_text(" ".join(text.split()) + "\n")
    as_shipped, one_line = read_orlib_gap(GAP_DIR / "gap1.txt"), read_orlib_gap(flat)
    assert [d.name for d in one_line] == [d.name for d in as_shipped]
    for a, b in zip(as_shipped, one_line, strict=True):
        assert (a.cost == b.cost).all() and (a.weight == b.weight).all()
        assert (a.capacity == b.capacity).all()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing_problem.txt", r"problem 2: token 18 \(end of file\): unexpected "
         r"end of file while reading the number of agents m"),
        ("truncated.txt", r"problem 1: token 16 \(end of file\): unexpected end of "
         r"file while reading the capacities \(2 agents\)"),
    ],
)  # fmt: skip
def test_a_broken_file_on_one_line_is_located_as_on_many(
    name: str, message: str, tmp_path: Path
) -> None:
    """Written on one line, a multi-problem file one problem short was
    refused at a token of its first problem ("value '24': 84 tokens left
    over after 1 problem(s)"): the reading as one problem was blamed,
    though the reading as several got further."""
    flat = tmp_path / name
    flat.write_text(" ".join((DATA_DIR / "gap_bad" / name).read_text().split()))
    with pytest.raises(InputError, match=message):
        read_orlib_gap(flat)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("abc", "token 6 (line 3): value 'abc': not a number (in the cost matrix"),
        ("nan", "token 6 (line 3): value 'nan': not finite (in the cost matrix"),
    ],
)
def test_a_bad_token_of_one_problem_is_named_where_it_is(
    tmp_path: Path, bad: str, message: str
) -> None:
    """The first line "2 3" says one problem: its bad token is the error.
    It was blamed on the end of the file ("end of file ... 3 agents x 9
    jobs"), from the reading as a count of 2 problems, which got further
    (to the end of the file) before it failed."""
    one = tmp_path / "one.txt"
    one.write_text(f" 2 3\n 9 2 3\n {bad} 5 6\n 1 1 1\n 1 1 1\n 5 5\n")
    with pytest.raises(InputError, match=re.escape(message)):
        read_orlib_gap(one)
    # written on one line, the layout says nothing: the bad value still wins
    # over the other reading's end of file
    flat = tmp_path / "flat.txt"
    flat.write_text(" ".join(one.read_text().split()))
    on_one_line = message.replace("token 6 (line 3)", "token 6 (line 1)")
    with pytest.raises(InputError, match=re.escape(on_one_line)):
        read_orlib_gap(flat)


def test_a_stray_token_after_one_problem_is_not_read_as_two_problems(
    tmp_path: Path,
) -> None:
    """The first line "2 3" says one problem (m n); a stray token after it
    is tokens left over. The file was taken as a count of 2 problems
    (3 agents x 1 job, then 1 x 1), which happened to use every token, and
    `tierflow solve` reported problems the file does not hold as optimal."""
    one = tmp_path / "extra.txt"
    one.write_text("2 3\n1 5 3\n4 2 6\n2 2 2\n1 1 1\n3 2\n7\n")
    with pytest.raises(
        InputError,
        match=re.escape(
            "extra.txt: token 17 (line 7): value '7': 1 token left over "
            "after 1 problem:"
        ),
    ):
        read_orlib_gap(one)
    # a lone first number still reads as a count, or else as one problem
    # written a token a line
    per_line = tmp_path / "per_line.txt"
    per_line.write_text("2 3 1 5 3 4 2 6 2 2 2 1 1 1 3 2".replace(" ", "\n"))
    assert [(d.n_agents, d.n_jobs) for d in read_orlib_gap(per_line)] == [(2, 3)]


def test_a_cost_read_as_a_count_does_not_hide_the_end_of_the_file(
    tmp_path: Path,
) -> None:
    """One problem on one line, its last capacity missing: the reading as a
    count of problems (2) reads the cost 1.5 as the number of jobs, a count
    that is no count, as a wrong reading of the counts meets; the error is
    the one-problem reading's end of file. It was the cost ("value '1.5':
    the number of jobs n must be a positive integer", QA)."""
    flat = tmp_path / "t.txt"
    flat.write_text("2 3 1.5 2 3 4 5 6 1 1 1 1 1 1 5\n")
    with pytest.raises(
        InputError,
        match=re.escape(
            "t.txt: token 16 (end of file): unexpected end of file while "
            "reading the capacities (2 agents): expected 2 values, found 1"
        ),
    ):
        read_orlib_gap(flat)
    flat.write_text("2 3 1.5 2 3 4 5 6 1 1 1 1 1 1 5 5\n")
    assert read_orlib_gap(flat)[0].n_jobs == 3


def _edited(path: Path, line: int, edit: str) -> str:
    """``path``'s text with its ``line`` (1-based) cut one number short
    (``edit`` "short") or one number long ("long")."""
    lines = path.read_text().split("\n")
    row = lines[line - 1].split()
    lines[line - 1] = " " + " ".join(row[1:] if edit == "short" else [*row, "7"])
    return "\n".join(lines)


def _replaced(path: Path, line: int, text: str | None) -> str:
    """``path``'s text with its ``line`` (1-based) replaced by ``text``
    (``None``: removed)."""
    lines = path.read_text().split("\n")
    lines[line - 1 : line] = [] if text is None else [text]
    return "\n".join(lines)


def _wide_row_one_short() -> str:
    """A 2 x 1001 problem as the writer lays it out (12 numbers a line), its
    first cost row one number short."""
    ones = np.ones((1001, 2))
    text = format_orlib_gap([GapData("wide", ones, ones, np.full(2, 600.0))])
    lines = text.split("\n")
    lines[1] = " " + " ".join(lines[1].split()[1:])
    return "\n".join(lines)


_ONE = " 2 3\n 1 2 3\n 4 5 6\n 1 1 1\n 2 2 2\n 5 5\n"
_THREE = " 3\n" + _ONE * 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # problem 1 of 3 short a resource use: was "token 41 (line 17):
        # value '1': 8 tokens left over after 3 problems" (problem 1 took
        # problem 2's numbers, and so on)
        (_THREE.replace(" 2 2 2\n", " 2 2\n", 1),
         "g.txt: problem 1: line 6: agent 2's row of the resource matrix has 2 "
         "values, 3 expected from '2 3' (line 2)"),
        # problem 1 of 2 short: was "token 29 (line 12): value '2': 4 tokens
        # left over after 2 problems"
        (" 2\n" + _ONE.replace(" 4 5 6\n", " 4 5\n") + _ONE,
         "g.txt: problem 1: line 4: agent 2's row of the cost matrix has 2 values, "
         "3 expected from '2 3' (line 2)"),
        (_THREE.replace(" 5 5\n", " 5 5 5\n", 1),
         "g.txt: problem 1: line 7: the capacities have 3 values, 2 expected "
         "from '2 3' (line 2)"),
        (_edited(GAP_DIR / "gap1.txt", 28, "short"),
         "g.txt: problem 3: line 28: agent 2's row of the cost matrix has 14 "
         "values, 15 expected from '5 15' (line 26)"),
        (_edited(GAP_DIR / "gap1.txt", 28, "long"),
         "g.txt: problem 3: line 28: agent 2's row of the cost matrix has 16 "
         "values, 15 expected from '5 15' (line 26)"),
        # a row of 100 wrapped on 9 lines, one number short on its 4th
        (_edited(GAP_DIR / "c05100.txt", 5, "short"),
         "g.txt: lines 2-10: agent 1's row of the cost matrix has 99 values, "
         "100 expected from '5 100' (line 1)"),
        # a matrix a line, rows not on lines of their own
        (" 2 3\n 1 2 3 4 5\n 1 1 1 2 2 2\n 5 5\n",
         "g.txt: line 2: the cost matrix has 5 values, 6 expected from '2 3' "
         "(line 1)"),
        (" 2\n 2 3 9\n 1 2 3\n 4 5 6\n 1 1 1\n 2 2 2\n 5 5\n 1 1\n 3\n 1\n 1\n",
         "g.txt: problem 1: line 2: the line of m and n has 3 values, 2 expected"),
        # counts in thousands are written as such on both sides
        (_wide_row_one_short(),
         "g.txt: lines 2-85: agent 1's row of the cost matrix has 1,000 values, "
         "1,001 expected from '2 1001' (line 1)"),
        # a row's whole line gone (problem 2's; was "problem 5: unexpected end
        # of file while reading the resource matrix")
        (_replaced(GAP_DIR / "gap1.txt", 16, None),
         "g.txt: problem 2: lines 15-24: 140 numbers after its m and n, 155 "
         "expected from '5 15' (line 14)"),
        # an m or n one off (was "problem 3: unexpected end of file while
        # reading the cost matrix (19 agents x 7 jobs)")
        (_replaced(GAP_DIR / "gap1.txt", 2, " 6 15"),
         "g.txt: problem 1: lines 3-13: 155 numbers after its m and n, 186 "
         "expected from '6 15' (line 2); '5 15' fits them"),
        (_replaced(GAP_DIR / "gap1.txt", 26, " 5 14"),
         "g.txt: problem 3: lines 27-37: 155 numbers after its m and n, 145 "
         "expected from '5 14' (line 26); '5 15' fits them"),
    ],
)  # fmt: skip
def test_a_problem_with_a_number_too_few_or_too_many_is_named(
    tmp_path: Path, text: str, message: str
) -> None:
    """Tokens wrap freely, so a problem one number short read its
    neighbour's numbers as its own, and the error named where that reading
    failed: a later problem, the end of the file or tokens left over. Where
    the file's rows (or matrices) end their lines, the error names the
    problem, the part and its lines where the count is off."""
    path = tmp_path / "g.txt"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_orlib_gap(path)
    assert str(caught.value) == f"{path.parent}/{message}"


def test_a_file_not_laid_out_in_rows_keeps_the_reading_s_error(
    tmp_path: Path,
) -> None:
    """Rows wrapped seven numbers a line whatever their length: the lines
    say nothing of where a number is missing, and the error stays where
    the reading failed; so it does for a count of problems that is off."""
    tokens = (GAP_DIR / "gap1.txt").read_text().split()
    del tokens[100]
    rest = tokens[1:]
    path = tmp_path / "g.txt"
    path.write_text(
        tokens[0] + "\n"
        + "\n".join(" ".join(rest[k : k + 7]) for k in range(0, len(rest), 7))
    )  # fmt: skip
    with pytest.raises(InputError, match=re.escape(
        "problem 3: token 786 (end of file): unexpected end of file while "
        "reading the cost matrix (13 agents x 23 jobs)"
    )):  # fmt: skip
        read_orlib_gap(path)

    # a count of problems one short: tokens left over, as before
    path.write_text(_replaced(GAP_DIR / "gap1.txt", 1, " 4"))
    with pytest.raises(InputError, match=re.escape(
        "g.txt: token 630 (line 50): value '5': 157 tokens left over after 4 "
        "problems: the counts in the header do not match the data"
    )):  # fmt: skip
        read_orlib_gap(path)


BAD_FILES = [
    (
        "truncated.txt",
        r"truncated\.txt: problem 1: token 16 \(end of file\): unexpected "
        r"end of file while reading the capacities \(2 agents\): expected 2 values, found 0",
    ),
    (
        "non_numeric.txt",
        r"non_numeric\.txt: problem 1: token 8 \(line 4\): value 'x5': "
        r"not a number \(in the cost matrix \(2 agents x 3 jobs\)\)",
    ),
    (
        "negative_capacity.txt",
        r"negative_capacity\.txt: problem 1: token 17 \(line 7\): "
        r"value '-5': capacity of agent 2 must be >= 0",
    ),
    (
        "negative_resource.txt",
        r"negative_resource\.txt: problem 1: token 11 \(line 5\): "
        r"value '-1': resource use of agent 1, job 2 must be >= 0",
    ),
    (
        "wrong_counts.txt",
        r"wrong_counts\.txt: token 18 \(line 8\): value '7': 2 tokens "
        r"left over after 1 problem: the counts in the header do not match the data",
    ),
    (
        "missing_problem.txt",
        r"missing_problem\.txt: problem 2: token 18 \(end of file\): "
        r"unexpected end of file while reading the number of agents m",
    ),
    (
        "zero_agents.txt",
        r"zero_agents\.txt: problem 1: token 2 \(line 2\): value '0': "
        r"the number of agents m must be a positive integer",
    ),
    ("empty.txt", r"empty\.txt: file is empty"),
]


@pytest.mark.parametrize(("name", "message"), BAD_FILES)
def test_bad_input(name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_orlib_gap(DATA_DIR / "gap_bad" / name)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.txt: cannot read file"):
        read_orlib_gap(tmp_path / "nope.txt")


def test_the_generator_refuses_what_no_reader_would_take() -> None:
    """Agents x jobs beyond MAX_PROBLEM_ENTRIES (it used to try 74.5 GiB)."""
    with pytest.raises(InputError) as caught:
        generate_chu_beasley("C", 10_000, 1_000_000, seed=0)
    assert str(caught.value) == (
        "field 'size': value (10000, 1000000): agents x jobs must be at most 50,000,000"
    )
    # one agent gets 80 % of the whole demand: never a feasible instance
    with pytest.raises(InputError) as caught:
        generate_chu_beasley("E", 1, 5, seed=0)
    assert str(caught.value).startswith(
        "field 'size': value (1, 5): needs at least two agents and one job"
    )


@pytest.mark.parametrize("kind", ["C", "D", "E"])
def test_generator_follows_chu_beasley(kind: str) -> None:
    d = generate_chu_beasley(kind, 10, 100, seed=3)
    again = generate_chu_beasley(kind, 10, 100, seed=3)
    assert np.array_equal(d.cost, again.cost) and np.array_equal(d.weight, again.weight)
    a, c, b = d.weight, d.cost, d.capacity
    assert d.cost.shape == (100, 10)
    assert np.all(a == np.round(a)) and np.all(c == np.round(c))
    ratio = 0.8 * a.sum(axis=0) / 10
    if kind == "C":
        assert a.min() >= 5 and a.max() <= 25 and c.min() >= 10 and c.max() <= 50
        np.testing.assert_array_equal(b, np.floor(ratio))
    elif kind == "D":
        assert a.min() >= 1 and a.max() <= 100
        assert np.all(np.abs(c - (111 - a)) <= 10)
        np.testing.assert_array_equal(b, np.floor(ratio))
    else:
        assert a.min() >= 1
        np.testing.assert_array_equal(b, np.floor(np.maximum(ratio, a.max(axis=0))))
        # costs fall as resource use grows (c = 1000/a - 10y)
        assert np.corrcoef(a.ravel(), c.ravel())[0, 1] < -0.3


def test_generated_instances_round_trip_and_are_feasible() -> None:
    d = generate_chu_beasley("D", 5, 40, seed=1)
    again = parse_orlib_gap(format_orlib_gap([d]), stem="d")[0]
    np.testing.assert_array_equal(again.cost, d.cost)
    np.testing.assert_array_equal(again.capacity, d.capacity)
    inst = gap_instance(d)
    # a solution within 5 % is as feasible as the optimum, and found in a
    # hundredth of the 5 s a search to the limit ran (it proves no optimum)
    result = solve(inst.problem, "cpsat", time_limit_s=5.0, relative_gap=0.05)
    assert result.has_solution
    verify(inst.problem, result)


def test_generator_rejects_unknown_type() -> None:
    with pytest.raises(
        InputError, match=r"field 'kind': value 'Z': must be one of C, D, E"
    ):
        generate_chu_beasley("Z", 2, 2, seed=0)


def test_best_known_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "bk.csv"
    path.write_text("instance,direction,best_known\nx,up,3\n")
    with pytest.raises(
        InputError, match=r"bk\.csv: row 2: field 'direction': value 'up'"
    ):
        read_best_known(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a second value of one instance silently replaced the first
        (
            "instance,direction,best_known\ng1,max,3\ng1,max,4\n",
            r"row 3: field 'instance': value 'g1': listed twice for max "
            r"\(first at row 2\)$",
        ),
        ("instance,direction,best_known\ng1,max,nan\n", "row 2: field 'best_known': value 'nan': not finite$"),
        (
            "instance,direction,best_known,proven_optimal\ng1,max,3,yes\n",
            r"row 2: field 'proven_optimal': value 'yes': must be 'true', "
            r"'false' or empty$",
        ),
        ("instance,direction,best_known\n,max,3\n", "row 2: field 'instance': value '': missing value$"),
        # a short row blamed the field its values shifted into, a long one passed
        ("instance,direction,best_known\ng1,3\n", "row 2: value 'g1,3': 2 fields where the header has 3$"),
        ("instance,direction,best_known\ng1,max,3,4\n",
         r"row 2: value 'g1,max,3,4': 4 fields where the header has 3 \(extra: '4'\)$"),
        # not UTF-8: a UnicodeDecodeError traceback from `bench gap`
        (b"instance,direction,best_known\n\xff,max,3\n", "row 2: .*not UTF-8"),
        # a CR inside a line: "2 fields where the header has 3" (the reader
        # ended the record there); in the header, "header must contain ..."
        (b"instance,direction,best_known\ng1,m\rax,3\n",
         r"row 2: field 'direction': value 'm\\rax': a carriage return \(\\r\) "
         r"inside a field"),
        (b"instance\r,direction,best_known\ng1,max,3\n",
         r"row 1: value 'instance\\r': a carriage return \(\\r\) inside a field"),
    ],
)  # fmt: skip
def test_best_known_table_rows_are_checked(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    path = tmp_path / "bk.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=r"bk\.csv: " + message):
        read_best_known(path)


def test_absurd_values_and_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text(
        " 2 3\n 1 2 3\n 4 5 6\n 1 1 99999999999999999999999\n 2 2 2\n 5 5\n"
    )
    with pytest.raises(
        InputError,
        match=r"^.*g\.txt: token 11 \(line 4\): value '99999999999999999999999': "
        r"beyond \+-1e\+09 \(in the resource matrix \(2 agents x 3 jobs\)\)$",
    ):
        read_orlib_gap(path)
    path.write_text(" 2 3\n 1 2 3\n 4 5 6\n 1 1_0 1\n 2 2 2\n 5 5\n")
    with pytest.raises(  # Python's float() alone took "1_0" for 10
        InputError,
        match=r"^.*g\.txt: token 10 \(line 4\): value '1_0': not a number "
        r"\(in the resource matrix \(2 agents x 3 jobs\)\)$",
    ):
        read_orlib_gap(path)
    path.write_text(" 2 3\n 1 2 3\n 4 5 6\n 1 ٣ 1\n 2 2 2\n 5 5\n")
    with pytest.raises(  # float() took another script's digit for 3
        InputError,
        match=r"^.*g\.txt: token 10 \(line 4\): value '٣': not a number "
        r"\(in the resource matrix \(2 agents x 3 jobs\)\)$",
    ):
        read_orlib_gap(path)
    path.write_text(" ２ 3\n 1 2 3\n 4 5 6\n 1 1 1\n 2 2 2\n 5 5\n")
    with pytest.raises(InputError, match=r"token 1 \(line 1\): value '２': not a"):
        read_orlib_gap(path)
    path.write_bytes(b" 2 3\n 1 2 3\n 4 5 \xff\n")
    with pytest.raises(
        InputError, match=r"g\.txt: row 3: value b'\\xff': not UTF-8 text"
    ):
        read_orlib_gap(path)


def test_a_zero_profit_is_reported_as_zero_not_minus_zero(tmp_path: Path) -> None:
    # the negated cost of a zero profit is -0.0, printed "-0.00" by `solve`
    path = tmp_path / "zero.txt"
    path.write_text("1\n2 3\n0 0 0\n0 0 0\n1 1 1\n2 2 2\n5 5\n")
    (inst,) = load_gap_file(path, maximize=True)
    result = solve(inst.problem, "highs", time_limit_s=5.0)
    assert str(inst.reported(result.objective)) == "0.0"
    assert str(inst.reported(result.bound)) == "0.0"
