"""The CLTV benchmark's data sets, tables and the Spearman study, on toy inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tierflow.benchmarks.cltv_bench import (
    dataset_splits,
    main,
    protocol_markdown,
    sample_history_data,
)
from tierflow.benchmarks.cltv_studies import spearman_study
from tierflow.cltv.evaluate import BASELINE_ROWS, MODEL_NAME, RAW_NAME
from tierflow.cltv.protocol import SeedRun, Split, SplitResult
from tierflow.data.transactions import day_number, day_to_date


def test_sample_history_and_its_rolling_origins() -> None:
    data = sample_history_data(5, n_customers=500)
    log = data.transactions
    assert str(day_to_date(log.first_day).date()) >= "2024-01-01"
    assert str(day_to_date(log.last_day).date()) <= "2025-12-31"
    splits = dataset_splits("history-5", data)
    assert [s.holdout_days for s, _ in splits] == [90] * 4
    assert not any(strict for _, strict in splits)
    assert splits[-1][0].as_of_day + 90 == log.last_day
    cdnow_like = dataset_splits("cdnow", data)
    assert cdnow_like[0][0] == Split("standard", day_number("1997-09-30"), 273)
    assert cdnow_like[0][1] is True


def _row(top10: float, mae: float) -> dict[str, float]:
    return {
        "mae": mae,
        "rmse": 2 * mae,
        "spearman": 0.4,
        "top10_capture": top10,
        "top20_capture": top10 + 0.1,
        "gains_area_30": top10,
        "bias_pct": -5.0,
        "n_customers": 100.0,
    }


def _one_split(
    dataset: str, mae: tuple[float, float, float], unjudged: str | None = None
) -> SplitResult:
    """One seed of rolling-1 (as of 1998-04-01, 90 days): our model, its raw
    forecast and every baseline row with these MAEs (top-10 % 0.52, 0.52
    and 0.50)."""
    ours, raw, baselines = mae
    metrics = {MODEL_NAME: _row(0.52, ours), RAW_NAME: _row(0.52, raw)}
    metrics |= {name: _row(0.50, baselines) for name in BASELINE_ROWS}
    split = Split("rolling-1", day_number("1998-04-01"), 90)
    return SplitResult(dataset, split, (SeedRun(0, 1.0, metrics),), unjudged=unjudged)


def test_protocol_markdown_names_every_row_and_target() -> None:
    result = _one_split("cdnow", (10.0, 11.0, 10.5))
    text = protocol_markdown([(result, False)], "make bench-cltv")
    assert "| cdnow | rolling-1 | 1998-04-01 | 90 d | 3/3 |" in text
    assert "| cltv, worst of 1 seed | 10.00 |" in text
    for name in BASELINE_ROWS:
        assert f"| {name} |" in text
    assert "PASS top10_capture >= best baseline (52.00 % vs 50.00 %)" in text
    assert "PASS mae <= best baseline (10.000 vs 10.500)" in text


def test_spearman_study_on_a_toy_holdout() -> None:
    # 6 of 10 spend nothing; the naive rule ties 5 at 0, 4 of them right
    frame = pd.DataFrame(
        {
            "actual_spend": [0, 0, 0, 0, 0, 0, 5, 10, 20, 40],
            "naive_run_rate": [0, 0, 0, 0, 1, 0, 2, 0, 3, 4],
            "cltv_raw": [1, 2, 3, 1.5, 2.5, 4, 5, 6, 7, 8],
            "bgnbd_gg": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        },
        dtype=np.float64,
    )
    study = spearman_study(frame)
    assert study.share_no_purchase == pytest.approx(0.6)
    assert study.naive_zero_share == pytest.approx(0.6)
    assert study.naive_zero_no_purchase == pytest.approx(5 / 6)
    assert study.rows["cltv_raw"].auc_buyer == pytest.approx(1.0)
    assert study.rows["bgnbd_gg"].top10 == pytest.approx(40 / 75)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["protocol", "--datasets", "cdnow", "--seeds", "x"], "'--seeds': 'x'"),
        (["protocol", "--datasets", "cdnow", "--seeds", "0,,1"], "'--seeds': ''"),
        (["protocol", "--datasets", "history-x", "--seeds", "0"], "'history-x'"),
        (["protocol", "--datasets", " , ", "--seeds", "0"], "no data set"),
        (["level", "--datasets", "history-x"], "'history-x'"),
        (["sweep", "--holdouts", "9x"], "'--holdouts': '9x'"),
        (["sweep", "--holdouts", "0"], "'--holdouts': '0'"),
        (["sweep", "--first", "1997-13-01"], "month 13 out of range"),
        (["sweep", "--last", "1998/03/31"], "'1998/03/31'"),
        (["cdnow", "--as-of", "1997/09/30"], "'1997/09/30'"),
        (["cv", "--as-of", "nope"], "'nope'"),
    ],
)
def test_bench_options_are_usage_errors_not_tracebacks(
    args: list[str], says: str
) -> None:
    # each of these raised ValueError (or pandas' DateParseError) with a
    # traceback; cdnow --as-of 1997/09/30 ran and wrote cdnow-1997/09/30.json
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert says in result.output


def test_spearman_of_a_file_that_is_not_predictions_names_file_and_column(
    tmp_path: Path,
) -> None:
    # a transaction log given by mistake: KeyError 'actual_spend', a traceback
    path = tmp_path / "log.csv"
    path.write_text("customer_id,order_date,amount\n007,2024-01-02,5.0\n")
    result = CliRunner().invoke(main, ["spearman", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Error: " in result.output
    assert f"{path}: row 1: field 'actual_spend': missing column" in result.output


def test_spearman_of_an_evaluation_with_a_blank_value_names_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "predictions.csv"
    path.write_text(
        "customer_id,predicted_spend,actual_spend,bgnbd_gg,naive_run_rate,"
        "cltv_raw,segment\n"
        "001,1,0,1,0,1,gold\n002,2,x,2,1,2,silver\n"
    )
    result = CliRunner().invoke(main, ["spearman", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}: row 3: field 'actual_spend': value 'x'" in result.output


def test_a_split_whose_holdout_judges_nothing_says_so() -> None:
    """A user's log whose holdout returns nearly cancel its purchases:
    ``tierflow cltv protocol`` writes the metrics, not the targets."""
    why = "the holdout's net spend (0.01) is under 5 % of its purchases (1000.00)"
    result = _one_split("shop", (10.0, 11.0, 10.5), why)
    text = protocol_markdown([(result, False)], "tierflow cltv protocol")
    assert "| shop | rolling-1 | 1998-04-01 | 90 d | not judged (below) |" in text
    assert f"Targets not judged: {why}." in text and "PASS" not in text
    record = result.to_json(strict=False)
    assert "targets" not in record and record["targets_not_judged"] == why


def test_protocol_markdown_shows_errors_of_a_log_in_small_units() -> None:
    """A log whose amounts are in thousands of a unit (MAE 0.0176): the
    tables' MAE and RMSE and the MAE target get the digits that tell the
    rows apart, as ``cltv evaluate``'s table does (before: every row read
    0.02 | 0.0 and the target "0.018 vs 0.017"); larger units unchanged."""
    result = _one_split("milli", (0.01760, 0.01869, 0.01749))
    text = protocol_markdown([(result, False)], "tierflow cltv protocol")
    assert "| cltv, worst of 1 seed | 0.01760 | 0.03520 | 0.4000 |" in text
    assert "| bgnbd_gg | 0.01749 | 0.03498 | 0.4000 |" in text
    assert "FAIL mae <= best baseline (0.01760 vs 0.01749)" in text
