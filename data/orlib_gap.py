"""OR-Library generalized assignment (GAP) files: reader (errors name file,
problem and token), writer, and Chu & Beasley's generator for types C, D and
E. The file format: ``docs/data.md``."""

from __future__ import annotations

import bisect
import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tierflow.data.atomic_files import write_text_atomically
from tierflow.data.errors import InputError
from tierflow.data.limits import MAX_GAP_VALUE, MAX_PROBLEM_ENTRIES
from tierflow.data.text_files import (
    check_carriage_returns,
    check_dict_row,
    read_utf8,
)
from tierflow.data.wording import counted
from tierflow.data.written_numbers import decimal_number


@dataclass(frozen=True, slots=True, eq=False)
class GapData:
    """One GAP problem as read: item-major ``(n_jobs, n_agents)`` arrays.

    ``cost`` is in the file's own units (a profit for maximization files);
    :func:`tierflow.formulations.gap.gap_instance` turns it into an
    ``AssignmentProblem``.
    """

    name: str
    cost: NDArray[np.float64]
    weight: NDArray[np.float64]
    capacity: NDArray[np.float64]

    @property
    def n_agents(self) -> int:
        return int(self.cost.shape[1])

    @property
    def n_jobs(self) -> int:
        return int(self.cost.shape[0])


class _Tokens:
    """Tokens of a file with their line numbers, for precise error messages."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.values: list[str] = []
        self.lines: list[int] = []
        self.first_line_count = 0
        for lineno, line in enumerate(text.split("\n"), start=1):
            parts = line.split()
            if parts and not self.values:
                self.first_line_count = len(parts)
            self.values.extend(parts)
            self.lines.extend([lineno] * len(parts))
        self.pos = 0
        #: Each problem read so far: its label, the token of its ``m``, ``m``
        #: and ``n`` (for :func:`_misaligned`, which finds where a problem's
        #: numbers ran short or long from the line layout).
        self.problems: list[tuple[int | None, int, int, int]] = []
        #: The count of problems the reading is after (1: one problem).
        self.problem_count = 1
        #: The token a reading failed at (its error's), -1 before any.
        self.failed_at = -1
        #: Whether that failure was of the counts (a count that is not a
        #: positive integer, the end of the file reached, tokens left over),
        #: not of a value.
        self.counts_failed = False

    def where(self, k: int) -> str:
        if k < len(self.values):
            return f"token {k + 1} (line {self.lines[k]})"
        return f"token {k + 1} (end of file)"

    def take(self, count: int, what: str, problem: int | None) -> NDArray[np.float64]:
        end = self.pos + count
        if end > len(self.values):
            have = len(self.values) - self.pos
            self.failed_at = len(self.values)
            self.counts_failed = True
            raise InputError(
                f"unexpected end of file while reading {what}: expected "
                f"{counted(count, 'value')}, found {have:,}",
                file=self.file,
                problem=problem,
                position=self.where(len(self.values)),
            )
        out = np.empty(count)
        for offset, tok in enumerate(self.values[self.pos : end]):
            # ASCII only: Python's float() reads "1_0" as 10, "٣" as 3
            number = decimal_number(tok)
            if number is None:
                raise self.error_at(
                    self.pos + offset, f"not a number (in {what})", problem
                )
            out[offset] = number
            if not np.isfinite(out[offset]):
                raise self.error_at(
                    self.pos + offset, f"not finite (in {what})", problem
                )
            if abs(out[offset]) > MAX_GAP_VALUE:
                message = f"beyond +-{MAX_GAP_VALUE:g} (in {what})"
                raise self.error_at(self.pos + offset, message, problem)
        self.pos = end
        return out

    def take_count(self, what: str, problem: int | None) -> int:
        k = self.pos
        value = self.take(1, what, problem)[0]
        if value != int(value) or value < 1:
            # a count that is no count is what a wrong reading of the
            # counts meets, as the end of the file is (a cost of 1.5 read as
            # a number of jobs was blamed over the right reading's end of file)
            self.counts_failed = True
            raise self.error_at(k, f"{what} must be a positive integer", problem)
        return int(value)

    def take_non_negative(
        self,
        count: int,
        what: str,
        problem: int | None,
        name_of: Callable[[int], str],
    ) -> NDArray[np.float64]:
        """:meth:`take`, then the first negative value (``name_of`` its
        position) is an error."""
        start = self.pos
        values = self.take(count, what, problem)
        bad = np.flatnonzero(values < 0)
        if bad.size:
            k = int(bad[0])
            raise self.error_at(start + k, f"{name_of(k)} must be >= 0", problem)
        return values

    def error_at(self, k: int, message: str, problem: int | None) -> InputError:
        """The error at token ``k``, quoting it."""
        self.failed_at = k
        return InputError(
            message,
            file=self.file,
            problem=problem,
            position=self.where(k),
            value=self.values[k],
        )


def parse_orlib_gap(
    text: str, *, file: str = "<text>", stem: str | None = None
) -> list[GapData]:
    """Parse OR-Library GAP text (single- or multi-problem) into instances.

    Tokens are free-form (rows wrap anywhere), so the layout only hints at the
    kind: a first line of one number reads as a multi-problem file (its count
    of problems), else as one problem (``m n``). When the text does not parse
    that way but does the other way (a multi-problem file written on one
    line, one problem written a token a line), the other reading is taken,
    except after a first line of exactly two numbers: that is a problem's
    ``m n``, and a file with tokens left over is an error, not several
    problems that happen to use every token. When neither does, the first
    reading's error is raised where the first line said which it is (one
    number, or the two of ``m n``): a bad token of a one-problem file was
    blamed on the end of the file, read as a count of problems that ran past
    it. Where it did not (the file on one line), a bad value is raised over
    a count that does not fit (the end of the file, tokens left over),
    whichever reading met it; else the error of the reading that got
    further (the first's on a tie): a broken multi-problem file written on
    one line was blamed on a token of its first problem, read as a single
    problem with tokens left over.
    """
    tokens = _Tokens(text, file)
    if not tokens.values:
        raise InputError("file is empty", file=file)
    stem = stem or Path(file).stem
    multi = tokens.first_line_count == 1
    try:
        return _parse_problems(tokens, stem, multi=multi)
    except InputError as first_error:
        if tokens.first_line_count == 2:
            # "m n": one problem. Read as a count, a stray token after it
            # could make other problems that use every token (2 3 ... 7
            # was 3 agents x 1 job and 1 x 1, solved and reported optimal)
            raise _misaligned(tokens) or first_error from None
        other = _Tokens(text, file)
        try:
            return _parse_problems(other, stem, multi=not multi)
        except InputError as other_error:
            error = _blamed(tokens, first_error, other, other_error)
            reading = tokens if error is first_error else other
            raise _misaligned(reading) or error from None


def _blamed(
    tokens: _Tokens, first: InputError, other: _Tokens, other_error: InputError
) -> InputError:
    """Which reading's error to raise when neither parses (see
    :func:`parse_orlib_gap`): the first's where the first line says the
    kind; a bad value over a count that does not fit (the end of the file
    reached, tokens left over: what a wrong reading of the counts gives);
    else the one that got further."""
    if tokens.first_line_count in (1, 2):
        return first
    if tokens.counts_failed != other.counts_failed:
        return other_error if tokens.counts_failed else first
    return other_error if other.failed_at > tokens.failed_at else first


def _layout(m: int, n: int, line: int, *, by: str) -> list[tuple[int, str]]:
    """The parts of an ``m`` x ``n`` problem as its lines hold them: the
    size and what the part is, with its verb (``line``: the line of
    ``m n``). ``by`` "rows": each agent's row of a matrix is a part (rows
    start on a line of their own in OR-Library's files); "matrices": each
    matrix is; "problems": the numbers after ``m n`` are one part."""
    size = f"'{m} {n}' (line {line})"
    parts = [(2, "the line of m and n has")]
    if by == "problems":
        parts.append((m * (2 * n + 1), "the problem has"))
    for matrix in ("cost matrix", "resource matrix") if by != "problems" else ():
        if by == "rows":
            parts += [(n, f"agent {i + 1}'s row of the {matrix} has") for i in range(m)]
        else:
            parts.append((m * n, f"the {matrix} has"))
    if by != "problems":
        parts.append((m, "the capacities have"))
    return [
        (count, f"{what} {{held}}, {count:,} expected" + (f" from {size}" if k else ""))
        for k, (count, what) in enumerate(parts)
    ]


def _misaligned(tokens: _Tokens) -> InputError | None:
    """Where a problem of a failed reading has fewer or more numbers than
    its ``m n`` says, found from the file's lines; ``None`` when the lines
    do not tell (or the failure is a bad value, not the counts).

    Tokens wrap freely, so a problem one number short reads its neighbour's
    numbers as its own and the reading fails later: at the end of the file,
    at tokens left over, at a later problem's ``m n`` ("problem 3: unexpected
    end of file" for a file whose problem 1 is one number short). But in a
    file whose rows (or matrices) end their lines, as OR-Library's do, the
    first part that ends mid-line is the short or long one: ended at the
    line before (short) or at the end of that line (long), the rest of the
    file reads part by part on line ends again. The error names the problem,
    the part, its lines and its count of values. Failing that (a row missing
    whole, an ``m`` or ``n`` that is wrong), where each problem's ``m n`` is
    a line of its own, the first problem that does not end where the next
    ``m n`` starts is named with the count of numbers it holds.
    """
    if not tokens.counts_failed or not tokens.problems:
        return None
    return (
        _misfit(tokens, by="rows")
        or _misfit(tokens, by="matrices")
        or _miscounted(tokens)
    )


def _line_end(tokens: _Tokens, k: int) -> bool:
    """Whether token ``k`` starts a line (or is past the last)."""
    lines = tokens.lines
    return k >= len(lines) or k == 0 or lines[k - 1] != lines[k]


def _reads_on(
    tokens: _Tokens, pos: int, pending: list[int], left: int, by: str
) -> bool:
    """Whether the file from token ``pos`` reads part by part on line ends
    (``pending``: the sizes left of the current problem; ``left``: problems
    after it) to its end, or through the whole problem after the current
    one (a later problem may have its own fault)."""
    total = len(tokens.values)
    done = 0
    while True:
        for size in pending:
            if pos + size > total or not _line_end(tokens, pos + size):
                return False
            pos += size
        done += 1
        if left == 0 or done == 2:
            return pos == total or done == 2
        head = tokens.values[pos : pos + 2]
        if len(head) < 2:
            return False
        m, n = (decimal_number(t) for t in head)
        if not (m and n and m == int(m) and n == int(n) and m > 0 and n > 0):
            return False
        if (2 * n + 1) * m > total - pos - 2:  # past the end: no parts
            return False
        pending = [size for size, _ in _layout(int(m), int(n), 0, by=by)]
        left -= 1


def _lines_of(tokens: _Tokens, first: int, end: int) -> str:
    """``line L`` or ``lines L-M``: the lines of tokens ``first`` to ``end - 1``."""
    low, high = tokens.lines[first], tokens.lines[end - 1]
    return f"line {low}" if low == high else f"lines {low}-{high}"


def _misfit(tokens: _Tokens, *, by: str) -> InputError | None:
    """The first part (a row or a matrix, ``by``) that ends mid-line, if
    taking it as ending a line before or at the end of that line reads on
    on line ends (:func:`_reads_on`); else ``None``."""
    total, lines = len(tokens.values), tokens.lines
    for p, (label, start, m, n) in enumerate(tokens.problems, start=1):
        if (2 * n + 1) * m > total:
            return None  # more than the file holds: no parts to read
        parts = _layout(m, n, lines[start], by=by)
        pos = start
        for i, (size, message) in enumerate(parts):
            if pos + size >= total:
                return None
            if _line_end(tokens, pos + size):
                pos += size
                continue
            # it held the values up to the line before (short) or to the
            # end of that line (long)
            short = lines.index(lines[pos + size])
            long = short + lines[short:].count(lines[pos + size])
            pending = [size for size, _ in parts[i + 1 :]]
            left = tokens.problem_count - p
            end = next(
                (
                    e
                    for e in (short, long)
                    if pos < e <= total and _reads_on(tokens, e, pending, left, by)
                ),
                None,
            )
            if end is None:
                return None  # the lines do not tell
            return InputError(
                message.format(held=counted(end - pos, "value")),
                file=tokens.file,
                problem=label,
                position=_lines_of(tokens, pos, end),
            )
    return None


def _miscounted(tokens: _Tokens) -> InputError | None:
    """The first problem that does not end where a line of two numbers (an
    ``m n``) starts, named with the count of numbers it holds up to the
    next such line (the first from which the next problem reads on line
    ends, :func:`_reads_on`, if one does) and the ``m n`` that would fit
    them (one of the two kept), if one does. The last problem is left to
    the reading's error when it ends on a line end (the end of the file
    reached, or tokens left over: a count of problems that is wrong) or no
    ``m n`` fits its numbers (an earlier problem of 2 agents, whose
    capacities are a line of two numbers too, may have been misread)."""
    total, count = len(tokens.values), tokens.problem_count
    width = Counter(tokens.lines)
    heads = [
        k
        for k in range(1, total)
        if _line_end(tokens, k) and width[tokens.lines[k]] == 2
    ]
    for p, (label, start, m, n) in enumerate(tokens.problems, start=1):
        end = start + 2 + m * (2 * n + 1)
        if p == count:
            if _line_end(tokens, end):
                return None
            nexts = [total]
        else:
            if end in heads or end == total:
                continue  # the next problem (or the count) may be wrong
            later = heads[bisect.bisect_right(heads, start + 2) :]
            left = count - p
            nexts = [k for k in later if _reads_on(tokens, k, [], left, "problems")]
            nexts = nexts or later
        if not nexts:
            return None
        held = nexts[0] - start - 2
        fits = [
            (held // (2 * n + 1), n) if held % (2 * n + 1) == 0 else None,
            (m, (held // m - 1) // 2) if held % m == 0 and held // m % 2 else None,
        ]
        fit = next(
            (f"; '{a} {b}' fits them" for a, b in filter(None, fits) if a and b), ""
        )
        if p == count and not fit:
            return None  # numbers left over, perhaps a problem's numbers before
        return InputError(
            f"{counted(held, 'number')} after its m and n, {m * (2 * n + 1):,} "
            f"expected from '{m} {n}' (line {tokens.lines[start]}){fit}",
            file=tokens.file,
            problem=label,
            position=_lines_of(tokens, start + 2, nexts[0]),
        )
    return None


def _parse_problems(tokens: _Tokens, stem: str, *, multi: bool) -> list[GapData]:
    """Every problem of ``tokens``, read as one problem or as several."""
    count = tokens.take_count("the number of problems", None) if multi else 1
    tokens.problem_count = count
    instances = []
    for p in range(1, count + 1):
        label = p if multi else None
        start = tokens.pos
        m = tokens.take_count("the number of agents m", label)
        n = tokens.take_count("the number of jobs n", label)
        tokens.problems.append((label, start, m, n))
        size = f"{counted(m, 'agent')} x {counted(n, 'job')}"
        cost = tokens.take(m * n, f"the cost matrix ({size})", label)
        use = tokens.take_non_negative(
            m * n,
            f"the resource matrix ({size})",
            label,
            partial(_matrix_entry, n),
        )
        capacity = tokens.take_non_negative(
            m, f"the capacities ({counted(m, 'agent')})", label, _capacity_entry
        )
        instances.append(
            GapData(
                name=f"{stem}-{p}" if multi else stem,
                cost=cost.reshape(m, n).T.copy(),
                weight=use.reshape(m, n).T.copy(),
                capacity=capacity,
            )
        )
    if tokens.pos != len(tokens.values):
        tokens.counts_failed = True
        raise tokens.error_at(
            tokens.pos,
            f"{counted(len(tokens.values) - tokens.pos, 'token')} left over after "
            f"{counted(count, 'problem')}: the counts in the header do not match the data",
            None,
        )
    return instances


def _matrix_entry(n: int, k: int) -> str:
    return f"resource use of agent {k // n + 1}, job {k % n + 1}"


def _capacity_entry(k: int) -> str:
    return f"capacity of agent {k + 1}"


def read_orlib_gap(path: str | os.PathLike[str]) -> list[GapData]:
    """Read an OR-Library GAP file; errors name the file, problem and token."""
    p = Path(path)
    try:
        text = read_utf8(p, str(path))
    except OSError as exc:
        raise InputError(f"cannot read file ({exc})", file=str(path)) from None
    return parse_orlib_gap(text, file=str(path), stem=p.stem)


def format_orlib_gap(problems: Iterable[GapData], *, per_line: int = 12) -> str:
    """OR-Library text for integer-valued problems (multi-problem when > 1)."""
    items = list(problems)
    lines: list[str] = []
    if len(items) > 1:
        lines.append(f" {len(items)}")

    def rows(matrix: NDArray[np.float64]) -> None:
        for row in matrix:
            vals = [str(int(v)) for v in row]
            for k in range(0, len(vals), per_line):
                lines.append(" " + " ".join(vals[k : k + per_line]))

    for prob in items:
        lines.append(f" {prob.n_agents} {prob.n_jobs}")
        rows(prob.cost.T)
        rows(prob.weight.T)
        rows(prob.capacity[None, :])
    return "\n".join(lines) + "\n"


def write_orlib_gap(path: Path, problems: Iterable[GapData]) -> None:
    """Write ``problems`` to ``path`` atomically: a hidden temporary file of
    its own in the same folder, then a rename, removed if anything fails (a
    fixed ``PATH.tmp`` overwrote a file of that name and was left
    half-written by a full disk)."""
    text = format_orlib_gap(problems)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, text)


def generate_chu_beasley(
    kind: str, n_agents: int, n_jobs: int, seed: int, *, name: str | None = None
) -> GapData:
    """A random GAP of Chu & Beasley (1997) type C, D or E (minimization).

    * C: ``a ~ U[5, 25]``, ``c ~ U[10, 50]``, ``b_i = 0.8 sum_j a_ij / m``.
    * D: ``a ~ U[1, 100]``, ``c = 111 - a + e`` with ``e ~ U[-10, 10]``, same ``b``
      (costs inversely correlated with resource use: the hard type).
    * E: ``a = 1 - 10 ln x``, ``x ~ U(0, 1]``; ``c = 1000 / a - 10 y``, ``y ~ U[0, 1]``;
      ``b_i = max(0.8 sum_j a_ij / m, max_j a_ij)``.

    All values are integers, as in the published instances.
    """
    kind = kind.upper()
    if n_agents < 2 or n_jobs < 1:  # one agent gets 80 % of the whole demand
        raise InputError(
            "needs at least two agents and one job (the recipes give each "
            "agent 80 % of its share of the demand: one agent could never "
            "take every job)",
            field="size",
            value=(n_agents, n_jobs),
        )
    if n_agents * n_jobs > MAX_PROBLEM_ENTRIES:
        raise InputError(
            f"agents x jobs must be at most {MAX_PROBLEM_ENTRIES:,}",
            field="size",
            value=(n_agents, n_jobs),
        )
    rng = np.random.default_rng(seed)
    shape = (n_agents, n_jobs)
    if kind == "C":
        a = rng.integers(5, 26, size=shape).astype(float)
        c = rng.integers(10, 51, size=shape).astype(float)
        b = np.floor(0.8 * a.sum(axis=1) / n_agents)
    elif kind == "D":
        a = rng.integers(1, 101, size=shape).astype(float)
        c = 111.0 - a + rng.integers(-10, 11, size=shape)
        b = np.floor(0.8 * a.sum(axis=1) / n_agents)
    elif kind == "E":
        x = 1.0 - rng.random(size=shape)  # U(0, 1]
        a = np.floor(1.0 - 10.0 * np.log(x))
        c = np.floor(1000.0 / a - 10.0 * rng.random(size=shape))
        b = np.floor(np.maximum(0.8 * a.sum(axis=1) / n_agents, a.max(axis=1)))
    else:
        raise InputError("must be one of C, D, E", field="kind", value=kind)
    label = name or f"{kind.lower()}{n_agents:02d}{n_jobs}-s{seed}"
    return GapData(name=label, cost=c.T.copy(), weight=a.T.copy(), capacity=b)


def jobs_fitting_no_agent(data: GapData) -> NDArray[np.intp]:
    """Jobs (0-based) whose resource is above the capacity at every agent:
    no agent can take one even alone, so the instance is infeasible. Chu &
    Beasley's C and D capacities (``0.8 sum_j a_ij / m``) fall below every
    job's resource when the jobs are few (one job, two agents: ``0.4 a``)."""
    return np.flatnonzero((data.weight > data.capacity[None, :]).all(axis=1))


@dataclass(frozen=True, slots=True)
class BestKnown:
    """A published best-known value (``proven`` when it is a proven optimum)."""

    instance: str
    direction: str
    value: float
    proven: bool
    #: Where the value was read (for errors about it).
    file: str = ""
    row: int | None = None


def read_best_known(path: str | os.PathLike[str]) -> dict[tuple[str, str], BestKnown]:
    """``best_known.csv`` (instance, direction, best_known, proven_optimal, ...).

    Raises
    ------
    InputError
        Naming the file, row, field and value: a byte that is not UTF-8, a
        missing instance name, a direction other than min/max, a best-known
        value that is not a finite number, a ``proven_optimal`` other than
        true/false/empty, or an instance listed twice for one direction.
    """
    file = str(path)
    try:
        text = read_utf8(Path(path), file, csv_columns=True)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc})", file=file) from None
    check_carriage_returns(text, file, skip_initial_space=False)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    need = {"instance", "direction", "best_known"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise InputError(f"header must contain {sorted(need)}", file=file, row=1)
    out: dict[tuple[str, str], BestKnown] = {}
    first_row: dict[tuple[str, str], int] = {}
    width = len(reader.fieldnames)
    for rowno, row in enumerate(reader, start=2):
        fail = partial(InputError, file=file, row=rowno)
        check_dict_row(row, width, file, rowno, text)
        name = (row["instance"] or "").strip()
        if not name:
            raise fail("missing value", field="instance", value=row["instance"] or "")
        direction = (row["direction"] or "").strip().lower()
        if direction not in ("min", "max"):
            raise fail(
                "must be 'min' or 'max'", field="direction", value=row["direction"]
            )
        try:
            value = float(row["best_known"])
        except (TypeError, ValueError):
            raise fail(
                "not a number", field="best_known", value=row["best_known"]
            ) from None
        if not np.isfinite(value):
            raise fail("not finite", field="best_known", value=row["best_known"])
        proven = (row.get("proven_optimal") or "").strip().lower()
        if proven not in ("true", "false", ""):
            raise fail(
                "must be 'true', 'false' or empty",
                field="proven_optimal",
                value=row["proven_optimal"],
            )
        key = (name, direction)
        if key in first_row:
            raise fail(
                f"listed twice for {direction} (first at row {first_row[key]})",
                field="instance",
                value=name,
            )
        first_row[key] = rowno
        out[key] = BestKnown(name, direction, value, proven == "true", file, rowno)
    return out
