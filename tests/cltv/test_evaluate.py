"""Evaluation metrics as the CLI contract defines them, and evaluate on CDNOW."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from tierflow.cli.main import cli
from tierflow.cltv.evaluate import METRICS, holdout_metrics, top_share_capture

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
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["as_of"] == "1997-09-30" and record["holdout_days"] == 273
    assert record["holdout_complete"] is True
    models = record["models"]
    assert list(models) == ["cltv", "bgnbd_gg", "naive_run_rate"]
    for row in models.values():
        assert set(row) == set(METRICS)
        assert row["n_customers"] == 2357  # every customer bought before as-of
    # the model is anchored to the BG/NBD + Gamma-Gamma total
    assert models["cltv"]["bias_pct"] == pytest.approx(models["bgnbd_gg"]["bias_pct"])
    assert models["cltv"]["spearman"] > models["bgnbd_gg"]["spearman"]
    assert models["cltv"]["mae"] < models["naive_run_rate"]["mae"]
    predictions = pd.read_csv(out / "predictions.csv", dtype={"customer_id": str})
    assert list(predictions.columns[:2]) == ["customer_id", "predicted_spend"]
    assert len(predictions) == 2357 and predictions["customer_id"].is_unique
    actual_total = predictions["actual_spend"].sum()
    assert models["cltv"]["bias_pct"] == pytest.approx(
        100 * (predictions["predicted_spend"].sum() - actual_total) / actual_total,
        abs=1e-3,
    )
    assert (out / "gains.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text()) == record


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
    assert "'1997-02-30' is not a date (YYYY-MM-DD or 'today')" in bad.output
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
