"""``tierflow cltv protocol``: the rolling-origin protocol on a user's own log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.cli.test_cltv import flat_window_log, strict_json
from tests.cltv.test_protocol import FAST
from tierflow.cli.main import cli
from tierflow.cltv.model import CLTVConfig
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["cltv", "protocol", *args])


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small model of the protocol tests (a split in a second or two)."""

    def config(level: str, blend: bool) -> CLTVConfig:
        return FAST.with_params(level=level, blend=blend)

    monkeypatch.setattr("tierflow.cli.cltv_cmd._protocol_config", config)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("protocol") / "shop.csv"
    write_transactions(generate_transactions(800, seed=4), path)
    return path


def _year_log(tmp_path: Path) -> Path:
    """A log spanning 365 days, 2024-01-01 to 2024-12-31."""
    path = tmp_path / "year.csv"
    path.write_text(
        "customer_id,order_date,amount\nA,2024-01-01,10\nB,2024-06-01,20\n"
        "A,2024-12-31,5\n"
    )
    return path


def test_a_log_too_short_for_the_origins_is_one_clear_error(tmp_path: Path) -> None:
    path = _year_log(tmp_path)
    result = _run("--transactions", str(path), "--origins", "3")
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {path}: field '--origins': value 3: the log spans 365 days "
        "(2024-01-01 to 2024-12-31): 3 origins one 90-day holdout apart need "
        "450, 180 days of history before the first as-of date (the protocol's "
        "minimum, its built-in data sets' too) and 3 holdouts after it; at "
        "most 2 fit (--origins 2, or a shorter --holdout-days)\n"
    )
    result = _run(
        "--transactions", str(path), "--origins", "1", "--holdout-days", "200"
    )
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {path}: field '--origins': value 1: the log spans 365 days "
        "(2024-01-01 to 2024-12-31): 1 origin one 200-day holdout apart need "
        "380, 180 days of history before the first as-of date (the protocol's "
        "minimum, its built-in data sets' too) and 1 holdout after it; none "
        "fits (a shorter --holdout-days)\n"
    )


# "3_0", "٣": int() read them as 30 and 3
@pytest.mark.parametrize(
    "seeds", ["", "0-", "4-1", "a", "0,,1", "-1", "3_0", "0-٣", "３"]
)
def test_bad_seeds_are_a_usage_error(tmp_path: Path, seeds: str) -> None:
    result = _run("--transactions", str(_year_log(tmp_path)), "--seeds", seeds)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seeds'" in result.output
    assert "not a seed or a range of seeds (e.g. 0-4 or 0,1,2)" in result.output


def test_a_bad_row_names_file_row_and_field_as_evaluate_does(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,order_date,amount\nA,2024-01-01,ten\n")
    protocol = _run("--transactions", str(path))
    evaluate = CliRunner().invoke(
        cli,
        ["cltv", "evaluate", "--transactions", str(path), "--as-of", "2024-01-01",
         "--holdout-days", "9"],
    )  # fmt: skip
    assert protocol.exit_code == evaluate.exit_code == 1
    assert protocol.output == evaluate.output
    assert (
        protocol.output.startswith(f"Error: {path}: ") and "amount" in protocol.output
    )


def test_splits_on_a_generated_log_read_nothing_after_their_as_of_dates(
    log: Path, tmp_path: Path, fast: None
) -> None:
    """Two origins one 60-day holdout apart, the latest holdout ending on the
    log's last day, two seeds: the tables and files of the built-in
    protocol. Every amount after the first as-of date doubled changes that
    split's actual spend, never its forecasts."""
    tx = pd.read_csv(log, dtype={"customer_id": str})
    last = pd.Timestamp(tx["order_date"].max())

    def days(n: int) -> str:
        return str((last - pd.Timedelta(days=n)).date())

    out = tmp_path / "out"
    args = ["--transactions", str(log), "--origins", "2", "--holdout-days", "60"]
    result = _run(*args, "--seeds", "0-1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### Rolling-origin protocol")
    assert f"| shop | rolling-2 | {days(120)} | 60 d |" in result.stdout
    assert f"| shop | rolling-1 | {days(60)} | 60 d |" in result.stdout
    assert "| cltv, worst of 2 seeds |" in result.stdout
    assert "Targets (worst seed): " in result.stdout
    record = json.loads((out / "protocol.json").read_text())
    assert [(r["split"], r["as_of"], r["holdout_end"]) for r in record] == [
        ("rolling-2", days(120), days(60)),
        ("rolling-1", days(60), days(0)),
    ]
    for r in record:
        assert [s["seed"] for s in r["seeds"]] == [0, 1]
        assert set(r["targets"]) == {
            "top10_capture >= best baseline",
            "top20_capture >= best baseline",
            "mae <= best baseline",
        }
        metrics = json.loads((out / f"shop-{r['split']}" / "metrics.json").read_text())
        assert metrics["as_of"] == r["as_of"] and metrics["holdout_complete"]
    assert (out / "protocol.md").read_text() == result.stdout
    # the same past, another future: every amount after the first as-of date
    # doubled (the log's first and last days are the same, so are the splits)
    later = pd.to_datetime(tx["order_date"]) > pd.Timestamp(days(120))
    changed = tx.assign(amount=np.where(later, 2 * tx["amount"], tx["amount"]))
    path = tmp_path / "shop.csv"
    changed.to_csv(path, index=False)
    other = tmp_path / "other"
    again = _run("--transactions", str(path), *args[2:], "--seeds", "0", "--out",
                 str(other))  # fmt: skip
    assert again.exit_code == 0, again.output
    a = pd.read_csv(out / "shop-rolling-2" / "predictions.csv")
    b = pd.read_csv(other / "shop-rolling-2" / "predictions.csv")
    forecasts = [c for c in a.columns if c not in ("customer_id", "actual_spend")]
    pd.testing.assert_frame_equal(a[forecasts], b[forecasts])
    np.testing.assert_allclose(b["actual_spend"], 2 * a["actual_spend"])
    # the later split trained on the doubled amounts: its forecasts moved
    a = pd.read_csv(out / "shop-rolling-1" / "predictions.csv")
    b = pd.read_csv(other / "shop-rolling-1" / "predictions.csv")
    assert not np.allclose(a["predicted_spend"], b["predicted_spend"])


def test_json_prints_the_splits(log: Path, fast: None) -> None:
    result = _run("--transactions", str(log), "--origins", "1", "--holdout-days",
                  "60", "--seeds", "3", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (split,) = json.loads(result.stdout)
    assert (split["dataset"], split["split"], split["holdout_days"]) == (
        "shop",
        "rolling-1",
        60,
    )
    assert [s["seed"] for s in split["seeds"]] == [3]


def test_a_huge_seed_range_is_a_usage_error_at_once(tmp_path: Path) -> None:
    """QA: ``--seeds 0-99999999`` built a list of 10^8 seeds (each checked
    against the others) before any data was read: it hung. At most 100
    seeds, as at most 100 origins."""
    path = str(_year_log(tmp_path))
    result = _run("--transactions", path, "--seeds", "0-2147483647")
    assert result.exit_code == 2, result.output
    assert "'0-2147483647': at most 100 seeds" in result.output
    result = _run("--transactions", path, "--seeds", "0-99,100")
    assert result.exit_code == 2, result.output
    assert "'100': at most 100 seeds" in result.output


def test_a_previous_runs_split_folders_are_not_left_to_mislead(
    log: Path, tmp_path: Path, fast: None
) -> None:
    """QA: --origins 2 then --origins 1 into the same --out left
    shop-rolling-2/ beside a protocol.json without it. A split folder of a
    previous run (only the protocol's files in it) is removed and said on
    stderr; a folder holding anything else is left, and said."""
    out = tmp_path / "out"
    args = ["--transactions", str(log), "--holdout-days", "60", "--seeds", "0"]
    assert _run(*args, "--origins", "2", "--out", str(out)).exit_code == 0
    kept = out / "other-rolling-7"
    kept.mkdir()
    (kept / "mine.txt").write_text("x")
    result = _run(*args, "--origins", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "other-rolling-7",
        "protocol.json",
        "protocol.md",
        "shop-rolling-1",
    ]
    assert (
        f"removed {out / 'shop-rolling-2'}: a previous run's split, not in "
        "this run's protocol.json" in result.stderr
    )
    assert (
        f"left {kept}: not in this run's protocol.json, but it holds files "
        "the protocol does not write (mine.txt)" in result.stderr
    )


def test_a_gap_of_months_that_empties_a_holdout_is_one_clear_error_at_once(
    tmp_path: Path,
) -> None:
    """QA: a log without purchases from mid-August to 1 November, 3 origins
    60 days apart: rolling-2's holdout holds nothing. The error named
    ``field 'as_of'`` (no such option here) after the older split had
    trained; it names --origins and the split before any training."""
    days = pd.date_range("2024-01-01", "2024-12-31")
    days = days[(days < "2024-08-15") | (days > "2024-11-01")]
    path = tmp_path / "gap.csv"
    dates = days.strftime("%Y-%m-%d")
    pd.DataFrame(
        {"customer_id": ["A", "B"] * len(dates), "order_date": dates.repeat(2)}
    ).assign(amount=1.0).to_csv(path, index=False)
    args = ["--transactions", str(path), "--holdout-days", "60", "--seeds", "0"]
    result = _run(*args, "--origins", "3")
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {path}: field '--origins': value 3: split rolling-2's holdout "
        "(2024-09-03 to 2024-11-01) holds no transactions to evaluate against; "
        "the latest 1 fit (--origins 1, or another --holdout-days)\n"
    )
    result = _run(*args, "--origins", "2")
    assert result.exit_code == 1, result.output
    assert "the latest 1 fit (--origins 1, or another" in result.output


def test_a_holdout_with_only_new_customers_is_refused_before_any_split_trains(
    tmp_path: Path,
) -> None:
    """QA: a log whose last 60 days hold only customers who never bought
    before: rolling-1's holdout has transactions but no spend by a customer
    known on its as-of date. The older splits trained, printed their tables
    and wrote their folders, then rolling-1 failed on ``field 'as_of'`` (a
    generated log of 3,000 customers); now one line names --origins and the
    split before anything trains or is written."""
    days = pd.date_range("2024-01-01", "2024-12-31")
    dates = days.strftime("%Y-%m-%d")
    ids = np.where(days > "2024-11-01", "N", "A").astype(object)
    frame = pd.DataFrame(
        {
            "customer_id": np.r_[ids, np.where(ids == "N", "M", "B")],
            "order_date": np.r_[dates, dates],
        }
    ).assign(amount=1.0)
    path = tmp_path / "newonly.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    result = _run(
        "--transactions", str(path), "--holdout-days", "60", "--seeds", "0",
        "--origins", "2", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {path}: field '--origins': value 2: split rolling-1's holdout "
        "(2024-11-02 to 2024-12-31) holds no spend by a customer known on its "
        "as-of date (only new customers or returns) to evaluate against; "
        "none fits (another --holdout-days)\n"
    )
    assert not out.exists()


def test_the_recorded_command_keeps_the_data_options(
    log: Path, tmp_path: Path, fast: None
) -> None:
    """QA: protocol.md's ``Command:`` dropped --format and --skip-bad-rows
    (and --profiles, --browsing): a cdnow log's command did not re-run."""
    result = _run("--transactions", str(log), "--format", "csv", "--skip-bad-rows",
                  "--origins", "1", "--holdout-days", "60", "--seeds", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        f"Command: `tierflow cltv protocol --transactions {log} --format csv "
        "--skip-bad-rows --origins 1 --holdout-days 60 --seeds 0`" in result.stdout
    )


def test_its_progress_is_log_records_as_every_commands_is(
    log: Path, fast: None
) -> None:
    """QA: each seed's time and each split's table went to stderr as raw
    text: ``--log-format json`` left lines no JSON reader takes, and
    ``--log-level warning`` did not silence them (docs/cli.md, "Logs and
    progress"). They are log records now; the tables stay on stdout."""
    args = ["cltv", "protocol", "--transactions", str(log), "--origins", "1",
            "--holdout-days", "60", "--seeds", "0"]  # fmt: skip
    result = CliRunner().invoke(cli, ["--log-format", "json", *args])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    messages = [r["message"] for r in records if r["level"] == "info"]
    assert any(m.startswith("shop rolling-1 (") and "seed 0:" in m for m in messages)
    assert any(m.startswith("#### shop, rolling-1:") for m in messages)
    assert "#### shop, rolling-1:" in result.stdout
    quiet = CliRunner().invoke(cli, ["--log-level", "warning", *args])
    assert quiet.exit_code == 0, quiet.output
    assert "seed 0:" not in quiet.stderr and "####" not in quiet.stderr
    assert "#### shop, rolling-1:" in quiet.stdout


def test_json_is_json_when_a_metric_is_nan(tmp_path: Path, fast: None) -> None:
    """QA: a holdout in which every known customer spent the same has a NaN
    Spearman; ``--json`` and protocol.json held ``NaN`` (not JSON) where
    ``cltv evaluate --json`` and the split's metrics.json hold ``null``."""
    out = tmp_path / "out"
    result = _run("--transactions", str(flat_window_log(tmp_path)), "--origins",
                  "1", "--holdout-days", "20", "--seeds", "0", "--json",
                  "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in (result.stdout, (out / "protocol.json").read_text()):
        (split,) = strict_json(text)
        assert split["as_of"] == "2023-05-26"
        assert split["seeds"][0]["models"]["cltv"]["spearman"] is None
        assert split["worst_seed"]["spearman"] is None
        assert split["mean"]["bgnbd_gg"]["spearman"] is None
        assert split["worst_seed"]["top10_capture"] == pytest.approx(0.1)


def test_a_split_that_fails_leaves_the_out_folder_as_it_was(
    log: Path, tmp_path: Path, fast: None
) -> None:
    """QA: each split's files were written as soon as it was scored, so a
    later split that failed (here: a purchase of 900,000,000 that its model
    cannot learn from, in the earlier split's holdout) left ``--out`` with
    the new shop-rolling-2/ beside the previous run's protocol.json and
    shop-rolling-1/: protocol.json said rolling-2's MAE was one figure, its
    metrics.json another. The splits are written once every one has run."""
    out = tmp_path / "out"
    args = ["--origins", "2", "--holdout-days", "60", "--seeds", "0", "--out", str(out)]
    assert _run("--transactions", str(log), *args).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) == 8
    frame = pd.read_csv(log, dtype=str)
    spike = frame.iloc[[0]].assign(order_date="2024-10-01", amount="900000000")
    spiked = tmp_path / "other" / log.name  # the same stem: the same folders
    spiked.parent.mkdir()
    pd.concat([frame, spike.assign(order_id="SPIKE")]).to_csv(spiked, index=False)
    result = _run("--transactions", str(spiked), *args)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1].startswith(
        f"Error: {spiked}: field 'amount': the model cannot learn from spend "
        "this uneven"
    )
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_row_far_after_the_rest_does_not_place_the_origins(
    log: Path, tmp_path: Path, fast: None
) -> None:
    """QA: one row dated years after the rest (a typo) put the latest holdout
    after it, where the log holds nothing but that row, and the protocol
    refused to run ("holds no transactions"). The origins are placed from
    where the log's data ends, as without the row, and a note says so once."""
    tx = pd.read_csv(log, dtype={"customer_id": str})
    last = pd.Timestamp(tx["order_date"].max())
    stray = tx.iloc[[0]].assign(order_date="2027-12-30", order_id="O-stray")
    path = tmp_path / "shop.csv"
    pd.concat([tx, stray]).to_csv(path, index=False)
    result = _run("--transactions", str(path), "--origins", "2", "--holdout-days",
                  "60", "--seeds", "0", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [(r["split"], r["holdout_end"]) for r in record] == [
        ("rolling-2", str((last - pd.Timedelta(days=60)).date())),
        ("rolling-1", str(last.date())),
    ]
    assert all(r["holdout_days"] == 60 for r in record)
    note = (
        f"{path}: the latest holdout ends where the log's data does, on "
        f"{last.date()}, not on its latest row's 2027-12-30 (1 row dated after "
        "it, over 90 days past the rest, is not counted as the log's end: a "
        "typo?)"
    )
    assert result.stderr.count(note) == 1, result.stderr
    assert result.stderr.count("the latest holdout ends where") == 1
    # too short a log says where its data ends, not where the stray row is
    short = _run("--transactions", str(path), "--origins", "12", "--seeds", "0")
    assert short.exit_code == 1, short.output
    assert f"(2022-01-01 to {last.date()}; 1 row dated after it," in short.output
