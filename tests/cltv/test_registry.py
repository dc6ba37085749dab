"""Versioned models: promotion and rejection, idempotence, pruning, atomicity."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tierflow.cltv import lifecycle
from tierflow.cltv.features import CustomerData
from tierflow.cltv.lifecycle import (
    STALE_LOG_DAYS,
    CsvScoreSink,
    RetrainResult,
    TrainResult,
    backtest_shortfall,
    compare,
    retrain,
    stale_log_note,
    train_model,
    unit_note,
)
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.registry import (
    CURRENT_FILE,
    LOCK_FILE,
    METADATA_FILE,
    MODEL_FILE,
    RETRAIN_FILE,
    TMP_PREFIX,
    ModelRegistry,
    Recipe,
    library_versions,
)
from tierflow.data.customer_tables import CustomerProfiles
from tierflow.data.errors import InputError
from tierflow.data.store import StoreUnavailable
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number, day_to_date

#: Small and quick; the registry logic does not depend on model quality:
#: one short boosting on one cut-off, and neither the calibration windows
#: nor the seasonal level (each refits BG/NBD + Gamma-Gamma several times).
#: Each cut-off is one more BG/NBD + Gamma-Gamma fit and one more window of
#: features: three of them took a fit 0.19 s of CPU, one takes 0.12 s, and
#: this file fits some 50 models (the training windows are tested in
#: tests/cltv/test_model.py and tests/cltv/test_features.py).
FAST = CLTVConfig(
    n_estimators=1,
    max_iter=15,
    min_samples_leaf=20,
    n_cutoffs=1,
    calibration="mean",
    level="baseline",
)
#: Another config than :data:`FAST` (a shorter boosting), quicker to fit:
#: the tests that use it check that it differs from the champion's, not
#: what it fits. It had the default calibration and level, which refit
#: BG/NBD + Gamma-Gamma at every calibration window (2.8 s of CPU a fit on
#: the young history, 0.2 s with FAST's).
OTHER = dataclasses.replace(FAST, max_iter=5)
AS_OF = day_number("2023-06-30")
HORIZON = 60


@pytest.fixture(scope="module")
def data() -> CustomerData:
    frame = generate_transactions(700, seed=11)
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"], source="syn.csv"
    )
    return CustomerData(log)


@pytest.fixture(scope="module")
def _trained(
    data: CustomerData, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, TrainResult]:
    """A registry whose one version, current, is :data:`FAST`'s as of
    :data:`AS_OF` trained without its backtest; never written to."""
    root = tmp_path_factory.mktemp("trained") / "models"
    registry = ModelRegistry(root)
    return root, train_model(data, AS_OF, HORIZON, registry, FAST, with_backtest=False)


@pytest.fixture(scope="module")
def _retrained(
    data: CustomerData, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, RetrainResult]:
    """A registry after the first retrain (:data:`FAST`, :data:`AS_OF`): its
    challenger promoted, the day recorded; never written to."""
    root = tmp_path_factory.mktemp("retrained") / "models"
    registry = ModelRegistry(root)
    return root, retrain(data, AS_OF, registry, horizon_days=HORIZON, config=FAST)


@pytest.fixture
def trained(
    _trained: tuple[Path, TrainResult], tmp_path: Path
) -> tuple[ModelRegistry, TrainResult]:
    """A copy of :func:`_trained`'s registry at ``tmp_path / "models"`` (its
    files' times kept) and how its champion was trained: one fit for the
    module, not one a test."""
    shutil.copytree(_trained[0], tmp_path / "models")
    return ModelRegistry(tmp_path / "models"), _trained[1]


@pytest.fixture
def retrained(
    _retrained: tuple[Path, RetrainResult], tmp_path: Path
) -> tuple[ModelRegistry, RetrainResult]:
    """A copy of :func:`_retrained`'s registry at ``tmp_path / "models"``, as
    :func:`trained`."""
    shutil.copytree(_retrained[0], tmp_path / "models")
    return ModelRegistry(tmp_path / "models"), _retrained[1]


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


@pytest.mark.parametrize(
    ("scale", "words"),
    [
        (1.0, "mae 30.700 > 30.000"),
        (1e-5, "mae 0.0003070 > 0.0003000"),  # read "mae 0.000 > 0.000"
    ],
)
def test_compare_names_the_mae_of_a_log_in_small_units(
    scale: float, words: str
) -> None:
    """MAE is in the log's unit: a log in 0.0001 read "mae 0.000 > 0.000"."""
    champion = {**METRICS, "mae": 30.0 * scale}
    decision, reason = compare(champion, {**champion, "mae": 30.7 * scale}, 0.02)
    assert (decision, reason) == (
        False,
        f"challenger worse beyond tolerance: {words}",
    )


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
    # the same day to another sink (a store added or rebuilt) publishes
    # there too: it was a no-op that left the new sink empty
    other = tmp_path / "other.csv"
    elsewhere = retrain(
        data, AS_OF, registry, horizon_days=HORIZON, config=FAST,
        sink=lifecycle.CsvScoreSink(other), keep=2,
    )  # fmt: skip
    assert elsewhere.noop and elsewhere.published_rows == first.published_rows
    pd.testing.assert_frame_equal(pd.read_csv(other), scores)
    assert _snapshot(registry.root) == before

    # the next days: a new challenger each day, same recipe -> not worse;
    # the second of them makes three versions, one more than keep=2
    versions = []
    for day in (1, 2):
        result = retrain(
            data, AS_OF + day, registry, horizon_days=HORIZON, config=FAST, keep=2
        )
        assert result.promoted, result.reason
        assert result.champion_before is not None
        versions.append(result.champion)
    assert registry.current() == versions[-1]
    assert registry.versions() == sorted(versions[-2:])  # keep=2
    meta = registry.metadata(versions[-1])
    assert meta["as_of"] == "2023-07-02"
    assert meta["data"]["fingerprint"] == data.fingerprint()
    assert meta["features"] and meta["library_versions"]["scikit-learn"]


def test_retrain_rejects_a_worse_challenger(
    data: CustomerData,
    trained: tuple[ModelRegistry, TrainResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, champion = trained

    def fake_backtest(
        data: CustomerData, as_of_day: int, config: CLTVConfig, window: int
    ) -> dict[str, dict[str, float]]:
        worse = {**METRICS, "top10_capture": 0.40} if config == OTHER else METRICS
        return {"cltv": worse, "bgnbd_gg": METRICS}

    monkeypatch.setattr(lifecycle, "backtest", fake_backtest)
    result = retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=OTHER)
    assert not result.promoted
    assert result.reason.startswith("challenger worse beyond tolerance: top10_capture")
    assert registry.current() == champion.version
    assert result.challenger in registry.versions()  # kept for inspection
    assert result.metrics["challenger"]["top10_capture"] == 0.40
    # the same data: the history guard passed, a rejection is not a refusal
    assert result.history is not None and result.history.status == "passed"
    assert not result.refused


def _young_reason(days: int, verdict: str) -> str:
    """The reason of a retrain whose history (from 2022-01-01) is too short
    for the backtest of :data:`HORIZON` days with :data:`FAST`."""
    return (
        f"backtest not run: history too short for it ({days} days from the "
        "first purchase on 2022-01-01 to the as-of date; it needs 120: its "
        "60-day window and the 60 days a model trains on before it; it runs "
        f"from the as-of date 2022-05-01); {verdict}"
    )


def test_a_young_history_retrains_every_day_until_the_backtest_can_run(
    data: CustomerData, tmp_path: Path
) -> None:
    """The backtest refits as of the as-of date minus its window, so it needs
    that window plus the days a model trains on: every retrain after the
    first on a younger history failed on it, for good (and each left its
    challenger beyond ``keep``). Now the day's challenger of the champion's
    config is promoted, as the backtest would have it (the config against
    itself), with the reason; from the first day with history enough, the
    backtest runs."""
    first = data.transactions.first_day
    young = data.until(first + 130)
    registry = ModelRegistry(tmp_path / "models")
    retrain(young, first + 100, registry, horizon_days=HORIZON, config=FAST, keep=2)
    for days in (101, 102):  # the second day prunes: three versions, keep=2
        result = retrain(
            young, first + days, registry, horizon_days=HORIZON, config=FAST, keep=2
        )
        assert result.promoted and registry.current() == result.challenger
        assert result.reason == _young_reason(
            days,
            "the challenger has the champion's config, which the backtest "
            "would compare with itself: promoted",
        )
        skipped = {
            "window_days": 60,
            "needed_days": 120,
            "history_days": days,
            "first_purchase": "2022-01-01",
            "runs_from": "2022-05-01",
            "cause": "history",
            "window_from": str(day_to_date(first + days - 59).date()),
            "window_to": str(day_to_date(first + days).date()),
        }
        assert result.to_json()["backtest_skipped"] == skipped
        state = registry.read_retrain_state()
        assert state is not None and state["backtest_skipped"] == skipped
        assert result.metrics == {} and len(registry.versions()) == 2
    tested = retrain(
        young, first + 120, registry, horizon_days=HORIZON, config=FAST, keep=2
    )
    assert tested.backtest_skipped is None and tested.promoted
    # the champion's config: its backtest is the challenger's, reported once
    assert tested.reason == lifecycle.SAME_CONFIG
    assert set(tested.metrics) == {"challenger", "bgnbd_gg"}


def test_a_young_history_keeps_the_champion_against_another_config(
    data: CustomerData, tmp_path: Path
) -> None:
    """Another config than the champion's is judged by the backtest alone:
    without it, it is not promoted, and the day still succeeds."""
    first = data.transactions.first_day
    young = data.until(first + 130)
    registry = ModelRegistry(tmp_path / "models")
    champion = retrain(young, first + 100, registry, horizon_days=HORIZON, config=FAST)
    result = retrain(young, first + 101, registry, horizon_days=HORIZON, config=OTHER)
    assert not result.promoted
    assert result.reason == _young_reason(
        101,
        "the challenger's config differs from the champion's and is not "
        "promoted untested: the champion stays",
    )
    assert registry.current() == champion.champion == result.champion


def test_a_backtest_window_without_spend_does_not_fail_the_day(
    data: CustomerData, tmp_path: Path
) -> None:
    """With --horizon-days 1 the backtest's window is the as-of date alone:
    a day without a transaction (a quiet Sunday of a small shop) failed the
    daily job ("no transactions in the holdout"), publishing nothing, as did
    a day of returns only ("no spend in the holdout"), and a log a day late
    failed every day. The backtest cannot judge the day, so
    it is skipped as for a young history: the champion's config promoted (the
    backtest compares it with itself), another config not."""
    days = set(data.transactions.day.tolist())
    quiet = next(d for d in range(AS_OF, AS_OF + 90) if d not in days)
    log = data.until(quiet)
    registry = ModelRegistry(tmp_path / "models")
    retrain(log, quiet - 1, registry, horizon_days=1, config=FAST)
    scores = tmp_path / "scores.csv"
    result = retrain(log, quiet, registry, config=FAST, sink=CsvScoreSink(scores))
    date = str(day_to_date(quiet).date())
    why = (
        f"backtest not run: no spend to score it on in its 1-day window ({date} "
        f"to {date}) by the customers known before it (no transactions, only "
        "new customers', or more returns than purchases)"
    )
    assert result.reason == why + (
        "; the challenger has the champion's config, which the backtest would "
        "compare with itself: promoted"
    )
    assert result.promoted and registry.current() == result.challenger
    assert result.published_rows == len(pd.read_csv(scores)) > 0
    first = str(day_to_date(data.transactions.first_day).date())
    skipped = {
        "window_days": 1,
        "needed_days": 61,
        "history_days": quiet - data.transactions.first_day,
        "first_purchase": first,
        "runs_from": None,
        "cause": "empty_window",
        "window_from": date,
        "window_to": date,
    }
    assert result.to_json()["backtest_skipped"] == skipped
    kept = retrain(log, quiet, registry, config=OTHER)
    assert not kept.promoted and kept.champion == result.champion
    assert kept.reason == why + (
        "; the challenger's config differs from the champion's and is not "
        "promoted untested: the champion stays"
    )
    # a day of returns only: a net spend below 0 (it failed the day too)
    tx = data.transactions
    refund = TransactionLog.from_columns(
        [*tx.customer_ids[tx.customer], tx.customer_ids[0]],
        [*(day_to_date(d) for d in tx.day), day_to_date(quiet)],
        [*tx.amount, -50.0],
        source="syn.csv",
    )
    returned = retrain(CustomerData(refund).until(quiet), quiet, registry, config=FAST)
    assert returned.promoted and returned.reason.startswith(why)
    # a log weeks behind the as-of date is a broken feed, not a quiet day
    late = quiet + 10
    with pytest.raises(InputError) as caught:
        retrain(log, late, registry, config=FAST)
    assert str(caught.value) == (
        f"syn.csv: field 'backtest_as_of': value '{day_to_date(late - 1).date()}'"
        ": no transactions after the as-of date to evaluate against (the "
        f"backtest trains as of the as-of date {day_to_date(late).date()} minus "
        "its 1-day window)"
    )
    assert registry.current() == returned.champion


def test_a_failing_retrain_keeps_no_more_versions_than_keep(
    data: CustomerData,
    retrained: tuple[ModelRegistry, RetrainResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A day that failed after writing its challenger (a backtest that cannot
    run, a locked store) pruned nothing, so every failing day added a version
    for good. Now it prunes as a completed day does; its own challenger, the
    newest, stays for the next run to use."""
    registry, champion = retrained

    def no_holdout(*args: Any, **kwargs: Any) -> dict[str, dict[str, float]]:
        raise InputError("no transactions in the holdout", file="syn.csv")

    monkeypatch.setattr(lifecycle, "backtest", no_holdout)
    for day in (1, 2):  # the second failing day prunes the first's challenger
        with pytest.raises(InputError, match="no transactions in the holdout"):
            retrain(
                data, AS_OF + day, registry, horizon_days=HORIZON, config=FAST, keep=2
            )
        assert registry.current() == champion.champion
        assert registry.versions()[0] == champion.champion
        (failed,) = registry.versions()[1:]
        assert failed.startswith(f"202307{day:02d}-")


def test_failure_mid_write_keeps_the_champion(
    data: CustomerData,
    trained: tuple[ModelRegistry, TrainResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The debris of a failed write is invisible, and the next writer sweeps
    it whatever it writes. The next train once wrote the same version from
    the same process, whose own ``.tmp-<version>-<pid>`` it removes anyway:
    with the sweep switched off this test passed. Now it trains another day."""
    registry, champion = trained

    def broken_dump(value: Any, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("joblib.dump", broken_dump)
    with pytest.raises(OSError, match="No space left") as caught:
        train_model(data, AS_OF + 1, HORIZON, registry, FAST, with_backtest=False)
    # named as the version it was writing (a write's error names no file)
    assert Path(caught.value.filename).parent == registry.root
    assert Path(caught.value.filename).name.startswith("20230701-")
    assert registry.current() == champion.version
    assert registry.versions() == [champion.version]
    assert registry.load().version == champion.version
    (debris,) = registry.root.glob(f"{TMP_PREFIX}*")  # invisible to readers
    assert debris.name.startswith(f"{TMP_PREFIX}20230701-")
    monkeypatch.undo()
    after = train_model(data, AS_OF + 2, HORIZON, registry, FAST, with_backtest=False)
    assert after.version.startswith("20230702-")
    assert not list(registry.root.glob(f"{TMP_PREFIX}*"))  # and swept


KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
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
    config = CLTVConfig(**json.loads(sys.argv[4]))  # the test's FAST
    retrain(CustomerData(log), as_of, reg.ModelRegistry(root), horizon_days=horizon,
            config=config)
    """
)


def test_process_killed_mid_write_keeps_the_champion(
    data: CustomerData, trained: tuple[ModelRegistry, TrainResult]
) -> None:
    registry, champion = trained
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
            json.dumps(FAST.as_dict()),
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


def _profiles(data: CustomerData, seed: int) -> CustomerProfiles:
    """A region for each customer of ``data``, drawn with ``seed``."""
    ids = data.transactions.customer_ids
    regions = np.random.default_rng(seed).choice(["north", "south"], size=len(ids))
    return CustomerProfiles(np.asarray(ids, dtype=object), None, (("region", regions),))


def test_the_optional_tables_content_is_part_of_the_version(
    data: CustomerData, tmp_path: Path
) -> None:
    """Two profile tables gave one version id ('already had model', and the
    daily job's 'already done'); now each table's content is in the recipe,
    and a log without the tables keeps its version id."""
    registry = ModelRegistry(tmp_path / "models")
    table = _profiles(data, 2)
    first = CustomerData(data.transactions, _profiles(data, 1))
    second = CustomerData(data.transactions, table)
    a = train_model(first, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    b = train_model(second, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    assert a.created and b.created and a.version != b.version
    assert b.metadata["data"]["profiles"] is True
    assert b.metadata["data"]["profiles_fingerprint"] == table.fingerprint()
    again = train_model(second, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    assert (again.version, again.created) == (b.version, False)
    # the same table in another row order is the same table
    shuffled = _profiles(data, 2)
    order = np.arange(len(shuffled.customer_ids))[::-1]
    reordered = CustomerProfiles(
        shuffled.customer_ids[order],
        None,
        (("region", shuffled.categoricals[0][1][order]),),
    )
    assert reordered.fingerprint() == table.fingerprint()
    plain = Recipe(data.fingerprint(), AS_OF, HORIZON, FAST)
    assert (
        plain.digest()
        == Recipe(data.fingerprint(), AS_OF, HORIZON, FAST, None, None).digest()
    )
    assert plain.version() == "20230630-" + plain.digest()


def test_a_plain_train_adds_the_backtest_a_no_backtest_train_left_out(
    data: CustomerData, trained: tuple[ModelRegistry, TrainResult], tmp_path: Path
) -> None:
    """After --no-backtest, a plain train of the same recipe said 'already
    had model' and stored no backtest; it now runs it and stores it with the
    existing version (the model itself is not refitted)."""
    registry, bare = trained  # trained --no-backtest
    assert "backtest" not in bare.metadata["training_metrics"]
    model_file = tmp_path / "models" / bare.version / "model.joblib"
    model_bytes = model_file.read_bytes()
    full = train_model(data, AS_OF, HORIZON, registry, FAST)
    assert (full.version, full.created, full.added_backtest) == (
        bare.version,
        False,
        True,
    )
    stored = registry.metadata(bare.version)["training_metrics"]
    assert stored["backtest_window_days"] == HORIZON
    assert {"cltv", "bgnbd_gg", "naive_run_rate"} <= set(stored["backtest"])
    assert (
        stored["n_training_rows"]
        == bare.metadata["training_metrics"]["n_training_rows"]
    )
    assert model_file.read_bytes() == model_bytes
    third = train_model(data, AS_OF, HORIZON, registry, FAST)
    assert (third.created, third.added_backtest) == (False, False)
    assert third.metadata["training_metrics"] == stored


def test_an_older_day_does_not_replace_a_newer_champion(
    data: CustomerData, tmp_path: Path
) -> None:
    """Re-running an older day (a backfill) rolled CURRENT back to it, since
    the same recipe on other data is never worse: it is kept, not promoted.
    Nor does it publish: it wrote the champion's scores as of the older day
    over the newer ones (and without the customers who came since)."""
    registry = ModelRegistry(tmp_path / "models")
    published: list[str] = []

    class Sink:
        def put_cltv_scores(
            self,
            scores: Any,
            *,
            as_of: Any,
            model_version: str,
            new_customer_spend: float | None = None,
        ) -> int:
            published.append(str(as_of))
            return len(scores)

    newer = retrain(
        data, AS_OF + 2, registry, horizon_days=HORIZON, config=FAST, sink=Sink()
    )
    assert newer.promoted and published == ["2023-07-02"]
    older = retrain(
        data, AS_OF, registry, horizon_days=HORIZON, config=FAST, sink=Sink()
    )
    assert not older.promoted
    assert older.reason == (
        "as of 2023-06-30, before the champion's 2023-07-02: an older day does "
        "not replace a newer champion (nor its published scores)"
    )
    assert older.published_rows is None and published == ["2023-07-02"]
    assert registry.current() == newer.champion
    assert older.challenger in registry.versions()  # kept for inspection
    assert older.history is None  # never promoted: the guard has nothing to do


def test_a_sink_that_fails_leaves_the_champion_and_its_scores(
    data: CustomerData, retrained: tuple[ModelRegistry, RetrainResult]
) -> None:
    """The scores go out before the challenger is made current: a store that
    cannot be written (locked, gone) leaves CURRENT and what was published as
    they were (the new champion was current with yesterday's scores out)."""
    registry, first = retrained
    before = registry.read_retrain_state()

    class LockedStore:
        def put_cltv_scores(
            self,
            scores: Any,
            *,
            as_of: Any,
            model_version: str,
            new_customer_spend: float | None = None,
        ) -> int:
            raise StoreUnavailable("database is locked")

    with pytest.raises(StoreUnavailable):
        retrain(
            data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST,
            sink=LockedStore(),
        )  # fmt: skip
    assert registry.current() == first.champion
    assert registry.read_retrain_state() == before


def test_a_retrain_stopped_after_writing_its_challenger_is_finished_next_time(
    data: CustomerData,
    retrained: tuple[ModelRegistry, RetrainResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C once the challenger is written (during the backtests): it stays,
    whole and not current, with CURRENT and RETRAIN.json as they were; the
    next run on the same day and data uses it as written (not fitted again,
    not "already done"), decides, promotes and records the day."""
    registry, first = retrained
    before = registry.current(), registry.read_retrain_state()

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "_decide", stopped)
    with pytest.raises(KeyboardInterrupt):
        retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST)
    monkeypatch.undo()
    assert (registry.current(), registry.read_retrain_state()) == before
    (left,) = set(registry.versions()) - {first.champion}
    written = _snapshot(registry.root / left)

    result = retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST)
    assert (result.challenger, result.noop, result.promoted) == (left, False, True)
    assert result.champion_before == first.champion
    assert registry.current() == left
    assert _snapshot(registry.root / left) == written  # used as it was
    again = retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST)
    assert again.noop and again.reason.startswith("already done")


def test_a_prune_cut_short_leaves_no_version_folder_without_its_model(
    data: CustomerData,
    trained: tuple[ModelRegistry, TrainResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C (or a kill) while a pruned version was deleted in place left its
    folder with metadata.json only: not a version (:meth:`versions`), so no
    later prune saw it, and it stayed for good. Now it is renamed out of
    sight first, and the next writer removes what is left of it."""
    registry, _ = trained
    for day in (1, 2):  # three versions with the trained one, the last current
        train_model(data, AS_OF + day, HORIZON, registry, FAST, with_backtest=False)
    oldest = registry.versions()[0]

    def cut_short(path: Path, *args: Any, **kwargs: Any) -> None:
        (Path(path) / MODEL_FILE).unlink()  # the model goes, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr("tierflow.cltv.registry.shutil.rmtree", cut_short)
    with pytest.raises(KeyboardInterrupt), registry.locked():
        registry.prune(2)
    monkeypatch.undo()
    assert not (registry.root / oldest).exists()
    assert len(registry.versions()) == 2 and registry.current() is not None

    # the next writer removes what is left of it
    retrain(data, AS_OF + 3, registry, horizon_days=HORIZON, config=FAST)
    names = sorted(p.name for p in registry.root.iterdir())
    assert names == sorted(
        [LOCK_FILE, CURRENT_FILE, RETRAIN_FILE, *registry.versions()]
    )


def test_a_version_folder_left_without_its_model_is_removed_by_the_next_writer(
    data: CustomerData, retrained: tuple[ModelRegistry, RetrainResult]
) -> None:
    """One an older tierflow's prune left (see above); a folder of another
    name is the user's and stays."""
    registry, _ = retrained
    orphan = registry.root / "20230101-0123456789"
    orphan.mkdir()
    (orphan / METADATA_FILE).write_text("{}\n")
    notes = registry.root / "notes"
    notes.mkdir()
    (notes / "why.txt").write_text("kept\n")
    retrain(data, AS_OF + 1, registry, horizon_days=HORIZON, config=FAST)
    assert not orphan.exists()
    assert (notes / "why.txt").read_text() == "kept\n"


def test_scores_csv_stopped_half_way_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its temporary file sits beside the user's CSV, where no later run
    looks: a write stopped half-way (Ctrl-C, a full disk) removes it."""
    path = tmp_path / "scores.csv"
    path.write_text("customer_id,predicted_spend,p_active,segment\nC1,1,0.5,gold\n")
    before = path.read_bytes()
    scores = pd.DataFrame(
        {"customer_id": ["C2"], "predicted_spend": [2.0], "p_active": [0.5],
         "segment": ["silver"]}
    )  # fmt: skip

    def half(self: pd.DataFrame, target: Path, *args: Any, **kwargs: Any) -> None:
        Path(target).write_text("customer_id,pre")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half)
    with pytest.raises(KeyboardInterrupt):
        lifecycle.write_scores_csv(scores, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]
    assert path.read_bytes() == before


def test_a_model_a_train_made_current_is_not_the_retrains_own(
    data: CustomerData, tmp_path: Path
) -> None:
    """The day's retrain kept the champion and pruned its challenger
    (``keep=1``); a ``cltv train`` of the same recipe then wrote that model
    again and made it current. The retrain run again reported "already
    done" against the trained model, its old decision (the champion kept,
    its scores published) standing beside a CURRENT that said otherwise.
    Now the day is run against the new champion, which stays (a train is a
    deliberate promotion) and whose scores are published; that run is then
    the day's, and a rerun is "already done"."""
    first = data.transactions.first_day
    young = data.until(first + 130)  # the backtest cannot run: no fit needed
    registry = ModelRegistry(tmp_path / "models")
    sink = lifecycle.CsvScoreSink(tmp_path / "scores.csv")
    champion = retrain(young, first + 100, registry, horizon_days=HORIZON, config=FAST)
    day = first + 101
    kept = retrain(
        young, day, registry, horizon_days=HORIZON, config=OTHER, sink=sink, keep=1
    )
    assert not kept.promoted and kept.pruned == (kept.challenger,)
    assert registry.current() == champion.champion
    trained = train_model(young, day, HORIZON, registry, OTHER, with_backtest=False)
    assert trained.created and trained.version == kept.challenger
    assert registry.current() == trained.version

    rerun = retrain(
        young, day, registry, horizon_days=HORIZON, config=OTHER, sink=sink, keep=1
    )
    assert not rerun.noop and not rerun.promoted
    assert rerun.champion_before == rerun.champion == trained.version
    assert rerun.reason == (
        "challenger is the champion, made current outside a completed retrain "
        "(by tierflow cltv train, or a retrain stopped before it recorded the "
        "day): it stays"
    )
    published = pd.read_csv(tmp_path / "scores.csv", dtype={"customer_id": str})
    _, scores = lifecycle.score_model(young, registry, day, version=trained.version)
    assert rerun.published_rows == len(published) == len(scores.frame)
    np.testing.assert_allclose(
        published["predicted_spend"], scores.frame["predicted_spend"], rtol=1e-12
    )
    state = registry.read_retrain_state()
    assert state is not None and state["champion"] == trained.version

    again = retrain(
        young, day, registry, horizon_days=HORIZON, config=OTHER, sink=sink, keep=1
    )
    assert again.noop and again.reason.startswith("already done")
    assert again.champion == trained.version


def test_a_damaged_retrain_record_names_how_to_go_on(tmp_path: Path) -> None:
    """A RETRAIN.json damaged on disk stopped every daily retrain with "not
    valid JSON" and no word of what to do; the record only makes a repeat
    of a finished day a no-op, so removing it is safe, and the error says
    so."""
    registry = ModelRegistry(tmp_path / "models")
    registry.root.mkdir(parents=True, exist_ok=True)
    (registry.root / RETRAIN_FILE).write_text('{"as_of": "2026-')
    with pytest.raises(InputError) as err:
        registry.read_retrain_state()
    assert str(err.value) == (
        f"{registry.root / RETRAIN_FILE}: not valid JSON (Unterminated string "
        "starting at at line 1 column 11); it only records "
        "the last retrain's decision: remove it and the next retrain decides "
        "its day again"
    )


def test_a_retrain_publishes_with_the_models_it_loaded_or_fitted(
    retrained: tuple[ModelRegistry, RetrainResult],
    data: CustomerData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A retrain loaded the champion to plan the day, loaded it again to
    publish (and a third time, as its own challenger, on a re-run of its
    day), and the simulation's cltv job read its metadata.json once more
    for its config and horizon. Each run now loads the champion once,
    publishes the scores a load of it gives, and says what it was trained
    with."""
    registry, first = retrained
    loads: list[str | None] = []
    load = ModelRegistry.load

    def counted(self: ModelRegistry, version: str | None = None) -> Any:
        loads.append(version)
        return load(self, version)

    monkeypatch.setattr(ModelRegistry, "load", counted)
    runs = {
        "decided again": AS_OF,  # the first run published nothing
        "no-op": AS_OF,
        "promoted": AS_OF + 1,
    }
    for name, day in runs.items():
        loads.clear()
        out = tmp_path / f"{name}.csv"
        result = retrain(data, day, registry, sink=CsvScoreSink(out))
        assert loads == [first.champion], name
        assert result.noop == (name == "no-op")
        assert result.promoted == (name == "promoted")
        monkeypatch.setattr(ModelRegistry, "load", load)
        stored = registry.load(result.champion)
        monkeypatch.setattr(ModelRegistry, "load", counted)
        published = pd.read_csv(out, dtype={"customer_id": str})
        expected = stored.model.score(data, day).frame.loc[:, list(published.columns)]
        pd.testing.assert_frame_equal(published, expected.reset_index(drop=True))
        assert (result.champion_config, result.champion_horizon_days) == (
            stored.config,
            stored.horizon_days,
        )


def test_a_writer_waiting_on_a_failed_writers_new_folder_writes_in_it(
    tmp_path: Path,
) -> None:
    """A writer that fails in a folder it made removes the folder and its
    lock (nothing was written); a writer that was waiting on that lock then
    locks a new one at the path, not the removed file, and writes."""
    import threading
    import time

    registry = ModelRegistry(tmp_path / "a" / "models")
    inside, done = threading.Event(), threading.Event()
    wrote: list[Path] = []

    def second_writer() -> None:
        inside.wait()
        with registry.locked():
            note = registry.root / "note"
            note.write_text("kept\n")
            wrote.append(note)
        done.set()

    waiter = threading.Thread(target=second_writer)
    waiter.start()
    with pytest.raises(RuntimeError, match="boom"), registry.locked():
        inside.set()
        time.sleep(0.3)  # the other writer is waiting on this lock
        raise RuntimeError("boom")
    waiter.join(timeout=10)
    assert done.is_set()
    assert sorted(p.name for p in registry.root.iterdir()) == [LOCK_FILE, "note"]
    assert wrote[0].read_text() == "kept\n"
    # alone, the failure leaves nothing it made
    other = ModelRegistry(tmp_path / "b" / "models")
    with pytest.raises(RuntimeError, match="boom"), other.locked():
        raise RuntimeError("boom")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff x\n", "not UTF-8 text (byte 0xff at position 0)"),
        (b" \n", "empty"),
    ],
)
def test_a_damaged_current_file_is_named(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """A CURRENT that is not UTF-8 ended ``cltv score`` in a UnicodeDecodeError
    traceback, and a blank one said "no current model" of the folder; both
    are damage to CURRENT (a writer replaces it whole, never blank), found
    by the fuzzer (docs/fuzzing.md)."""
    registry = ModelRegistry(tmp_path / "models")
    registry.root.mkdir()
    (registry.root / CURRENT_FILE).write_bytes(content)
    with pytest.raises(InputError) as err:
        registry.load()
    assert str(err.value) == (
        f"{registry.root / CURRENT_FILE}: {problem}: it names the current "
        "model's version; make one current with tierflow cltv train"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": [1]}, "field 'config': value [1]: not a JSON object"),
        (
            {"config": {"nope": 1}},
            "field 'config': not CLTV settings (unexpected key 'nope')",
        ),
        (
            {"config": {"max_iter": "x"}},
            "field 'config.max_iter': value 'x': must be an integer in [1, 100,000]",
        ),
        ({"horizon_days": "x"}, "field 'horizon_days': value 'x': must be an "
         "integer in [1, 3,650]"),
        ({"horizon_days": None}, "field 'horizon_days': must be an integer in "
         "[1, 3,650]"),
        ({"as_of": 5}, "field 'as_of': value 5: must be a date (YYYY-MM-DD)"),
        ({"data": [1]}, "field 'data': value [1]: not a JSON object"),
        # settings CLTVConfig did not check: a traceback when fitting, or
        # read as something else without a word (QA)
        ({"config": {"n_jobs": "x"}}, "field 'config.n_jobs': value 'x': must "
         "be null (automatic) or an integer in [1, 1,024]"),
        ({"config": {"n_jobs": 1.5}}, "field 'config.n_jobs': value 1.5: must "
         "be null (automatic) or an integer in [1, 1,024]"),
        ({"config": {"n_jobs": True}}, "field 'config.n_jobs': value True: "
         "must be null (automatic) or an integer in [1, 1,024]"),
        ({"config": {"blend": "yes"}}, "field 'config.blend': value 'yes': "
         "must be true or false"),
        ({"config": {"blend": None}}, "field 'config.blend': must be true or "
         "false"),
        ({"config": {"max_customers_per_cutoff": "x"}},
         "field 'config.max_customers_per_cutoff': value 'x': must be null (no "
         "sampling) or an integer in [1, 1,000,000,000]"),
        ({"config": {"max_customers_per_cutoff": -3}},
         "field 'config.max_customers_per_cutoff': value -3: must be null (no "
         "sampling) or an integer in [1, 1,000,000,000]"),
        ({"config": {"max_customers_per_cutoff": 0}},
         "field 'config.max_customers_per_cutoff': value 0: must be null (no "
         "sampling) or an integer in [1, 1,000,000,000]"),
    ],
)  # fmt: skip
def test_a_damaged_champion_metadata_is_named(
    trained: tuple[ModelRegistry, TrainResult],
    data: CustomerData,
    change: dict[str, object],
    message: str,
) -> None:
    """A champion's metadata.json damaged by hand or disk (its config not an
    object or with a key too many, its horizon or as-of not a number or a
    date, its ``data`` not an object) ended cltv retrain in a TypeError,
    KeyError or AttributeError traceback, and cltv score's unit note (which
    reads ``data``) in an AttributeError; found by the model-folder fuzz."""
    registry, result = trained
    path = registry.root / result.version / METADATA_FILE
    meta = json.loads(path.read_text()) | change
    path.write_text(json.dumps(meta))
    before = _snapshot(registry.root)
    with pytest.raises(InputError) as err:
        retrain(data, AS_OF + 1, registry, config=FAST)
    assert str(err.value) == f"{path}: {message}"
    assert _snapshot(registry.root) == before
    if "data" in change:
        with pytest.raises(InputError) as err:
            unit_note(data, AS_OF, registry, result.version)
        assert str(err.value) == f"{path}: {message}"


def _drop(name: str) -> Any:
    def damage(model: Any) -> None:
        del model.__dict__[name]

    return damage


def _set(name: str, value: object) -> Any:
    def damage(model: Any) -> None:
        model.__dict__[name] = value

    return damage


def _set_config(name: str, value: object) -> Any:
    def damage(model: Any) -> None:
        object.__setattr__(model.config, name, value)

    return damage


#: What the model file of another tierflow looks like to this one (a field
#: it does not have, or of another kind), and damage unpickling lets
#: through; each was a traceback when scoring, or a silent score.
MODEL_DAMAGE = [
    (_drop("shapes_"), "field 'shapes_': missing"),
    (_drop("config"), "field 'config': missing"),
    (_drop("regressor_"), "field 'regressor_': a NoneType, not a CLTVRegressor"),
    (_set("config", {"plan": "rolling"}), "field 'config': a dict, not a CLTVConfig"),
    (_set("regressor_", None), "field 'regressor_': a NoneType, not a CLTVRegressor"),
    (_set("regressor_", "x"), "field 'regressor_': a str, not a CLTVRegressor"),
    (_set("encoder_", None), "field 'encoder_': a NoneType, not a FeatureEncoder"),
    (_set("shapes_", [1]), "field 'shapes_': a list, not a dict of Shape"),
    (_set("horizon_days_", "x"), "field 'horizon_days_': a str, not an int"),
    (_set("as_of_day_", None), "field 'as_of_day_': a NoneType, not an int"),
    (_set("level_", "x"), "field 'level_': a str, not a Level or None"),
    (
        _set_config("platinum_share", "x"),
        "field 'config.platinum_share': value 'x': must be a number in [0, 1]",
    ),
    (_set_config("blend", None), "field 'config.blend': must be true or false"),
]


@pytest.mark.parametrize(("damage", "message"), MODEL_DAMAGE)
def test_a_model_file_this_tierflow_cannot_score_is_named(
    trained: tuple[ModelRegistry, TrainResult],
    data: CustomerData,
    damage: Any,
    message: str,
) -> None:
    """A model.joblib that unpickles into a CLTVModel with a field missing or
    of another kind (written by another tierflow, or damaged) was an
    AttributeError or TypeError traceback from cltv score, or "the CLTV
    model is not fitted; call fit() first" naming no file; retrain, which
    loads the champion only to publish its scores, trained and wrote its
    challenger first. Now an error naming the file and the field, before
    anything is written (QA)."""
    import joblib

    registry, result = trained
    path = registry.root / result.version / MODEL_FILE
    model = joblib.load(path)
    damage(model)
    joblib.dump(model, path)
    why = (
        f"{path}: {message}; the file is damaged or was written by an "
        "incompatible version: train again"
    )
    with pytest.raises(InputError) as err:
        registry.load()
    assert str(err.value) == why
    assert not registry.readable(result.version)
    before = _snapshot(registry.root)
    with pytest.raises(InputError) as err:
        retrain(data, AS_OF + 1, registry, config=FAST)
    assert str(err.value) == why
    assert _snapshot(registry.root) == before


def test_the_version_that_wrote_a_model_is_named(
    trained: tuple[ModelRegistry, TrainResult],
) -> None:
    """The tierflow that wrote a model this one cannot score, from its
    ``metadata.json``, when it is another."""
    import joblib

    registry, result = trained
    folder = registry.root / result.version
    model = joblib.load(folder / MODEL_FILE)
    del model.__dict__["blend_"]
    joblib.dump(model, folder / MODEL_FILE)
    del model.__dict__["level_"]  # read as None, its class default: refitted
    joblib.dump(model, folder / MODEL_FILE)
    assert registry.load().model._blend().as_dict() == {"cltv": 1.0}  # optional
    del model.__dict__["shapes_"]
    joblib.dump(model, folder / MODEL_FILE)
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["library_versions"]["tierflow"] = "0.0.9"
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError) as err:
        registry.load()
    assert str(err.value) == (
        f"{folder / MODEL_FILE}: field 'shapes_': missing; the file is damaged "
        "or was written by an incompatible version (tierflow 0.0.9; this is "
        f"{library_versions()['tierflow']}): train again"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": FAST.with_params(platinum_share=0.5).as_dict()},
         "field 'config.platinum_share': value 0.5: does not match the model "
         "file's (0.1)"),
        ({"horizon_days": HORIZON + 1}, f"field 'horizon_days': value {HORIZON + 1}: "
         f"does not match the model file's ({HORIZON})"),
        ({"as_of": "2023-06-29"}, "field 'as_of': value '2023-06-29': does not "
         "match the model file's (2023-06-30)"),
        ({"data": {"history": {"rows": 1}}}, "field 'data.history.as_of': "
         "missing"),
        ({"data": {"history": "x"}}, "field 'data.history': not a JSON object"),
        ({"data": 5}, "field 'data': value 5: not a JSON object"),
        ({"training_metrics": [1]}, "field 'training_metrics': value [1]: not "
         "a JSON object"),
        ({"training_metrics": {"backtest": [1]}}, "field "
         "'training_metrics.backtest': value [1]: not an object of each "
         "model's metrics"),
        ({"training_metrics": {"backtest": {"cltv": {"mae": 1.0}}}}, "field "
         "'training_metrics.backtest.cltv.spearman': missing"),
        ({"level": "x"}, "field 'level': value 'x': not a JSON object or null"),
        ({"level": {"young_history_note": 5}}, "field 'level.young_history_note': "
         "value 5: not a string or null"),
        ({"config": {"nope": 1}}, "field 'config': not CLTV settings "
         "(unexpected key 'nope')"),
    ],
)  # fmt: skip
def test_a_metadata_file_that_does_not_describe_its_model_is_named(
    trained: tuple[ModelRegistry, TrainResult],
    data: CustomerData,
    change: dict[str, object],
    message: str,
) -> None:
    """A version's metadata.json edited into valid settings the model was
    not trained with was used by retrain to plan the day (the challenger got
    the edited config; the model file scores with its own), and a damaged
    history summary, training metrics or level passed cltv score (the unit
    note was dropped without a word) and failed a train of the recipe with
    a traceback; load() checks what every command reads back, so a train of
    the recipe writes such a version again (QA)."""
    registry, result = trained
    path = registry.root / result.version / METADATA_FILE
    meta = json.loads(path.read_text()) | change
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError) as err:
        registry.load()
    assert str(err.value) == f"{path}: {message}"
    before = _snapshot(registry.root)
    with pytest.raises(InputError) as err:
        retrain(data, AS_OF + 1, registry, config=FAST)
    assert str(err.value) == f"{path}: {message}"
    assert _snapshot(registry.root) == before
    again = train_model(data, AS_OF, HORIZON, registry, FAST, with_backtest=False)
    assert (again.version, again.created) == (result.version, True)
    assert registry.load().metadata["version"] == result.version


def _stub_versions(root: Path, *names: str) -> ModelRegistry:
    """A registry whose version folders hold both files (not loadable models:
    enough for what only looks at the folder)."""
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / MODEL_FILE).write_bytes(b"stub")
        (root / name / METADATA_FILE).write_text("{}\n")
    return ModelRegistry(root)


def test_set_current_refuses_a_version_not_in_the_folder(tmp_path: Path) -> None:
    registry = _stub_versions(tmp_path / "models", "20230630-0123456789")
    registry.set_current("20230630-0123456789")
    with pytest.raises(InputError) as caught:
        registry.set_current("20230701-abcdefabcd")
    assert str(caught.value) == (
        f"{tmp_path / 'models'}: field 'version': value '20230701-abcdefabcd': "
        "no such model version (have: 20230630-0123456789)"
    )
    assert registry.current() == "20230630-0123456789"


def test_a_current_write_cut_short_keeps_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CURRENT`` is written beside it and renamed over it: a write cut short
    (a full disk) leaves the champion current, not a truncated name."""
    old, new = "20230630-0123456789", "20230701-abcdefabcd"
    registry = _stub_versions(tmp_path / "models", old, new)
    registry.set_current(old)

    def full_disk(path: Path, text: str) -> None:
        Path(path).write_text(text[:4])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tierflow.cltv.registry._write_text", full_disk)
    with pytest.raises(OSError, match="No space left") as caught:
        registry.set_current(new)
    assert caught.value.filename == str(registry.root / CURRENT_FILE)
    assert (registry.root / CURRENT_FILE).read_text() == old + "\n"
    assert registry.current() == old


def _with_a_stray_row(data: CustomerData, stray_day: int) -> CustomerData:
    """``data`` up to :data:`AS_OF` and one row by a new customer on
    ``stray_day`` (a year typed wrong): the log's data ends near AS_OF."""
    tx = data.until(AS_OF).transactions
    return CustomerData(
        TransactionLog.from_columns(
            [*tx.customer_ids[tx.customer], "NEW"],
            [*(day_to_date(d) for d in tx.day), day_to_date(stray_day)],
            [*tx.amount, 30.0],
            source="syn.csv",
        )
    )


def test_a_stray_row_does_not_hide_a_stale_log(data: CustomerData) -> None:
    """QA: the data ends near 2023-06-30, one row is dated 2024-06-29 (a
    typo) and the day scored is 2024-06-30: the stale-log note measured
    the gap from that row (1 day) and said nothing, so a year-old log
    published normal-looking scores. It measures from where the data ends
    and says why the row is not its end."""
    as_of = day_number("2024-06-30")
    stray = _with_a_stray_row(data, as_of - 1)
    end = stray.transactions.data_last_day
    assert end <= AS_OF and stray.transactions.last_day == as_of - 1
    assert stale_log_note(stray, as_of) == (
        f"syn.csv: the log's data ends on {day_to_date(end).date()}, "
        f"{as_of - end} days before the as-of date 2024-06-30 (1 row dated after "
        "it, over 90 days past the rest, is not counted as the log's end: a "
        "typo?): every customer looks inactive since"
    )
    # without a stray tail, the note is as it was
    plain = data.until(AS_OF)
    last = plain.transactions.last_day
    assert stale_log_note(plain, as_of) == (
        f"syn.csv: the log ends on {day_to_date(last).date()}, {as_of - last} "
        "days before the as-of date 2024-06-30: every customer looks inactive "
        "since"
    )
    assert stale_log_note(plain, last + STALE_LOG_DAYS) is None


def test_a_stray_row_does_not_make_a_stale_log_a_quiet_day(data: CustomerData) -> None:
    """QA: a log a year stale but for one new customer's row the day before
    the as-of date (a typo) read as a quiet day of a daily retrain: its
    backtest was skipped (``empty_window``) and the challenger promoted. A
    log that ends weeks before the as-of date is a broken feed whose backtest
    fails the day; it is judged by where the data ends."""
    as_of = day_number("2024-06-30")
    stray = _with_a_stray_row(data, as_of)
    configs = (FAST,)
    assert backtest_shortfall(stray, as_of, configs, 1) is None
    # a log a day late is still a quiet day
    plain = _with_a_stray_row(data, AS_OF + 1)
    assert plain.transactions.stray_rows == 0
    skipped = backtest_shortfall(plain, AS_OF + 2, configs, 1)
    assert skipped is not None and skipped.cause == "empty_window"
