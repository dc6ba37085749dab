"""Evaluation metrics as the CLI contract defines them, and evaluate on CDNOW."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from tierflow.cli.main import cli
from tierflow.cltv import evaluate as evaluate_module
from tierflow.cltv.evaluate import (
    BASELINE_ROWS,
    EVALUATION_FILES,
    METRICS,
    Evaluation,
    best_of,
    evaluate_model,
    gains_area,
    holdout_metrics,
    top_share_capture,
    write_evaluation,
)
from tierflow.cltv.features import CustomerData, load_customer_data
from tierflow.cltv.history import error_format
from tierflow.cltv.model import CLTVConfig
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number

# predictions with a tie straddling the 40 % cut; actual total 20
PRED = np.array([4.0, 3.0, 3.0, 1.0, 0.0])
ACTUAL = np.array([10.0, 0.0, 5.0, 2.0, 3.0])


def test_top_share_capture_splits_ties_pro_rata() -> None:
    assert top_share_capture(PRED, ACTUAL, 0.2) == pytest.approx(10 / 20)
    # 2 of 5 customers: the top one (10) and half of the tied pair (0 + 5) / 2
    assert top_share_capture(PRED, ACTUAL, 0.4) == pytest.approx(12.5 / 20)
    # half a customer: half of the top one
    assert top_share_capture(PRED, ACTUAL, 0.1) == pytest.approx(5 / 20)
    assert top_share_capture(PRED, ACTUAL, 1.0) == pytest.approx(1.0)
    # all tied: every share captures its share
    assert top_share_capture(np.ones(5), ACTUAL, 0.4) == pytest.approx(0.4)
    assert math.isnan(top_share_capture(PRED, np.zeros(5), 0.1))


def test_gains_area_is_the_mean_capture_over_the_top_share() -> None:
    # all tied: capture(s) = s, so the mean over (0, 0.3] is 0.15
    assert gains_area(np.ones(5), ACTUAL, 0.3) == pytest.approx(0.15)
    # 10 customers, one spends everything: capture is s / 0.1 up to 0.1, then 1
    one = np.zeros(10)
    one[0] = 7.0
    assert gains_area(one, one, 0.3) == pytest.approx((0.05 + 0.2) / 0.3)
    assert gains_area(-one, one, 0.3) == pytest.approx(0.0)  # ranked last
    # it agrees with the capture curve integrated numerically
    rng = np.random.default_rng(0)
    pred, act = rng.gamma(0.5, size=200), rng.gamma(0.3, size=200)
    grid = np.linspace(0.0, 0.3, 3001)
    curve = [top_share_capture(pred, act, s) if s > 0 else 0.0 for s in grid]
    assert gains_area(pred, act, 0.3) == pytest.approx(
        np.trapezoid(curve, grid) / 0.3, abs=1e-6
    )
    assert math.isnan(gains_area(PRED, np.zeros(5), 0.3))


def test_best_of_takes_each_metric_from_its_best_row() -> None:
    rows = [
        {"mae": 10.0, "top10_capture": 0.5, "bias_pct": -8.0, "spearman": 0.4},
        {"mae": 11.0, "top10_capture": 0.6, "bias_pct": 3.0, "spearman": float("nan")},
    ]
    assert best_of(rows) == {
        "mae": 10.0,
        "top10_capture": 0.6,
        "bias_pct": 3.0,
        "spearman": 0.4,
    }


def _row(top10: float, top20: float, gains: float, mae: float, bias: float) -> Any:
    return {
        "mae": mae,
        "rmse": 2 * mae,
        "spearman": 0.4,
        "top10_capture": top10,
        "top20_capture": top20,
        "bias_pct": bias,
        "n_customers": 5,
        "gains_area_30": gains,
    }


def test_evaluate_compares_the_model_with_the_best_baseline_row_of_each_metric() -> (
    None
):
    """metrics.json (and --json) name the best baseline row of each target
    metric and say which of the five targets hold; cltv evaluate wrote every
    row but compared none (issue 16: the model against the best baseline row
    of each metric, raw or calibrated)."""
    metrics = {
        "cltv": _row(0.52, 0.68, 0.57, 30.9, -17.0),
        "bgnbd_gg": _row(0.51, 0.66, 0.56, 32.7, -17.3),
        "naive_run_rate": _row(0.50, 0.69, 0.55, 42.3, 44.1),
        "bgnbd_gg_calibrated": _row(0.51, 0.66, 0.56, 30.97, -17.3),
        "naive_run_rate_calibrated": _row(0.50, 0.69, 0.58, 30.8, -17.3),
        "cltv_raw": _row(0.52, 0.68, 0.57, 31.1, -35.7),
    }
    frame = pd.DataFrame({"customer_id": ["a"], "actual_spend": [1.0]})
    evaluation = Evaluation(day_number("1997-09-30"), 273, metrics, frame, True)
    record = evaluation.to_json()
    assert record["best_baseline"] == {
        "top10_capture": {"row": "bgnbd_gg", "value": 0.51, "cltv": 0.52},
        "top20_capture": {"row": "naive_run_rate", "value": 0.69, "cltv": 0.68},
        "gains_area_30": {
            "row": "naive_run_rate_calibrated",
            "value": 0.58,
            "cltv": 0.57,
        },
        "mae": {"row": "naive_run_rate_calibrated", "value": 30.8, "cltv": 30.9},
        "bias_pct": {"row": "bgnbd_gg", "value": -17.3, "cltv": -17.0},
    }
    assert record["targets"] == {
        "top10_capture > best baseline": True,
        "top20_capture > best baseline": False,
        "gains_area_30 > best baseline": False,
        "mae < best baseline": False,
        "|bias| <= bgnbd_gg's": True,
    }
    assert evaluation.targets_text() == (
        "against the best baseline row of each metric:\n"
        "  PASS top10_capture > best baseline: 52.00 % vs 51.00 % (bgnbd_gg)\n"
        "  FAIL top20_capture > best baseline: 68.00 % vs 69.00 % (naive_run_rate)\n"
        "  FAIL gains_area_30 > best baseline: 57.00 % vs 58.00 % "
        "(naive_run_rate_calibrated)\n"
        "  FAIL mae < best baseline: 30.900 vs 30.800 (naive_run_rate_calibrated)\n"
        "  PASS |bias| <= bgnbd_gg's: -17.00 % vs -17.30 % (bgnbd_gg)"
    )
    # a log ending before the holdout does: its actual spend is partial
    # (bias +10,468 % as of 1998-06-29 on CDNOW), so no target is judged
    end = day_number("1998-06-30")
    partial = Evaluation(
        day_number("1998-06-29"), 90, metrics, frame, False, log_last_day=end
    )
    record = partial.to_json()
    assert "targets" not in record and record["holdout_complete"] is False
    # and says why, as the text does: a reader finds ``targets`` or
    # ``targets_not_judged`` in every record (before, neither here), with
    # where the log ends and how much of the holdout it covers (before: not)
    why = (
        "the log ends before the holdout does, so the actual spend is partial: "
        "its data ends on 1998-06-30, 1 of the holdout's 90 days"
    )
    assert record["targets_not_judged"] == why
    assert record["log_last_day"] == record["data_last_day"] == "1998-06-30"
    assert record["holdout_days_covered"] == 1 and record["stray_rows"] == 0
    assert record["best_baseline"] == evaluation.to_json()["best_baseline"]
    assert partial.targets_text() == f"targets not judged: {why}"
    # a complete holdout gives the same fields
    whole = Evaluation(day_number("1997-09-30"), 273, metrics, frame, True,
                       log_last_day=end)  # fmt: skip
    assert whole.to_json()["holdout_days_covered"] == 273


def test_evaluate_targets_show_the_mae_of_a_log_in_small_units() -> None:
    """Amounts in thousands of a unit: the MAE target line has the digits
    the table has (before: "FAIL mae < best baseline: 0.018 vs 0.017")."""
    metrics = {
        "cltv": _row(0.52, 0.68, 0.57, 0.01760, -7.6),
        "bgnbd_gg": _row(0.51, 0.66, 0.56, 0.01949, -4.7),
        "naive_run_rate": _row(0.50, 0.69, 0.55, 0.02330, 43.1),
        "bgnbd_gg_calibrated": _row(0.51, 0.66, 0.56, 0.01749, -7.6),
        "naive_run_rate_calibrated": _row(0.50, 0.69, 0.58, 0.01867, -7.6),
        "cltv_raw": _row(0.52, 0.68, 0.57, 0.01869, -17.8),
    }
    frame = pd.DataFrame({"customer_id": ["a"], "actual_spend": [1.0]})
    evaluation = Evaluation(day_number("1997-09-30"), 273, metrics, frame, True)
    assert (
        "  FAIL mae < best baseline: 0.01760 vs 0.01749 (bgnbd_gg_calibrated)"
        in evaluation.targets_text().splitlines()
    )


def test_holdout_metrics_definitions() -> None:
    m = holdout_metrics(PRED, ACTUAL)
    assert tuple(m) == METRICS
    assert m["mae"] == pytest.approx(15 / 5)
    assert m["rmse"] == pytest.approx(math.sqrt(59 / 5))
    assert m["spearman"] == pytest.approx(spearmanr(PRED, ACTUAL).statistic)
    assert m["top10_capture"] == pytest.approx(0.25)
    assert m["top20_capture"] == pytest.approx(0.5)
    assert m["bias_pct"] == pytest.approx(100 * (11 - 20) / 20)
    assert m["n_customers"] == 5
    assert m["gains_area_30"] == pytest.approx(gains_area(PRED, ACTUAL, 0.3))
    # a count, as metrics.json has it: the backtest metrics of train's
    # metadata.json and of retrain --json / RETRAIN.json said 800.0
    assert '"n_customers": 5,' in json.dumps(m)


@pytest.mark.parametrize("unit", [1e-160, 1e-300])
def test_holdout_metrics_do_not_depend_on_a_tiny_unit(unit: float) -> None:
    """Every metric of a log in a tiny unit is the dollars' in that unit:
    errors under 1e-154 square to nothing, and a log in 1e-300 of a unit
    read RMSE 0 (its MAE 1.9e-299) before."""
    dollars = holdout_metrics(PRED, ACTUAL)
    tiny = holdout_metrics(np.asarray(PRED) * unit, np.asarray(ACTUAL) * unit)
    for key in ("mae", "rmse"):
        assert tiny[key] / unit == pytest.approx(dollars[key], rel=1e-12)
    for key in ("spearman", "top10_capture", "top20_capture", "gains_area_30"):
        assert tiny[key] == pytest.approx(dollars[key], rel=1e-12)
    assert tiny["bias_pct"] == pytest.approx(dollars["bias_pct"], rel=1e-12)


def test_cli_evaluate_cdnow_sample(cdnow_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        [
            "cltv",
            "evaluate",
            "--transactions",
            str(cdnow_dir / "CDNOW_sample.txt"),
            "--format",
            "cdnow",
            "--as-of",
            "1997-09-30",
            "--holdout-days",
            "273",
            "--json",
            "--out",
            str(out),
            "--platinum-share",
            "0.05",
            "--gold-share",
            "0.15",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # progress lines go to stderr
    assert record["as_of"] == "1997-09-30" and record["holdout_days"] == 273
    assert record["holdout_complete"] is True
    models = record["models"]
    assert list(models) == ["cltv", *BASELINE_ROWS, "cltv_raw"]
    for row in models.values():
        assert set(row) == set(METRICS)
        assert row["n_customers"] == 2357  # every customer bought before as-of
    _assert_equal_terms(record)
    predictions = pd.read_csv(out / "predictions.csv", dtype={"customer_id": str})
    assert list(predictions.columns) == [
        "customer_id",
        "predicted_spend",
        "actual_spend",
        *BASELINE_ROWS,
        "cltv_raw",
        "segment",
    ]
    assert len(predictions) == 2357 and predictions["customer_id"].is_unique
    # the shares label our forecast's tiers: fewer than 5 % predict more than
    # a platinum customer, fewer than 20 % more than a gold one
    spend = predictions["predicted_spend"].to_numpy()
    above = (spend[None, :] > spend[:, None]).sum(axis=1) / len(spend)
    expected = np.where(
        above < 0.05, "platinum", np.where(above < 0.2, "gold", "silver")
    )
    assert (predictions["segment"].to_numpy() == expected).all()
    assert 0 < (expected == "platinum").sum() < (expected == "gold").sum()
    assert record["calibration"]["blend"] == {"cltv": 1.0}  # the default
    _assert_published_is_the_blend(record, predictions)
    actual = predictions["actual_spend"]
    raw = predictions["cltv_raw"] * predictions["predicted_spend"].sum()
    raw /= predictions["cltv_raw"].sum()
    assert models["cltv"]["mae"] < (raw - actual).abs().mean()
    actual_total = predictions["actual_spend"].sum()
    assert models["cltv"]["bias_pct"] == pytest.approx(
        100 * (predictions["predicted_spend"].sum() - actual_total) / actual_total,
        abs=1e-3,
    )
    # the file gives its metrics back: every forecaster's Spearman and MAE
    # (four decimals tied most calibrated forecasts at 0.0000)
    for name in ["cltv", *BASELINE_ROWS]:
        column = predictions["predicted_spend" if name == "cltv" else name]
        got = column.corr(actual, method="spearman")
        assert got == pytest.approx(models[name]["spearman"], abs=1e-6), name
        mae = (column - actual).abs().mean()
        assert mae == pytest.approx(models[name]["mae"], abs=1e-6), name
    assert (out / "gains.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text()) == record
    # the comparison is taken from the rows it names
    for key, cell in record["best_baseline"].items():
        assert cell["cltv"] == models["cltv"][key]
        assert cell["value"] == models[cell["row"]][key], key
    assert list(record["targets"]) == [
        "top10_capture > best baseline",
        "top20_capture > best baseline",
        "gains_area_30 > best baseline",
        "mae < best baseline",
        "|bias| <= bgnbd_gg's",
    ]


def _assert_equal_terms(record: dict[str, Any]) -> None:
    """Every forecaster calibrated alike: one level, its own shape."""
    models = record["models"]
    # no year of history before the as-of date: the level is BTYD's total, and
    # every calibrated row has it
    level = record["calibration"]["level"]
    assert level["source"] == "btyd" and level["seasonal_windows"] == []
    for name in ("cltv", "bgnbd_gg_calibrated", "naive_run_rate_calibrated"):
        assert models[name]["bias_pct"] == pytest.approx(models["bgnbd_gg"]["bias_pct"])
    # calibration is monotone: the ranking metrics are the raw forecast's (up
    # to floating-point rounding, which may merge two nearly equal forecasts)
    for raw, calibrated in (
        ("bgnbd_gg", "bgnbd_gg_calibrated"),
        ("naive_run_rate", "naive_run_rate_calibrated"),
    ):
        for key in ("spearman", "top10_capture", "top20_capture", "gains_area_30"):
            assert models[calibrated][key] == pytest.approx(models[raw][key], abs=1e-5)
    # and, fitted on the training windows, the shape lowers the MAE of the
    # forecasts at the level already (ours is rescaled: its raw level differs)
    assert models["bgnbd_gg_calibrated"]["mae"] < models["bgnbd_gg"]["mae"]
    assert models["naive_run_rate_calibrated"]["mae"] < models["naive_run_rate"]["mae"]
    assert set(record["calibration"]["shapes"]) == {
        "cltv",
        "bgnbd_gg",
        "naive_run_rate",
    }


def _assert_published_is_the_blend(
    record: dict[str, Any], predictions: pd.DataFrame
) -> None:
    """The published forecast is the recorded blend of calibrated forecasts:
    take the baselines' parts away and what is left is ours, calibrated, so
    it ranks as our raw forecast does (up to the CSV's rounding)."""
    weights = record["calibration"]["blend"]
    assert set(weights) <= {"cltv", "bgnbd_gg", "naive_run_rate"}
    assert sum(weights.values()) == pytest.approx(1.0)
    ours = predictions["predicted_spend"].to_numpy(dtype=np.float64)
    for name in ("bgnbd_gg", "naive_run_rate"):
        weight = weights.get(name, 0.0)
        ours = ours - weight * predictions[f"{name}_calibrated"].to_numpy()
    if weights["cltv"] == 0.0:
        np.testing.assert_allclose(ours, 0.0, atol=1e-3)
        return
    order = np.argsort(predictions["cltv_raw"].to_numpy(), kind="stable")
    assert np.diff(ours[order]).min() > -1e-3


def test_blend_published_on_request(cdnow_dir: Path) -> None:
    """``blend=True``: the published forecast is the blend fitted on the
    calibration windows, at the level's total like every calibrated row."""
    data, _ = load_customer_data(cdnow_dir / "CDNOW_sample.txt", fmt="cdnow")
    evaluation, _ = evaluate_model(
        data, day_number("1997-09-30"), 273, CLTVConfig(blend=True)
    )
    record: dict[str, Any] = evaluation.to_json()
    assert set(record["calibration"]["blend"]) == {
        "cltv",
        "bgnbd_gg",
        "naive_run_rate",
    }
    predictions = evaluation.predictions.rename(columns={"cltv": "predicted_spend"})
    _assert_published_is_the_blend(record, predictions)
    models = evaluation.metrics
    assert models["cltv"]["bias_pct"] == pytest.approx(
        models["bgnbd_gg_calibrated"]["bias_pct"]
    )


def test_cli_evaluate_text_table_and_bad_date(cdnow_dir: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        [
            "cltv",
            "evaluate",
            "--transactions",
            str(cdnow_dir / "CDNOW_sample.txt"),
            "--format",
            "cdnow",
            "--as-of",
            "1997-02-30",
            "--holdout-days",
            "30",
        ],
    )
    assert bad.exit_code == 2
    assert (
        "Error: Invalid value for '--as-of': '1997-02-30': no such day: day 30 "
        "out of range for month 2 (1-28)\n" in bad.output
    )
    late = runner.invoke(
        cli,
        [
            "cltv",
            "evaluate",
            "--transactions",
            str(cdnow_dir / "CDNOW_sample.txt"),
            "--format",
            "cdnow",
            "--as-of",
            "1998-06-30",
            "--holdout-days",
            "30",
        ],
    )
    assert late.exit_code == 1
    assert late.output.strip().endswith(
        "field 'as_of': value '1998-06-30': no transactions after the as-of date "
        "to evaluate against"
    )


def test_write_evaluation_leaves_the_folder_as_it_was_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All three files or none: a failure between them left predictions.csv
    new and metrics.json old in the folder; a directory where gains.png goes
    (the QA repro) no longer stops a run half-way."""
    frame = generate_transactions(400, seed=2)
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"]
    )
    config = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
    first, _ = evaluate_model(CustomerData(log), day_number("2023-06-30"), 60, config)
    second, _ = evaluate_model(CustomerData(log), day_number("2023-09-30"), 60, config)
    out = tmp_path / "ev"
    assert write_evaluation(first, out) == [out / name for name in EVALUATION_FILES]
    before = {name: (out / name).read_bytes() for name in EVALUATION_FILES}

    def failing_chart(evaluation: object, path: Path) -> None:
        raise OSError(f"{path}: disk full")

    with monkeypatch.context() as patch:
        patch.setattr(evaluate_module, "write_gains_chart", failing_chart)
        with pytest.raises(OSError, match="disk full"):
            write_evaluation(second, out)
    assert {name: (out / name).read_bytes() for name in EVALUATION_FILES} == before

    (out / "gains.png").unlink()
    (out / "gains.png").mkdir()
    write_evaluation(second, out)
    assert (out / "gains.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text()) == second.to_json()
    # the failed run's staging folder beside it is cleared by the next run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev"]


def test_cli_evaluate_empty_holdout_window_is_an_error(cdnow_dir: Path) -> None:
    """The sample has no row on 1998-04-13 (rows follow): a one-day holdout
    there scored nothing and printed NaN metrics (null in metrics.json)."""
    path = cdnow_dir / "CDNOW_sample.txt"
    result = CliRunner().invoke(
        cli,
        [
            "cltv", "evaluate", "--transactions", str(path), "--format", "cdnow",
            "--as-of", "1998-04-12", "--holdout-days", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.endswith(
        f"Error: {path}: field 'as_of': value '1998-04-12': no transactions in "
        "the holdout (1998-04-13 to 1998-04-13) to evaluate against\n"
    ), result.output


def _first_500_to_the_standard_as_of(cdnow_dir: Path) -> list[list[str]]:
    """The CDNOW sample's rows (its whitespace-split text columns) of its
    first 500 customers up to 1997-09-30: the model is fitted before the
    holdout is judged, and its size is not what is checked."""
    sample = [
        line.split()
        for line in (cdnow_dir / "CDNOW_sample.txt").read_text().splitlines()
        if line.strip()
    ]
    customers = set(list(dict.fromkeys(r[0] for r in sample))[:500])
    return [r for r in sample if r[0] in customers and r[2] <= "19970930"]


def _standard_log(cdnow_dir: Path, tmp_path: Path, *tail: str) -> tuple[Path, int]:
    """:func:`_first_500_to_the_standard_as_of`'s rows as ``tx.csv``
    (``customer_id,order_date,amount``), then the ``tail`` lines, ``{0}`` and
    ``{1}`` standing for two of its customers; the path and the rows written
    before the tail."""
    rows = _first_500_to_the_standard_as_of(cdnow_dir)
    known = list(dict.fromkeys(r[0] for r in rows))[:2]
    path = tmp_path / "tx.csv"
    path.write_text(
        "customer_id,order_date,amount\n"
        + "".join(f"{r[0]},{r[2][:4]}-{r[2][4:6]}-{r[2][6:]},{r[4]}\n" for r in rows)
        + "".join(t.format(*known) for t in tail)
    )
    return path, len(rows)


def test_cli_evaluate_a_holdout_without_spend_by_known_customers_is_an_error(
    cdnow_dir: Path, tmp_path: Path
) -> None:
    """The holdout's only purchase is a new customer's: every capture was
    0/0 and the table printed NaN metrics, exit 0."""
    path, _ = _standard_log(cdnow_dir, tmp_path, "NEW1,1997-10-05,20.00\n")
    evaluate = ["cltv", "evaluate", "--transactions", str(path),
                "--as-of", "1997-09-30", "--holdout-days", "30"]  # fmt: skip
    result = CliRunner().invoke(cli, evaluate)
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        f"Error: {path}: field 'as_of': value '1997-09-30': no spend in the "
        "holdout (1997-10-01 to 1997-10-30) by the customers known on the as-of "
        "date (only new customers or returns) to evaluate against\n"
    ), result.output
    # a purchase outweighed by returns: a table of NaN captures and a bias
    # of -8,644 % against the net -690, exit 0 (QA)
    rows = _first_500_to_the_standard_as_of(cdnow_dir)
    known = rows[0][0], rows[1][0], rows[2][0]
    path.write_text(
        path.read_text()
        + f"{known[0]},1997-10-05,10\n{known[1]},1997-10-06,-400\n"
        + f"{known[2]},1997-10-07,-300\n"
    )
    result = CliRunner().invoke(cli, evaluate)
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        "date (only new customers or returns, returns outweigh purchases: net "
        "-690.00) to evaluate against\n"
    ), result.output


def _table_of(mae: float, rmse: float) -> list[str]:
    row = {"mae": mae, "rmse": rmse, "spearman": 0.4, "top10_capture": 0.7,
           "top20_capture": 0.8, "bias_pct": -1.0, "n_customers": 3000,
           "gains_area_30": 0.73}  # fmt: skip
    metrics = {"cltv": row, "bgnbd_gg": {**row, "mae": 2 * mae}}
    return Evaluation(0, 90, metrics, pd.DataFrame(), True).table().splitlines()


@pytest.mark.parametrize(
    ("mae", "rmse", "table"),
    [
        (7.54, 28.76, [
            "model                           mae     rmse  spearman   top10   top20   bias%        n  gains30",
            "cltv                           7.54    28.76    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
            "bgnbd_gg                      15.08    28.76    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
        ]),
        # a log in 0.0001 of a unit: "0.00" in every row
        (0.0007544, 0.0028762, [
            "model                            mae      rmse  spearman   top10   top20   bias%        n  gains30",
            "cltv                       0.0007544 0.0028762    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
            "bgnbd_gg                   0.0015088 0.0028762    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
        ]),
        # a log in 1e-300 of a unit: ~300 zeros in every error cell
        (1.9e-299, 4.4e-299, [
            "model                             mae       rmse  spearman   top10   top20   bias%        n  gains30",
            "cltv                       1.900e-299 4.400e-299    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
            "bgnbd_gg                   3.800e-299 4.400e-299    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
        ]),
        # a log in 1e8: the columns were pushed out of line
        (19661864.41, 60248454.01, [
            "model                              mae        rmse  spearman   top10   top20   bias%        n  gains30",
            "cltv                       19661864.41 60248454.01    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
            "bgnbd_gg                   39323728.82 60248454.01    0.4000   70.0%   80.0%    -1.0     3000    73.0%",
        ]),
    ],
)  # fmt: skip
def test_the_table_shows_errors_in_the_log_s_unit(
    mae: float, rmse: float, table: list[str]
) -> None:
    """MAE and RMSE are in the log's unit: with as many decimals and as wide
    as its amounts need (odd units read 0.00, or broke the columns)."""
    assert _table_of(mae, rmse) == table


@pytest.mark.parametrize(
    ("errors", "spec"),
    [((7.59, 10.14), ".2f"), ((0.0007917, 0.01), ".7f"), ((0.0, 0.0), ".2f"),
     ((27365317.75, float("nan")), ".2f"), ((3.1e-9, 0.01), ".12f"),
     # a log in 1e-300 of a unit: 300 zeros before the digits; four
     # significant digits in scientific notation instead
     ((1.9e-299, 4.4e-299), ".3e"), ((9.9e-11, 0.01), ".3e")],
)  # fmt: skip
def test_error_format_shows_four_digits_of_small_errors(
    errors: tuple[float, ...], spec: str
) -> None:
    """``cltv train``'s backtest lines read "mae 0.00" for a log in 0.0001."""
    assert error_format(*errors) == spec


def test_the_table_keeps_columns_apart_when_a_return_nearly_cancels() -> None:
    """A holdout whose net spend a large return nearly cancels (QA: $27,423
    of purchases, a $27,423.12 return) has captures of a million per cent and
    a bias of 1e8 %: printed at a fixed width they ran together
    (``0.3754155572300.0%204178600.0%+273740985.1     3000167877305.0%``)."""
    row = {"mae": 19.87, "rmse": 502.55, "spearman": 0.3754,
           "top10_capture": 1555723.0, "top20_capture": 2041786.0,
           "bias_pct": 273740985.1, "n_customers": 3000,
           "gains_area_30": 1678773.05}  # fmt: skip
    small = {**row, "top10_capture": 0.5, "top20_capture": 0.7,
             "bias_pct": -1.0, "gains_area_30": 0.6}  # fmt: skip
    lines = Evaluation(0, 90, {"cltv": row, "bgnbd_gg": small}, pd.DataFrame(), True)
    head, *rows = lines.table().splitlines()
    ends = [m.end() for m in re.finditer(r"\S+", head)][1:]
    for line in rows:
        # every cell ends where its heading does (right-aligned)
        cells = [m.end() for m in re.finditer(r"\S+", line)][1:]
        assert cells == ends, line
    assert "155572300.0%" in rows[0] and "+273740985.1" in rows[0]


def test_a_holdout_whose_returns_nearly_cancel_its_purchases_judges_no_target() -> None:
    """Net spend $0.01 against $1,000 of purchases: the captures and the bias
    are ratios to the net, so they read 1.5e6 % and the five targets were
    judged on them. Below :data:`MIN_NET_SHARE` of the gross the metrics are
    still written, the targets are not, and the output says why."""
    metrics = {
        "cltv": _row(0.52, 0.68, 0.57, 30.9, -17.0),
        "bgnbd_gg": _row(0.51, 0.66, 0.56, 32.7, -17.3),
    }
    frame = pd.DataFrame({"customer_id": ["a", "b"], "actual_spend": [1000.0, -999.99]})
    day = day_number("1997-09-30")
    cancelled = Evaluation(day, 30, metrics, frame, True, holdout_gross=1000.0)
    record = cancelled.to_json()
    assert "targets" not in record and record["holdout_complete"] is True
    assert record["holdout_net_spend"] == pytest.approx(0.01)
    assert record["holdout_gross_spend"] == 1000.0
    why = (
        "the holdout's net spend (0.01) is under 5 % of its purchases (1000.00): "
        "returns nearly cancel them, so the captures and the bias, ratios to the "
        "net, mean nothing"
    )
    assert record["targets_not_judged"] == why
    assert cancelled.targets_text() == f"targets not judged: {why}"
    # at 5 % and above the targets are judged as before
    frame = pd.DataFrame({"customer_id": ["a", "b"], "actual_spend": [1000.0, -950.0]})
    judged = Evaluation(day, 30, metrics, frame, True, holdout_gross=1000.0)
    assert "targets_not_judged" not in judged.to_json()
    assert "targets" in judged.to_json()
    assert judged.targets_text().startswith("against the best baseline row")


def test_cli_evaluate_a_holdout_returns_nearly_cancel_writes_metrics_not_targets(
    cdnow_dir: Path, tmp_path: Path
) -> None:
    """QA: a return of $999.99 against a purchase of $1,000 in the holdout:
    ``cltv evaluate`` judged the five targets on captures of 1.5e6 %."""
    path, _ = _standard_log(
        cdnow_dir,
        tmp_path,
        "{0},1997-10-05,1000.00\n{1},1997-10-06,-999.99\n"
        "NEW1,1997-10-30,20.00\n",  # the log reaches the holdout's end
    )
    out = tmp_path / "eval"
    evaluate = ["cltv", "evaluate", "--transactions", str(path),
                "--as-of", "1997-09-30", "--holdout-days", "30"]  # fmt: skip
    result = CliRunner().invoke(cli, [*evaluate, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "targets not judged: the holdout's net spend (0.01) is under 5 % of its "
        "purchases (1000.00)" in result.stdout
    ), result.stdout
    assert "PASS" not in result.stdout and "FAIL" not in result.stdout
    record = json.loads((out / "metrics.json").read_text())
    assert "targets" not in record and record["targets_not_judged"].startswith(
        "the holdout's net spend (0.01)"
    )
    assert set(record["models"]) >= {"cltv", "bgnbd_gg", "naive_run_rate"}
    assert (out / "predictions.csv").is_file()


def test_cli_evaluate_a_row_far_after_the_rest_does_not_complete_the_holdout(
    cdnow_dir: Path, tmp_path: Path
) -> None:
    """QA: a single row dated years after the rest (a typo) made a holdout
    that the data covers for 5 of its 90 days count as complete: the five
    targets were judged on 5 days of spend. The holdout is judged by where
    the rest of the log ends; the output says where that is, how many of
    the holdout's days it covers, and the reader names the stray row."""
    path, n_rows = _standard_log(
        cdnow_dir,
        tmp_path,
        "{0},1997-10-05,40.00\n{1},2008-09-30,20.00\n",
    )
    evaluate = ["cltv", "evaluate", "--transactions", str(path),
                "--as-of", "1997-09-30", "--holdout-days", "90"]  # fmt: skip
    result = CliRunner().invoke(cli, [*evaluate, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["holdout_complete"] is False and "targets" not in record
    assert record["log_last_day"] == "2008-09-30"
    assert record["data_last_day"] == "1997-10-05"
    assert record["holdout_days_covered"] == 5 and record["stray_rows"] == 1
    assert record["targets_not_judged"] == (
        "the log ends before the holdout does, so the actual spend is partial: "
        "its data ends on 1997-10-05, 5 of the holdout's 90 days (1 row dated "
        "after it, over 90 days past the rest, is not counted as the log's end: "
        "a typo?)"
    )
    assert (
        f"row {n_rows + 3}: field 'order_date': value '2008-09-30' is 4,013 "
        "days after the rest of the log" in result.stderr
    )
    text = CliRunner().invoke(cli, evaluate)
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith(
        "as of 1997-09-30, 90-day holdout (the data ends on 1997-10-05: 5 of its "
        "90 days)\n"
    ), text.stdout
    assert f"targets not judged: {record['targets_not_judged']}" in text.stdout
    assert "PASS" not in text.stdout and "FAIL" not in text.stdout


def test_returns_nearly_cancel_says_the_spend_of_a_log_in_tiny_units() -> None:
    """QA: a log in 1e-300 of a unit whose holdout returns nearly cancel its
    purchases read "net spend (0.00) is under 5 % of its purchases (0.00)":
    both figures as the metrics table shows tiny ones (4 significant
    digits); normal figures keep their 2 decimals (the test above)."""
    metrics = {"cltv": _row(0.52, 0.68, 0.57, 30.9, -17.0)}
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "actual_spend": [1e-297, -9.99e-298]}
    )
    day = day_number("1997-09-30")
    cancelled = Evaluation(day, 30, metrics, frame, True, holdout_gross=1e-297)
    assert cancelled.unjudged() == (
        "the holdout's net spend (1.000e-300) is under 5 % of its purchases "
        "(1.000e-297): returns nearly cancel them, so the captures and the "
        "bias, ratios to the net, mean nothing"
    )


def test_cli_evaluate_after_the_data_ends_is_refused_whatever_a_stray_row_says(
    cdnow_dir: Path, tmp_path: Path
) -> None:
    """QA: as of a day after the log's data ends, a holdout long enough to
    reach a row dated years on (a typo) was evaluated on that row alone:
    exit 0, a table and metrics.json of one typo's spend, "0 of its 1200
    days". It is refused as any as-of date after the log's end is, naming
    where the data ends and why the row is not its end."""
    path, _ = _standard_log(
        cdnow_dir,
        tmp_path,
        "{0},1997-10-05,40.00\n{1},2000-09-30,20.00\n",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["cltv", "evaluate", "--transactions", str(path), "--as-of", "1997-10-05",
         "--holdout-days", "1200", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        f"Error: {path}: field 'as_of': value '1997-10-05': no transactions "
        "after the as-of date to evaluate against (the log's data ends on "
        "1997-10-05; 1 row dated after it, over 90 days past the rest, is not "
        "counted as the log's end: a typo?)\n"
    )
    assert not out.exists()
