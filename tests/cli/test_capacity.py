"""``tierflow capacity ingest --json``: the same figures the text line shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import TINY_NETWORK, untimed_lines
from tests.data.test_store_retention import NOW, seed
from tests.postgres import NewState
from tierflow.cli.main import cli
from tierflow.data.network import Network
from tierflow.data.store import open_store
from tierflow.data.store.checkouts import backlog_delta_event
from tierflow.data.store.retention import utc_text


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
    assert text.stdout == "2 events applied, 1 duplicate ignored (log at seq 2)\n"
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {
        "applied": 0,
        "duplicates": 3,
        "last_seq": 2,
        "stale": 0,
    }


_BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("how", ["file", "stdin", "stdin --follow", "allocate"])
def test_a_byte_order_mark_is_read_alike_everywhere(tmp_path: Path, how: str) -> None:
    """Windows editors start files with one: every reader of the event
    contract drops it (stdin once said "Unexpected UTF-8 BOM", --follow
    skipped the first event)."""
    data = _BOM + "\n".join(_event(i) for i in (0, 1)).encode() + b"\n"
    events = tmp_path / "ev.jsonl"
    events.write_bytes(data)
    state = ["--state", str(tmp_path / "s.db")]
    if how == "allocate":
        orders = tmp_path / "orders.csv"
        orders.write_text(
            "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
            "A,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1\n"
        )
        args = ["allocate", "--network", str(TINY_NETWORK), "--orders", str(orders)]
        args += ["--events", str(events), "--out", str(tmp_path / "out"), *state]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        return
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK), *state, "--json"]
    given = {
        "file": (["--events", str(events)], None),
        "stdin": (["--events", "-"], data),
        "stdin --follow": (["--events", "-", "--follow"], data),
    }[how]
    result = CliRunner().invoke(cli, [*args, *given[0]], input=given[1])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["applied"] == 2


@pytest.mark.parametrize("how", ["ingest", "allocate"])
@pytest.mark.parametrize(
    "data", [b"", b"\n\n", _BOM + b"\n"], ids=["empty", "blank", "bom"]
)
def test_an_events_file_of_no_event_is_refused(
    tmp_path: Path, how: str, data: bytes
) -> None:
    """An empty events file (a wrong or truncated export) is one line, exit
    1, nothing written, as every other reader's empty file and
    ``POST /v1/capacity/events``' empty list (``ingest`` applied nothing,
    exit 0; QA, a newcomer). Stdin with no event stays a quiet feed."""
    events = tmp_path / "ev.jsonl"
    events.write_bytes(data)
    state = tmp_path / "s.db"
    if how == "allocate":
        orders = tmp_path / "orders.csv"
        orders.write_text(
            "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
            "A,2026-01-05T10:30:00-05:00,C1,100,gold,TEE,1\n"
        )
        args = ["allocate", "--orders", str(orders), "--out", str(tmp_path / "out")]
    else:
        args = ["capacity", "ingest"]
    args += ["--network", str(TINY_NETWORK), "--state", str(state)]
    result = CliRunner().invoke(cli, [*args, "--events", str(events)])
    assert (result.exit_code, result.output) == (1, "Error: ev.jsonl: file is empty\n")
    assert not state.exists()
    if how == "ingest":
        quiet = CliRunner().invoke(cli, [*args, "--events", "-"], input=data)
        assert quiet.exit_code == 0, quiet.output
        assert quiet.stdout.startswith("0 events applied, 0 duplicates ignored")


def test_stdin_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    """As a file's bad byte is (it was a UnicodeEncodeError traceback)."""
    data = (_event(0) + "\n" + _event(1).replace("e1", "e\xff")).encode("latin-1")
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK), "--events", "-"]
    result = CliRunner().invoke(
        cli, [*args, "--state", str(tmp_path / "s.db")], input=data
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: <stdin>: row 2: value b'\\xff': not UTF-8 text (invalid start byte)\n"
    )
    assert not (tmp_path / "s.db").exists()


def _generated_orders(out: Path, *, days: int, start: str = "2026-05-20") -> Path:
    """300 orders on the tiny network over ``days`` days from ``start``."""
    made = CliRunner().invoke(
        cli,
        ["generate", "orders", "--network", str(TINY_NETWORK), "--orders", "300",
         "--days", str(days), "--start", start, "--out", str(out)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    return out


def test_a_forecast_instant_outside_the_event_window_is_refused(
    tmp_path: Path,
) -> None:
    """Its forecast is stored as capacity events, which hold the event log's
    window (a 9999 forecast used to be stored, pinning the map's "as of")."""
    history = _generated_orders(tmp_path / "history.csv", days=3)
    state = tmp_path / "s.db"
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--state", str(state)]
    # a bad flag value is a usage error, exit 2 (it exited 1)
    for at, message in [
        ("9999-01-01T00:00:00Z", "outside the allowed window 2016-06-01 .. "
         "2027-06-01 (10 years before to 1 year after now)"),
        ("2026-05-23T01:00", "no timezone offset (naive time; add Z or +HH:MM)"),
        ("2026-05-23 1am", "not an ISO 8601 instant"),
        ("2026-02-29T01:00Z", "no such day: 2026 is not a leap year"),
    ]:  # fmt: skip
        result = CliRunner().invoke(cli, [*args, "--at", at])
        assert result.exit_code == 2
        assert result.output.endswith(
            f"Error: Invalid value for '--at': '{at}': {message}.\n"
        )
    assert not state.exists()
    # an instant the forecasts cannot start from says the rule and the bound
    # (it said "before the end of the history" of an instant a day inside it)
    early = CliRunner().invoke(cli, [*args, "--at", "2026-05-21T01:00:00Z"])
    assert early.exit_code == 1
    assert early.output == (
        "Error: field '--at': value '2026-05-21T01:00:00+00:00': more than a day "
        "before the end of the fitted history (2026-05-23T00:00:00Z)\n"
    )
    inside = CliRunner().invoke(cli, [*args, "--at", "2026-05-23T01:00:00Z"])
    assert inside.exit_code == 0, inside.output
    assert inside.stdout.endswith("stored as forecast events\n")
    # the same forecast again is a duplicate, said; one from a corrected
    # history at the same instant is stored (it was refused: "event id
    # already used by the logged event seq 4 with different content", QA)
    again = CliRunner().invoke(cli, [*args, "--at", "2026-05-23T01:00:00Z"])
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(
        "already stored (the same forecast at the same instant): nothing written\n"
    )
    lines = history.read_text().splitlines(keepends=True)
    corrected = tmp_path / "corrected.csv"
    corrected.write_text("".join(lines[:1] + lines[1::2]))
    fixed = [str(corrected) if a == str(history) else a for a in args]
    moved = CliRunner().invoke(cli, [*fixed, "--at", "2026-05-23T01:00:00Z", "--json"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["already_stored"] == 0
    # too few orders to learn from is said of their file (it named none)
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("".join(history.read_text().splitlines(keepends=True)[:5]))
    short = CliRunner().invoke(
        cli, ["capacity", "forecast", "--network", str(TINY_NETWORK),
              "--orders", str(tiny), "--state", str(tmp_path / "t.db")],
    )  # fmt: skip
    assert short.exit_code == 1
    assert short.output == "Error: tiny.csv: less than one whole UTC day of orders\n"
    # a holdout as long as the history is named by its flag (it said
    # 'holdout_hours', a name the command line does not have)
    # 'holdout_hours', a name the command line does not have); the range it
    # gives leaves the models their day to fit on (40 was in it, then failed
    # with "needs at least one day of history")
    for hours in ("60", "32"):
        whole = CliRunner().invoke(
            cli, [*args, "--holdout-hours", hours, "--no-ingest"]
        )
        assert whole.exit_code == 1
        assert whole.output == (
            f"Error: field '--holdout-hours': value {hours}: must be 1 to 31 (the "
            "history covers 55 hours from its first whole UTC day; the models fit "
            "on 24 at least)\n"
        )
    last = CliRunner().invoke(cli, [*args, "--holdout-hours", "31", "--no-ingest"])
    assert last.exit_code == 0, last.output
    # a day of orders from New York's midnight covers no whole UTC day and a bit
    one_day = _generated_orders(tmp_path / "one_day.csv", days=1)
    for holdout in ([], ["--holdout-hours", "5"]):
        short = CliRunner().invoke(
            cli,
            ["capacity", "forecast", "--network", str(TINY_NETWORK), "--orders",
             str(one_day), "--state", str(tmp_path / "o.db"), *holdout],
        )  # fmt: skip
        assert short.exit_code == 1
        assert short.output.startswith(
            "Error: one_day.csv: needs at least 25 hours of orders from the first "
            "UTC midnight it covers whole (a day to fit on, an hour to score); it has "
        ), short.output


@pytest.mark.parametrize("as_json", [False, True])
def test_follow_exits_1_when_a_line_was_skipped(tmp_path: Path, as_json: bool) -> None:
    """The feed goes on past a bad line, but the exit code says there was one
    (it was 0 even when every line was bad): a supervisor can tell a feed of
    garbage from a good one."""
    good = [_event(0), _event(1)]
    missing_ts = (
        '{"event_id": "m1", "node_id": "WH-EAST", "type": "backlog", "value": 5}'
    )
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK), "--events", "-"]
    args += ["--follow", "--state", str(tmp_path / "s.db")]
    args += ["--json"] if as_json else []
    feed = "\n".join([good[0], missing_ts, "not json", good[1]]) + "\n"
    result = CliRunner().invoke(cli, args, input=feed)
    assert result.exit_code == 1
    # warning records (after their time stamp): raw text until 2026-12-06
    assert untimed_lines(result.stderr) == [
        "WARNING tierflow.cli.capacity: skipped: <stdin>: row 2: field 'ts': missing",
        "WARNING tierflow.cli.capacity: skipped: <stdin>: row 3: not JSON "
        "(Expecting value: column 1)",
    ]
    if as_json:
        summary = json.loads(result.stdout)
        batches = summary.pop("batches")  # 1 or 2: how the 50 ms linger fell
        assert summary == {
            "applied": 2,
            "duplicates": 0,
            "last_seq": 2,
            "bad": 2,
            "stale": 0,
        }
    else:
        batches = int(result.stdout.split(" in ")[1].split()[0])
        assert result.stdout == (
            "2 events applied, 0 duplicates ignored, 2 bad lines skipped, "
            f"in {batches} {'batch' if batches == 1 else 'batches'} (log at seq 2)\n"
        )
    assert batches in (1, 2)
    clean = CliRunner().invoke(cli, args, input="\n".join(good) + "\n")
    assert clean.exit_code == 0, clean.output
    assert clean.stderr == ""


def test_the_map_must_be_a_png(tmp_path: Path) -> None:
    """Another extension reached matplotlib, which refused it with a
    traceback after the work was done (and before the JSON was printed)."""
    result = CliRunner().invoke(
        cli,
        ["capacity", "show", "--state", str(tmp_path / "s.db"),
         "--png", str(tmp_path / "map.txt")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.endswith(
        f"Error: Invalid value for --png: {tmp_path / 'map.txt'}: the map is drawn "
        "as PNG: name a .png file\n"
    )
    assert not (tmp_path / "s.db").exists()


def test_show_never_makes_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``capacity show --state typo.db`` made an empty store of that name
    and showed its nominal map, exit 0. A store given (``--state`` or
    ``$TIERFLOW_STATE``) that does not exist is refused; the default store
    not made yet shows the nominal map; neither makes a file."""
    monkeypatch.delenv("TIERFLOW_STATE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    typo = tmp_path / "typo.db"
    show = ["capacity", "show", "--network", str(TINY_NETWORK), "--json"]
    given = CliRunner().invoke(cli, [*show, "--state", str(typo)])
    assert given.exit_code == 1
    assert given.output == (
        f"Error: {typo}: no state store there (tierflow capacity ingest, "
        "capacity forecast, stock load or serve makes one)\n"
    )
    monkeypatch.setenv("TIERFLOW_STATE", str(typo))
    from_env = CliRunner().invoke(cli, show)
    assert (from_env.exit_code, from_env.output) == (1, given.output)
    monkeypatch.delenv("TIERFLOW_STATE")
    default = CliRunner().invoke(cli, show)
    assert default.exit_code == 0, default.output
    shown = json.loads(default.output)
    assert shown["nodes"] and all(n["score"] == 1.0 for n in shown["nodes"])
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_postgresql_store_is_one_line_naming_it(tmp_path: Path) -> None:
    """libpq's message spans two lines and named no store: one line now,
    the store's location first, its password masked."""
    state = f"postgresql://ops:s3cret@/tierflow?host={tmp_path / 'no-server'}"
    result = CliRunner().invoke(cli, ["capacity", "show", "--state", state])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(
        f"Error: postgresql://ops@/tierflow?host={tmp_path / 'no-server'}: "
    ), result.output
    assert "s3cret" not in result.output


def test_a_state_url_with_one_slash_is_a_usage_error_not_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``postgresql:/tierflow`` (one slash) applied the events to a SQLite
    file ``./postgresql:/tierflow``, exit 0."""
    monkeypatch.chdir(tmp_path)
    event = '{"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "outage"}'
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK), "--events", "-",
         "--state", "postgresql:/tierflow?host=/tmp"],
        input=event + "\n",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '--state': 'postgresql:/tierflow?host=/tmp': not a "
        "PostgreSQL URL (postgresql://... or postgres://...) nor a SQLite file (for a "
        "file of that name, start it with ./)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given", ["", "  "])
def test_a_blank_state_is_refused_not_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """``--state "$STATE"`` with the variable unset said ``Error: .: is a
    folder``, naming a location nobody gave; ``"  "`` (as ``--state`` or
    ``$TIERFLOW_STATE``) made a store file named by two spaces in the
    working folder, a replica on a store of its own."""
    monkeypatch.chdir(tmp_path)
    event = '{"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "outage", "value": true}'
    command = ["capacity", "ingest", "--network", str(TINY_NETWORK), "--events", "-"]
    result = CliRunner().invoke(cli, [*command, "--state", given], input=event)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Invalid value for '--state': {given!r}: empty (a SQLite file "
        "or a postgresql:// URL)"
    )
    if given:  # an empty variable is an unset one
        monkeypatch.setenv("TIERFLOW_STATE", given)
        result = CliRunner().invoke(cli, command, input=event)
        assert result.exit_code == 1
        assert result.output == (
            f"Error: field 'TIERFLOW_STATE': value {given!r}: empty (a SQLite "
            "file or a postgresql:// URL)\n"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["file", "stdin", "stdin --follow"])
def test_an_unknown_key_is_refused_on_every_path(tmp_path: Path, how: str) -> None:
    """A typo of a key ("servce") was ignored and the event applied without
    it. Now it is a bad line, named with its key: a file or stdin applies
    nothing (exit 1); a followed feed skips it, applies the rest and exits
    1, as for any bad line."""
    typo = json.loads(_event(1)) | {"servce": "ground"}
    _second_line_refused(
        tmp_path,
        how,
        [_event(0), json.dumps(typo), _event(2)],
        "row 2: field 'servce': unknown field "
        "(an event has event_id, ts, node_id, type, value, service)",
    )


def _second_line_refused(tmp_path: Path, how: str, lines: list[str], said: str) -> None:
    """Ingest ``lines`` (the second one bad) ``how``: from a file or stdin
    nothing is applied (exit 1, ``said`` after the source's name); a
    followed feed skips the line, applies the others and exits 1."""
    data = "\n".join(lines) + "\n"
    events = tmp_path / "ev.jsonl"
    events.write_text(data)
    state = tmp_path / "s.db"
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK)]
    args += ["--state", str(state), "--json"]
    given = {
        "file": (["--events", str(events)], None),
        "stdin": (["--events", "-"], data),
        "stdin --follow": (["--events", "-", "--follow"], data),
    }[how]
    result = CliRunner().invoke(cli, [*args, *given[0]], input=given[1])
    assert result.exit_code == 1
    where = "ev.jsonl" if how == "file" else "<stdin>"
    message = f"{where}: {said}"
    if how != "stdin --follow":
        assert result.output == f"Error: {message}\n"
        assert not state.exists()  # nothing was applied
        return
    assert untimed_lines(result.stderr) == [
        f"WARNING tierflow.cli.capacity: skipped: {message}"
    ]
    summary = json.loads(result.stdout)
    assert (summary["applied"], summary["bad"], summary["last_seq"]) == (2, 1, 2)


def test_an_event_older_than_what_is_known_is_said_stale(tmp_path: Path) -> None:
    """An event older than the node's value of its kind is logged and
    changes nothing, as documented: it was counted "1 events applied" with
    nothing to say it changed nothing."""
    state = tmp_path / "s.db"
    newer, older = tmp_path / "newer.jsonl", tmp_path / "older.jsonl"
    newer.write_text(
        '{"event_id": "a", "ts": "2026-01-05T15:00:00Z", "node_id": "WH-EAST", '
        '"type": "staffing", "value": 50}\n'
    )
    older.write_text(
        '{"event_id": "b", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "staffing", "value": 90}\n'
    )
    ingest = [
        "capacity",
        "ingest",
        "--network",
        str(TINY_NETWORK),
        "--state",
        str(state),
    ]
    first = CliRunner().invoke(cli, [*ingest, "--events", str(newer)])
    assert first.output == "1 event applied, 0 duplicates ignored (log at seq 1)\n"
    second = CliRunner().invoke(cli, [*ingest, "--events", str(older), "--json"])
    assert json.loads(second.output) == {
        "applied": 1, "duplicates": 0, "last_seq": 2, "stale": 1
    }  # fmt: skip
    shown = CliRunner().invoke(
        cli, ["capacity", "show", "--network", str(TINY_NETWORK), "--state", str(state),
              "--json"],
    )  # fmt: skip
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    assert nodes["WH-EAST"]["staffing_pct"] == 50.0
    third = tmp_path / "third.jsonl"
    third.write_text(older.read_text().replace('"b"', '"c"'))
    said = CliRunner().invoke(cli, [*ingest, "--events", str(third)])
    assert said.output == (
        "1 event applied (1 older than what was known of their kind: changed "
        "nothing), 0 duplicates ignored (log at seq 3)\n"
    )


def test_show_lists_the_free_room_its_scores_are_made_of(tmp_path: Path) -> None:
    """With --service and --workload the score took the lane's congestion and
    the order's workload, while the free column beside it listed the node's
    room alone (17000 against a score of 0.44 of 17000)."""
    net = _ingested(
        tmp_path,
        '{"event_id": "c1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "congestion", "value": 2, "service": "ground"}\n',
    )
    shown = CliRunner().invoke(
        cli, ["capacity", "show", *net, "--json", "--service", "ground",
              "--workload", "100"],
    )  # fmt: skip
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    east = nodes["WH-EAST"]
    assert east["free_capacity"] == east["nominal_capacity"] / 2 - 100
    for node in nodes.values():
        assert node["score"] == pytest.approx(
            node["free_capacity"] / node["nominal_capacity"]
        )
    # a node without the service scores 0 for it (ST-CHI offers no next-day:
    # it scored 0.96 for next-day orders)
    shown = CliRunner().invoke(
        cli, ["capacity", "show", *net, "--json", "--service", "next_day",
              "--workload", "4"],
    )  # fmt: skip
    scores = {n["node_id"]: n["score"] for n in json.loads(shown.output)["nodes"]}
    assert scores["ST-CHI"] == 0.0 < min(scores["WH-EAST"], scores["WH-WEST"])


def test_show_gives_each_lanes_room_and_score_as_the_api(tmp_path: Path) -> None:
    """`show --json` has GET /v1/capacity's `lanes`: WH-EAST (capacity
    1000, backlog 400) with its two_day lane at x3 leaves 200 by two_day,
    score 0.2, 600 and 0.6 by its other lanes (the API's figures,
    `test_each_lane_has_the_room_and_score_the_checkout_reads`); a node
    lists the lanes it ships, and a closed one has no room on any. It gave
    `congestion` alone: the room a lane leaves took a `--service` run per
    lane."""
    net = _ingested(
        tmp_path,
        '{"event_id": "b1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "backlog", "value": 400}\n'
        '{"event_id": "c1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "congestion", "value": 3, "service": "two_day"}\n'
        '{"event_id": "o1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-WEST", '
        '"type": "outage", "value": true}\n',
    )
    shown = CliRunner().invoke(cli, ["capacity", "show", *net, "--json"])
    assert shown.exit_code == 0, shown.output
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    east = nodes["WH-EAST"]["lanes"]
    on_time = {"congestion": 1.0, "free_capacity": 600.0, "score": 0.6}
    assert east == {
        **dict.fromkeys(nodes["WH-EAST"]["congestion"], on_time),
        "two_day": {"congestion": 3.0, "free_capacity": 200.0, "score": 0.2},
    }
    assert sorted(nodes["ST-CHI"]["lanes"]) == ["ground", "two_day"]
    assert {lane["free_capacity"] for lane in nodes["WH-WEST"]["lanes"].values()} == {
        0.0
    }
    # the lane's figures are what --service reads for it
    two_day = CliRunner().invoke(
        cli, ["capacity", "show", *net, "--json", "--service", "two_day"]
    )
    lane = {n["node_id"]: n for n in json.loads(two_day.output)["nodes"]}["WH-EAST"]
    assert (lane["free_capacity"], lane["score"]) == (200.0, 0.2)


def test_a_missing_events_file_is_a_usage_error(tmp_path: Path) -> None:
    """As every other missing input file (exit 2); it was exit 1 and said by
    the OS."""
    result = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--events", str(tmp_path / "none.jsonl"),
         "--state", str(tmp_path / "s.db")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: Invalid value for '--events': File '{tmp_path / 'none.jsonl'}' "
        "does not exist.\n"
    )
    assert not (tmp_path / "s.db").exists()


def test_show_gives_a_closed_node_no_free_room(tmp_path: Path) -> None:
    """A closed node with a backlog listed its overshoot ("free -300") in
    `capacity show`, while GET /v1/capacity said 0; an open overbooked node
    still shows how far over it is."""
    net = _ingested(
        tmp_path,
        '{"event_id": "o1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "outage", "value": true}\n'
        '{"event_id": "b1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        '"type": "backlog", "value": 300}\n'
        '{"event_id": "b2", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-WEST", '
        '"type": "backlog", "value": 1000000}\n',
    )
    shown = CliRunner().invoke(cli, ["capacity", "show", *net, "--json"])
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    assert nodes["WH-EAST"]["free_capacity"] == 0.0
    assert nodes["WH-EAST"]["score"] == 0.0 and nodes["WH-EAST"]["outage"]
    assert nodes["WH-WEST"]["free_capacity"] < 0.0
    text = CliRunner().invoke(cli, ["capacity", "show", *net]).output
    east = next(line for line in text.splitlines() if line.startswith("WH-EAST"))
    assert east.split()[7] == "0", east


def test_show_prints_no_room_as_0_not_minus_0(tmp_path: Path) -> None:
    """Free room a hair below zero, a capacity of 0.3 minus a backlog of
    0.1 + 0.2 (-5.6e-17) or an overshoot of 0.4 units, was listed "-0" and
    said -0.0 in the JSON."""
    net = _ingested(
        tmp_path,
        '{"event_id": "n1", "ts": "2026-01-05T14:00:00Z", "node_id": "ST-CHI", '
        '"type": "nominal_capacity", "value": 0.3}\n'
        '{"event_id": "b1", "ts": "2026-01-05T14:00:00Z", "node_id": "ST-CHI", '
        '"type": "backlog", "value": 0.1}\n'
        '{"event_id": "b2", "ts": "2026-01-05T14:01:00Z", "node_id": "ST-CHI", '
        '"type": "backlog_delta", "value": 0.2}\n'
        '{"event_id": "b3", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-WEST", '
        '"type": "backlog", "value": 800.4}\n',
    )
    text = CliRunner().invoke(cli, ["capacity", "show", *net]).output
    assert text.splitlines()[3:] == [
        "WH-WEST   warehouse  0.000      800   100.0      800         0         0"
        "       1.00  -",
        "ST-CHI    store      0.000        0   100.0        0         0         0"
        "       1.00  2026-01-05 14:00:00 nominal_capacity by n1",
    ]
    shown = CliRunner().invoke(cli, ["capacity", "show", *net, "--json"]).output
    free = {n["node_id"]: n["free_capacity"] for n in json.loads(shown)["nodes"]}
    assert free == {"WH-EAST": 1000.0, "WH-WEST": -0.4, "ST-CHI": 0.0}
    assert '"free_capacity": 0.0,' in shown and "-0.0" not in shown


def _ingested(tmp_path: Path, events: str) -> list[str]:
    """The tiny network's ``--network`` and ``--state`` (``s.db`` in
    ``tmp_path``), the JSON lines ``events`` ingested into it."""
    path = tmp_path / "e.jsonl"
    path.write_text(events)
    net = ["--network", str(TINY_NETWORK), "--state", str(tmp_path / "s.db")]
    done = CliRunner().invoke(cli, ["capacity", "ingest", *net, "--events", str(path)])
    assert done.exit_code == 0, done.output
    return net


def _ingest_backlog(tmp_path: Path, value: str) -> tuple[int, str]:
    """``capacity ingest`` of one backlog event whose value is ``value`` as
    written in the JSON line; the exit code and output."""
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"event_id": "x1", "ts": "2026-01-05T14:00:00Z", "node_id": "WH-EAST", '
        f'"type": "backlog", "value": {value}}}\n'
    )
    said = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(TINY_NETWORK),
         "--state", str(tmp_path / "s.db"), "--events", str(events)],
    )  # fmt: skip
    return said.exit_code, said.output


def test_a_number_no_float_holds_is_named_as_written(tmp_path: Path) -> None:
    """``1e400`` reads as infinity: the message said "value inf"."""
    assert _ingest_backlog(tmp_path, "-1e400") == (
        1,
        "Error: e.jsonl: row 1: field 'value': value -1e400: must be in [0, 1e+09]\n",
    )


def test_a_number_of_5001_digits_is_said_whole(tmp_path: Path) -> None:
    """Python refuses to read an integer of over 4300 digits; the reason was
    cut at 80 characters, mid-word ("value has 5001 di")."""
    assert _ingest_backlog(tmp_path, "9" * 5001) == (
        1,
        "Error: e.jsonl: row 1: not JSON (Exceeds the limit (4300 digits) for "
        "integer string conversion: value has 5001 digits)\n",
    )


def test_a_default_forecast_instant_outside_the_event_window_is_refused(
    tmp_path: Path,
) -> None:
    """QA 2026-12-06: the default ``--at``, the last order's time, escaped
    the event window a given ``--at`` is held to: a history of 2016-05 (over
    10 years before TIERFLOW_NOW, 2026-06-01) stored its forecast as
    capacity events dated then. Refused unless ``--no-ingest``."""
    history = _generated_orders(tmp_path / "old.csv", days=3, start="2016-05-20")
    state = tmp_path / "s.db"
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--state", str(state)]
    stored = CliRunner().invoke(cli, args)
    assert stored.exit_code == 1
    assert stored.output.startswith("Error: field '--at': value '2016-05-2")
    assert stored.output.endswith(
        "+00:00': the last order's time (the default): outside the allowed window "
        "2016-06-01 .. 2027-06-01 (10 years before to 1 year after now) of a "
        "capacity event; --no-ingest shows it without storing it\n"
    )
    assert not state.exists()
    shown = CliRunner().invoke(cli, [*args, "--no-ingest", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["at"].startswith("2016-05-2")


def test_a_forecast_whose_naive_baseline_is_exact_prints_json(tmp_path: Path) -> None:
    """QA 2026-12-06: a history the same every day makes the seasonal naive
    forecast exact on the holdout (MAE 0), so the MAE ratio has no value;
    ``--json`` printed ``NaN`` (no JSON reader but Python's takes the line)
    and the text ``nan``. Now ``null`` and ``n/a``."""
    rows = ["order_id,created_at,customer_id,dest,tier,sku,quantity"]
    rows += [
        f"O{day}-{hour},2026-05-2{day}T{hour}:00:00Z,C1,100,gold,SOFA,1"
        for day in range(1, 5)
        for hour in (10, 14, 18)
    ]
    history = tmp_path / "same_every_day.csv"
    history.write_text("\n".join(rows) + "\n")
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--no-ingest"]
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    report = json.loads(as_json.stdout, parse_constant=refuse)
    assert report["seasonal_naive"]["mae"] == 0.0
    assert report["exp_smoothing"]["mae"] > 0.0
    assert report["ratio_mae"] is None
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "  MAE ratio (smoothing / naive) n/a (the naive MAE is 0)\n" in text.stdout


def test_a_forecast_dated_ahead_of_the_clock_is_shown_not_stored(
    tmp_path: Path,
) -> None:
    """``capacity forecast --at`` an instant ahead of the clock (TIERFLOW_NOW,
    2026-06-01) stored forecast events that stood over its nodes' every
    forecast until then, as any live event dated ahead: refused unless
    ``--no-ingest``, which only shows it."""
    history = _generated_orders(tmp_path / "history.csv", days=3)
    state = tmp_path / "s.db"
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--state", str(state)]
    ahead = ["--at", "2026-06-01T00:05:01Z"]
    later = CliRunner().invoke(cli, [*args, *ahead])
    assert later.exit_code == 1
    assert later.output == (
        "Error: field '--at': value '2026-06-01T00:05:01+00:00': more than 5 "
        "minutes ahead of the receiving clock (2026-06-01T00:00:00Z): a live event "
        "says what has happened, and one dated ahead would stand over every "
        "correction of its kind until then; send a change when it happens (a "
        "day's planned events go to allocate --events); --no-ingest shows it "
        "without storing it\n"
    )
    assert not state.exists()
    shown = CliRunner().invoke(cli, [*args, *ahead, "--no-ingest"])
    assert shown.exit_code == 0, shown.output
    edge = CliRunner().invoke(cli, [*args, "--at", "2026-06-01T00:05:00Z"])
    assert edge.exit_code == 0, edge.output


def test_a_default_forecast_instant_ahead_of_the_clock_says_it_is_the_default(
    tmp_path: Path,
) -> None:
    """QA 2026-12-08: a history whose last order is dated past the clock
    (TIERFLOW_NOW, 2026-06-01; a generated day still to come, a till's clock
    running fast) was refused as ``field '--at': value '2026-06-0…'`` on a
    command given no ``--at``, not saying the value was the default, as the
    refusal of a default outside the event window does. Now it names the
    last order's time, and still stores nothing."""
    history = _generated_orders(tmp_path / "ahead.csv", days=3, start="2026-05-31")
    state = tmp_path / "s.db"
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--state", str(state)]
    stored = CliRunner().invoke(cli, args)
    assert stored.exit_code == 1
    assert stored.output.startswith("Error: field '--at': value '2026-06-0")
    assert "+00:00': the last order's time (the default): more than 5 minutes " in (
        stored.output
    )
    assert stored.output.endswith("; --no-ingest shows it without storing it\n")
    assert "Traceback" not in stored.output
    assert not state.exists()


@pytest.mark.parametrize("how", ["file", "stdin", "stdin --follow"])
def test_a_live_event_dated_ahead_of_the_clock_is_refused(
    tmp_path: Path, how: str
) -> None:
    """An event dated 2027-06-01 was applied at once and stood over every
    correction of its kind until that date (a node keeps a kind's newest
    value): the operator's "open again" at the clock's time was stale. Now a
    live event may pass the clock (TIERFLOW_NOW, 2026-06-01) by 5 minutes at
    most: a file or stdin applies nothing (exit 1), a feed skips the line."""
    ahead = json.loads(_event(1)) | {"ts": "2026-06-01T00:05:01Z"}
    edge = json.loads(_event(2)) | {"ts": "2026-06-01T00:05:00Z"}
    _second_line_refused(
        tmp_path,
        how,
        [_event(0), json.dumps(ahead), json.dumps(edge)],
        "row 2: field 'ts': value '2026-06-01T00:05:01Z': more than 5 minutes "
        "ahead of the receiving clock (2026-06-01T00:00:00Z): a live event says "
        "what has happened, and one dated ahead would stand over every "
        "correction of its kind until then; send a change when it happens (a "
        "day's planned events go to allocate --events)",
    )


def test_a_feed_that_applied_nothing_writes_no_snapshot(
    state_location: Path | str,
) -> None:
    """``capacity ingest --follow`` run without ``--network`` on a store of
    another network (every line refused: "unknown node") left a snapshot of
    the map of the sample's 51 nodes: from then on every replica and command
    of the store's own network warned at each open that the map "names 51
    node(s) the network does not have". A feed that applied nothing (bad
    lines, duplicates) has nothing new to snapshot."""
    from tests.postgres import run_sql

    tiny = ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    first = CliRunner().invoke(
        cli, ["capacity", "ingest", *tiny, "--events", "-"], input=_event(0) + "\n"
    )
    assert first.exit_code == 0, first.output
    count = "SELECT COUNT(*) FROM capacity_snapshots"
    (before,) = run_sql(state_location, count)
    follow = ["capacity", "ingest", "--events", "-", "--follow"]
    stray = CliRunner().invoke(
        cli,
        [*follow, "--state", str(state_location)],
        input=_event(1) + "\n",
        env={"TIERFLOW_CONFIG": None},
    )
    assert stray.exit_code == 1, stray.output
    assert "value 'WH-EAST': unknown node" in stray.stderr
    again = CliRunner().invoke(cli, [*follow, *tiny], input=_event(0) + "\n")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("0 events applied, 1 duplicate ignored")
    assert run_sql(state_location, count) == [before]
    newest = "SELECT state FROM capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1"
    ((state,),) = run_sql(state_location, newest)
    assert "WH-EWR" not in str(state)


_FOREIGN = "the network does not have"


def test_a_map_polluted_with_another_networks_idle_nodes_stops_warning(
    state_location: Path | str,
) -> None:
    """A snapshot of the sample's map in a store of the tiny network (what a
    feed run without ``--network`` wrote before e05e5ac): every command and
    replica of the store warned at each open that the map "names 51
    node(s) the network does not have", and each snapshot after carried
    the 51 entries on, so it never stopped. No event ever touched them:
    they hold nothing but the sample's defaults, which any network with
    those nodes rebuilds from its own ``nodes.csv``. Not warned of, and
    the next snapshot leaves them out."""
    from tests.postgres import run_sql
    from tierflow.capacity.monitor import CapacityMonitor
    from tierflow.data.network import load_network
    from tierflow.data.sample_network import sample_network_dir
    from tierflow.data.store import open_store

    with open_store(state_location) as store:
        CapacityMonitor.open(load_network(sample_network_dir()), store).snapshot()
    tiny = ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    shown = CliRunner().invoke(cli, ["capacity", "show", *tiny])
    assert shown.exit_code == 0, shown.output
    assert _FOREIGN not in shown.stderr
    fed = CliRunner().invoke(
        cli, ["capacity", "ingest", *tiny, "--events", "-"], input=_event(0) + "\n"
    )
    assert fed.exit_code == 0, fed.output
    assert _FOREIGN not in fed.stderr
    newest = "SELECT state FROM capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1"
    ((state,),) = run_sql(state_location, newest)
    assert "WH-EWR" not in str(state) and "WH-EAST" in str(state)


def test_forget_nodes_drops_another_networks_node_on_the_operators_word(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A node with state of its own (an event logged for WH-NYC by a replica
    of a grown network) is kept by every snapshot of the tiny network, and
    warned of at each open: that network's replicas may still need it. The
    warning says how to drop it; ``capacity forget`` does, and only
    for nodes the store's map has and the given network lacks."""
    from tests.postgres import run_sql

    grown = _grown_network(tmp_path)
    state = ["--state", str(state_location)]
    nyc = _event(0).replace("WH-EAST", "WH-NYC").replace('"e0"', '"nyc"')
    fed = CliRunner().invoke(
        cli,
        ["capacity", "ingest", "--network", str(grown), *state, "--events", "-"],
        input=nyc + "\n",
    )
    assert fed.exit_code == 0, fed.output
    tiny = ["--network", str(TINY_NETWORK), *state]
    kept = CliRunner().invoke(
        cli, ["capacity", "ingest", *tiny, "--events", "-"], input=_event(0) + "\n"
    )
    assert kept.exit_code == 0, kept.output
    assert "names 1 node the network does not have (WH-NYC)" in kept.stderr
    assert "tierflow capacity forget" in kept.stderr
    newest = "SELECT state FROM capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1"
    ((snap,),) = run_sql(state_location, newest)
    assert "WH-NYC" in str(snap)
    # the network's own node, and a node the map does not name: refused
    for node, why in [
        ("WH-EAST", "a node of this network"),
        ("WH-XYZ", "not in the state store's capacity map"),
    ]:
        refused = CliRunner().invoke(cli, ["capacity", "forget", *tiny, node])
        assert refused.exit_code == 1, refused.output
        assert f"value '{node}': {why}" in refused.output
    forgot = CliRunner().invoke(cli, ["capacity", "forget", *tiny, "WH-NYC"])
    assert forgot.exit_code == 0, forgot.output
    assert forgot.stdout.startswith("forgot 1 node of the capacity map: WH-NYC")
    ((snap,),) = run_sql(state_location, newest)
    assert "WH-NYC" not in str(snap)
    shown = CliRunner().invoke(cli, ["capacity", "show", *tiny])
    assert shown.exit_code == 0, shown.output
    assert _FOREIGN not in shown.stderr
    back = CliRunner().invoke(
        cli, ["capacity", "show", "--network", str(grown), *state, "--json"]
    )
    assert back.exit_code == 0, back.output
    nodes = {n["node_id"]: n for n in json.loads(back.stdout)["nodes"]}
    assert nodes["WH-NYC"]["backlog"] == 0.0
    assert nodes["WH-EAST"]["backlog"] == 10.0


def _grown_network(tmp_path: Path) -> Path:
    """The tiny network with a node more, WH-NYC (a newer network's)."""
    import shutil

    grown = tmp_path / "grown"
    shutil.copytree(TINY_NETWORK, grown)
    with (grown / "nodes.csv").open("a") as f:
        f.write(
            "WH-NYC,NYC hub,warehouse,40.75,-73.99,northeast,America/New_York,"
            "1000,1.0,20:00,next_day;two_day;ground;economy\n"
        )
    return grown


def _shown_nodes(network: Path, state: Path | str) -> dict[str, dict[str, object]]:
    """``capacity show --json``'s nodes by id."""
    args = ["capacity", "show", "--network", str(network), "--state", str(state)]
    shown = CliRunner().invoke(cli, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    return {n["node_id"]: n for n in json.loads(shown.stdout)["nodes"]}


@pytest.mark.parametrize("writer", ["feed", "server"])
def test_a_forget_stays_forgotten_by_a_map_opened_before_it(
    tmp_path: Path, state_location: Path | str, writer: str
) -> None:
    """A feed (``ingest --follow``) or a server of the tiny network, running
    while the operator forgets WH-NYC, carried WH-NYC's state from the map
    it opened and wrote it back with its next snapshot: the forget was
    undone without a word (QA: the feed's snapshot at its end brought back
    the nodes forgotten under it, and every open warned of them again).
    Events of the node logged after the forget are kept, as an open keeps
    them."""
    from tests.postgres import run_sql
    from tierflow.capacity.monitor import CapacityMonitor, events_for
    from tierflow.data.network import load_network

    grown = _grown_network(tmp_path)
    state = ["--state", str(state_location)]
    feed = ["capacity", "ingest", "--network", str(grown), *state, "--events", "-"]
    nyc = _event(0).replace("WH-EAST", "WH-NYC").replace('"e0"', '"nyc"')
    fed = CliRunner().invoke(cli, feed, input=nyc + "\n")
    assert fed.exit_code == 0, fed.output
    tiny = load_network(TINY_NETWORK)
    forget = ["capacity", "forget", "--network", str(TINY_NETWORK), *state, "WH-NYC"]
    with open_store(state_location) as store:
        running = CapacityMonitor.open(tiny, store)  # opened before the forget
        forgot = CliRunner().invoke(cli, forget)
        assert forgot.exit_code == 0, forgot.output
        record = {"event_id": "e1", "ts": "2026-01-05T10:01:00Z", "node_id": "WH-EAST"}
        running.ingest(events_for(tiny, [record | {"type": "backlog", "value": 11}]))
        if writer == "feed":
            running.snapshot()
        else:  # the server's follower: the map taken, saved on its connection
            seq, taken = running.snapshot_state(store.latest_capacity_snapshot())
            assert store.save_capacity_snapshot(seq, taken)
    newest = "SELECT state FROM capacity_snapshots ORDER BY snapshot_id DESC LIMIT 1"
    ((snap,),) = run_sql(state_location, newest)
    assert "WH-NYC" not in str(snap)
    shown = CliRunner().invoke(
        cli, ["capacity", "show", "--network", str(TINY_NETWORK), *state]
    )
    assert shown.exit_code == 0, shown.output
    assert _FOREIGN not in shown.stderr
    nodes = _shown_nodes(grown, state_location)
    assert nodes["WH-NYC"]["backlog"] == 0.0
    assert nodes["WH-EAST"]["backlog"] == 11.0
    # an event of the node logged after the forget is news: kept
    later = nyc.replace('"nyc"', '"nyc2"').replace("10:00:00", "10:02:00")
    with open_store(state_location) as store:
        running = CapacityMonitor.open(tiny, store)
        fed = CliRunner().invoke(cli, feed, input=later + "\n")
        assert fed.exit_code == 0, fed.output
        running.refresh()
        running.snapshot()
    assert _shown_nodes(grown, state_location)["WH-NYC"]["backlog"] == 10.0


def test_a_repeated_forecast_writes_nothing(
    state_location: Path | str, tmp_path: Path
) -> None:
    """The same forecast at the same instant again is a duplicate of every
    node's event, as a repeated ``ingest`` is: it changes nothing, so it
    writes nothing (it saved one more capacity snapshot per run, each the
    same as the last), and says so."""
    from tests.postgres import run_sql

    history = _generated_orders(tmp_path / "history.csv", days=3)
    args = ["capacity", "forecast", "--network", str(TINY_NETWORK)]
    args += ["--orders", str(history), "--state", str(state_location)]
    args += ["--at", "2026-05-23T01:00:00Z"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.endswith("stored as forecast events\n")
    count = "SELECT COUNT(*) FROM capacity_snapshots"
    (before,) = run_sql(state_location, count)
    assert before == (1,)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(
        "already stored (the same forecast at the same instant): nothing written\n"
    )
    assert run_sql(state_location, count) == [before]
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["already_stored"] == 3
    assert run_sql(state_location, count) == [before]


def test_show_says_when_each_nodes_state_was_set(tmp_path: Path) -> None:
    """GET /v1/capacity gives each node's ``changed_at`` (when its nominal
    capacity, staffing and outage were last set); ``capacity show`` said it
    nowhere. The JSON has the same object, the text the latest of them and
    its kind ("-": none set, the network's values stand); a backlog, which
    orders move all day, is not a change of state."""
    net = _ingested(
        tmp_path,
        '{"event_id": "s1", "ts": "2026-01-05T14:30:00Z", "node_id": "ST-CHI", '
        '"type": "staffing", "value": 40}\n'
        '{"event_id": "o1", "ts": "2026-01-05T15:00:00Z", "node_id": "ST-CHI", '
        '"type": "outage", "value": true}\n'
        '{"event_id": "b1", "ts": "2026-01-05T16:00:00Z", "node_id": "WH-WEST", '
        '"type": "backlog", "value": 10}\n',
    )
    shown = CliRunner().invoke(cli, ["capacity", "show", *net, "--json"])
    assert shown.exit_code == 0, shown.output
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    assert nodes["ST-CHI"]["changed_at"] == {
        "nominal_capacity": None,
        "staffing": "2026-01-05T14:30:00+00:00",
        "outage": "2026-01-05T15:00:00+00:00",
    }
    for node in ("WH-EAST", "WH-WEST"):
        assert nodes[node]["changed_at"] == dict.fromkeys(
            ("nominal_capacity", "staffing", "outage")
        )
    text = CliRunner().invoke(cli, ["capacity", "show", *net]).output.splitlines()
    assert text[1].endswith(" cong  changed (UTC)")
    changed = {line.split()[0]: line.split("  ")[-1] for line in text[2:]}
    assert changed == {
        "WH-EAST": "-",
        "WH-WEST": "-",
        "ST-CHI": "2026-01-05 15:00:00 outage by o1",
    }


def test_show_names_the_event_that_set_each_nodes_state(
    tmp_path: Path, state_location: Path | str
) -> None:
    """``capacity show`` names the event that last set each node's nominal
    capacity, staffing and outage (JSON ``changed_by``, as ``GET
    /v1/capacity``; the text after the latest change's kind): it said since
    when ST-CHI was closed, not which event closed it. Events ingested by
    two runs (the second reading the first's snapshot), one of them stale,
    are named as the log leaves them, on both backends."""
    net = ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    for k, lines in enumerate(
        [
            '{"event_id": "s1", "ts": "2026-01-05T14:30:00Z", "node_id": "ST-CHI", '
            '"type": "staffing", "value": 40}\n'
            '{"event_id": "o1", "ts": "2026-01-05T15:00:00Z", "node_id": "ST-CHI", '
            '"type": "outage", "value": true}\n',
            '{"event_id": "o0", "ts": "2026-01-05T14:00:00Z", "node_id": "ST-CHI", '
            '"type": "outage", "value": false}\n'
            '{"event_id": "n1", "ts": "2026-01-05T16:00:00Z", "node_id": "WH-WEST", '
            '"type": "nominal_capacity", "value": 300}\n',
        ]
    ):
        path = tmp_path / f"e{k}.jsonl"
        path.write_text(lines)
        done = CliRunner().invoke(
            cli, ["capacity", "ingest", *net, "--events", str(path)]
        )
        assert done.exit_code == 0, done.output
    shown = CliRunner().invoke(cli, ["capacity", "show", *net, "--json"])
    assert shown.exit_code == 0, shown.output
    nodes = {n["node_id"]: n for n in json.loads(shown.output)["nodes"]}
    assert {k: v["changed_by"] for k, v in nodes.items()} == {
        "WH-EAST": dict.fromkeys(("nominal_capacity", "staffing", "outage")),
        "WH-WEST": {"nominal_capacity": "n1", "staffing": None, "outage": None},
        "ST-CHI": {"nominal_capacity": None, "staffing": "s1", "outage": "o1"},
    }
    text = CliRunner().invoke(cli, ["capacity", "show", *net]).output.splitlines()
    changed = {line.split()[0]: line.split("  ")[-1] for line in text[2:]}
    assert changed == {
        "WH-EAST": "-",
        "WH-WEST": "2026-01-05 16:00:00 nominal_capacity by n1",
        "ST-CHI": "2026-01-05 15:00:00 outage by o1",
    }


def test_show_says_which_forecasts_a_server_now_drops_as_of_a_past_day(
    tmp_path: Path,
) -> None:
    """``capacity show`` lists the logged ``forecast`` events as the log
    leaves them (as of its newest event); a server lets one stand only on
    its node's own local day by its clock. On a replayed past day the two
    read 0.7 and 0 with nothing saying why: the map now names each
    forecast's time and which ones the clock (``$TIERFLOW_NOW`` here) puts
    on a past day."""
    events = tmp_path / "ev.jsonl"
    events.write_text(
        json.dumps(
            {"event_id": "f1", "ts": "2026-01-19T17:00:00Z", "node_id": "WH-EAST"}
            | {"type": "forecast", "value": 0.7}
        )
        + "\n"
    )
    net = ["--network", str(TINY_NETWORK), "--state", str(tmp_path / "s.db")]
    ingest = ["capacity", "ingest", *net, "--events", str(events)]
    assert CliRunner().invoke(cli, ingest).exit_code == 0
    show = ["capacity", "show", *net]

    def nodes(at: str) -> dict[str, dict[str, object]]:
        shown = CliRunner(env={"TIERFLOW_NOW": at}).invoke(cli, [*show, "--json"])
        assert shown.exit_code == 0, shown.output
        return {n["node_id"]: n for n in json.loads(shown.stdout)["nodes"]}

    same_day = nodes("2026-01-19T20:00:00Z")  # 15:00 in New York
    east = same_day["WH-EAST"]
    assert east["forecast_rest_of_day"] == 0.7
    assert east["forecast_at"] == "2026-01-19T17:00:00+00:00"
    assert east["forecast_past_day"] is False
    assert same_day["WH-WEST"]["forecast_at"] is None
    assert same_day["WH-WEST"]["forecast_past_day"] is False
    # New York's next midnight (05:00 UTC) has passed: the event is listed
    # still, and said to be of a past day
    east = nodes("2026-01-20T05:30:00Z")["WH-EAST"]
    assert east["forecast_rest_of_day"] == 0.7
    assert east["forecast_past_day"] is True
    text = CliRunner(env={"TIERFLOW_NOW": "2026-01-20T05:30:00Z"}).invoke(cli, show)
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[-1] == (
        "forecast of 1 node is of a past local day (the newest at "
        "2026-01-19T17:00:00+00:00): listed as the log leaves it, but a "
        "server now counts its own estimate there (GET /v1/capacity)"
    )
    today = CliRunner(env={"TIERFLOW_NOW": "2026-01-19T20:00:00Z"}).invoke(cli, show)
    assert "past local day" not in today.stdout


#: ``capacity show --now``'s instant in the tests below: 14:00 UTC, 09:00 in
#: New York (WH-EAST's local day is 2026-01-19 there).
_AT = "2026-01-19T14:00:00Z"


def _feed(event_id: str, ts: str, node: str, kind: str, value: object) -> str:
    return json.dumps(
        {"event_id": event_id, "ts": ts, "node_id": node, "type": kind, "value": value}
    )


#: A feed of events before and after :data:`_AT`, logged out of time order:
#: the outage of 15:00 (after) before the reopening of 13:30 (before), which
#: the whole log finds stale and the map at 14:00 applies; a forecast of the
#: day before (of a past local day at 14:00), and one of after the instant.
_BEFORE = [
    _feed("b1", "2026-01-19T13:00:00Z", "WH-EAST", "backlog", 100),
    _feed("f0", "2026-01-18T20:00:00Z", "WH-WEST", "forecast", 70),
    _feed("s1", "2026-01-19T12:00:00Z", "ST-CHI", "staffing", 40),
    _feed("o0", "2026-01-19T13:30:00Z", "ST-CHI", "outage", False),
    _feed("n1", "2026-01-19T14:00:00Z", "WH-WEST", "nominal_capacity", 900),
]
_AFTER = [
    _feed("o1", "2026-01-19T15:00:00Z", "ST-CHI", "outage", True),
    _feed("d1", "2026-01-19T14:00:01Z", "WH-EAST", "backlog_delta", 50),
    _feed("f1", "2026-01-19T16:00:00Z", "WH-EAST", "forecast", 30),
    _feed("n2", "2026-01-19T18:00:00Z", "WH-WEST", "nominal_capacity", 500),
]


def test_show_now_is_the_map_of_the_events_up_to_it(new_state: NewState) -> None:
    """``capacity show --now T`` of a store holding events before and after
    T (and a confirmed checkout's work after it) gives the figures of a
    store holding only those up to T, as it stands at the clock T (its
    forecasts judged at T), in text and JSON, on both backends. It gave the
    map of the whole log, whatever the instant: yesterday's could not be
    read again."""
    whole, upto = new_state(), new_state()
    net = ["--network", str(TINY_NETWORK)]
    for location, lines in (
        (whole, [_BEFORE[0], _AFTER[0], *_BEFORE[1:], *_AFTER[1:]]),
        (upto, _BEFORE),
    ):
        done = CliRunner().invoke(
            cli,
            ["capacity", "ingest", *net, "--state", str(location), "--events", "-"],
            input="\n".join(lines) + "\n",
        )
        assert done.exit_code == 0, done.output
    # a checkout confirmed at WH-EAST after T: its work is not counted at T
    with open_store(whole) as store:
        store.append_events(
            [
                backlog_delta_event(
                    "checkout:r1:WH-EAST", "2026-01-19T14:30:00Z", "WH-EAST", 25.0
                )
            ]
        )

    def shown(location: Path | str, *extra: str, clock: str | None = None) -> Result:
        env = {"TIERFLOW_NOW": clock} if clock else {}
        args = ["capacity", "show", *net, "--state", str(location), *extra]
        result = CliRunner(env=env).invoke(cli, args)
        assert result.exit_code == 0, result.output
        return result

    replayed = json.loads(shown(whole, "--json", "--now", _AT).stdout)
    expected = json.loads(shown(upto, "--json", clock=_AT).stdout)
    nodes = {n["node_id"]: n for n in replayed["nodes"]}
    assert nodes["WH-EAST"]["backlog"] == 100.0  # not 175 (the delta, the checkout)
    assert nodes["ST-CHI"]["outage"] is False  # closed at 15:00 only
    assert nodes["WH-WEST"]["nominal_capacity"] == 900.0  # dated at T: counted
    assert nodes["WH-WEST"]["forecast_past_day"] is True  # of 2026-01-18
    assert replayed["now"] == expected["now"] == "2026-01-19T14:00:00+00:00"
    assert replayed["as_of"] == expected["as_of"] == "2026-01-19T14:00:00+00:00"
    replayed.pop("last_seq"), expected.pop("last_seq")  # the logs' own numbers
    assert replayed == expected
    # the whole log at the clock differs (the checks above are not vacuous)
    later = json.loads(shown(whole, "--json").stdout)
    assert {n["node_id"]: n["backlog"] for n in later["nodes"]}["WH-EAST"] == 175.0
    text = shown(whole, "--now", _AT).stdout.splitlines()
    assert text[0] == (
        "capacity as of 2026-01-19T14:00:00+00:00 "
        "(the log up to --now 2026-01-19T14:00:00+00:00)"
    )
    assert text[1:-1] == shown(upto, clock=_AT).stdout.splitlines()[1:-1]
    assert text[-1].startswith("forecast of 1 node is of a past local day")
    assert text[-1].endswith(
        "but at --now a server counted its own estimate there (GET /v1/capacity)"
    )
    # before the first event: the nominal map, which a server then served
    early = shown(whole, "--now", "2026-01-18T19:00:00Z").stdout.splitlines()
    assert early[0] == (
        "capacity as of (no events) (the log up to --now 2026-01-18T19:00:00+00:00)"
    )


def test_show_now_after_the_clock_is_refused(tmp_path: Path) -> None:
    """An instant to come has no map yet (its events are not logged): one
    line naming the flag, exit 1, rather than today's map under its date."""
    args = ["capacity", "show", "--network", str(TINY_NETWORK)]
    args += ["--state", str(tmp_path / "s.db"), "--now", "2026-01-20T00:00:00Z"]
    result = CliRunner(env={"TIERFLOW_NOW": _AT}).invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: field '--now': value '2026-01-20T00:00:00+00:00': after the clock "
        "(2026-01-19T14:00:00+00:00): the map of an instant to come is not known\n"
    )


def test_show_now_of_a_pruned_log_is_refused(
    state_location: Path | str, tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log ``state prune`` cut cannot rebuild the map at an instant (its
    oldest events are gone, and a snapshot may hold events of after the
    instant): refused by name on both backends, where it gave a map
    without the pruned events' state."""
    monkeypatch.setenv("TIERFLOW_NOW", utc_text(NOW))
    seed(state_location, tiny_network)
    prune = ["state", "prune", "--state", str(state_location), "--now", utc_text(NOW)]
    done = CliRunner().invoke(cli, [*prune, "--keep-days", "7", "--give-back-upgrades"])
    assert done.exit_code == 0, done.output
    args = ["capacity", "show", "--network", str(TINY_NETWORK)]
    args += ["--state", str(state_location), "--now", utc_text(NOW)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: field '--now': value '{utc_text(NOW)}': the capacity log was pruned"
    )
    assert result.stderr.count("\n") == 1
    # without --now, the map as it stands
    assert CliRunner().invoke(cli, args[:-2]).exit_code == 0


def _staffing(event_id: str, minute: int, value: int) -> str:
    return _feed(
        event_id, f"2026-01-19T10:{minute:02d}:00Z", "WH-EAST", "staffing", value
    )


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        # row 5 clashes with the log, row 9 is no event: row 5
        (
            {5: _staffing("logged", 5, 90), 9: "{not json"},
            "row 5: field 'event_id': value 'logged': event id already used by "
            "the logged event seq 1 with different content",
        ),
        # row 5 clashes with the log, row 7 repeats row 2's id otherwise: row 5
        (
            {5: _staffing("logged", 5, 90), 7: _staffing("e2", 7, 55)},
            "row 5: field 'event_id': value 'logged': event id already used by "
            "the logged event seq 1 with different content",
        ),
        # row 3 repeats row 2's id otherwise, row 5 clashes with the log: row 3
        (
            {3: _staffing("e2", 3, 55), 5: _staffing("logged", 5, 90)},
            "row 3: field 'event_id': value 'e2': event id repeated with "
            "different content (first at row 2)",
        ),
        # row 4 is no event, row 5 clashes with the log: row 4
        (
            {4: '{"event_id": "e4"}', 5: _staffing("logged", 5, 90)},
            "row 4: field 'ts': missing",
        ),
    ],
)
def test_ingest_reports_the_files_first_bad_row_whatever_its_reason(
    tmp_path: Path, state_location: Path | str, bad: dict[int, str], said: str
) -> None:
    """An event id the log holds with other content was judged only once
    the whole file was read and good: a file whose row 5 clashes with the
    store and whose row 9 is malformed reported row 9. The first bad row
    is reported, whether it is no event, an id repeated in the file or one
    the log holds otherwise; nothing is applied (both backends)."""
    net = ["--network", str(TINY_NETWORK), "--state", str(state_location)]
    first = tmp_path / "first.jsonl"
    first.write_text(_staffing("logged", 0, 80) + "\n")
    done = CliRunner().invoke(cli, ["capacity", "ingest", *net, "--events", str(first)])
    assert done.exit_code == 0, done.output
    rows = [_staffing(f"e{r}", r, 70) for r in range(1, 11)]
    for r, line in bad.items():
        rows[r - 1] = line
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(rows) + "\n")
    for how in ("file", "stdin"):
        given = str(events) if how == "file" else "-"
        result = CliRunner().invoke(
            cli,
            ["capacity", "ingest", *net, "--events", given],
            input=events.read_text() if how == "stdin" else None,
        )
        name = "events.jsonl" if how == "file" else "<stdin>"
        assert result.exit_code == 1, result.output
        assert result.stderr == f"Error: {name}: {said}\n"
    with open_store(state_location) as store:
        assert [e.event_id for e in store.events_after(0)] == ["logged"]


def test_ingest_of_a_bad_file_makes_no_store(tmp_path: Path) -> None:
    """A bad file's rows are judged against the store only when there is
    one: a new store's path stays unmade, as before the store was read."""
    events = tmp_path / "events.jsonl"
    events.write_text(_staffing("e1", 1, 70) + "\n{not json\n")
    state = tmp_path / "new.db"
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK)]
    result = CliRunner().invoke(
        cli, [*args, "--state", str(state), "--events", str(events)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: events.jsonl: row 2: not JSON")
    assert not state.exists()
