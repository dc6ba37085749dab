"""Capacity monitor: events, score properties, restart/replay, forecasts, CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_NETWORK
from tierflow.capacity.events import parse_event_lines
from tierflow.capacity.forecast import (
    SeasonalNaive,
    SmoothedProfileForecaster,
    holdout_errors,
    node_hour_volume,
    rest_of_day,
)
from tierflow.capacity.monitor import CapacityMonitor, OrderProfile, events_for
from tierflow.capacity.plot import capacity_map
from tierflow.capacity.score import capacity_scores, lane_congestion, lane_factor
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.network import NODE_KINDS, Network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.store import SqliteStore


def _ev(
    i: int, node: str, kind: str, value: object, ts: str = "", **extra: object
) -> dict[str, object]:
    """Event ``e{i}``; by default stamped ``i`` minutes after 10:00Z."""
    when = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    stamp = ts or when.isoformat().replace("+00:00", "Z")
    return {
        "event_id": f"e{i}",
        "ts": stamp,
        "node_id": node,
        "type": kind,
        "value": value,
        **extra,
    }


BAD_EVENTS = [
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "MOON", "type": "backlog", "value": 1}',
     r"^ev\.jsonl: row 2: field 'node_id': value 'MOON': unknown node$"),
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "party", "value": 1}',
     r"^ev\.jsonl: row 2: field 'type': value 'party': unknown event type"),
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "staffing", "value": 400}',
     r"^ev\.jsonl: row 2: field 'value': value 400: must be in \[0, 300\]$"),
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "congestion", "value": 2}',
     r"^ev\.jsonl: row 2: field 'service': missing \(a congestion event names its service"),
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "outage", "value": "yes"}',
     r"^ev\.jsonl: row 2: field 'value': value 'yes': must be true or false$"),
    ('{"event_id": "a", "ts": "2026-01-05T10:00:00", "node_id": "WH-EAST", "type": "backlog", "value": 1}',
     r"^ev\.jsonl: row 2: field 'ts': value '2026-01-05T10:00:00': not an ISO 8601 instant"),
    ('{"ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "backlog", "value": 1}',
     r"^ev\.jsonl: row 2: field 'event_id': missing or empty event id$"),
    ("{not json", r"^ev\.jsonl: row 2: not JSON"),
    ('{"event_id": 1.5, "ts": "2026-01-05T10:00:00Z", "node_id": "WH-EAST", "type": "backlog", "value": 1}',
     r"^ev\.jsonl: row 2: field 'event_id': value 1\.5: must be a string or an integer$"),
]  # fmt: skip

GOOD_LINE = json.dumps(_ev(0, "WH-EAST", "backlog", 10))


@pytest.mark.parametrize(("line", "message"), BAD_EVENTS)
def test_bad_events_are_located(tiny_network: Network, line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_event_lines([GOOD_LINE, line], tiny_network, file="ev.jsonl")


def test_cli_ingest_bad_file_writes_nothing(tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    events.write_text(GOOD_LINE + "\n" + BAD_EVENTS[0][0] + "\n")
    state = tmp_path / "state.db"
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state", str(state)]
    result = CliRunner().invoke(cli, [*args, "--events", str(events)])
    assert result.exit_code == 1
    assert (
        result.output
        == "Error: ev.jsonl: row 2: field 'node_id': value 'MOON': unknown node\n"
    )
    with SqliteStore(state) as store:
        assert store.last_event_seq() == 0
        assert store.latest_capacity_snapshot() is None


@settings(max_examples=200, deadline=None)
@given(
    nominal=st.one_of(st.just(0.0), st.floats(1e-3, 1e5)),
    staffing=st.floats(0, 3),
    backlog=st.floats(0, 1e5),
    forecast=st.floats(0, 1e5),
    outage=st.booleans(),
    congestion=st.floats(1, 10),
    w1=st.floats(0, 1e4),
    w2=st.floats(0, 1e4),
    extra=st.floats(0, 1e4),
)
def test_score_properties(
    nominal: float,
    staffing: float,
    backlog: float,
    forecast: float,
    outage: bool,
    congestion: float,
    w1: float,
    w2: float,
    extra: float,
) -> None:
    def score(**kw: float) -> float:
        args = {
            "nominal": nominal,
            "staffing": staffing,
            "backlog": backlog,
            "forecast": forecast,
            "outage": outage,
            "congestion": congestion,
            "workload": 0.0,
            **kw,
        }
        return float(
            capacity_scores(
                args["nominal"],
                args["staffing"],
                args["backlog"],
                args["forecast"],
                args["outage"],
                congestion=args["congestion"],
                workload=args["workload"],
                forecast_congestion=args.get("forecast_congestion", 1.0),
            )
        )

    base = score()
    assert 0.0 <= base <= 1.0
    lo, hi = sorted((w1, w2))
    assert score(workload=hi) <= score(workload=lo)  # complex orders score lower
    assert score(backlog=backlog + extra) <= base
    assert score(forecast=forecast + extra) <= base
    assert score(staffing=staffing + extra / 1e4) >= base
    assert score(congestion=congestion + extra) <= base
    assert score(forecast_congestion=1.0 + extra) <= base
    if outage:
        assert base == 0.0


def test_vectorized_map_matches_scalar(sample_network: Network) -> None:
    mon = CapacityMonitor(sample_network)
    rng = np.random.default_rng(0)
    ids = sample_network.node_ids
    records = []
    for i in range(300):
        node = ids[int(rng.integers(len(ids)))]
        kind = ["staffing", "backlog", "forecast", "congestion", "outage"][i % 5]
        value: object = {
            "staffing": float(rng.uniform(40, 120)),
            "backlog": float(rng.uniform(0, 8000)),
            "forecast": float(rng.uniform(0, 8000)),
            "congestion": float(rng.uniform(1, 3)),
            "outage": bool(rng.random() < 0.1),
        }[kind]
        extra = {"service": "ground"} if kind == "congestion" else {}
        records.append(_ev(i, node, kind, value, **extra))
    mon.ingest(events_for(sample_network, records))
    for profile in (OrderProfile(), OrderProfile(35.0, 2)):
        vec = mon.score_map(profile)
        loop = [mon.capacity_score(i, profile) for i in range(sample_network.n_nodes)]
        np.testing.assert_allclose(vec, loop)
    mat = mon.score_matrix(np.array([0.0, 35.0]), np.array([-1, 2]))
    np.testing.assert_allclose(mat[1], mon.score_map(OrderProfile(35.0, 2)))
    np.testing.assert_allclose(mat[0], mon.score_map())


def test_a_subnormal_capacity_scores_alike_in_the_map_and_alone(
    tiny_network: Network,
) -> None:
    """The map's cached 1 / nominal caps a subnormal capacity at the smallest
    normal one; the scalar formula divided by it (1.0 against ~2e-16)."""
    mon = CapacityMonitor(tiny_network)
    mon.apply(_ev(1, "ST-CHI", "nominal_capacity", 5e-324))
    i = tiny_network.node_idx("ST-CHI")
    assert mon.capacity_score("ST-CHI") == mon.score_map()[i] < 1e-15


def test_room_as_if_working(tiny_network: Network) -> None:
    """WH-EAST closed, WH-WEST without staff, ST-CHI at half staff: neither
    works today (room 0 less the backlog); ``working`` gives the room an
    outage lifted and full staff would (the checkout's "closed" or "fully
    booked"), and leaves a partial staffing as it is."""
    mon = CapacityMonitor(tiny_network)
    for i, (node, kind, value) in enumerate(
        [
            ("WH-EAST", "outage", True),
            ("WH-WEST", "staffing", 0),
            ("ST-CHI", "staffing", 50),
            ("WH-EAST", "backlog", 100),
        ]
    ):
        mon.apply(_ev(i, node, kind, value))
    assert mon.not_working().tolist() == [True, True, False]
    assert mon.room().tolist() == [-100.0, 0.0, 50.0]
    assert mon.room(working=True).tolist() == [900.0, 800.0, 50.0]
    lanes = mon.room(lanes=True, working=True)
    assert lanes.shape == (mon.congestion.shape[1], 3)
    assert (lanes == [900.0, 800.0, 50.0]).all()


def test_the_forecast_takes_the_room_of_its_lane_and_the_score_is_the_room(
    tiny_network: Network,
) -> None:
    """ST-CHI (100 units, ground and two-day) with a backlog of 20, a
    forecast of 20 and its ground lane at x2: the forecast ships by ground
    and takes 40 of the node, so 40 units are left, 20 Tees by ground and
    40 by two-day; an order of 1 by ground scores (40 / 2 - 1) / 100 = 0.19
    and the node 0.40, ``capacity_scores`` and the table alike. Until
    2026-12-06 the forecast came off at its plain work after the lane's
    division (60 by two-day and no lane) and the score was ``(effective /
    congestion - backlog - forecast - workload) / nominal``: 0.09 by
    ground, as if the backlog and forecast were on the lane, and 0.60."""
    mon = CapacityMonitor(tiny_network)
    chi = tiny_network.node_idx("ST-CHI")
    ground, two_day = 2, 1
    mon.ingest(
        events_for(
            tiny_network,
            [
                _ev(1, "ST-CHI", "backlog", 20),
                _ev(2, "ST-CHI", "forecast", 20),
                _ev(3, "ST-CHI", "congestion", 2, service="ground"),
            ],
        )
    )
    assert mon.forecast_congestion()[chi] == 2.0
    assert mon.room(forecast=True)[chi] == 40.0
    room = mon.room(lanes=True, forecast=True)
    assert (room[ground, chi], room[two_day, chi]) == (20.0, 40.0)
    assert mon.room(lanes=True)[ground, chi] == 40.0  # the forecast aside
    tee = OrderProfile(1.0, ground)
    assert mon.score_map(tee)[chi] == pytest.approx(0.19)
    assert mon.capacity_score("ST-CHI", tee) == pytest.approx(0.19)
    assert mon.score_map()[chi] == pytest.approx(0.40)
    assert mon.table(tee)["free_capacity"][chi] == pytest.approx(19.0)
    assert mon.utilization()[chi] == pytest.approx(0.6)
    # a congested lane the forecast does not ship by leaves it at its work
    mon.apply(_ev(4, "ST-CHI", "congestion", 1, service="ground"))
    mon.apply(_ev(5, "ST-CHI", "congestion", 3, service="two_day"))
    assert mon.room(forecast=True)[chi] == 60.0
    assert mon.room(lanes=True, forecast=True)[two_day, chi] == 20.0


def test_a_lane_per_node_scores_each_node_on_its_own_lane(
    tiny_network: Network,
) -> None:
    """An order of 1 shipped by two-day from WH-EAST, ground from ST-CHI
    and no lane from WH-WEST, ST-CHI's ground at x2 and WH-EAST's two-day
    at x4 (backlog 20 at ST-CHI): each node's score is the one of a profile
    of its own lane, ST-CHI (80 / 2 - 1) / 100 = 0.39, and its free units
    the live room per lane less the order."""
    mon = CapacityMonitor(tiny_network)
    mon.ingest(
        events_for(
            tiny_network,
            [
                _ev(1, "ST-CHI", "backlog", 20),
                _ev(2, "ST-CHI", "congestion", 2, service="ground"),
                _ev(3, "WH-EAST", "congestion", 4, service="two_day"),
            ],
        )
    )
    ground, two_day = 2, 1
    east, west, chi = (
        tiny_network.node_idx(n) for n in ("WH-EAST", "WH-WEST", "ST-CHI")
    )
    lanes = np.full(tiny_network.n_nodes, -1)
    lanes[east], lanes[chi] = two_day, ground
    scores = mon.lane_score_map(1.0, lanes)
    for i, lane in enumerate(lanes):
        own = mon.score_map(OrderProfile(1.0, int(lane)))
        assert scores[i] == own[i]
    assert scores[chi] == pytest.approx(0.39)
    assert scores[east] == pytest.approx((1000 / 4 - 1) / 1000)
    assert scores[west] == pytest.approx(799 / 800)
    room = mon.room(lanes=True, forecast=True)
    free = mon.free_by_lane(1.0, lanes)
    assert free[chi] == room[ground, chi] - 1.0 == 39.0
    # no lane anywhere: the lane-less score, to the last bit
    none = np.full(tiny_network.n_nodes, -1)
    assert (mon.lane_score_map(1.0, none) == mon.score_map(OrderProfile(1.0))).all()


def test_simple_vs_complex_order(tiny_network: Network) -> None:
    mon = CapacityMonitor(tiny_network)
    mon.apply(_ev(1, "ST-CHI", "backlog", 60))
    simple = OrderProfile.from_lines(tiny_network, ["TEE"], [2])
    bulky = OrderProfile.from_lines(tiny_network, ["SOFA", "SPRAY"], [2, 3])
    assert (simple.workload, bulky.workload) == (2.0, 2 * 3.5 + 3 * 2.0)
    # store: nominal 100, backlog 60 -> (100 - 60 - w) / 100
    assert mon.capacity_score("ST-CHI", simple) == pytest.approx(0.38)
    assert mon.capacity_score("ST-CHI", bulky) == pytest.approx(0.27)


def test_event_semantics(tiny_network: Network) -> None:
    mon = CapacityMonitor(tiny_network)
    ts = "2026-01-05T12:00:00Z"
    result = mon.ingest(
        events_for(
            tiny_network,
            [
                _ev(1, "WH-EAST", "backlog", 100, ts),
                _ev(2, "WH-EAST", "backlog_delta", 50, "2026-01-05T12:05:00Z"),
                _ev(3, "WH-EAST", "backlog_delta", 30, "2026-01-05T11:00:00Z"),  # stale
                _ev(4, "WH-EAST", "staffing", 50, "2026-01-05T13:00:00Z"),
                _ev(5, "WH-EAST", "staffing", 90, "2026-01-05T12:30:00Z"),  # stale
                _ev(6, "WH-EAST", "backlog_delta", -1000, "2026-01-05T12:06:00Z"),
                _ev(7, "WH-EAST", "backlog_delta", 200, "2026-01-05T12:07:00Z"),
                _ev(
                    7, "WH-EAST", "backlog_delta", 200, "2026-01-05T12:07:00Z"
                ),  # repeat id
            ],
        )
    )
    # the two stale ones are counted so (they were counted applied alone)
    assert (result.applied, result.duplicates, result.stale) == (7, 1, 2)
    i = tiny_network.node_idx("WH-EAST")
    assert mon.backlog[i] == 200.0  # 100 + 50, floored at 0, + 200 once
    assert mon.staffing[i] == 0.5
    # nominal 1000 * 0.5 - 200 = 300 -> 0.3
    assert mon.capacity_score("WH-EAST") == pytest.approx(0.3)
    mon.apply(_ev(8, "WH-EAST", "outage", True))
    assert mon.capacity_score("WH-EAST") == 0.0


def _records(n: int, start: int = 0) -> list[dict[str, object]]:
    out = []
    for i in range(start, start + n):
        node = ("WH-EAST", "WH-WEST", "ST-CHI")[i % 3]
        out.append(_ev(i, node, "backlog_delta", 1 + i % 7))
        if i % 10 == 0:
            out.append({**_ev(10_000 + i, node, "staffing", 60 + i % 40)})
    return out


def test_restart_replays_exactly_once(tmp_path: Path, tiny_network: Network) -> None:
    path = tmp_path / "state.db"
    reference = CapacityMonitor(tiny_network)
    reference.ingest(events_for(tiny_network, _records(100)))
    with SqliteStore(path) as store:
        mon = CapacityMonitor(tiny_network, store, snapshot_every=37)
        first = events_for(tiny_network, _records(60))
        mon.ingest(first)
        mon.ingest(events_for(tiny_network, _records(40, start=60)))
        assert mon.ingest(first).applied == 0  # the same events again: ignored
        # a crash after logging but before applying: log directly, drop the monitor
        store.append_events(
            [
                e.record(tiny_network)
                for e in events_for(tiny_network, _records(5, start=100))
            ]
        )
    reference.ingest(events_for(tiny_network, _records(5, start=100)))
    with SqliteStore(path) as store:
        snap = store.latest_capacity_snapshot()
        assert snap is not None and 0 < snap[0] < store.last_event_seq()
        back = CapacityMonitor.open(tiny_network, store)
        np.testing.assert_allclose(back.backlog, reference.backlog)
        np.testing.assert_allclose(back.staffing, reference.staffing)
        assert back.n_applied == reference.n_applied
        again = CapacityMonitor.open(
            tiny_network, store
        )  # opening twice changes nothing
        np.testing.assert_allclose(again.backlog, reference.backlog)


def test_two_writers_share_one_log(tmp_path: Path, tiny_network: Network) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path) as s1, SqliteStore(path) as s2:
        a = CapacityMonitor.open(tiny_network, s1)
        b = CapacityMonitor.open(tiny_network, s2)
        a.ingest(events_for(tiny_network, _records(10)))
        b.ingest(
            events_for(tiny_network, _records(10, start=10))
        )  # b catches up on a's
        a.ingest(events_for(tiny_network, _records(10, start=20)))
        reference = CapacityMonitor(tiny_network)
        reference.ingest(events_for(tiny_network, _records(30)))
        np.testing.assert_allclose(a.backlog, reference.backlog)
        assert b.refresh() == 11  # a's last batch: 10 deltas and a staffing event
        np.testing.assert_allclose(b.backlog, reference.backlog)
        assert b.last_seq == a.last_seq


def test_exp_smoothing_beats_seasonal_naive(
    tmp_path: Path, sample_network: Network
) -> None:
    frame = generate_orders(sample_network, n_orders=42_000, days=14, seed=4)
    orders = read_orders(write_orders(frame, tmp_path / "o.csv"), sample_network)
    history = node_hour_volume(orders, sample_network)
    report = holdout_errors(history, 24)
    assert report["exp_smoothing"]["mae"] < 0.9 * report["seasonal_naive"]["mae"]
    model = SmoothedProfileForecaster().fit(history)
    fc = model.predict(24)
    assert fc.shape == (sample_network.n_nodes, 24) and (fc >= 0).all()
    naive = SeasonalNaive().fit(history)
    assert naive.period_ == 168
    # the forecast's daily total tracks the recent actual daily total
    assert abs(fc.sum() / history.volume[:, -24:].sum() - 1) < 0.25


@pytest.mark.parametrize(
    ("day", "offset", "hours"), [("2026-03-08", -5, 22), ("2026-11-01", -4, 24)]
)
def test_the_rest_of_the_day_counts_the_hours_a_clock_change_leaves(
    tmp_path: Path, sample_network: Network, day: str, offset: int, hours: int
) -> None:
    """At 01:00 in New York on the days clocks change (EST in spring, the
    first 01:00, EDT, in autumn), the day has 22 hours left in spring and
    24 in autumn: the forecast sums that many of the model's hours. It
    counted the wall clock's 23 (QA: 5 % over in spring)."""
    frame = generate_orders(sample_network, n_orders=6_000, days=14, seed=3,
                            start=dt.date.fromisoformat(day) - dt.timedelta(days=13))  # fmt: skip
    orders = read_orders(write_orders(frame, tmp_path / "o.csv"), sample_network)
    model = SmoothedProfileForecaster().fit(node_hour_volume(orders, sample_network))
    at = dt.datetime.fromisoformat(f"{day}T01:00:00").replace(
        tzinfo=dt.timezone(dt.timedelta(hours=offset))
    )
    first = int((np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "h")
                 - model.end_.astype("datetime64[h]")).astype(np.int64))  # fmt: skip
    hourly = model.predict(48, offset_hours=first)
    eastern = sample_network.node_tz == sample_network.timezones.index(
        "America/New_York"
    )
    np.testing.assert_allclose(
        rest_of_day(model, sample_network, at)[eastern],
        hourly[eastern, :hours].sum(axis=1),
    )


def test_cli_show_json_and_png(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    events = tmp_path / "ev.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                _ev(1, "WH-WEST", "staffing", 50),
                _ev(2, "WH-WEST", "backlog", 100),
                _ev(3, "ST-CHI", "congestion", 1.5, service="ground"),
            ]
        )
    )
    base = ["--network", str(TINY_NETWORK), "--state", str(state)]
    runner = CliRunner()
    result = runner.invoke(cli, ["capacity", "ingest", *base, "--events", str(events)])
    assert result.exit_code == 0, result.output
    assert result.output == "3 events applied, 0 duplicates ignored (log at seq 3)\n"
    png = tmp_path / "map.png"
    result = runner.invoke(
        cli, ["capacity", "show", *base, "--json", "--png", str(png)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    west = next(n for n in doc["nodes"] if n["node_id"] == "WH-WEST")
    assert west["score"] == pytest.approx((800 * 0.5 - 100) / 800)
    assert west["staffing_pct"] == 50.0 and west["backlog"] == 100.0
    chi = next(n for n in doc["nodes"] if n["node_id"] == "ST-CHI")
    assert chi["congestion"]["ground"] == 1.5
    assert doc["as_of"] == "2026-01-05T10:03:00+00:00" and doc["last_seq"] == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(
        cli, ["capacity", "show", *base, "--workload", "40", "--service", "ground"]
    )
    assert result.exit_code == 0 and "ST-CHI" in result.output


def _honolulu_and_anchorage(network: Network) -> Network:
    """``network`` with its first two nodes moved to Honolulu and Anchorage
    (off the contiguous US: the map's lower and upper left)."""
    import dataclasses

    lat, lon = network.node_lat.copy(), network.node_lon.copy()
    lat[:2], lon[:2] = (21.31, 61.22), (-157.86, -149.90)
    return dataclasses.replace(network, node_lat=lat, node_lon=lon)


def test_the_map_shows_nodes_off_the_contiguous_us(tiny_network: Network) -> None:
    """A node in Honolulu and one in Anchorage were off the map (its limits
    were the contiguous US'), the latter's label in the page's margin: the
    map widens to every node."""
    import matplotlib.pyplot as plt

    net = _honolulu_and_anchorage(tiny_network)
    lat, lon = net.node_lat, net.node_lon
    fig = capacity_map(net, np.linspace(0.0, 1.0, net.n_nodes))
    try:
        ax = fig.axes[0]
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert (x0 < lon).all() and (lon < x1).all()
        assert (y0 < lat).all() and (lat < y1).all()
    finally:
        plt.close(fig)


def test_map_legend_hides_no_node(tiny_network: Network) -> None:
    """The legend sat in the lower left whatever was there: on a network
    with Honolulu it hid that node's marker. Nodes at Honolulu (lower left)
    and Anchorage (upper left): the legend's box as drawn (its extent with
    the figure's renderer) holds no node's marker position, nor meets its
    marker's square, and no hub's label."""
    import matplotlib.pyplot as plt

    net = _honolulu_and_anchorage(tiny_network)
    lat, lon = net.node_lat, net.node_lon
    fig = capacity_map(net, np.linspace(0.0, 1.0, net.n_nodes))
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        legend = ax.get_legend()
        assert legend is not None
        x0, y0, x1, y1 = legend.get_window_extent(renderer).extents
        at = ax.transData.transform(np.column_stack([lon, lat]))
        inside = (at[:, 0] >= x0) & (at[:, 0] <= x1)
        inside &= (at[:, 1] >= y0) & (at[:, 1] <= y1)
        assert [net.node_ids[i] for i in np.flatnonzero(inside)] == []
        # the marker's square too (150 points² for a warehouse: ~13 pixels)
        half = np.sqrt(150.0) * fig.dpi / 72.0 / 2
        meets = (at[:, 0] + half > x0) & (at[:, 0] - half < x1)
        meets &= (at[:, 1] + half > y0) & (at[:, 1] - half < y1)
        assert [net.node_ids[i] for i in np.flatnonzero(meets)] == []
        for text in ax.texts:
            t0, u0, t1, u1 = text.get_window_extent(renderer).extents
            assert t1 <= x0 or t0 >= x1 or u1 <= y0 or u0 >= y1, text.get_text()
    finally:
        plt.close(fig)


def test_map_legend_leaves_the_map_when_every_spot_hides_a_node(
    tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No spot inside the map to choose from (as when nodes sit in every
    corner): the legend goes outside the map's frame, in the figure."""
    import matplotlib.pyplot as plt

    from tierflow.capacity import plot

    monkeypatch.setattr(plot, "_LEGEND_SPOTS", ())
    fig = capacity_map(tiny_network, np.linspace(0.0, 1.0, tiny_network.n_nodes))
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        assert ax.get_legend() is None and len(fig.legends) == 1
        x0, y0, x1, y1 = fig.legends[0].get_window_extent(renderer).extents
        _, bottom, right, _ = ax.get_window_extent(renderer).extents
        assert x0 >= right or y1 <= bottom
        assert x0 >= 0 and y0 >= 0
        assert x1 <= fig.bbox.width and y1 <= fig.bbox.height
    finally:
        plt.close(fig)


def test_map_labels_do_not_overlap(sample_network: Network) -> None:
    """The Northeast's hubs (Allentown, Newark, Harrisburg: a degree or two
    apart) had their labels drawn on top of each other. Each label's box as
    drawn (the text's extent with the figure's renderer) overlaps no other,
    and stays inside the map."""
    import matplotlib.pyplot as plt

    fig = capacity_map(sample_network, np.linspace(0.0, 1.0, sample_network.n_nodes))
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        names = [t.get_text().split()[0] for t in ax.texts]
        hubs = [
            node
            for node, kind in zip(
                sample_network.node_ids, sample_network.node_kind, strict=True
            )
            if NODE_KINDS[kind] != "store"
        ]
        assert names == hubs and {"WH-ABE", "WH-EWR", "3PL-MDT"} <= set(names)
        boxes = np.array([t.get_window_extent(renderer).extents for t in ax.texts])
        lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
        hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        overlap = (hi > lo).all(axis=2)
        np.fill_diagonal(overlap, False)
        pairs = np.argwhere(np.triu(overlap))
        assert [(names[i], names[j]) for i, j in pairs.tolist()] == []
        frame = ax.get_window_extent(renderer).extents
        assert (boxes[:, :2] >= frame[:2]).all() and (boxes[:, 2:] <= frame[2:]).all()
    finally:
        plt.close(fig)


def test_events_read_twice_are_applied_once(
    tmp_path: Path, tiny_network: Network
) -> None:
    """Two threads of one router may read the log at once and apply what each
    read: an event applied since it was read is skipped, the rest applied."""
    path = tmp_path / "state.db"
    with SqliteStore(path) as s1, SqliteStore(path) as s2:
        writer = CapacityMonitor.open(tiny_network, s1)
        reader = CapacityMonitor.open(tiny_network, s2)
        writer.ingest(events_for(tiny_network, _records(10)))
        early = reader.logged_since()  # one thread's read ...
        writer.ingest(events_for(tiny_network, _records(10, start=10)))
        late = reader.logged_since()  # ... another's, after more were logged
        assert len(late) > len(early)
        assert reader.apply_logged(late) == len(late)
        assert reader.apply_logged(early) == 0  # every one applied already
        reference = CapacityMonitor(tiny_network)
        reference.ingest(events_for(tiny_network, _records(20)))
        np.testing.assert_allclose(reader.backlog, reference.backlog)
        np.testing.assert_allclose(reader.staffing, reference.staffing)
        assert reader.n_applied == reference.n_applied
        assert reader.last_seq == writer.last_seq


def test_another_networks_store_is_named(
    tmp_path: Path, tiny_network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    """Opened with a network that lacks some of its nodes, the map leaves
    them out and says so (it said nothing: a store of another network looked
    like an idle one)."""
    from tierflow.data.network import load_network
    from tierflow.data.sample_network import sample_network_dir

    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        CapacityMonitor.open(tiny_network, store).ingest(
            events_for(tiny_network, [_ev(1, "WH-EAST", "backlog_delta", 5)])
        )
    with SqliteStore(path) as store, caplog.at_level("WARNING", "tierflow.capacity"):
        CapacityMonitor.open(tiny_network, store)
        assert caplog.messages == []
        CapacityMonitor.open(load_network(sample_network_dir()), store)
    assert caplog.messages == [
        "the state store's capacity map names 1 node the network does not "
        "have (WH-EAST): left out (a node removed, or a store of another "
        "network?); once no server of the store serves a network with them, "
        "`tierflow capacity forget NODE... --state STORE` drops them"
    ]


def test_a_snapshot_keeps_the_logged_forecast(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A server sets its own forecast (``set_forecast``) over the logged
    ``forecast`` events; its snapshots wrote that one, so the store's map
    lost the logged events for every later reader."""
    path = tmp_path / "state.db"
    i = tiny_network.node_idx("WH-EAST")
    with SqliteStore(path) as store:
        served = CapacityMonitor.open(tiny_network, store)
        served.ingest(events_for(tiny_network, [_ev(1, "WH-EAST", "forecast", 300)]))
        served.set_forecast(np.full(tiny_network.n_nodes, 7.0))
        assert served.forecast[i] == 7.0
        served.snapshot()
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0  # from the snapshot alone
        assert back.forecast[i] == 300.0
        assert back.forecast[tiny_network.node_idx("WH-WEST")] == 0.0


@pytest.mark.parametrize(
    ("at", "adelaide", "kolkata"),
    [
        # 00:00Z: Adelaide (ACDT, +10:30) at 10:30 has 13.5 hours left: hour
        # 0 whole (1), hours 1-12 (2 + ... + 13 = 90), half of hour 13 (7),
        # where it counted 14 (1 + 2 + ... + 14 = 105); Kolkata (+05:30) at
        # 05:30 has 18.5: 1, hours 1-17 (2 + ... + 18 = 170), half of 19
        ("2026-12-03T10:30:00+10:30", 98.0, 180.5),
        # 00:15Z: three quarters of hour 0 (0.75), then as above
        ("2026-12-03T10:45:00+10:30", 97.75, 180.25),
    ],
)
def test_the_rest_of_the_day_counts_a_half_hour_zones_last_hour_in_part(
    at: str, adelaide: float, kolkata: float
) -> None:
    """A zone half an hour off UTC reaches midnight in the middle of a UTC
    hour: that hour counts half (QA: Adelaide at 10:30 counted 14.0 hours
    to midnight instead of 13.5). The model forecasts j + 1 units in the
    j-th hour from ``at``'s UTC hour."""
    from types import SimpleNamespace

    model = SimpleNamespace(
        end_=np.datetime64("2026-12-03T00:00", "h"),
        predict=lambda horizon, offset_hours: np.tile(
            np.arange(1.0, horizon + 1), (2, 1)
        ),
    )
    network = SimpleNamespace(
        n_nodes=2,
        timezones=["Australia/Adelaide", "Asia/Kolkata"],
        node_tz=np.array([0, 1]),
    )
    got = rest_of_day(model, network, dt.datetime.fromisoformat(at))  # type: ignore[arg-type]
    assert got.tolist() == pytest.approx([adelaide, kolkata])


def _without_node(tmp_path: Path, node: str) -> Network:
    """The tiny network without ``node`` (its rows of nodes.csv and
    inventory.csv dropped): a store's node the network does not have."""
    import shutil

    from tierflow.data.network import load_network

    folder = tmp_path / f"without-{node}"
    shutil.copytree(TINY_NETWORK, folder)
    for table in ("nodes.csv", "inventory.csv"):
        path = folder / table
        kept = [
            line
            for line in path.read_text().splitlines(keepends=True)
            if not line.startswith(f"{node},")
        ]
        path.write_text("".join(kept))
    return load_network(folder)


def test_a_snapshot_of_a_smaller_network_keeps_the_other_nodes(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A command run with a network that lacks one of the store's nodes (a
    wrong ``--network``, a node taken out for a while) wrote a snapshot
    without that node: the events behind it were never replayed again, so
    the store's own network lost the node's state (an outage and a backlog
    shown as an open, idle node) for good."""
    path = tmp_path / "state.db"
    smaller = _without_node(tmp_path, "WH-WEST")
    west = tiny_network.node_idx("WH-WEST")
    with SqliteStore(path) as store:
        full = CapacityMonitor.open(tiny_network, store)
        full.ingest(
            events_for(
                tiny_network,
                [
                    _ev(1, "WH-WEST", "outage", True),
                    _ev(2, "WH-WEST", "backlog", 250),
                    _ev(3, "WH-WEST", "staffing", 80),
                ],
            )
        )
        full.snapshot()
        # logged after that snapshot by a writer that never took another
        # (a follower stopped by Ctrl-C): the smaller network skips them
        full.ingest(
            events_for(
                tiny_network,
                [
                    _ev(4, "WH-WEST", "backlog_delta", 50),
                    _ev(5, "WH-WEST", "congestion", 2, service="ground"),
                ],
            )
        )
    with SqliteStore(path) as store:
        other = CapacityMonitor.open(smaller, store)
        other.ingest(events_for(smaller, [_ev(6, "WH-EAST", "staffing", 90)]))
        other.snapshot()
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0  # from the snapshot alone
        assert bool(back.outage[west]) is True
        assert back.backlog[west] == 300.0
        assert back.staffing[west] == 0.8
        assert back.congestion[west].tolist() == [1.0, 1.0, 2.0, 1.0]
        assert back.staffing[tiny_network.node_idx("WH-EAST")] == 0.9
        reference = CapacityMonitor(tiny_network)
        reference.ingest(
            events_for(
                tiny_network,
                [
                    _ev(1, "WH-WEST", "outage", True),
                    _ev(2, "WH-WEST", "backlog", 250),
                    _ev(3, "WH-WEST", "staffing", 80),
                    _ev(4, "WH-WEST", "backlog_delta", 50),
                    _ev(5, "WH-WEST", "congestion", 2, service="ground"),
                    _ev(6, "WH-EAST", "staffing", 90),
                ],
            )
        )
        assert back.state()["nodes"] == reference.state()["nodes"]
        # and a snapshot of the store's own network leaves nothing behind
        back.snapshot()
        snap = store.latest_capacity_snapshot()
        assert snap is not None and "foreign_events" not in snap[1]


def test_score_map_is_the_clipped_formula_bit_for_bit(tiny_network: Network) -> None:
    # overcommitted (below 0), idle (above 1 after a negative backlog: 1),
    # closed (0 room, work left: -0.0 -> 0.0) and no capacity (1/0 -> 0):
    # exactly np.clip of free x 1/nominal, + 0.0
    mon = CapacityMonitor(tiny_network)
    mon.apply(_ev(1, "ST-CHI", "backlog", 900))
    mon.apply(_ev(2, "WH-EAST", "outage", True))
    mon.apply(_ev(3, "WH-WEST", "nominal_capacity", 0.0))
    for profile in (None, OrderProfile(), OrderProfile(35.0), OrderProfile(3.0, 2)):
        _, _, inv = mon._terms()
        with np.errstate(over="ignore", invalid="ignore"):
            want = np.clip(mon.free(profile) * inv, 0.0, 1.0) + 0.0
        got = mon.score_map(profile)
        assert got.tobytes() == want.tobytes()
        assert not np.signbit(got).any()


def test_a_capacity_edited_in_nodes_csv_is_taken_over_a_snapshots_default(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A snapshot keeps each node's nominal capacity; one no event set is
    the network's own (nodes.csv's at the time of writing), so an operator
    who raised WH-EAST's capacity in nodes.csv kept the old one until an
    event touched it (QA, 2026-12-05). One an event set stays the event's."""
    import shutil

    from tierflow.data.network import load_network

    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        first = CapacityMonitor.open(tiny_network, store)
        first.ingest(
            events_for(tiny_network, [_ev(1, "WH-WEST", "nominal_capacity", 500)])
        )
        first.snapshot()
    folder = tmp_path / "edited"
    shutil.copytree(TINY_NETWORK, folder)
    nodes = folder / "nodes.csv"
    text = nodes.read_text()
    nodes.write_text(
        text.replace("America/New_York,1000,", "America/New_York,1500,").replace(
            "America/Los_Angeles,800,", "America/Los_Angeles,900,"
        )
    )
    edited = load_network(folder)
    with SqliteStore(path) as store:
        back = CapacityMonitor.open(edited, store)
        assert back.unsnapshotted == 0  # from the snapshot alone
        assert back.nominal[edited.node_idx("WH-EAST")] == 1500.0  # nodes.csv's
        assert back.nominal[edited.node_idx("WH-WEST")] == 500.0  # the event's


def test_a_snapshot_of_minus_zero_opens_as_zero(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A snapshot written before events read -0.0 as 0 kept a node's -0.0
    (`capacity show` listed a capacity of -0 until the node's next event of
    that kind): it opens as 0."""
    with SqliteStore(tmp_path / "state.db") as store:
        mon = CapacityMonitor(tiny_network, store)
        mon.ingest(events_for(tiny_network, _records(1)))
        seq, state = mon.snapshot_state()
        entry = state["nodes"]["WH-EAST"]
        entry["stamp"] = [1.0] * len(entry["stamp"])
        for key in ("nominal", "staffing", "backlog", "forecast"):
            entry[key] = -0.0
        store.save_capacity_snapshot(seq, state)
        row = CapacityMonitor.open(tiny_network, store).table().iloc[0]
    inputs = ("nominal_capacity", "staffing_pct", "backlog", "forecast_rest_of_day")
    assert row["node_id"] == "WH-EAST"
    assert [str(row[k]) for k in inputs] == ["0.0", "0.0", "0.0", "0.0"]


def test_each_nodes_state_names_the_event_that_set_it(
    tmp_path: Path, tiny_network: Network
) -> None:
    """``set_by`` names the event behind each ``set_at`` (the applied one:
    a stale event of the kind is not named), kept in the snapshots. A
    snapshot written before the ids were kept (no ``stamp_id``) opens with
    its times and no ids, until the node's next event of the kind."""
    kinds = ("nominal_capacity", "staffing", "outage")
    records = [
        _ev(2, "ST-CHI", "outage", True),
        _ev(1, "ST-CHI", "outage", False),  # stale: older than e2
        _ev(3, "ST-CHI", "staffing", 40),
    ]
    alone = CapacityMonitor(tiny_network)
    alone.ingest(events_for(tiny_network, records))
    named = {"nominal_capacity": None, "staffing": "e3", "outage": "e2"}
    assert {k: v[2] for k, v in alone.set_by(kinds).items()} == named
    assert alone.set_by(kinds)["outage"][:2] == [None, None]
    with SqliteStore(tmp_path / "state.db") as store:
        mon = CapacityMonitor(tiny_network, store)
        mon.ingest(events_for(tiny_network, records))
        mon.snapshot()
        back = CapacityMonitor.open(tiny_network, store)
        assert back.unsnapshotted == 0  # from the snapshot alone
        assert {k: v[2] for k, v in back.set_by(kinds).items()} == named
        seq, state = mon.snapshot_state()
        for entry in state["nodes"].values():
            del entry["stamp_id"]
        store.save_capacity_snapshot(seq, state)
        old = CapacityMonitor.open(tiny_network, store)
        assert old.set_by(kinds)["outage"] == [None, None, None]
        assert np.isfinite(old.set_at(kinds)["outage"][2])
        old.ingest(events_for(tiny_network, [_ev(4, "ST-CHI", "outage", False)]))
        assert old.set_by(kinds)["outage"] == [None, None, "e4"]


def test_congestion_on_a_lane_the_node_does_not_offer_is_not_its_congestion(
    tmp_path: Path, tiny_network: Network
) -> None:
    """ST-CHI ships no next-day: a carrier's next-day delay sent to every
    node changes nothing it ships, yet `capacity show` (``cong``) and
    ``GET /v1/capacity`` (``max_congestion``) listed it as congested 4.00.
    The congestion of its own lanes is listed; the event is still taken
    (a feed may send a lane's delay to every node)."""
    mon = CapacityMonitor(tiny_network)
    mon.ingest(
        events_for(
            tiny_network, [_ev(1, "ST-CHI", "congestion", 4, service="next_day")]
        )
    )
    assert mon.table()["max_congestion"].tolist() == [1.0, 1.0, 1.0]
    assert mon.congestion_by_service(2)["next_day"] == 4.0
    mon.ingest(
        events_for(tiny_network, [_ev(2, "ST-CHI", "congestion", 2, service="ground")])
    )
    assert mon.table()["max_congestion"].tolist() == [1.0, 1.0, 2.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1.0, 10.0, allow_nan=False), min_size=6, max_size=6),
    st.integers(0, 1),
    st.integers(-1, 2),
)
def test_a_lane_factor_is_lane_congestion_of_one_lane(
    factors: list[float], node: int, service: int
) -> None:
    """The checkout's scalar lookup reads what the array one does, 1 for no
    lane (service -1) whatever the congestion."""
    congestion = np.array(factors).reshape(2, 3)
    assert lane_factor(congestion, node, service) == float(
        lane_congestion(congestion, node, service)
    )
    if service < 0:
        assert lane_factor(congestion, node, service) == 1.0


def test_a_batchs_move_of_an_orders_work_takes_no_standing_forecast_off(
    tiny_network: Network,
) -> None:
    """Where an explicit forecast stands, a confirmed order's work is part
    of it (taken off), but work a batch moved in from another node is not:
    the forecast stays, the backlog takes it."""
    monitor = CapacityMonitor(tiny_network)
    i = tiny_network.node_idx("WH-EAST")
    standing = np.zeros(tiny_network.n_nodes, dtype=bool)
    standing[i] = True
    monitor.set_forecast(np.full(tiny_network.n_nodes, 10.0), standing)
    confirmed = _ev(1, "WH-EAST", "backlog_delta", 2.0)
    moved = _ev(2, "WH-EAST", "backlog_delta", 3.0)
    moved["event_id"] = "checkout:r2:WH-EAST:allocation:run:0"
    confirmed["event_id"] = "checkout:r1:WH-EAST"
    monitor.ingest(events_for(tiny_network, [confirmed, moved]))
    assert (monitor.forecast[i], monitor.backlog[i]) == (8.0, 5.0)


def test_a_store_restored_under_a_monitor_is_rebuilt_from_not_overwritten(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A store restored (SQLite's ``.restore``) under a monitor after its
    last :meth:`reload_if_remade`: its next ingest logs below the map's
    position, and the map is rebuilt from the restored store with them; a
    snapshot of the map from before the restore is refused. Before, those
    events were logged and never applied, and the old map was snapshotted
    with its old position into the restored store."""
    from tests.service.test_store_restored import _copy

    path, backup = tmp_path / "state.db", tmp_path / "backup.db"
    nominal = "nominal_capacity"
    with SqliteStore(path) as store:
        mon = CapacityMonitor.open(tiny_network, store)
        mon.ingest(events_for(tiny_network, [_ev(1, "WH-EAST", nominal, 50)]))
        _copy(path, backup)
        lost = [_ev(k, "WH-EAST", nominal, 20 + k) for k in range(2, 7)]
        mon.ingest(events_for(tiny_network, lost))
        old = mon.snapshot_state()
        assert mon.reload_if_remade() is None  # nothing restored yet
        _copy(backup, path)
        assert store.save_capacity_snapshot(*old) is False
        after = mon.ingest(events_for(tiny_network, [_ev(9, "WH-WEST", nominal, 30)]))
        assert (after.applied, after.last_seq, mon.last_seq) == (1, 2, 2)
        mon.snapshot()
        assert store.latest_capacity_snapshot() is not None
        rows = CapacityMonitor.open(tiny_network, store).table().set_index("node_id")
    assert rows.loc[["WH-EAST", "WH-WEST"], nominal].tolist() == [50, 30]
    assert mon.table().set_index("node_id").loc["WH-EAST", nominal] == 50
