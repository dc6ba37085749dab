"""Order generator (determinism, distributions) and the validated orders reader."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tests.networks import network_in_zone
from tests.promises import platinum_promise_achievable
from tierflow.cli.main import cli
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import Spike, generate_orders
from tierflow.data.orders import ORDER_COLUMNS, read_orders, write_orders
from tierflow.data.written_numbers import PLAIN_DIGITS


@pytest.fixture(scope="module")
def week(sample_network: Network) -> pd.DataFrame:
    """20,000 orders over 14 days on the sample network, seed 7."""
    return generate_orders(sample_network, n_orders=20_000, days=14, seed=7)


def _local_hours(frame: pd.DataFrame) -> pd.Series:
    orders = frame.drop_duplicates("order_id")
    return orders["created_at"].str[11:13].astype(int)


def test_generator_is_deterministic(sample_network: Network) -> None:
    a = generate_orders(sample_network, n_orders=500, days=2, seed=11)
    b = generate_orders(sample_network, n_orders=500, days=2, seed=11)
    c = generate_orders(sample_network, n_orders=500, days=2, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == list(ORDER_COLUMNS)
    assert a["order_id"].nunique() == 500


@pytest.mark.parametrize(
    ("start", "days", "field", "shown"),
    [
        ("9999-12-31", 1, "--start", "9999-12-31"),
        ("2028-05-20", 20, "--days", "20 (through 2028-06-08)"),
    ],
)
def test_the_generator_refuses_days_the_reader_would(
    sample_network: Network, start: str, days: int, field: str, shown: str
) -> None:
    """What it writes must read back: orders.csv takes 2 years ahead of now
    at most (TIERFLOW_NOW is 2026-06-01 in the tests). The option to blame
    is --days when the start is in the window (--start was blamed)."""
    with pytest.raises(InputError) as caught:
        generate_orders(
            sample_network,
            n_orders=5,
            days=days,
            start=dt.date.fromisoformat(start),
        )
    assert str(caught.value) == (
        f"field '{field}': value '{shown}': outside the allowed window "
        "1976-06-01 .. 2028-06-01 (50 years before to 2 years after now)"
    )


def test_generated_file_reads_back(tmp_path: Path, sample_network: Network) -> None:
    frame = generate_orders(sample_network, n_orders=300, days=1, seed=1)
    path = write_orders(frame, tmp_path / "orders.csv")
    orders = read_orders(path, sample_network)
    assert orders.n_orders == 300 and orders.n_lines == len(frame)
    assert (orders.line_sku >= 0).all() and (orders.dest >= 0).all()
    # CSR: every order owns at least one line, and offsets match line_order
    assert (np.diff(orders.line_start) >= 1).all()
    np.testing.assert_array_equal(
        np.repeat(np.arange(orders.n_orders), np.diff(orders.line_start)),
        orders.line_order,
    )
    assert orders.workload(sample_network).min() >= 1.0
    first = pd.Timestamp(frame["created_at"].iloc[0]).tz_convert("UTC")
    assert pd.Timestamp(orders.created_at[0]) == first.tz_localize(None)


@pytest.mark.parametrize("start", [dt.date(2026, 3, 8), dt.date(2026, 11, 1)])
def test_a_day_the_clocks_change_stays_on_the_shoppers_day(
    sample_network: Network, start: dt.date
) -> None:
    """Every stamp is the destination's own clock at its instant, on the day
    asked for: with the offset of the day's noon, the orders before 02:00 on
    the day the clocks go forward were an hour early (``00:01-06:00`` in
    Denver is 23:01 the evening before) and those on the day they go back an
    hour late."""
    frame = generate_orders(sample_network, n_orders=3000, days=1, seed=4, start=start)
    orders = frame.drop_duplicates("order_id")
    assert (orders["created_at"].str[:10] == start.isoformat()).all()
    instants = pd.to_datetime(orders["created_at"], utc=True)
    zone_of = {
        z: sample_network.dest_timezones[int(t)]
        for z, t in zip(sample_network.dest_zip3, sample_network.dest_tz, strict=True)
    }
    zones = orders["dest"].map(zone_of)
    for zone in zones.unique():
        mine = (zones == zone).to_numpy()
        clock = instants[mine].dt.tz_convert(zone).dt.strftime("%Y-%m-%dT%H:%M:%S")
        assert (clock == orders["created_at"][mine].str[:19]).all(), zone
    early = orders["created_at"].str[11:13].astype(int) < 2
    assert early.sum() > 10  # the hours that moved are in the sample


def test_intraday_and_weekly_seasonality(week: pd.DataFrame) -> None:
    hours = np.bincount(_local_hours(week), minlength=24)
    assert hours[20] > 8 * hours[4]  # evening peak vs the small hours
    assert hours[12] > hours[9]  # lunch bump
    orders = week.drop_duplicates("order_id")
    dow = pd.to_datetime(orders["created_at"].str[:10]).dt.day_of_week
    per_day = np.bincount(dow, minlength=7) / 2.0  # two weeks
    assert per_day[6] > per_day[5] * 1.15  # Sunday busier than Saturday


def test_demand_follows_population(week: pd.DataFrame, sample_network: Network) -> None:
    net = sample_network
    orders = week.drop_duplicates("order_id")
    state = pd.Series(np.asarray(net.dest_state), index=list(net.dest_zip3))
    by_state = orders["dest"].map(state).value_counts()
    pop = (
        pd.Series(net.dest_population, index=list(net.dest_state))
        .groupby(level=0)
        .sum()
    )
    joined = pd.concat([by_state, pop], axis=1).fillna(0)
    assert np.corrcoef(joined.iloc[:, 0], joined.iloc[:, 1])[0, 1] > 0.95


def test_long_tailed_baskets_and_skus(week: pd.DataFrame) -> None:
    lines = week.groupby("order_id").size()
    assert 1.3 <= lines.mean() <= 2.2
    assert (lines == 1).mean() > 0.55 and lines.max() >= 6
    assert (week["quantity"] == 1).mean() > 0.7
    by_sku = week["sku"].value_counts()
    top = by_sku.iloc[: max(1, len(by_sku) // 10)].sum()
    assert top / by_sku.sum() > 0.5
    tiers = week.drop_duplicates("order_id")["tier"].value_counts(normalize=True)
    assert abs(tiers["gold"] - 0.52) < 0.03 and abs(tiers["platinum"] - 0.06) < 0.02


def _noon_share(frame: pd.DataFrame, zone: str) -> float:
    """The share of orders placed in the 12:00 hour of ``zone``'s clock."""
    t = pd.to_datetime(frame.drop_duplicates("order_id")["created_at"], utc=True)
    return float((t.dt.tz_convert(zone).dt.hour == 12).mean())


def test_promotion_spike(sample_network: Network) -> None:
    assert sample_network.main_timezone == "America/New_York"
    base = generate_orders(sample_network, n_orders=20_000, days=1, seed=3)
    spiked = generate_orders(
        sample_network, n_orders=20_000, days=1, seed=3, spike=Spike.parse("12:00,4")
    )
    ratio = _noon_share(spiked, "America/New_York") / _noon_share(
        base, "America/New_York"
    )
    assert 2.5 < ratio < 4.5  # fixed N: the spike hour grows, the rest shrinks


def test_a_spike_moves_orders_into_its_hour_and_adds_none(
    sample_network: Network,
) -> None:
    """``make demo-network``'s day (``--orders 20000 --seed 2 --start
    2026-01-19 --spike 12:00,3``), as docs/cli.md quotes it: the spike's
    hour takes 3,104 orders instead of 1,182 and the other hours 16,896
    instead of 18,818; the total stays ``--orders`` (documented as "FACTOR
    x demand for the hour", which read as demand added)."""
    noon = pd.Timestamp("2026-01-19 12:00", tz="America/New_York")

    def counts(spike: Spike | None) -> tuple[int, int, int]:
        frame = generate_orders(
            sample_network, n_orders=20_000, days=1, seed=2,
            start=dt.date(2026, 1, 19), spike=spike,
        )  # fmt: skip
        at = pd.to_datetime(frame.drop_duplicates("order_id")["created_at"], utc=True)
        hour = int(((at >= noon) & (at < noon + pd.Timedelta(hours=1))).sum())
        return len(at), hour, len(at) - hour

    assert counts(None) == (20_000, 1_182, 18_818)
    assert counts(Spike.parse("12:00,3")) == (20_000, 3_104, 16_896)


def test_a_berlin_network_s_spike_is_at_berlin_s_hour(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The spike's HH:MM is on the network's main zone's clock: on a network
    in Europe/Berlin the 12:00 promotion came at 18:00 Berlin (New York's
    noon), and Berlin's noon hour was not busier at all."""
    net = load_network(network_in_zone(sample_dir, tmp_path / "net", "Europe/Berlin"))
    assert net.main_timezone == "Europe/Berlin"
    base = generate_orders(net, n_orders=20_000, days=1, seed=3)
    spiked = generate_orders(
        net, n_orders=20_000, days=1, seed=3, spike=Spike.parse("12:00,4")
    )
    ratio = _noon_share(spiked, "Europe/Berlin") / _noon_share(base, "Europe/Berlin")
    assert 2.5 < ratio < 4.5


def test_spike_parse_errors() -> None:
    assert Spike.parse("09:30,2.5") == Spike(570, 2.5)
    assert Spike.parse("9:30,2.5") == Spike(570, 2.5)  # was "expected HH:MM"
    assert Spike.parse("12:00,100") == Spike(720, 100.0)
    assert Spike.parse("12:00, 1e1") == Spike(720, 10.0)  # a decimal as written
    for bad in ("12:00", "noon"):
        with pytest.raises(InputError) as caught:
            Spike.parse(bad)
        assert str(caught.value) == (
            f"field '--spike': value '{bad}': expected HH:MM,factor"
        )


_RANGE = "is out of range: it must be in (0, 100]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # QA's: each said "expected HH:MM,factor", not what was wrong
        ("12:00,-2", f"factor '-2' {_RANGE}"),
        ("12:00,1e9", f"factor '1e9' {_RANGE}"),
        ("12:00,0", f"factor '0' {_RANGE}"),
        ("12:00,100.5", f"factor '100.5' {_RANGE}"),
        ("12:00,inf", f"factor 'inf' {_RANGE}"),
        # 1e400 was inf: every order at 23:59
        ("12:00,1" + "0" * 400, f"factor '1{'0' * 400}' {_RANGE}"),
        ("12:00,abc", "factor 'abc' is not a number"),
        ("12:00,nan", "factor 'nan' is not a number"),
        ("12:00,", "factor '' is not a number"),
        ("12:00,3,4", "factor '3,4' is not a number"),
        ("12:00,3_0", f"factor '3_0' is not a number: {PLAIN_DIGITS}"),
        ("25:00,2", "'25:00' is not a time of day HH:MM"),
        ("24:00,2", "'24:00' is not a time of day HH:MM"),
        ("9:60,2", "'9:60' is not a time of day HH:MM"),
        ("9,2", "'9' is not a time of day HH:MM"),
        ("7pm,2", "'7pm' is not a time of day HH:MM"),
    ],
)
def test_a_spike_s_error_names_the_part_that_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        Spike.parse(text)
    assert caught.value.reason == message
    assert caught.value.field == "--spike" and caught.value.value == text


def test_cli_generate_orders(tmp_path: Path, sample_dir: Path) -> None:
    out = tmp_path / "orders.csv"
    args = ["generate", "orders", "--network", str(sample_dir), "--orders", "200"]
    result = CliRunner().invoke(cli, [*args, "--seed", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, dtype=str)["order_id"].nunique() == 200
    result = CliRunner().invoke(cli, [*args, "--spike", "7pm,2", "--out", str(out)])
    assert result.exit_code == 2  # a bad flag value, as for every option
    assert result.output.endswith(
        "Error: Invalid value for '--spike': '7pm,2': '7pm' is not a time of day "
        "HH:MM\n"
    )
    result = CliRunner().invoke(cli, [*args, "--spike", "12:00,-2", "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: Invalid value for '--spike': '12:00,-2': factor '-2' is out of "
        "range: it must be in (0, 100]\n"
    )
    # from the settings file, it is named there (it was reported as the flag)
    settings = tmp_path / "tierflow.toml"
    settings.write_text('[generate.orders]\nspike = "nope"\n')
    result = CliRunner().invoke(
        cli, ["--config", str(settings), *args, "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {settings}: key 'generate.orders.spike': value 'nope': 'nope': "
        "expected HH:MM,factor\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--orders", "0"], "'--orders': 0 is not in the range 1<=x<=10000000."),
        (
            ["--orders", "10000001"],
            "'--orders': 10000001 is not in the range 1<=x<=10000000.",
        ),
        (["--orders", "5", "--days", "3661"], "'--days': 3661 is not in the range"),
        (
            ["--orders", "5", "--start", "2028-01-01", "--days", "400"],
            "--days: 400 (through 2029-02-03): outside the allowed window",
        ),
    ],
)
def test_generate_orders_counts_past_the_documented_bounds_are_refused(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    """docs/cli.md: --orders 1..10,000,000, --days 1..3,660 in the date
    window; outside, a usage error naming the flag (exit 2), nothing written."""
    out = tmp_path / "orders.csv"
    args = ["generate", "orders", "--network", str(TINY_NETWORK), *flags]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"Error: Invalid value for {message}" in result.output
    assert not out.exists()


def test_generate_orders_makes_a_single_order(tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    args = ["generate", "orders", "--network", str(TINY_NETWORK), "--orders", "1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    read_orders(out)  # valid, as every generated file
    frame = pd.read_csv(out, dtype=str)
    assert frame["order_id"].nunique() == 1
    assert json.loads(result.output)["lines"] == len(frame)


def test_generated_platinum_orders_are_ones_checkout_could_offer(
    tmp_path: Path, sample_dir: Path, sample_network: Network
) -> None:
    """A generated order is Platinum only where checkout could have offered
    it then: some node holding its items delivers by the promised date, its
    cutoff, timezone and the carrier calendar respected. They were drawn at
    6 % whenever placed: on a Sunday and on Christmas Day (whose promise is
    the next promise day, which no node could make any more), and on a
    weekday evening past the cutoffs, and allocate kept few of their
    promises under any policy. Christmas Eve to the Sunday after it, seed 7."""
    out = tmp_path / "orders.csv"
    args = ["generate", "orders", "--network", str(sample_dir), "--orders", "4000"]
    args += ["--days", "4", "--start", "2026-12-24", "--seed", "7", "--json"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str).drop_duplicates("order_id")
    platinum = frame[frame["tier"] == "platinum"]
    kept = platinum_promise_achievable(sample_network, out)
    assert len(kept) == len(platinum) > 100
    assert [o for o, ok in kept.items() if not ok] == []
    # none on Christmas Day nor the Sunday: nothing could keep the promise
    by_day = platinum["created_at"].str[:10].value_counts().to_dict()
    assert set(by_day) == {"2026-12-24", "2026-12-26"}
    # only Platinum orders changed, each to Gold; the other tiers as drawn
    drawn = generate_orders(
        sample_network, n_orders=4000, days=4, seed=7, start=dt.date(2026, 12, 24)
    ).drop_duplicates("order_id")
    was_platinum = (drawn["tier"] == "platinum").to_numpy()
    made_gold = was_platinum & (frame["tier"] == "gold").to_numpy()
    assert ((frame["tier"].to_numpy() != drawn["tier"].to_numpy()) == made_gold).all()
    closed = drawn["created_at"].str[:10].isin(["2026-12-25", "2026-12-27"])
    assert made_gold[was_platinum & closed.to_numpy()].all()
    assert json.loads(result.output) == {
        "orders": 4000, "lines": len(pd.read_csv(out)), "days": 4,
        "platinum_made_gold": int(made_gold.sum()), "seed": 7, "out": str(out),
    }  # fmt: skip


GOOD = (
    "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
    "A1,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,2\n"
    "A1,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1\n"
    "A2,2026-01-05T15:00:00Z,C2,90012,,SOFA,1\n"
)

BAD_ORDERS = [
    ("naive time", (2, "created_at", "2026-01-05T10:00:00"),
     r"^orders\.csv: row 2: field 'created_at': value '2026-01-05T10:00:00': "
     r"no timezone offset"),
    ("date without a time", (2, "created_at", "2026-01-05"),
     r"^orders\.csv: row 2: field 'created_at': value '2026-01-05': "
     r"no timezone offset"),
    ("an offset of one digit", (2, "created_at", "2026-01-05T10:00:00-5"),
     r"^orders\.csv: row 2: field 'created_at': value '2026-01-05T10:00:00-5': "
     r"a malformed timezone offset \(write Z, \+HH:MM, \+HHMM or \+HH right "
     r"after the time\)$"),
    ("a space before the offset", (2, "created_at", "2026-01-05T10:00:00 -05:00"),
     r"^orders\.csv: row 2: field 'created_at': value '2026-01-05T10:00:00 -05:00': "
     r"a malformed timezone offset"),
    ("not a date", (4, "created_at", "2026-01-05 at 10:00Z"),
     r"^orders\.csv: row 4: field 'created_at': value '2026-01-05 at 10:00Z': "
     r"not an ISO 8601 date-time$"),
    ("no month 13", (4, "created_at", "2026-13-01T10:00:00Z"),
     r"^orders\.csv: row 4: field 'created_at': value '2026-13-01T10:00:00Z': "
     r"no such day: month 13 out of range \(1-12\)$"),
    ("no February 29th", (3, "created_at", "2026-02-29T10:00:00Z"),
     r"^orders\.csv: row 3: field 'created_at': value '2026-02-29T10:00:00Z': "
     r"no such day: 2026 is not a leap year$"),
    ("no February 29th, basic form", (3, "created_at", "20260229T100000Z"),
     r"^orders\.csv: row 3: field 'created_at': value '20260229T100000Z': "
     r"no such day: 2026 is not a leap year$"),
    ("zero quantity", (3, "quantity", "0"),
     r"^orders\.csv: row 3: field 'quantity': value '0': must be >= 1$"),
    ("bad tier", (4, "tier", "bronze"),
     r"^orders\.csv: row 4: field 'tier': value 'bronze': must be one of"),
    ("bad dest", (4, "dest", "9001x"),
     r"^orders\.csv: row 4: field 'dest': value '9001x': not a US ZIP code "
     r"\(12345, 12345-6789 or a 3-digit prefix\)$"),
    ("a ZIP code that lost its leading zero", (4, "dest", "2134"),
     r"^orders\.csv: row 4: field 'dest': value '2134': not a US ZIP code "
     r"\(12345, 12345-6789 or a 3-digit prefix; 4 digits: a ZIP code that lost "
     r"its leading zero\? write 02134\)$"),
    ("a prefix that lost its leading zero", (4, "dest", "41"),
     r"^orders\.csv: row 4: field 'dest': value '41': not a US ZIP code "
     r"\(12345, 12345-6789 or a 3-digit prefix; 2 digits: a prefix that lost "
     r"its leading zero\? write 041\)$"),
    ("a postcode of another country", (4, "dest", "SW1A 1AA"),
     r"^orders\.csv: row 4: field 'dest': value 'SW1A 1AA': not a US ZIP code "
     r"\(12345, 12345-6789 or a 3-digit prefix\)$"),
    ("unknown sku", (4, "sku", "HAT"),
     r"^orders\.csv: row 4: field 'sku': value 'HAT': unknown SKU"),
    # ids are case-sensitive: the one differing only in case is named
    ("a SKU in other case", (3, "sku", "mug"),
     r"^orders\.csv: row 3: field 'sku': value 'mug': unknown SKU \(not in the "
     r"network's skus file\); the network has 'MUG', which differs in case "
     r"only \(ids are case-sensitive\)$"),
    # the node a checkout reserved the line at (the store's export's
    # node_id): one the network lacks was taken from nowhere it can ship
    ("unknown reserved node", (3, "node_id", "WH-NORTH"),
     r"^orders\.csv: row 3: field 'node_id': value 'WH-NORTH': unknown node "
     r"\(not in the network's nodes file\): the node the checkout reserved "
     r"the line at$"),
    ("unknown dest", (4, "dest", "999"),
     r"^orders\.csv: row 4: field 'dest': value '999': unknown ZIP prefix"),
    ("inconsistent order", (3, "customer_id", "C9"),
     r"^orders\.csv: row 3: field 'customer_id': value 'C9': "
     r"differs from the order's first line \(row 2\)$"),
    ("sku twice", (3, "sku", "TEE"),
     r"^orders\.csv: row 3: field 'sku': value 'TEE': SKU listed twice"),
    # a NUL in an order id: PostgreSQL refused the allocation, with a traceback
    ("a control character in an order id", (4, "order_id", "A\x002"),
     r"^orders\.csv: row 4: field 'order_id': value 'A\\x002': a control "
     r"character \('\\x00'\): an id is stored, logged and written to CSV "
     r"files as it is$"),
    ("a control character in a customer id", (3, "customer_id", "C\x1b1"),
     r"^orders\.csv: row 3: field 'customer_id': value 'C\\x1b1': a control "
     r"character \('\\x1b'\)"),
    ("an invisible character in a SKU", (3, "sku", "MUG\u00ad"),
     r"^orders\.csv: row 3: field 'sku': value 'MUG\\xad': an invisible "
     r"character \('\\xad', SOFT HYPHEN, "),
    ("missing customer", (2, "customer_id", ""),
     r"^orders\.csv: row 2: field 'customer_id': value '': missing value$"),
    ("quantity overflow", (3, "quantity", "99999999999999999999999"),
     r"^orders\.csv: row 3: field 'quantity': value '99999999999999999999999': "
     r"must be <= 10000$"),
    ("far future", (4, "created_at", "2099-01-05T10:00:00Z"),
     r"^orders\.csv: row 4: field 'created_at': value '2099-01-05T10:00:00Z': "
     r"outside the allowed window 1976-06-01 \.\. 2028-06-01"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "message"), [c[1:] for c in BAD_ORDERS], ids=[c[0] for c in BAD_ORDERS]
)
def test_orders_bad_input(
    tmp_path: Path, tiny_network: Network, edit: tuple[int, str, str], message: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD)
    orders = read_orders(path, tiny_network)
    assert orders.order_ids == ("A1", "A2") and orders.dest_zip3 == ("100", "900")
    assert orders.tier.tolist() == [1, -1]
    row, column, value = edit
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 2, column] = value
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=message):
        read_orders(path, tiny_network)


def test_node_id_is_the_node_each_line_was_reserved_at(
    tmp_path: Path, tiny_network: Network
) -> None:
    """``node_id`` (written by ``write_orders(store.online_orders())``) is
    read per line, blank where none; it survives ``take`` and ``to_frame``;
    without the column there is none, and without a network no index."""
    path = tmp_path / "orders.csv"
    lines = GOOD.splitlines()
    path.write_text(
        "\n".join(
            [
                lines[0] + ",node_id",
                lines[1] + ",WH-WEST",
                lines[2] + ",",
                lines[3] + ",ST-CHI",
            ]
        )
        + "\n"
    )
    orders = read_orders(path, tiny_network)
    assert orders.line_reserved_id == ("WH-WEST", "", "ST-CHI")
    assert orders.line_reserved is not None
    assert orders.line_reserved.tolist() == [
        tiny_network.node_idx("WH-WEST"), -1, tiny_network.node_idx("ST-CHI"),
    ]  # fmt: skip
    assert orders.to_frame()["node_id"].tolist() == ["WH-WEST", "", "ST-CHI"]
    kept = orders.take(np.array([False, True]))
    assert kept.line_reserved_id == ("ST-CHI",)
    assert kept.line_reserved is not None
    assert kept.line_reserved.tolist() == [tiny_network.node_idx("ST-CHI")]
    unplaced = read_orders(path)
    assert unplaced.line_reserved is not None
    assert unplaced.line_reserved.tolist() == [-1, -1, -1]
    path.write_text(GOOD)
    plain = read_orders(path, tiny_network)
    assert plain.line_reserved is None and plain.line_reserved_id is None
    assert "node_id" not in plain.to_frame().columns


@pytest.mark.parametrize("dest", ["90012-1234", "90012", "900", " 90012-1234 "])
def test_a_zip_plus_4_is_a_zip_code(
    tmp_path: Path, tiny_network: Network, dest: str
) -> None:
    """A ZIP+4 (``90012-1234``, as shop exports write the shipping ZIP) was
    refused with "must match \\d{3}(\\d{2})?", though the checkout takes it;
    its first three digits are the prefix, as a 5-digit ZIP's."""
    path = tmp_path / "orders.csv"
    path.write_text(GOOD.replace(",90012,", f",{dest},"))
    orders = read_orders(path, tiny_network)
    assert orders.dest_zip3 == ("100", "900")
    assert orders.dest.tolist() == [0, 2]


@pytest.mark.parametrize("offset", ["-05", "-0500", "-05:00"])
def test_an_offset_of_hours_alone_is_an_offset(
    tmp_path: Path, tiny_network: Network, offset: str
) -> None:
    """``-05`` was parsed as an offset, then the cell was refused with "no
    timezone offset"; capacity events and ``--now`` take it."""
    path = tmp_path / "orders.csv"
    path.write_text(
        GOOD.replace("2026-01-05T10:00:00-05:00", f"2026-01-05T10:00:00{offset}")
    )
    orders = read_orders(path, tiny_network)
    assert str(orders.created_at[0]) == "2026-01-05T15:00:00.000000000"


def test_a_blank_first_promise_is_the_one_later_lines_differ_from(
    tmp_path: Path, tiny_network: Network
) -> None:
    """The later line is named, with its value, against the first line's
    blank cell (the first non-blank cell was taken as the first line's: the
    error named row 2 against itself, value '')."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,customer_id,dest,tier,sku,quantity,promised_date\n"
        "A1,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,1,\n"
        "A1,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1,2026-01-09\n"
    )
    with pytest.raises(InputError) as caught:
        read_orders(path, tiny_network)
    assert str(caught.value) == (
        "orders.csv: row 3: field 'promised_date': value '2026-01-09': differs "
        "from the order's first line (row 2)"
    )


def test_generator_without_customer_table(tiny_network: Network) -> None:
    frame = generate_orders(tiny_network, n_orders=400, days=1, seed=2)
    assert frame["customer_id"].str.startswith("G2-").all()
    assert set(frame["dest"]) <= set(tiny_network.dest_zip3)
    assert set(frame["sku"]) <= set(tiny_network.sku_ids)
    # no popularity column: SKUs drawn uniformly, all four appear
    assert frame["sku"].nunique() == 4


def test_generator_checks_the_customer_table(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import TINY_NETWORK
    from tierflow.data.network import load_network

    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "customers.csv").write_text("customer_id,home_zip3\nC1,100\nC2,999\n")
    with pytest.raises(
        InputError,
        match=r"^customers\.csv: row 3: field 'home_zip3': value '999': "
        r"unknown home_zip3 \(not in destinations\)$",
    ):
        generate_orders(load_network(folder), n_orders=10)


def test_a_home_zip_code_is_not_a_prefix(tmp_path: Path) -> None:
    """A 5-digit ZIP in ``home_zip3`` was "must match \\d{3}": it names the
    prefix to write."""
    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "customers.csv").write_text("customer_id,home_zip3\nC1,10001\n")
    with pytest.raises(InputError) as caught:
        generate_orders(load_network(folder), n_orders=10)
    assert str(caught.value) == (
        "customers.csv: row 2: field 'home_zip3': value '10001': not a 3-digit "
        "ZIP prefix (a ZIP code: its prefix is 100)"
    )


def test_shoppers_read_once_draw_the_same_orders(tmp_path: Path) -> None:
    """``simulate`` reads customers.csv once and passes it on (it was read
    for its check, the carts and the history): the orders are those the
    generator draws reading the file itself, and the file is not read again."""
    import shutil

    from tests.conftest import TINY_NETWORK
    from tierflow.data.order_generator import read_shoppers

    folder = tmp_path / "net"
    shutil.copytree(TINY_NETWORK, folder)
    (folder / "customers.csv").write_text(
        "customer_id,home_zip3\nC1,100\nC2,606\nC3,900\n"
    )
    net = load_network(folder)
    shoppers = read_shoppers(net)
    assert shoppers.count == 3
    read_by_itself = generate_orders(net, n_orders=200, seed=5)
    (folder / "customers.csv").unlink()  # read once: not needed again
    given = generate_orders(net, n_orders=200, seed=5, shoppers=shoppers)
    pd.testing.assert_frame_equal(given, read_by_itself)
    assert set(given["customer_id"]) == {"C1", "C2", "C3"}
    assert read_shoppers(net).count is None


def test_a_promise_before_the_order_was_placed_is_refused(
    tmp_path: Path, tiny_network: Network
) -> None:
    """A promised date before the order existed is a typo the allocation would
    bill as years of lateness; a promise on the day before the UTC date (the
    customer's evening west of UTC) is not refused."""
    path = tmp_path / "orders.csv"
    lines = GOOD.splitlines()
    dates = ["promised_date", "2026-01-06", "2026-01-06", "2026-01-04"]
    path.write_text("".join(f"{a},{b}\n" for a, b in zip(lines, dates, strict=True)))
    orders = read_orders(path, tiny_network)
    assert orders.promised_date is not None
    assert orders.promised_date.astype(str).tolist() == ["2026-01-06", "2026-01-04"]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[2, "promised_date"] = "2020-01-01"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as caught:
        read_orders(path, tiny_network)
    assert str(caught.value) == (
        "orders.csv: row 4: field 'promised_date': value '2020-01-01': before "
        "the order was placed (its created_at)"
    )


def _ny_hours(frame: pd.DataFrame, network: Network) -> pd.Series:
    """New York orders per clock hour and offset (``01 -05:00``)."""
    orders = frame.drop_duplicates("order_id")
    zone = {
        z: network.dest_timezones[int(t)]
        for z, t in zip(network.dest_zip3, network.dest_tz, strict=True)
    }
    ny = orders[orders["dest"].map(zone) == "America/New_York"]["created_at"]
    return (ny.str[11:13] + " " + ny.str[19:]).value_counts()


def test_the_local_minutes_are_those_that_pass() -> None:
    """A 25-hour day (New York falls back on Sunday 2026-11-01) has two
    01:xx hours, each weighted as an 01:xx; a 23-hour day (2026-03-08) has no
    02:xx. Weights by hand: the hourly profile's piecewise-linear minutes
    sum to 10.095 over 01:00-02:00 (0.22 - 0.002k for k < 30, then 0.16 -
    0.001(k - 30)) and to 4.36 over 03:00-04:00; Sunday's weight is 1.12."""
    from tierflow.data.order_generator import (
        _local_minutes,
        _minute_intensity,
        _minute_weights,
    )

    ny = "America/New_York"
    fall = _local_minutes(ny, dt.date(2026, 11, 1), 1)
    assert len(fall.utc) == 1500
    assert fall.utc[[0, 60, 120, 180]].astype(str).tolist() == [
        "2026-11-01T04:00:00", "2026-11-01T05:00:00",
        "2026-11-01T06:00:00", "2026-11-01T07:00:00",
    ]  # fmt: skip
    assert fall.clock_minute[[0, 60, 120, 180, 1499]].tolist() == [0, 60, 60, 120, 1439]
    assert fall.offset_min[[119, 120]].tolist() == [-240, -300]
    weights = _minute_weights(_minute_intensity(), fall, dt.date(2026, 11, 1), None, ny)
    assert weights[60:120].sum() == pytest.approx(10.095 * 1.12)
    assert weights[120:180].sum() == pytest.approx(10.095 * 1.12)

    spring = _local_minutes(ny, dt.date(2026, 3, 8), 1)
    assert len(spring.utc) == 1380
    assert spring.utc[[0, 120]].astype(str).tolist() == [
        "2026-03-08T05:00:00",
        "2026-03-08T07:00:00",
    ]
    assert spring.clock_minute[[119, 120]].tolist() == [119, 180]  # 01:59, 03:00
    weights = _minute_weights(
        _minute_intensity(), spring, dt.date(2026, 3, 8), None, ny
    )
    assert weights[120:180].sum() == pytest.approx(4.36 * 1.12)  # 03:xx alone


def test_a_spike_lasts_an_hour_on_a_clock_change_day() -> None:
    """QA's case: the spike hit every minute whose clock read HH:MM ..
    HH:MM+59, so on 2026-11-01 (New York reads 01:30-01:59 twice) a 01:30
    promotion lasted 90 minutes, and on 2026-03-08 (no 02:xx) a 02:30 one
    30 minutes (03:00-03:29). It is the hour from the first instant the
    clock reads HH:MM (the first 01:30; 03:00 EDT where 02:30 is skipped)."""
    from tierflow.data.order_generator import (
        Spike,
        _local_minutes,
        _minute_intensity,
        _minute_weights,
    )

    ny = "America/New_York"
    for day, spike, first in (
        (dt.date(2026, 11, 1), Spike(90, 5.0), "2026-11-01T05:30:00"),  # 01:30 EDT
        (dt.date(2026, 3, 8), Spike(150, 5.0), "2026-03-08T07:00:00"),  # 03:00 EDT
    ):
        minutes = _local_minutes(ny, day, 1)
        plain = _minute_weights(_minute_intensity(), minutes, day, None, ny)
        spiked = _minute_weights(_minute_intensity(), minutes, day, spike, ny)
        hit = np.flatnonzero(~np.isclose(spiked, plain))
        assert hit.size == 60, (day, hit.size)
        assert str(minutes.utc[hit[0]]) == first
        assert np.all(np.diff(hit) == 1)
        assert np.allclose(spiked[hit], 5.0 * plain[hit])


def test_orders_spread_over_the_hours_a_clock_change_day_has(
    sample_network: Network,
) -> None:
    """QA's case: on 2026-11-01 the repeated hour 01:00-02:00 EST got no New
    York orders (01:00 EDT got them all); on 2026-03-08 the skipped 02:xx
    hour's orders piled into 03:00 EDT (84 against 36 at 04:00). The profile
    expects the two 01:xx hours alike, and 03:xx at 4.36 / 3.895 = 1.12
    times 04:xx (the old pile-up: (6.2475 + 4.36) / 3.895 = 2.72)."""
    fall = _ny_hours(
        generate_orders(
            sample_network, n_orders=60_000, days=1, seed=3, start=dt.date(2026, 11, 1)
        ),
        sample_network,
    )
    est, edt = fall.get("01 -05:00", 0), fall.get("01 -04:00", 0)
    assert est > 50 and 0.7 < est / edt < 1.4, (est, edt)
    spring = _ny_hours(
        generate_orders(
            sample_network, n_orders=60_000, days=1, seed=3, start=dt.date(2026, 3, 8)
        ),
        sample_network,
    )
    assert not spring.index.str.startswith("02").any()
    three, four = spring["03 -04:00"], spring["04 -04:00"]
    assert 0.8 < three / four < 1.5, (three, four)
