"""The young-history note of ``cltv evaluate`` where the same level is fitted
and nothing was said: ``cltv train``, ``score`` and ``retrain``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from tests.cltv.test_protocol import FAST
from tierflow.cli.main import cli
from tierflow.cltv.model import CLTVConfig
from tierflow.data.purchase_history import synthetic_customers, synthetic_transactions

#: evaluate's QA repro: as of 2024-04-02, the year-ago fit saw 92 days
NOTE_START = "the level is BTYD's x "
NOTE_DAYS = "whose fit saw only 92 days of history"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["cltv", *args])


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small model (the level, which the note is about, is the same)."""

    def config(seed: int, platinum: float, gold: float, level: str) -> CLTVConfig:
        return FAST.with_params(
            random_state=seed, platinum_share=platinum, gold_share=gold, level=level
        )

    monkeypatch.setattr("tierflow.cli.cltv_cmd._config", config)


@pytest.fixture(scope="module")
def young(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cltv evaluate``'s young-history log: customers from 2023-01-01."""
    rng = np.random.default_rng(11)
    customers = synthetic_customers(
        3000, ["000"], ["XX"], np.ones(1), start=dt.date(2023, 1, 1),
        end=dt.date(2024, 6, 30), rng=rng,
    )  # fmt: skip
    tx, _ = synthetic_transactions(customers, end=dt.date(2024, 12, 31), rng=rng)
    path = tmp_path_factory.mktemp("young") / "log.csv"
    tx.to_csv(path, index=False)
    return path


def test_evaluate_notes_a_large_level_correction_from_a_young_year_ago_fit(
    young: Path, tmp_path: Path
) -> None:
    """QA's repro: customers from 2023-01-01, as of 2024-04-02, the year-ago
    fit saw 92 days: the level was BTYD's x2.26 (bias +161 % against BG/NBD's
    +15 %) and nothing said so. The forecast is unchanged; stderr and
    metrics.json carry the note."""
    out = tmp_path / "eval"
    result = _run(
        "evaluate", "--transactions", str(young), "--as-of", "2024-04-02",
        "--holdout-days", "90", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    level = json.loads((out / "metrics.json").read_text())["calibration"]["level"]
    assert (
        level["ratio"] > 1.5 and level["seasonal_windows"][0]["as_of"] == "2023-04-03"
    )
    note = level["young_history_note"]
    assert note.startswith(f"the level is BTYD's x {level['ratio']:.2f}, its miss")
    assert "saw only 92 days of history" in note and "--level baseline" in note
    assert note in result.stderr and note not in result.stdout


def test_train_score_and_retrain_say_the_young_history_note(
    young: Path, tmp_path: Path, fast: None
) -> None:
    """QA: the level evaluate notes (x2.26 from a fit that saw 92 days) is
    the level train fits and score and retrain publish, and they said
    nothing. The note goes to stderr, into metadata.json's ``level`` and
    retrain's --json; no forecast changes."""
    models = tmp_path / "models"
    data = ["--transactions", str(young)]
    train = _run("train", *data, "--as-of", "2024-04-02", "--horizon-days", "90",
                 "--model-dir", str(models), "--no-backtest")  # fmt: skip
    assert train.exit_code == 0, train.output
    (version,) = [p for p in models.iterdir() if p.is_dir()]
    level = json.loads((version / "metadata.json").read_text())["level"]
    note = level["young_history_note"]
    assert note.startswith(f"{NOTE_START}{level['ratio']:.2f}") and NOTE_DAYS in note
    assert note in train.stderr and note not in train.stdout
    scores = tmp_path / "scores.csv"
    score = _run("score", *data, "--model-dir", str(models), "--as-of",
                 "2024-04-02", "--out", str(scores))  # fmt: skip
    assert score.exit_code == 0, score.output
    assert note in score.stderr and note not in score.stdout
    retrain = _run("retrain", *data, "--model-dir", str(models), "--as-of",
                   "2024-04-03", "--json")  # fmt: skip
    assert retrain.exit_code == 0, retrain.output
    said = json.loads(retrain.stdout)["young_history_note"]
    assert said.startswith(NOTE_START) and "saw only 93 days" in said
    assert said in retrain.stderr


def test_no_note_where_the_year_ago_fit_saw_a_year(
    young: Path, tmp_path: Path, fast: None
) -> None:
    models = tmp_path / "models"
    train = _run("train", "--transactions", str(young), "--as-of", "2024-12-31",
                 "--horizon-days", "90", "--model-dir", str(models),
                 "--no-backtest")  # fmt: skip
    assert train.exit_code == 0, train.output
    assert NOTE_START not in train.stderr
    (version,) = [p for p in models.iterdir() if p.is_dir()]
    level = json.loads((version / "metadata.json").read_text())["level"]
    assert level["young_history_note"] is None
