"""Versioned models: promotion and rejection, idempotence, pruning, atomicity."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import ROOT
from tierflow.cltv import lifecycle
from tierflow.cltv.features import CustomerData
from tierflow.cltv.lifecycle import compare, retrain, train_model
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.registry import TMP_PREFIX, ModelRegistry
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number

#: Small and quick; the registry logic does not depend on model quality.
FAST = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
AS_OF = day_number("2023-06-30")
HORIZON = 60


@pytest.fixture(scope="module")
def data() -> CustomerData:
    frame = generate_transactions(700, seed=11)
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"], source="syn.csv"
    )
    return CustomerData(log)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


METRICS = {"spearman": 0.40, "top10_capture": 0.50, "top20_capture": 0.65, "mae": 30.0}


@pytest.mark.parametrize(
    ("change", "promote"),
    [
        ({}, True),
        ({"spearman": 0.385}, True),  # worse, but within 0.02
        ({"spearman": 0.375}, False),
        ({"top10_capture": 0.47}, False),
        ({"top20_capture": 0.70, "mae": 30.5}, True),  # MAE +1.7 % is tolerated
        ({"mae": 30.7}, False),  # MAE +2.3 % is not
    ],
)
def test_compare_tolerance(change: dict[str, float], promote: bool) -> None:
    decision, reason = compare(METRICS, {**METRICS, **change}, 0.02)
    assert decision is promote, reason


def test_retrain_promotes_first_is_idempotent_and_prunes(
    data: CustomerData, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    scores_csv = tmp_path / "scores.csv"
    sink = lifecycle.CsvScoreSink(scores_csv)
    first = retrain(
        data, AS_OF, registry, horizon_days=HORIZON, config=FAST, sink=sink, keep=2
    )
    assert first.promoted and first.reason == "no champion yet"
    assert registry.current() == first.challenger == first.champion
    scores = pd.read_csv(scores_csv)
    assert list(scores.columns) == [
        "customer_id",
        "predicted_spend",
        "p_active",
        "segment",
    ]
    assert first.published_rows == len(scores) > 0

    before = _snapshot(registry.root)
    again = retrain(
        data, AS_OF, registry, horizon_days=HORIZON, config=FAST, sink=sink, keep=2
    )
    assert again.noop and not again.promoted
    assert _snapshot(registry.root) == before  # nothing changed on disk

    # the next days: a new challenger each day, same recipe -> not worse
    versions = []
    for day in (1, 2, 3):
        result = retrain(
            data, AS_OF + day, registry, horizon_days=HORIZON, config=FAST, keep=2
        )
        assert result.promoted, result.reason
        assert result.champion_before is not None
        versions.append(result.champion)
    assert registry.current() == versions[-1]
    assert registry.versions() == sorted(versions[-2:])  # keep=2
    meta = registry.metadata(versions[-1])
    assert meta["as_of"] == "2023-07-03"
    assert meta["data"]["fingerprint"] == data.fingerprint()
    assert meta["features"] and meta["library_versions"]["scikit-learn"]


def test_retrain_rejects_a_worse_challenger(
    data: CustomerData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    champion = train_model(data, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    other = CLTVConfig(n_estimators=1, max_iter=5, min_samples_leaf=20, n_cutoffs=3)

    def fake_backtest(
        data: CustomerData, as_of_day: int, config: CLTVConfig, window: int
    ) -> dict[str, dict[str, float]]:
        worse = {**METRICS, "top10_capture": 0.40} if config == other else METRICS
        return {"cltv": worse, "bgnbd_gg": METRICS}

    monkeypatch.setattr(lifecycle, "backtest", fake_backtest)
    result = retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=other)
    assert not result.promoted
    assert result.reason.startswith("challenger worse beyond tolerance: top10_capture")
    assert registry.current() == champion.version
    assert result.challenger in registry.versions()  # kept for inspection
    assert result.metrics["challenger"]["top10_capture"] == 0.40


def test_failure_mid_write_keeps_the_champion(
    data: CustomerData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    champion = train_model(data, AS_OF, HORIZON, registry, FAST, with_backtest=False)

    def broken_dump(value: Any, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("joblib.dump", broken_dump)
    with pytest.raises(OSError, match="No space left"):
        train_model(data, AS_OF + 1, HORIZON, registry, FAST, with_backtest=False)
    assert registry.current() == champion.version
    assert registry.versions() == [champion.version]
    assert registry.load().version == champion.version
    assert list(registry.root.glob(f"{TMP_PREFIX}*"))  # the debris is invisible
    monkeypatch.undo()
    train_model(data, AS_OF + 1, HORIZON, registry, FAST, with_backtest=False)
    assert not list(registry.root.glob(f"{TMP_PREFIX}*"))  # and cleaned up


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from tierflow.cltv import registry as reg
    from tierflow.cltv.features import CustomerData
    from tierflow.cltv.lifecycle import retrain
    from tierflow.cltv.model import CLTVConfig
    from tierflow.data.synthetic_transactions import generate_transactions
    from tierflow.data.transactions import TransactionLog

    root, as_of, horizon = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    frame = generate_transactions(700, seed=11)
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"], source="syn.csv"
    )
    def die(*args, **kwargs):  # the model files are written, the rename is next
        os.kill(os.getpid(), signal.SIGKILL)
    reg.os.rename = die
    config = CLTVConfig(n_estimators=1, max_iter=15, min_samples_leaf=20, n_cutoffs=3)
    retrain(CustomerData(log), as_of, reg.ModelRegistry(root), horizon_days=horizon,
            config=config)
    """
)


def test_process_killed_mid_write_keeps_the_champion(
    data: CustomerData, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    champion = train_model(data, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    before = registry.metadata(champion.version)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            KILL_SCRIPT,
            str(registry.root),
            str(AS_OF + 1),
            str(HORIZON),
        ],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    partial = list(registry.root.glob(f"{TMP_PREFIX}*"))
    assert partial and (partial[0] / "model.joblib").is_file()
    assert registry.current() == champion.version
    assert registry.versions() == [champion.version]
    loaded = registry.load()
    assert loaded.metadata == before
    date = datetime.date(2023, 6, 30)
    assert loaded.metadata["as_of"] == str(date)
    # the next run recovers: stale temp data removed, a new version promoted
    result = retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST)
    assert result.promoted
    assert not list(registry.root.glob(f"{TMP_PREFIX}*"))
