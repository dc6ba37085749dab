"""``tierflow cltv rollback``: the night's promoted model is taken back, its
predecessor's scores published to a real state store (SQLite and
PostgreSQL) and a CSV first; a rerun of that night's retrain keeps the
rollback, the next night promotes as usual; each refusal is one line and
changes nothing, in the folder or the store."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tierflow.cli.main import cli
from tierflow.data.store import open_store
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)

NIGHTS = ("2023-06-28", "2023-06-29", "2023-06-30")
#: The first night's history (rows, customers, gross spend up to it).
FIRST_NIGHT = {"rows": 3999, "customers": 700, "spend": 88180.52}
#: The line a rollback to the first night's model prints of the log.
KEPT = (
    f"history up to {NIGHTS[0]} kept within tolerance (version's -> the "
    "log's): rows 3999 -> "
    "3999 (+0.00 %), customers 700 -> 700 (+0.00 %), spend 88180.52 -> "
    "88180.52 (+0.00 %)\n"
)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each night's feed: every row up to the night."""
    folder = tmp_path_factory.mktemp("feeds")
    rows = generate_transactions(700, seed=5)
    paths = {}
    for night in NIGHTS:
        paths[night] = folder / f"tx-{night}.csv"
        write_transactions(rows.loc[rows["order_date"] <= night], paths[night])
    return paths


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["cltv", *args])


def _retrain(
    feeds: dict[str, Path], night: str, folder: Path, state: Path | str | None = None
) -> dict[str, object]:
    done = _run(
        "retrain", "--transactions", str(feeds[night]), "--as-of", night,
        "--horizon-days", "60", "--model-dir", str(folder / "models"),
        "--state", str(state or folder / "state.db"), "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    record: dict[str, object] = json.loads(done.stdout)
    return record


@pytest.fixture(scope="module")
def two_nights(
    feeds: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, str]:
    """A model folder and store after two nights, each promoting its
    challenger: ``(folder, first night's version, second night's)``; each
    test works on a copy."""
    folder = tmp_path_factory.mktemp("nights")
    first = _retrain(feeds, NIGHTS[0], folder)
    second = _retrain(feeds, NIGHTS[1], folder)
    assert first["promoted"] is True and second["promoted"] is True
    return folder, str(first["champion"]), str(second["champion"])


def _copy(
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    feeds: dict[str, Path],
    state: Path | str,
) -> Path:
    """A copy of the two nights' model folder, and the second night's scores
    in the fresh store ``state`` (published by a rerun of its retrain, which
    is "already done")."""
    folder = Path(shutil.copytree(two_nights[0], tmp_path / "nights"))
    (folder / "state.db").unlink()
    rerun = _retrain(feeds, NIGHTS[1], folder, state)
    assert rerun["noop"] is True and rerun["champion"] == two_nights[2]
    assert _published(state)[1] == {two_nights[2]}
    return folder


def _published(
    state: Path | str,
) -> tuple[datetime.date | None, set[str], pd.DataFrame]:
    """The store's latest day, the model versions of its scores, the scores."""
    with open_store(state) as store:
        latest = store.latest_cltv_as_of()
        scores = store.cltv_latest_scores(10_000)
    assert scores is not None
    frame = pd.DataFrame(
        {
            "customer_id": [s.customer_id for s in scores],
            "predicted_spend": [s.predicted_spend for s in scores],
            "as_of": [s.as_of for s in scores],
        }
    )
    return latest, {s.model_version for s in scores}, frame


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_rollback_publishes_then_restores_and_a_rerun_keeps_it(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    assert (models / "CURRENT").read_text() == f"{second}\n"
    out = folder / "scores.csv"
    rolled = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), "--state", str(state_location),
        "--scores-out", str(out), "--json",
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    reported = json.loads(rolled.stdout)
    check = reported.pop("history_check")
    assert reported == {
        "champion": first,
        "rolled_back_from": second,
        "as_of": NIGHTS[1],
        "published_rows": 700,
        "done": True,
    }
    # the log up to the first night holds the first model's history whole
    assert check == check | {
        "status": "passed",
        "as_of": NIGHTS[0],
        "customers_replaced": False,
        "champion": FIRST_NIGHT,
        "today": FIRST_NIGHT,
        "lost": {"rows": 0, "customers": 0, "spend": 0.0},
    }
    assert (models / "CURRENT").read_text() == f"{first}\n"
    latest, versions, stored = _published(state_location)
    assert latest == datetime.date(2023, 6, 29) and versions == {first}
    assert set(stored["as_of"]) == {datetime.date(2023, 6, 29)}
    # the first night's model scored as of the second night, as cltv score
    # of that version writes them
    scored = folder / "first.csv"
    again = _run(
        "score", "--transactions", str(feeds[NIGHTS[1]]), "--model-dir",
        str(models), "--version", first, "--as-of", NIGHTS[1], "--out", str(scored),
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    expected = pd.read_csv(scored, dtype={"customer_id": str})
    assert pd.read_csv(out, dtype={"customer_id": str}).equals(expected)
    merged = expected.merge(stored, on="customer_id", suffixes=("", "_db"))
    assert len(merged) == 700
    assert (merged["predicted_spend"] - merged["predicted_spend_db"]).abs().max() < 1e-6
    record = json.loads((models / "RETRAIN.json").read_text())
    assert record["champion"] == first and record["rolled_back_from"] == second
    assert record["challenger"] == second and record["completed"] is True

    rerun = _retrain(feeds, NIGHTS[1], folder, state_location)
    assert rerun["noop"] is True and rerun["champion"] == first
    assert rerun["reason"] == (
        "already done for this as-of date, data and config (tierflow cltv "
        f"rollback made {first} current in place of {second}: it stays)"
    )
    assert (models / "CURRENT").read_text() == f"{first}\n"
    assert _published(state_location)[1] == {first}

    third = _retrain(feeds, NIGHTS[2], folder, state_location)
    assert third["promoted"] is True and third["noop"] is False
    assert third["champion_before"] == first
    assert third["reason"] == (
        "the challenger has the champion's config, which the backtest would "
        "compare with itself: promoted"
    )
    # the backtest of the challenger alone: a champion's line would be the
    # same numbers, the config compared with itself
    metrics = third["metrics"]
    assert isinstance(metrics, dict) and metrics.keys() == {"challenger", "bgnbd_gg"}
    assert (models / "CURRENT").read_text() == f"{third['champion']}\n"
    latest, versions, _ = _published(state_location)
    assert latest == datetime.date(2023, 6, 30) and versions == {third["champion"]}


def _refused(
    feeds: dict[str, Path],
    folder: Path,
    *extra: str,
    exit_code: int = 1,
    state: Path | str | None = None,
) -> str:
    """The last stderr line of a rollback that must change nothing: no file
    of ``folder``, nor the scores of the store ``state`` (given as
    ``--state``)."""
    before = _files(folder)
    scores = None if state is None else _published(state)
    failed = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(folder / "models"),
        *(() if state is None else ("--state", str(state))), *extra,
    )  # fmt: skip
    assert failed.exit_code == exit_code, failed.output
    assert "Traceback" not in failed.output and failed.stdout == ""
    assert _files(folder) == before
    if state is not None and scores is not None:
        after = _published(state)
        assert after[:2] == scores[:2] and after[2].equals(scores[2])
    last: str = failed.stderr.splitlines()[-1]
    return last


def test_rollback_refuses_without_a_place_to_publish(
    feeds: dict[str, Path], two_nights: tuple[Path, str, str], tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(two_nights[0], tmp_path / "nights"))
    assert _refused(feeds, folder, exit_code=2) == (
        "Error: give --state STORE or --scores-out CSV (or both): a rollback "
        "publishes the version's scores before it makes it current"
    )


def test_rollback_refuses_an_unknown_or_damaged_version(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    assert _refused(feeds, folder, "--to", "nope", state=state_location) == (
        f"Error: {models}: field '--to': value 'nope': no such model version "
        f"in the folder (never written, or pruned; have: {first}, {second})"
    )
    meta = models / first / "metadata.json"
    meta.write_text("{")
    assert _refused(feeds, folder, state=state_location) == (
        f"Error: {meta}: cannot roll back to {first}: not valid JSON (Expecting "
        "property name enclosed in double quotes at line 1 column 2)"
    )
    shutil.rmtree(models / first)  # as a prune does
    assert _refused(feeds, folder, state=state_location) == (
        f"Error: {models / 'RETRAIN.json'}: cannot tell the champion before "
        f"{second}: the champion before it, {first}, is no longer in the "
        f"folder (pruned); name the version with --to VERSION (have: {second})"
    )
    assert _published(state_location)[1] == {second}


def test_rollback_refuses_what_the_record_cannot_tell(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    state = ("--state", str(state_location))
    current = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), *state, "--to", second,
    )  # fmt: skip
    assert current.exit_code == 0, current.output
    assert current.stdout == f"{second} is already the current model: nothing to do\n"
    done = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), *state,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        f"rolled back to {first} (from {second}): published 700 scores as of "
        f"{NIGHTS[1]}\n{KEPT}"
    )
    # a day before the version's own as-of date (rolling forward again): scores of days it trained on
    early = _refused(
        feeds, folder, "--to", second, "--as-of", NIGHTS[0], state=state_location
    )
    assert early == (
        f"Error: field '--as-of': value '{NIGHTS[0]}': before {second}'s own "
        f"as-of date {NIGHTS[1]}: its scores would forecast days it was "
        "trained on"
    )
    assert _refused(feeds, folder, state=state_location) == (
        f"Error: {models / 'RETRAIN.json'}: cannot tell the champion before "
        f"{first}: tierflow cltv rollback made it current in place of "
        f"{second}; name the version with --to VERSION (have: {first}, {second})"
    )
    (models / "RETRAIN.json").unlink()
    assert _refused(feeds, folder, state=state_location) == (
        f"Error: {models}: cannot tell the champion before {first}: no retrain "
        "is recorded (no RETRAIN.json); name the version with --to VERSION "
        f"(have: {first}, {second})"
    )


def _older_record(models: Path, **changes: object) -> None:
    """``RETRAIN.json`` as a tierflow before ``champion_before`` wrote it."""
    path = models / "RETRAIN.json"
    record = json.loads(path.read_text())
    record.pop("champion_before", None)
    path.write_text(json.dumps(record | changes, indent=2) + "\n")


def test_rollback_of_an_older_record_finds_the_champion_by_its_history(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    _older_record(models)
    rolled = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), "--state", str(state_location),
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout == (
        f"rolled back to {first} (from {second}): published 700 scores as of "
        f"{NIGHTS[1]}\n{KEPT}"
    )
    assert (models / "CURRENT").read_text() == f"{first}\n"
    assert _published(state_location)[:2] == (datetime.date(2023, 6, 29), {first})


def test_rollback_of_an_older_record_refuses_what_its_history_cannot_tell(
    feeds: dict[str, Path], two_nights: tuple[Path, str, str], tmp_path: Path
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, tmp_path / "state.db")
    _, first, second = two_nights
    models = folder / "models"
    record = json.loads((models / "RETRAIN.json").read_text())
    figures = record["history_check"]["champion"]
    described = (
        f"as of {NIGHTS[0]}, {figures['rows']} rows, {figures['customers']} "
        f"customers, spend {figures['spend']}"
    )
    prefix = (
        f"Error: {models / 'RETRAIN.json'}: cannot tell the champion before {second}: "
    )
    have = f"; name the version with --to VERSION (have: {first}, {second})"
    # a history the first model does not have (another day's figures)
    _older_record(models, history_check={**record["history_check"], "as_of": NIGHTS[1]})
    assert _refused(feeds, folder, state=tmp_path / "state.db") == (
        f"{prefix}the champion before it (as of {NIGHTS[1]}, {figures['rows']} "
        f"rows, {figures['customers']} customers, spend {figures['spend']}, as "
        "its record of an older tierflow gives it) is no longer in the folder "
        f"(pruned){have}"
    )
    # a champion saved before the history guard: no figures
    skipped = dict.fromkeys(record["history_check"]) | {"status": "skipped"}
    _older_record(models, history_check=skipped)
    assert _refused(feeds, folder, state=tmp_path / "state.db") == (
        f"{prefix}its record, of an older tierflow, names no champion before "
        "it, nor gives its history figures (the first model, or a champion "
        f"saved before the history guard){have}"
    )
    # two versions of that history: a copy of the first under another name
    _older_record(models, history_check=record["history_check"])
    twin = f"{first[:-1]}{'0' if first[-1] != '0' else '1'}"
    shutil.copytree(models / first, models / twin)
    both = ", ".join(sorted((first, twin)))
    assert _refused(feeds, folder, state=tmp_path / "state.db") == (
        f"{prefix}its record, of an older tierflow, gives the champion before "
        f"it only by its history ({described}), which {both} all have; name "
        f"the version with --to VERSION (have: {', '.join(sorted((first, twin, second)))})"
    )


def _feed(feeds: dict[str, Path], folder: Path, name: str, rows: pd.DataFrame) -> Path:
    path = folder / f"{name}.csv"
    rows.to_csv(path, index=False)
    return path


def test_rollback_refuses_a_log_the_version_was_not_trained_on(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    rows = pd.read_csv(feeds[NIGHTS[1]], dtype={"customer_id": str})
    cents = _feed(feeds, folder, "cents", rows.assign(amount=rows["amount"] * 100))
    customers = sorted(set(rows["customer_id"]))
    # another shop's log: a fifth of the customers are not the version's
    others = rows.loc[~rows["customer_id"].isin(customers[: len(customers) // 5])]
    other = _feed(feeds, folder, "others", others)
    for feed, why, figures in (
        (
            cents,
            f"amounts average 2203 a row up to {NIGHTS[1]}, 99.9 times the "
            f"22.05 of the log {first} was trained on: another currency unit? "
            "Its spend features are in that log's unit; roll back with a log in it",
            "",
        ),
        (
            other,
            f"history up to the version's as-of date {NIGHTS[0]} was lost beyond "
            "tolerance (1 % in total, 10 % in a week), version's -> the log's: "
            "rows 3999 -> 3085 (-22.86 %), customers 700 -> 560 (-20.00 %), "
            "spend 88180.52 -> 68903.23 (-21.86 %); 67 weeks lost beyond 10 %",
            "and 64 more: the log is not the history it was trained on "
            "(--accept-history-loss goes on)",
        ),
    ):
        before = _files(folder)
        scores = _published(state_location)
        failed = _run(
            "rollback", "--transactions", str(feed), "--model-dir",
            str(folder / "models"), "--state", str(state_location),
            "--scores-out", str(folder / "out.csv"),
        )  # fmt: skip
        assert failed.exit_code == 1, failed.output
        assert "Traceback" not in failed.output and failed.stdout == ""
        line = failed.stderr.splitlines()[-1]
        assert line.startswith(f"Error: {feed}: cannot roll back to {first}: {why}")
        assert line.endswith(figures or why)
        assert _files(folder) == before and not (folder / "out.csv").exists()
        after = _published(state_location)
        assert after[:2] == scores[:2] and after[2].equals(scores[2])
    assert (folder / "models" / "CURRENT").read_text() == f"{second}\n"


def test_rollback_refuses_a_truncated_model_file(
    feeds: dict[str, Path], two_nights: tuple[Path, str, str], tmp_path: Path
) -> None:
    folder = _copy(two_nights, tmp_path, feeds, tmp_path / "state.db")
    _, first, _ = two_nights
    model = folder / "models" / first / "model.joblib"
    model.write_bytes(model.read_bytes()[:1000])
    line = _refused(feeds, folder, state=tmp_path / "state.db")
    assert line.startswith(
        f"Error: {model}: cannot roll back to {first}: cannot load the model ("
    )
    assert line.endswith(
        "the file is damaged or was written by an incompatible version: train again"
    )


def test_rollback_publishes_the_day_the_store_serves(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    """Without a record of the day, the default was the version's own as-of
    date: its scores went under a day before the store's latest, which the
    store kept and never served, the model rolled back from serving on."""
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    (models / "RETRAIN.json").unlink()
    assert _published(state_location)[:2] == (datetime.date(2023, 6, 29), {second})
    early = _refused(
        feeds, folder, "--to", first, "--as-of", NIGHTS[0], state=state_location
    )
    assert early == (
        f"Error: field '--as-of': value '{NIGHTS[0]}': before the state "
        f"store's latest scores, as of {NIGHTS[1]}: it serves that day's, so "
        f"{first}'s of an earlier day would never be served ({second}'s would "
        f"go on being served); roll back as of {NIGHTS[1]} or later"
    )
    rolled = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), "--state", str(state_location), "--to", first,
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout == (
        f"rolled back to {first} (from {second}): published 700 scores as of "
        f"{NIGHTS[1]}\n{KEPT}"
    )
    assert _published(state_location)[:2] == (datetime.date(2023, 6, 29), {first})


def test_rollback_of_an_older_record_takes_only_the_champions_recipe(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    """A model of the champion's day and log but another config (a ``cltv
    train`` of another seed) has the champion's history figures: with the
    champion pruned it was taken for it, and with both kept neither was.
    The challenger took the champion's recipe, so the champion is the one
    with the current model's."""
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    trained = _run(
        "train", "--transactions", str(feeds[NIGHTS[0]]), "--as-of", NIGHTS[0],
        "--horizon-days", "60", "--seed", "7",
        "--model-dir", str(folder / "scratch"), "--json",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    other = json.loads(trained.stdout)["version"]
    assert other not in (first, second)
    shutil.copytree(folder / "scratch" / other, models / other)
    meta = json.loads((models / other / "metadata.json").read_text())
    figures = json.loads((models / first / "metadata.json").read_text())
    assert meta["data"]["history"] == figures["data"]["history"]
    _older_record(models)
    kept = sorted((first, second, other))
    prefix = (
        f"Error: {models / 'RETRAIN.json'}: cannot tell the champion before {second}: "
    )
    described = (
        f"as of {NIGHTS[0]}, {FIRST_NIGHT['rows']} rows, "
        f"{FIRST_NIGHT['customers']} customers, spend {FIRST_NIGHT['spend']}"
    )
    # a champion line of the record's backtest that is not the challenger's:
    # the champion had another config, which the record does not give
    record = json.loads((models / "RETRAIN.json").read_text())
    line = record["metrics"]["challenger"]
    _older_record(
        models, metrics={**record["metrics"], "champion": line | {"spearman": 0.0}}
    )
    assert _refused(feeds, folder, state=state_location) == (
        f"{prefix}its record, of an older tierflow, gives the champion before "
        f"it only by its history ({described}) and its backtest, whose champion "
        f"line is not the challenger's: it had another config than {second}, "
        "which the record does not give; name the version with --to VERSION "
        f"(have: {', '.join(kept)})"
    )
    _older_record(models, metrics={**record["metrics"], "champion": line})
    backup = Path(shutil.copytree(models, folder / "backup"))
    shutil.rmtree(models / first)  # as a prune does
    assert _refused(feeds, folder, state=state_location) == (
        f"{prefix}the champion before it ({described}, as its record of an older "
        f"tierflow gives it) is no longer in the folder (pruned); {other} has "
        f"its history but not the config and horizon of {second}, which took "
        "the champion's; name the version with --to VERSION (have: "
        f"{', '.join(sorted((second, other)))})"
    )
    assert (models / "CURRENT").read_text() == f"{second}\n"
    shutil.rmtree(models)
    shutil.copytree(backup, models)
    rolled = _run(
        "rollback", "--transactions", str(feeds[NIGHTS[1]]),
        "--model-dir", str(models), "--state", str(state_location),
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout.startswith(f"rolled back to {first} (from {second}): ")
    assert (models / "CURRENT").read_text() == f"{first}\n"
    assert _published(state_location)[1] == {first}


def _lossy(feeds: dict[str, Path], folder: Path) -> Path:
    """The second night's log with every 20th row of the first night's
    history missing: 5 % of its rows, about as much of each week's."""
    rows = pd.read_csv(feeds[NIGHTS[1]], dtype={"customer_id": str})
    old = rows.index[rows["order_date"] <= NIGHTS[0]]
    return _feed(feeds, folder, "lossy", rows.drop(old[::20]))


def test_rollback_tolerates_and_accepts_a_history_loss_as_retrain_does(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    """``--max-history-loss`` and ``--accept-history-loss``, retrain's: a
    log that lost 5 % of the version's rows is refused at the default 1 %,
    rolled back at 0.1 and with the override, the loss reported in text
    and JSON."""
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    models = folder / "models"
    lossy = _lossy(feeds, folder)

    def rollback(*extra: str) -> Result:
        return _run(
            "rollback", "--transactions", str(lossy), "--model-dir", str(models),
            "--state", str(state_location), *extra,
        )  # fmt: skip

    before = _files(folder)
    refused = rollback()
    assert refused.exit_code == 1, refused.output
    assert refused.stdout == "" and "Traceback" not in refused.output
    line = refused.stderr.splitlines()[-1]
    assert line.startswith(
        f"Error: {lossy}: cannot roll back to {first}: history up to the "
        f"version's as-of date {NIGHTS[0]} was lost beyond tolerance (1 % in "
        "total, 10 % in a week), version's -> the log's: rows 3999 -> 3799 "
        "(-5.00 %), customers 700 -> "
    )
    assert line.endswith(
        ": the log is not the history it was trained on (--accept-history-loss goes on)"
    )
    assert _files(folder) == before
    assert _published(state_location)[1] == {second}
    assert rollback("--max-history-loss", "1.5").exit_code == 2

    tolerated = rollback("--max-history-loss", "0.1", "--json")
    assert tolerated.exit_code == 0, tolerated.output
    result = json.loads(tolerated.stdout)
    assert (result["champion"], result["done"]) == (first, True)
    check = result["history_check"]
    assert (check["status"], check["max_history_loss"]) == ("passed", 0.1)
    assert check["champion"] == FIRST_NIGHT and check["today"]["rows"] == 3799
    assert (check["lost"]["rows"], check["lost_share"]["rows"]) == (200, 0.050013)
    assert (models / "CURRENT").read_text() == f"{first}\n"
    assert _published(state_location)[1] == {first}

    # forward again, to the second night's model, on purpose
    accepted = rollback("--to", second, "--accept-history-loss")
    assert accepted.exit_code == 0, accepted.output
    lines = accepted.stdout.splitlines()
    # the customers whose only rows were lost are not scored
    assert lines[0] == (
        f"rolled back to {second} (from {first}): published 685 scores as of "
        f"{NIGHTS[1]}"
    )
    assert lines[1].startswith(
        f"history up to {NIGHTS[1]} lost beyond tolerance, rolled back as asked "
        "(version's -> the log's): rows "
    )
    assert (
        "WARNING tierflow.cli.cltv: history check accepted: going on as asked: "
        f"history up to the version's as-of date {NIGHTS[1]} was lost beyond "
        "tolerance (1 % in total, 10 % in a week), version's -> the log's: "
    ) in accepted.stderr
    assert (models / "CURRENT").read_text() == f"{second}\n"
    assert _published(state_location)[1] == {second}


def test_rollback_refuses_a_log_of_other_customers_of_the_same_size(
    feeds: dict[str, Path],
    two_nights: tuple[Path, str, str],
    tmp_path: Path,
    state_location: Path | str,
) -> None:
    """Every id renumbered: as many rows, customers and spend as the
    version's history, which the counts passed; the customer digest refuses
    it, and ``--accept-history-loss`` goes on."""
    folder = _copy(two_nights, tmp_path, feeds, state_location)
    _, first, second = two_nights
    rows = pd.read_csv(feeds[NIGHTS[1]], dtype={"customer_id": str})
    other = _feed(
        feeds, folder, "renumbered", rows.assign(customer_id="X" + rows["customer_id"])
    )
    args = (
        "rollback", "--transactions", str(other), "--model-dir",
        str(folder / "models"), "--state", str(state_location),
    )  # fmt: skip
    before = _files(folder)
    refused = _run(*args)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.splitlines()[-1] == (
        f"Error: {other}: cannot roll back to {first}: the customers up to the "
        f"version's as-of date {NIGHTS[0]} are another set than the version's "
        "(700 on both sides, no rows or spend added, other ids: another "
        "customer base, or ids renumbered), version's -> the log's: rows 3999 "
        "-> 3999 (+0.00 %), customers 700 -> 700 (+0.00 %), spend 88180.52 -> "
        "88180.52 (+0.00 %): the log is not the history it was trained on "
        "(--accept-history-loss goes on)"
    )
    assert _files(folder) == before
    assert _published(state_location)[1] == {second}
    accepted = _run(*args, "--accept-history-loss", "--json")
    assert accepted.exit_code == 0, accepted.output
    check = json.loads(accepted.stdout)["history_check"]
    assert (check["status"], check["customers_replaced"]) == ("accepted", True)
    assert _published(state_location)[1] == {first}
