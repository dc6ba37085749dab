"""Hypothesis strategies that corrupt valid seeds: CSV tables, whitespace
token files (CDNOW, OR-Library GAP), JSON-lines events and event objects,
``.npz`` problems and Parquet tables.

Each corruption is a few operations drawn from a list (a hostile cell, a
duplicated or conflicting row, a missing or extra column, a ragged row, a
header-only or empty file, ...) and then, maybe, damage to the bytes (cut
short, bytes that are not UTF-8, a NUL, CRLF, a byte-order mark).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Draw = Callable[[st.SearchStrategy[Any]], Any]

#: Text cells that broke, or could break, a reader somewhere.
HOSTILE_TEXT = (
    "", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309",
    "99999999999999999999999", "-99999999999999999999999",
    "18446744073709551616", "9223372036854775808", "1e-320", "-0", "0", "-1",
    "1.5", "0x1F", "1_000", "1,000", "abc", "true", "FALSE", "null", "None",
    "2099-01-01", "1970-01-01", "0001-01-01", "9999-12-31T23:59:59Z",
    "2026-02-30", "2026-01-05T10:00:00", "2026-01-05T10:00:00+25:00",
    "25:00", "24:00", '"', '""', "'", ";", "ground;drone", "é", "日本",
    "\u2028", "\u0085", "\t", "x" * 3000, "=1+1", "../../etc/passwd",
    "America", "Mars/Base", "WH-EAST", "TEE", "100", "ground",
)  # fmt: skip
#: Bytes that are not UTF-8 where they are inserted.
BAD_BYTES = (b"\xff", b"\xfe", b"\xe9", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf8\x88")


def hostile_text() -> st.SearchStrategy[str]:
    """A cell: a known troublemaker, an integer or float of any size, or text."""
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats().map(repr),
        st.text(max_size=12),
    )


def hostile_token() -> st.SearchStrategy[str]:
    """A whitespace-free token for whitespace-separated files."""
    return hostile_text().map(lambda t: "".join(t.split()) or "x")


@dataclass(frozen=True)
class Corrupted:
    """Corrupted file bytes and the operations that made them."""

    data: bytes
    ops: tuple[str, ...]

    @property
    def in_rows_only(self) -> bool:
        """Whether every change sits in data rows (errors then name a row)."""
        return bool(self.ops) and set(self.ops) <= _ROW_OPS


_ROW_OPS = {"set_cell", "dup_row", "dup_row_changed", "extra_field"}


# ------------------------------------------------------------------ bytes
@st.composite
def damaged(draw: Draw, data: bytes) -> tuple[bytes, str | None]:
    """``data``, or the same cut short or with bad bytes, a NUL, CRLF, a BOM."""
    kind = draw(st.sampled_from([None, None, None, "cut", "bad", "nul", "crlf", "bom"]))
    at = draw(st.integers(0, len(data)))
    if kind == "cut":
        return data[:at], kind
    if kind in ("bad", "nul"):
        insert = b"\x00" if kind == "nul" else draw(st.sampled_from(BAD_BYTES))
        return data[:at] + insert + data[at:], kind
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n"), kind
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, kind
    return data, None


# -------------------------------------------------------------- CSV tables
def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _row_op(draw: Draw, rows: list[list[str]], op: str) -> list[list[str]]:
    """Operations on one data row (the header stays)."""
    r = draw(st.integers(1, len(rows) - 1))
    row = list(rows[r])
    c = draw(st.integers(0, max(len(row) - 1, 0)))
    if op in ("set_cell", "dup_row_changed") and row:
        row[c] = draw(hostile_text())
    if op == "set_cell":
        return [*rows[:r], row, *rows[r + 1 :]]
    if op == "dup_row":
        row = list(rows[r])
    if op == "extra_field":
        return [*rows[:r], [*row, draw(hostile_text())], *rows[r + 1 :]]
    if op == "short_row":
        return [*rows[:r], row[:c], *rows[r + 1 :]]
    if op == "delete_row":
        return [*rows[:r], *rows[r + 1 :]]
    return [*rows, row]  # dup_row, dup_row_changed


def _column_op(draw: Draw, rows: list[list[str]], op: str) -> list[list[str]]:
    """Operations on the header or a whole column."""
    c = draw(st.integers(0, len(rows[0]) - 1))
    if op == "drop_column":
        return [r[:c] + r[c + 1 :] for r in rows]
    if op == "add_column":
        name = draw(st.sampled_from(["extra", rows[0][0], "note", ""]))
        return [[*rows[0], name]] + [[*r, draw(hostile_text())] for r in rows[1:]]
    header = list(rows[0])
    header[c] = draw(st.one_of(st.sampled_from(header), hostile_text()))
    return [header, *rows[1:]]  # rename_header (maybe to a name it already has)


_TABLE_OPS = (
    "set_cell", "set_cell", "set_cell", "dup_row", "dup_row_changed",
    "extra_field", "short_row", "delete_row", "drop_column", "add_column",
    "rename_header", "header_only", "blank_lines", "empty", "raw_cell",
)  # fmt: skip


def _table_op(draw: Draw, rows: list[list[str]], op: str) -> list[list[str]] | str:
    if op == "header_only" or (len(rows) < 2 and op not in ("empty", "raw_cell")):
        return rows[:1]
    if op == "empty":
        return ""
    if op == "blank_lines":
        at = draw(st.integers(0, len(rows)))
        return [*rows[:at], [], [], *rows[at:]]
    if op == "raw_cell":  # unquoted text: commas, quotes and newlines as they are
        text = _csv_text(rows)
        at = draw(st.integers(0, len(text)))
        return text[:at] + str(draw(hostile_text())) + text[at:]
    if op in ("drop_column", "add_column", "rename_header"):
        return _column_op(draw, rows, op) if rows[0] else rows
    return _row_op(draw, rows, op)


@st.composite
def corrupted_table(draw: Draw, seed: str) -> Corrupted:
    """A CSV seed after 1-3 table operations and maybe damage to its bytes."""
    rows: list[list[str]] = list(csv.reader(io.StringIO(seed)))
    ops: list[str] = []
    text: str | None = None
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(_TABLE_OPS))
        ops.append(op)
        done = _table_op(draw, rows, op)
        if isinstance(done, str):
            text = done
            break
        rows = done
    data = (text if text is not None else _csv_text(rows)).encode("utf-8")
    data, kind = draw(damaged(data))
    return Corrupted(data, (*ops, kind) if kind else tuple(ops))


# --------------------------------------------------- whitespace token files
_TOKEN_OPS = ("set", "set", "delete", "insert", "drop_line", "dup_line", "empty")


@st.composite
def corrupted_tokens(draw: Draw, seed: str) -> Corrupted:
    """A whitespace-separated seed (CDNOW, GAP) with tokens or lines changed."""
    lines = [line.split() for line in seed.splitlines()]
    ops: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(_TOKEN_OPS))
        ops.append(op)
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        line = list(lines[i]) if lines else []
        k = draw(st.integers(0, max(len(line) - 1, 0)))
        if op == "empty":
            lines = []
        elif op in ("set", "insert") and lines:
            line[k : k + (op == "set")] = [draw(hostile_token())]
            lines[i] = line
        elif op == "delete" and line:
            del line[k]
            lines[i] = line
        elif op == "drop_line" and lines:
            del lines[i]
        elif op == "dup_line" and lines:
            lines.insert(i, line)
    data = "".join(" " + " ".join(line) + "\n" for line in lines).encode()
    data, kind = draw(damaged(data))
    return Corrupted(data, (*ops, kind) if kind else tuple(ops))


# ------------------------------------------------------------------ events
def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, huge numbers, NaN and far-away instants included."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(),
        st.text(max_size=10),
        st.sampled_from(
            [
                "2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                "2026-05-20", "2026-05-20T10:00:00", "WH-EAST", "MOON",
                "backlog", "congestion", "outage", "ground", 1e308, -1e308,
                10**400, 300, 301, -1,
            ]
        ),
    )  # fmt: skip
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=5,
    )


def python_values() -> st.SearchStrategy[Any]:
    """What a caller of ``parse_event`` might pass that JSON cannot hold."""
    odd = st.sampled_from([b"\xff", (1, 2), frozenset({1}), float("nan")])
    # built when drawn: hypothesis cannot print an int of 5000 digits
    huge = st.builds(pow, st.sampled_from([10, -10]), st.just(5000))
    return st.one_of(json_values(), odd, huge)


_FIELDS = ("event_id", "ts", "node_id", "type", "value", "service")


@st.composite
def corrupted_event(draw: Draw, seed: dict[str, Any], values: Any = None) -> Any:
    """One event object with fields replaced, dropped or added, or not an object."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values if values is not None else json_values())
    event = dict(seed)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(_FIELDS))
        if draw(st.booleans()):
            event[key] = draw(values if values is not None else json_values())
        else:
            event.pop(key, None)
    return event


_LINE_OPS = ("event", "event", "dup", "dup_changed", "garbage", "nested", "huge")


@st.composite
def corrupted_event_lines(draw: Draw, seeds: tuple[dict[str, Any], ...]) -> Corrupted:
    """JSON lines of events with an event corrupted, an id repeated (same or
    different content), a line that is not JSON, ... and maybe damaged bytes."""
    lines = [json.dumps(e) for e in seeds]
    op = draw(st.sampled_from(_LINE_OPS))
    i = draw(st.integers(0, len(lines) - 1))
    if op == "event":
        lines[i] = json.dumps(draw(corrupted_event(seeds[i])))
    elif op == "dup":
        lines.append(lines[i])
    elif op == "dup_changed":
        changed = dict(seeds[i]) | {"value": draw(json_values())}
        lines.append(json.dumps(changed))
    elif op == "garbage":
        lines[i] = draw(hostile_text()).replace("\n", " ")
    elif op == "nested":
        lines[i] = "[" * draw(st.integers(100, 100_000))
    else:  # a number of thousands of digits (Python's int parser refuses them)
        digits = "9" * draw(st.integers(20, 6000))
        lines[i] = json.dumps(dict(seeds[i]) | {"value": "N"}).replace('"N"', digits)
    data, kind = draw(damaged(("\n".join(lines) + "\n").encode()))
    return Corrupted(data, (op, kind) if kind else (op,))


# --------------------------------------------------------------- problems
def _valid_problem() -> dict[str, Any]:
    return {
        "cost": np.array([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]]),
        "weight": np.array([[1.0, 1.0], [2.0, 1.0], [1.0, 3.0]]),
        "capacity": np.array([3.0, 4.0]),
        "defer_cost": np.array([10.0, 10.0, 10.0]),
        "name": np.array("seed"),
    }


def _odd_array() -> st.SearchStrategy[Any]:
    """An array of any kind, shape and values (a few hostile ones first)."""
    fixed = st.sampled_from(
        [
            np.array([[1e300, 1.0], [1.0, 1.0], [1.0, 1.0]]),
            np.array([[np.nan, 1.0], [1.0, np.inf], [1.0, 1.0]]),
            np.array([[1 + 2j, 1], [1, 1], [1, 1]]),
            np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
            np.array(["2026-01-01"] * 2, dtype="datetime64[D]"),
            np.array([[np.iinfo(np.int64).min, 1]] * 3),
            np.array([np.iinfo(np.uint64).max] * 2, dtype=np.uint64),
            np.array([None, 1], dtype=object),
            np.array([b"x", b"y"]),
            np.zeros((0, 2)),
            np.array(5.0),
            np.ones((3, 2, 1)),
        ]
    )
    random = hnp.arrays(
        dtype=st.sampled_from([np.float64, np.int64, np.bool_, np.float32]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    )
    return st.one_of(fixed, random)


@st.composite
def corrupted_npz(draw: Draw) -> Corrupted:
    """A small problem's ``.npz`` with arrays replaced, dropped or added, or
    its bytes damaged, or a file that is no ``.npz`` at all."""
    arrays = _valid_problem()
    op = draw(st.sampled_from(["replace", "replace", "drop", "add", "name", "npy"]))
    key = draw(st.sampled_from(sorted(arrays)))
    if op == "replace":
        arrays[key] = draw(_odd_array())
    elif op == "drop":
        arrays.pop(key)
    elif op == "add":
        arrays[draw(st.sampled_from(["extra", "eligible", "use", "stock"]))] = draw(
            _odd_array()
        )
    elif op == "name":
        arrays["name"] = draw(_odd_array())
    out = io.BytesIO()
    if op == "npy":
        np.save(out, arrays["cost"])
    else:
        np.savez(out, **arrays)
    data, kind = draw(damaged(out.getvalue()))
    return Corrupted(data, (op, kind) if kind else (op,))


# ----------------------------------------------------------------- Parquet
_LATEST = dt.datetime(2262, 1, 1)


def _column(n: int) -> st.SearchStrategy[pd.Series]:
    """A typed column of ``n`` values: ints, floats, text, booleans or dates."""
    kinds = [
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
        st.lists(st.floats(), min_size=n, max_size=n),
        st.lists(st.none() | hostile_text(), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(
            st.datetimes(min_value=dt.datetime(1678, 1, 1), max_value=_LATEST),
            min_size=n,
            max_size=n,
        ).map(lambda v: pd.to_datetime(v)),
    ]
    return st.one_of(kinds).map(pd.Series)


@st.composite
def corrupted_parquet(draw: Draw, seed: pd.DataFrame) -> Corrupted:
    """The seed table as Parquet with one column replaced by a typed column
    of hostile values (or dropped), maybe cut short."""
    frame = seed.copy()
    column = draw(st.sampled_from(list(frame.columns)))
    how = draw(st.sampled_from(["drop", "hostile", "hostile", "text", "number"]))
    if how == "drop":
        frame = frame.drop(columns=[column])
    elif how == "text":  # the same values, typed as text
        frame[column] = frame[column].astype(str)
    elif how == "number":  # the same values as floats (NaN where not numbers)
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    else:
        frame[column] = draw(_column(len(frame))).to_numpy()
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    data = out.getvalue()
    if draw(st.integers(0, 5)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
        return Corrupted(data, (how, "cut"))
    return Corrupted(data, (how,))


# ------------------------------------------------------------ settings (TOML)
def toml_values() -> st.SearchStrategy[str]:
    """A TOML value as written in a file: any scalar, a date, an array or an
    inline table, and some that are no TOML at all."""
    scalars = st.one_of(
        hostile_text().map(json.dumps),  # a basic string (JSON's escapes)
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(
            [
                "nan", "inf", "-inf", "+nan", "true", "false", "1e309", "0x7fffffffffffffff",
                "0o777", "0b101", "1_000", "1979-05-27", "07:32:00", "1979-05-27T07:32:00",
                "1979-05-27T07:32:00-08:00", "'literal'", '"""multi\nline"""', "[]",
                "{}", '[1, "a"]', "[[1], [2]]", "{ a = 1 }", "", "=", '"\\u0000"',
                '"cpsat"', '"greedy"', '"gold"', '"next_day"', "-1", "0", "1e-320",
            ]
        ),
    )  # fmt: skip
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3).map(lambda v: f"[{', '.join(v)}]")
            | st.dictionaries(
                st.sampled_from(["a", "speed", "services", "gold", "x y"]),
                inner,
                max_size=2,
            ).map(
                lambda d: "{ " + ", ".join(f"{k!r} = {v}" for k, v in d.items()) + " }"
            )
        ),
        max_leaves=4,
    )


_TOML_OPS = ("set", "set", "set", "rename", "drop", "dup", "move", "insert", "header")


@st.composite
def corrupted_toml(draw: Draw, seed: str) -> Corrupted:
    """A settings file with a value replaced, a key renamed, a line dropped,
    repeated, moved to another table or inserted, a table renamed, ... and
    maybe damaged bytes."""
    lines = seed.splitlines()
    ops: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(_TOML_OPS))
        ops.append(op)
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        line = lines[i] if lines else ""
        key, eq, _value = line.partition("=")
        if not lines:
            lines = [draw(hostile_text())]
        elif op == "set" and eq:
            lines[i] = f"{key}= {draw(toml_values())}"
        elif op == "rename" and eq:
            name = draw(
                st.one_of(
                    st.sampled_from(["engine", "time-limit", "tiers"]), hostile_token()
                )
            )
            lines[i] = f"{name} ={_value}"
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "move":
            del lines[i]
            lines.insert(draw(st.integers(0, len(lines))), line)
        elif op == "header":
            tables = ["[solve]", "[tiers]", "[tiers.rules.gold]", "[capacity.show]",
                      "[nope]", "[solve.engine]", "[[tiers]]", "[tiers.rules.moon]"]  # fmt: skip
            lines.insert(i, draw(st.one_of(st.sampled_from(tables), hostile_text())))
        else:  # insert: a raw line, a key of another table, or a value as a line
            lines.insert(i, draw(st.one_of(hostile_text(), toml_values())))
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    data, kind = draw(damaged(data))
    return Corrupted(data, (*ops, kind) if kind else tuple(ops))


# ------------------------------------------------------------ model folders
@st.composite
def corrupted_json_object(draw: Draw, seed: dict[str, Any]) -> Corrupted:
    """A JSON object (a model's ``metadata.json``) with a value anywhere in
    it replaced or dropped, a key added, or not an object at all, and maybe
    damaged bytes."""
    obj: Any = json.loads(json.dumps(seed))
    ops: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "set", "drop", "add", "whole"]))
        ops.append(op)
        if op == "whole" or not isinstance(obj, dict) or not obj:
            obj = draw(json_values())
            continue
        parent = obj  # walk down to a random nested object
        while True:
            children = [k for k, v in parent.items() if isinstance(v, dict) and v]
            if not children or draw(st.booleans()):
                break
            parent = parent[draw(st.sampled_from(sorted(children)))]
        key = draw(st.sampled_from(sorted(parent)))
        if op == "set":
            parent[key] = draw(json_values())
        elif op == "drop":
            del parent[key]
        else:
            parent[draw(st.text(max_size=5))] = draw(json_values())
    text = json.dumps(obj, allow_nan=True)
    data, kind = draw(damaged(text.encode()))
    return Corrupted(data, (*ops, kind) if kind else tuple(ops))
