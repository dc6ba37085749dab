"""``tierflow cltv retrain``'s history guard through the CLI: a truncated
day's feed is refused with the figures and exit 1, the champion and what
was published stay; ``--accept-history-loss`` goes on."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.cltv.test_registry import FAST
from tierflow.cli.main import cli
from tierflow.cltv.features import load_customer_data
from tierflow.cltv.lifecycle import train_model
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.store import SqliteStore
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)
from tierflow.data.transactions import day_number

DAYS = ("2023-06-30", "2023-07-01", "2023-07-02")


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each day's feed (every row up to the day), and the second day's with
    its last week missing."""
    folder = tmp_path_factory.mktemp("feeds")
    rows = generate_transactions(700, seed=5)
    paths = {}
    for day in DAYS:
        paths[day] = folder / f"tx-{day}.csv"
        write_transactions(rows.loc[rows["order_date"] <= day], paths[day])
    cut = rows.loc[rows["order_date"] < "2023-06-25"]
    paths["last week missing"] = folder / "tx-2023-07-01-cut.csv"
    write_transactions(cut, paths["last week missing"])
    return paths


def _small_champion(feed: Path, folder: Path) -> None:
    """A champion of a small, quick config the day before the first day:
    ``cltv retrain`` trains its challengers with the champion's config, and
    the history guard does not depend on the model's size (the command has
    no option for it: the first model would take the default config)."""
    data, _ = load_customer_data(feed)
    registry = ModelRegistry(folder / "models")
    day = day_number("2023-06-29")
    train_model(data, day, 60, registry, FAST, with_backtest=False)


def _retrain(feed: Path, day: str, folder: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "cltv", "retrain", "--transactions", str(feed), "--as-of", day,
            "--horizon-days", "60", "--model-dir", str(folder / "models"),
            "--state", str(folder / "state.db"),
            "--scores-out", str(folder / "published.csv"), *extra,
        ],
    )  # fmt: skip


def _published(folder: Path) -> tuple[bytes, datetime.date | None, int, pd.DataFrame]:
    """The CSV and what the state store serves: its day, version and scores."""
    ids = pd.read_csv(folder / "published.csv", dtype={"customer_id": str})
    with SqliteStore(folder / "state.db") as store:
        served = store.cltv_scores(ids["customer_id"])
        return (
            (folder / "published.csv").read_bytes(),
            store.latest_cltv_as_of(),
            store.cltv_version(),
            served,
        )


REFUSED = (
    "history up to the champion's as-of date 2023-06-30 was lost beyond "
    "tolerance (1 % in total, 10 % in a week), champion's -> today's: rows "
    "4021 -> 3956 (-1.62 %), customers 700 -> 700 (+0.00 %), spend 88604.51 "
    "-> 87492.99 (-1.25 %); 1 week lost beyond 10 % of its rows: to "
    "2023-06-30 84 -> 19"
)
ERROR = (
    "Error: the day's data lost part of the champion's history: nothing "
    "trained, promoted or published (--accept-history-loss goes on)\n"
)


def test_a_truncated_feed_is_refused_then_accepted_on_purpose(
    feeds: dict[str, Path], tmp_path: Path
) -> None:
    _small_champion(feeds[DAYS[0]], tmp_path)
    first = _retrain(feeds[DAYS[0]], DAYS[0], tmp_path, "--json")
    assert first.exit_code == 0, first.output
    champion = json.loads(first.stdout)["champion"]
    before = _published(tmp_path)
    assert before[1] == datetime.date(2023, 6, 30)

    refused = _retrain(feeds["last week missing"], DAYS[1], tmp_path, "--json")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.endswith(ERROR), refused.stderr
    record = json.loads(refused.stdout)
    assert record["promoted"] is False and record["champion"] == champion
    assert record["reason"] == (
        REFUSED + "; the challenger was not trained, the champion and its "
        "published scores stay"
    )
    assert record["published_rows"] is None
    check = record["history_check"]
    assert check["status"] == "refused"
    assert (check["champion"]["rows"], check["today"]["rows"]) == (4021, 3956)
    assert check["lost"] == {"rows": 65, "customers": 0, "spend": 1111.52}
    assert check["weeks"] == [
        {"week_to": "2023-06-30", "champion_rows": 84, "today_rows": 19}
    ]
    assert (tmp_path / "models" / "CURRENT").read_text().strip() == champion
    assert record["challenger"] not in {p.name for p in (tmp_path / "models").iterdir()}
    assert record["challenger_trained"] is False  # it named a model never made
    assert json.loads(first.stdout)["challenger_trained"] is True
    after = _published(tmp_path)
    assert after[:3] == before[:3]
    pd.testing.assert_frame_equal(after[3], before[3])

    # the text report says the same, and exits 1 the same
    text = _retrain(feeds["last week missing"], DAYS[1], tmp_path)
    assert text.exit_code == 1 and text.stderr.endswith(ERROR)
    assert text.stdout.startswith(
        f"2023-07-01: kept {champion} (challenger {record['challenger']}, not "
        "trained): " + REFUSED
    )

    accepted = _retrain(
        feeds["last week missing"], DAYS[1], tmp_path, "--accept-history-loss"
    )
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.startswith(
        f"2023-07-01: promoted {record['challenger']} "
    ), accepted.stdout
    assert (
        "WARNING tierflow.cli.cltv: history check accepted: going on as asked: "
        + REFUSED
        + "\n"
    ) in accepted.stderr
    assert (tmp_path / "models" / "CURRENT").read_text().strip() == record["challenger"]
    assert _published(tmp_path)[1] == datetime.date(2023, 7, 1)


def test_an_old_champion_is_not_checked_then_the_next_is(
    feeds: dict[str, Path], tmp_path: Path
) -> None:
    """A champion saved before the guard has no summary: a warning, exit 0;
    the model promoted then has one, and the next day is checked."""
    _small_champion(feeds[DAYS[0]], tmp_path)
    first = _retrain(feeds[DAYS[0]], DAYS[0], tmp_path, "--json")
    assert first.exit_code == 0, first.output
    champion = json.loads(first.stdout)["champion"]
    meta_path = tmp_path / "models" / champion / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["data"]["history"]
    meta_path.write_text(json.dumps(meta))

    skipped = _retrain(feeds[DAYS[1]], DAYS[1], tmp_path)
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stdout.startswith("2023-07-01: promoted "), skipped.stdout
    assert (
        f"WARNING tierflow.cli.cltv: history check skipped: the champion "
        f"{champion} was saved without a history summary (before the history "
        "guard): history not checked; the next model promoted records one\n"
    ) in skipped.stderr

    checked = _retrain(feeds[DAYS[2]], DAYS[2], tmp_path)
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines()[1] == (
        "history up to 2023-07-01 kept (champion's -> today's): rows 4026 -> "
        "4026 (+0.00 %), customers 700 -> 700 (+0.00 %), spend 88707.85 -> "
        "88707.85 (+0.00 %)"
    )
    assert "history check" not in checked.stderr


def test_the_tolerance_is_a_share(feeds: dict[str, Path], tmp_path: Path) -> None:
    """Outside [0, 1] is a usage error naming the option, before any work."""
    bad = _retrain(feeds[DAYS[0]], DAYS[0], tmp_path, "--max-history-loss", "1.5")
    assert bad.exit_code == 2
    assert "Invalid value for '--max-history-loss'" in bad.output
    assert not (tmp_path / "models").exists()


def test_a_feed_switched_to_cents_is_refused(
    feeds: dict[str, Path], tmp_path: Path
) -> None:
    """The day's file in cents (every amount x 100) counted as a gain of
    history and its challenger was promoted, publishing forecasts in cents.
    Refused as a loss is, naming both averages, exit 1, nothing published;
    --accept-history-loss does not let it through."""
    _small_champion(feeds[DAYS[0]], tmp_path)
    first = _retrain(feeds[DAYS[0]], DAYS[0], tmp_path, "--json")
    assert first.exit_code == 0, first.output
    champion = json.loads(first.stdout)["champion"]
    before = _published(tmp_path)
    cents = tmp_path / "tx-cents.csv"
    log = pd.read_csv(feeds[DAYS[1]], dtype={"customer_id": str})
    log["amount"] = (log["amount"] * 100).round(0)
    log.to_csv(cents, index=False)
    for extra in ((), ("--accept-history-loss",)):
        refused = _retrain(cents, DAYS[1], tmp_path, *extra)
        assert refused.exit_code == 1, refused.output
        assert refused.stdout.startswith(f"2023-07-01: kept {champion} (challenger "), (
            refused.stdout
        )
        assert (
            ", not trained): amounts average 2203 a row up to 2023-07-01, 100 "
            "times the 22.04 of the log the champion "
            f"{champion} was trained on: another currency unit? A challenger "
            "trained on it would forecast and publish spend in its unit; the "
            "challenger was not trained, the champion and its published scores "
            "stay\n"
        ) in refused.stdout
        assert refused.stderr.endswith(
            "Error: the day's amounts are in another unit than the champion's "
            "(x100 a row): nothing trained, promoted or published (to switch "
            "units, train a model on the new log with tierflow cltv train)\n"
        ), refused.stderr
        assert (tmp_path / "models" / "CURRENT").read_text().strip() == champion
        after = _published(tmp_path)
        assert after[:3] == before[:3]
        pd.testing.assert_frame_equal(after[3], before[3])


def test_a_feed_of_other_customers_of_the_same_size_is_refused(
    feeds: dict[str, Path], tmp_path: Path
) -> None:
    """Every customer id renumbered: the rows, customers and spend up to the
    champion's as-of date are the champion's, so the counts passed it and
    the challenger published scores of customers the champion never knew.
    Refused by the customer digest, its own error line, exit 1."""
    _small_champion(feeds[DAYS[0]], tmp_path)
    first = _retrain(feeds[DAYS[0]], DAYS[0], tmp_path, "--json")
    assert first.exit_code == 0, first.output
    champion = json.loads(first.stdout)["champion"]
    before = _published(tmp_path)
    other = tmp_path / "tx-other.csv"
    log = pd.read_csv(feeds[DAYS[1]], dtype={"customer_id": str})
    log.assign(customer_id="X" + log["customer_id"]).to_csv(other, index=False)
    refused = _retrain(other, DAYS[1], tmp_path, "--json")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.endswith(
        "Error: the day's data holds other customers than the champion's: "
        "nothing trained, promoted or published (--accept-history-loss goes on)\n"
    ), refused.stderr
    record = json.loads(refused.stdout)
    assert record["champion"] == champion and record["promoted"] is False
    assert record["history_check"]["customers_replaced"] is True
    assert record["reason"].startswith(
        "the customers up to the champion's as-of date 2023-06-30 are another "
        "set than the champion's (700 on both sides, "
    )
    after = _published(tmp_path)
    assert after[:3] == before[:3]
