"""``tierflow state prune``: the counts per table, the dry run, bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import TINY_NETWORK
from tests.data.test_store_retention import (
    COMPACTED,
    DELETED,
    KEEP_DAYS,
    KEPT,
    NOW,
    event,
    seed,
)
from tests.postgres import run_sql
from tierflow.cli.main import cli
from tierflow.data.network import Network
from tierflow.data.store import open_store
from tierflow.data.store.retention import utc_text


def _prune(state: Path, *extra: str, give_back: bool = True) -> list[str]:
    """``state prune`` at ``NOW``; ``give_back``: with ``--give-back-upgrades``
    (the tests' ``KEEP_DAYS`` is shorter than the default upgrade period)."""
    flag = ["--give-back-upgrades"] if give_back else []
    return [
        "state",
        "prune",
        "--state",
        str(state),
        "--now",
        utc_text(NOW),
        *extra,
        *flag,
    ]


def _table(verb: str, deleted: dict[str, int]) -> str:
    names = list(DELETED)
    width = max(map(len, names))
    rows = [f"{'table':<{width}}  {verb:>12}  {'kept':>10}"]
    rows += [f"{t:<{width}}  {deleted[t]:>12}  {KEPT[t]:>10}" for t in names]
    return "\n".join(rows) + "\n"


def _compacted(verb: str, n: int) -> str:
    return (
        f"stock_changes: {n} change {'id' if n == 1 else 'ids'} {verb} "
        "(the ids kept without their "
        "answers: a replay of one is refused)\n"
    )


def test_prune_prints_each_tables_rows_deleted_and_kept(
    tmp_path: Path, tiny_network: Network
) -> None:
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    cutoff = utc_text(NOW - KEEP_DAYS * 86_400)
    head = f"{state}: rows older than {cutoff} (7 days) nothing live needs\n"
    dry = CliRunner().invoke(cli, _prune(state, "--keep-days", "7", "--dry-run"))
    assert dry.exit_code == 0, dry.output
    n = COMPACTED["stock_changes"]
    assert dry.stdout == head + _table("would delete", DELETED) + (
        _compacted("would be compacted", n) + "dry run: nothing deleted\n"
    )
    done = CliRunner().invoke(cli, _prune(state, "--keep-days", "7"))
    assert done.exit_code == 0, done.output
    assert done.stdout == head + _table("deleted", DELETED) + _compacted("compacted", n)
    again = CliRunner().invoke(cli, _prune(state, "--keep-days", "7", "--json"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {
        "state": str(state),
        "keep_days": 7,
        "cutoff": cutoff,
        "dry_run": False,
        "tables": {t: {"deleted": 0, "kept": KEPT[t]} for t in DELETED}
        | {"stock_changes": {"deleted": 0, "kept": 2, "compacted": 0}},
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("0", "value 0: must be >= 1 (the day's orders, scores and capacity events "
              "are live)"),
        ("-2", "value -2: must be >= 1 (the day's orders, scores and capacity "
               "events are live)"),
        ("a week", "value 'a week': not a whole number of days"),
        # int() read these as 30 and 5: a typo, a paste from another script
        ("3_0", "value '3_0': not a whole number of days: write it in digits "
                "0-9 (a sign may lead), without '_', spaces or other "
                "scripts' digits"),
        ("٣٠", "value '٣٠': not a whole number of days: write it in digits "
               "0-9 (a sign may lead), without '_', spaces or other "
               "scripts' digits"),
        (" 5 ", "value ' 5 ': not a whole number of days: write it in digits "
                "0-9 (a sign may lead), without '_', spaces or other "
                "scripts' digits"),
        # counted back that far the cutoff was no date: a traceback, year -711
        ("999999", "value 999999: must be at most 36500 (a century: further "
                   "back the cutoff is no date; to keep everything, do not prune)"),
        ("99999999999", "value 99999999999: must be at most 36500 (a century: "
                        "further back the cutoff is no date; to keep everything, "
                        "do not prune)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("dry_run", [False, True], ids=["prune", "dry-run"])
def test_a_bad_keep_days_is_an_error_and_nothing_is_deleted(
    tmp_path: Path, tiny_network: Network, given: str, message: str, dry_run: bool
) -> None:
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    flag = ["--dry-run"] if dry_run else []
    result = CliRunner().invoke(cli, _prune(state, "--keep-days", given, *flag))
    assert result.exit_code == 1
    assert result.stderr == f"Error: field '--keep-days': {message}\n"
    assert result.stdout == ""
    dry = CliRunner().invoke(
        cli, _prune(state, "--keep-days", "7", "--json", "--dry-run")
    )
    tables = json.loads(dry.stdout)["tables"]
    assert {t: c["deleted"] for t, c in tables.items()} == DELETED


def test_a_store_that_is_not_there_is_not_made(tmp_path: Path) -> None:
    state = tmp_path / "typo.db"
    result = CliRunner().invoke(cli, _prune(state, "--keep-days", "7"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert str(state) in result.stderr
    assert not state.exists()


def test_capacity_ingest_refuses_a_pruned_event_by_file_and_line(
    tmp_path: Path, tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay of an event the prune deleted (its id with it) would be
    applied again; it is refused, naming the file and the line, nothing
    logged."""
    monkeypatch.setenv("TIERFLOW_NOW", utc_text(NOW))  # the events are live
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    assert CliRunner().invoke(cli, _prune(state, "--keep-days", "7")).exit_code == 0
    events = tmp_path / "events.jsonl"
    replay = event("e2", NOW - 20 * 86_400 + 2)
    events.write_text(
        json.dumps(event("e9", NOW - 10)) + "\n" + json.dumps(replay) + "\n"
    )
    args = ["capacity", "ingest", "--network", str(TINY_NETWORK), "--state", str(state)]
    result = CliRunner().invoke(cli, [*args, "--events", str(events)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: events.jsonl: row 2: field 'ts': value {replay['ts']!r}: at or "
        f"before {utc_text(NOW - 20 * 86_400 + 3)}, the newest event `tierflow "
        "state prune` deleted from the capacity log (with its id): it may be "
        "one applied already, so it is refused\n"
    )
    with open_store(state) as store:
        assert [e.event_id for e in store.events_after(0)] == ["e4", "e5"]


def test_a_prune_dated_ahead_of_the_clock_is_refused_and_deletes_nothing(
    tmp_path: Path, tiny_network: Network
) -> None:
    """``--now`` days ahead of the clock (a typo of the month, a replay's
    date) counted the days kept back from it: the stock change id a WMS
    posted a minute ago was deleted, and its retry added the receipt twice.
    A prune dated ahead of the clock is refused, nothing deleted."""
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    ahead = ["state", "prune", "--state", str(state), "--keep-days", "1"]
    ahead += ["--give-back-upgrades"]
    ahead += ["--now", utc_text(NOW + 3 * 86_400)]
    result = CliRunner().invoke(cli, ahead)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: field '--now': value '{utc_text(NOW + 3 * 86_400)}': ahead of "
        "the clock: a prune dated later than now deletes rows still live (the "
        "stock change ids a client's retry needs, today's orders and events) "
        "— nothing deleted\n"
    )
    assert result.stdout == ""
    with open_store(state) as store:  # the id received now is still a retry
        again = store.change_stock_once([("N1", "MUG", 50)], change_id="count-new")
    assert again.duplicate
    dry = CliRunner().invoke(
        cli, _prune(state, "--keep-days", "7", "--json", "--dry-run")
    )
    tables = json.loads(dry.stdout)["tables"]
    assert {t: c["deleted"] for t, c in tables.items()} == DELETED


def test_stock_load_of_a_pruned_change_id_is_refused_and_adds_nothing(
    tmp_path: Path,
) -> None:
    """A receipt loaded, pruned weeks later, then replayed from a queue
    was added a second time: its id had gone with the prune."""
    state = tmp_path / "state.db"
    receipt = tmp_path / "receipt.csv"
    receipt.write_text("node_id,sku,on_hand\nWH-EAST,TEE,5\n")
    load = ["stock", "load", "--network", str(TINY_NETWORK), "--state", str(state)]
    load += ["--inventory", str(receipt), "--mode", "add", "--change-id", "rcv-7"]
    first = CliRunner().invoke(cli, load)
    assert first.exit_code == 0, first.output
    received = NOW - 20 * 86_400
    run_sql(state, f"UPDATE stock_changes SET received_at = {received}")
    pruned = CliRunner().invoke(cli, _prune(state, "--keep-days", "7", "--json"))
    assert json.loads(pruned.stdout)["tables"]["stock_changes"] == {
        "deleted": 0,
        "kept": 1,
        "compacted": 1,
    }
    with open_store(state) as store:
        before = store.stock_levels()
    again = CliRunner().invoke(cli, load)
    assert (again.exit_code, again.stdout) == (1, ""), again.output
    assert again.stderr == (
        f"Error: field '--change-id': value 'rcv-7': applied on "
        f"{utc_text(received)}; `tierflow state prune` dropped its answer, so "
        "a repeat of it is refused, never applied again; nothing written\n"
    )
    with open_store(state) as store:
        pd.testing.assert_frame_equal(store.stock_levels(), before)


def test_keep_days_shorter_than_the_upgrade_period_is_refused_unless_asked(
    tmp_path: Path, tiny_network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade allowance is counted over the tier policy's
    ``upgrade_period_days`` (30): ``--keep-days 7`` pruned the charged
    upgrades of orders 8 to 30 days old and gave their customers their
    allowance back, said only in docs/store.md. Refused, naming both values,
    nothing deleted (a dry run too); ``--give-back-upgrades`` prunes; a
    ``[tiers]`` period of 7 days needs no flag; the flag is the command
    line's only (a standing one would give allowances back at every prune)."""
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    for extra in ((), ("--dry-run",)):
        refused = CliRunner().invoke(
            cli, _prune(state, "--keep-days", "7", *extra, give_back=False)
        )
        assert (refused.exit_code, refused.stdout) == (1, "")
        assert refused.stderr == (
            "Error: field '--keep-days': value 7: shorter than the tier policy's "
            "upgrade_period_days (30): the charged upgrades of the orders it "
            "prunes would give their customers' upgrade allowance back; keep "
            "at least 30 days, or give --give-back-upgrades; nothing deleted\n"
        )
    kept = CliRunner().invoke(
        cli, _prune(state, "--keep-days", "30", "--dry-run", give_back=False)
    )
    assert kept.exit_code == 0, kept.output
    done = CliRunner().invoke(cli, _prune(state, "--keep-days", "7", "--json"))
    assert done.exit_code == 0, done.output
    deleted = {t: c["deleted"] for t, c in json.loads(done.stdout)["tables"].items()}
    assert deleted == DELETED
    settings = tmp_path / "tierflow.toml"
    settings.write_text("[tiers]\nupgrade_period_days = 7\n")
    same = CliRunner().invoke(
        cli,
        [
            "--config",
            str(settings),
            *_prune(state, "--keep-days", "7", give_back=False),
        ],
    )
    assert same.exit_code == 0, same.output
    monkeypatch.setenv("TIERFLOW_STATE_PRUNE_GIVE_BACK_UPGRADES", "true")
    standing = CliRunner().invoke(
        cli, _prune(state, "--keep-days", "7", give_back=False)
    )
    assert (standing.exit_code, standing.stderr) == (
        1,
        "Error: field '--give-back-upgrades': value True: set by a settings file "
        "or variable: give it on the command line, for the prune that needs it; "
        "nothing deleted\n",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("0", "value '0': must be >= 1 (the day's orders, scores and capacity "
              "events are live)"),
        ("a week", "value 'a week': not a whole number of days"),
        ("3_0", "value '3_0': not a whole number of days: write it in digits "
                "0-9 (a sign may lead), without '_', spaces or other "
                "scripts' digits"),
        ("7", "value '7': shorter than the tier policy's upgrade_period_days "
              "(30): the charged upgrades of the orders it prunes would give "
              "their customers' upgrade allowance back; keep at least 30 days, "
              "or give --give-back-upgrades; nothing deleted"),
    ],
)  # fmt: skip
def test_a_bad_keep_days_from_the_settings_file_or_a_variable_names_it(
    tmp_path: Path,
    tiny_network: Network,
    monkeypatch: pytest.MonkeyPatch,
    given: str,
    message: str,
) -> None:
    """``keep_days = 0`` in tierflow.toml was refused as ``field
    '--keep-days'``, a flag the operator never typed: the file and key are
    named, as for a value its option's type refuses (``now``), and so is
    the variable; nothing is deleted."""
    state = tmp_path / "state.db"
    seed(state, tiny_network)
    settings = tmp_path / "tierflow.toml"
    settings.write_text(f'[state.prune]\nkeep_days = "{given}"\n')
    prune = ["state", "prune", "--state", str(state), "--now", utc_text(NOW)]
    from_file = CliRunner().invoke(cli, ["--config", str(settings), *prune])
    assert (from_file.exit_code, from_file.stdout) == (1, ""), from_file.output
    assert from_file.stderr == (
        f"Error: {settings}: key 'state.prune.keep_days': {message}\n"
    )
    monkeypatch.setenv("TIERFLOW_STATE_PRUNE_KEEP_DAYS", given)
    from_variable = CliRunner().invoke(cli, prune)
    assert (from_variable.exit_code, from_variable.stdout) == (1, "")
    assert from_variable.stderr == (
        f"Error: field '$TIERFLOW_STATE_PRUNE_KEEP_DAYS': {message}\n"
    )
    monkeypatch.delenv("TIERFLOW_STATE_PRUNE_KEEP_DAYS")
    dry = CliRunner().invoke(
        cli, _prune(state, "--keep-days", "7", "--json", "--dry-run")
    )
    tables = json.loads(dry.stdout)["tables"]
    assert {t: c["deleted"] for t, c in tables.items()} == DELETED


def test_state_help_lists_what_prune_and_migrate_do() -> None:
    """``tierflow state --help`` cut prune's docstring mid-clause: "Delete,
    10,000 rows a transaction (writers go on between..."."""
    shown = CliRunner().invoke(cli, ["state", "--help"], prog_name="tierflow")
    assert shown.exit_code == 0, shown.output
    listed = shown.stdout.split("Commands:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split(None, 1) for line in listed] == [
        ["migrate", "Migrate the store to this tierflow's schema, listing each..."],
        ["prune", "Delete the rows older than N days that nothing live needs."],
    ]
