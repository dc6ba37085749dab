"""Train, score and the daily champion/challenger retrain, over a model registry.

The daily job (:func:`retrain`) is idempotent per recipe (data, as-of date,
horizon, config), refuses a day whose data lost part of the champion's
history (:mod:`tierflow.cltv.history`), backtests both recipes on the latest
complete window and promotes the challenger unless it is worse beyond a
tolerance (the steps are in ``docs/cltv.md``). Scores leave through the
:class:`ScoreSink` protocol, which the state store implements;
:class:`CsvScoreSink` writes a file.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from tierflow.cltv.evaluate import evaluate_model, metrics_json
from tierflow.cltv.features import CustomerData, purchasers_by, spend_between
from tierflow.cltv.history import (
    DEFAULT_MAX_HISTORY_LOSS,
    GuardStatus,
    HistoryGuard,
    HistorySummary,
    compare_history,
    error_format,
    summarize_history,
    unit_change,
)
from tierflow.cltv.level import young_season_note
from tierflow.cltv.model import CLTVConfig, CLTVModel, Scores
from tierflow.cltv.registry import (
    METADATA_FILE,
    RETRAIN_FILE,
    ModelRegistry,
    Recipe,
    StoredModel,
    library_versions,
    stored_data,
    stored_history,
    stored_recipe,
)
from tierflow.data.errors import InputError
from tierflow.data.transactions import (
    TransactionLog,
    day_number,
    day_to_date,
    stray_text,
)

#: Columns handed to a :class:`ScoreSink`, in this order.
SCORE_COLUMNS = ("customer_id", "predicted_spend", "p_active", "segment")
#: Metrics compared between champion and challenger; higher is better.
RANKING_METRICS = ("spearman", "top10_capture", "top20_capture")
#: Longest backtest window: most recent behaviour, enough buyers to rank.
MAX_BACKTEST_DAYS = 90
#: The reason a challenger of the champion's config is promoted: the
#: backtest compares configurations (each refitted on the day's data), so
#: it would compare the config with itself; the day's data is the history
#: guard's to judge.
SAME_CONFIG = (
    "the challenger has the champion's config, which the backtest would "
    "compare with itself: promoted"
)
#: A log that ends more days than this before the as-of date gets a note: a
#: daily job's log lags a day or two, a week without one row is a stale file.
STALE_LOG_DAYS = 7


def log_end_gap(log: TransactionLog, as_of_day: int) -> int:
    """Days from where the log's data ends
    (:attr:`~tierflow.data.transactions.TransactionLog.data_last_day`) to
    ``as_of_day``: what a stale log is judged by. One row dated the day
    before (a typo) made a log a year stale read as current, in the note
    and in the backtest's rule alike."""
    return as_of_day - log.data_last_day


def stale_log_note(data: CustomerData, as_of_day: int) -> str | None:
    """A note when the transactions end well before ``as_of_day``: the model
    then reads the gap as every customer being inactive, and publishes
    scores that look normal; ``None`` otherwise."""
    log = data.transactions
    if log.n_rows == 0:
        return None
    gap = log_end_gap(log, as_of_day)
    if gap <= STALE_LOG_DAYS:
        return None
    where = f"{log.source}: " if log.source else ""
    end = day_to_date(log.data_last_day).date()
    stray = log.stray_rows
    ends = f"the log's data ends on {end}" if stray else f"the log ends on {end}"
    return (
        f"{where}{ends}, {gap} days before the as-of date "
        f"{day_to_date(as_of_day).date()}"
        + (f" ({stray_text(stray)})" if stray else "")
        + ": every customer looks inactive since"
    )


def unit_note(
    data: CustomerData, as_of_day: int, registry: ModelRegistry, version: str
) -> str | None:
    """A note when the amounts of ``data`` up to ``as_of_day``, or of its
    newest rows (:func:`~tierflow.cltv.history.unit_change`), average more
    than :data:`~tierflow.cltv.history.UNIT_NOTE_RATIO` times (or less than
    its inverse) those the model ``version`` was trained on: a log in cents
    scored with a model trained in dollars put the spend features where the
    model never saw them, and forecasts moved by factors of 1e-8 to 1e4
    against the dollar ones (42 of 800 customers changed tier) without a
    word. ``None`` otherwise, or for a model saved without a history
    summary."""
    path = registry.root / version / METADATA_FILE
    stored = stored_data(registry.metadata(version), path).get("history")
    if not isinstance(stored, dict):
        return None
    try:
        trained = HistorySummary.from_json(stored)
    except InputError:  # the history guard names a damaged one; a note does not
        return None
    change = unit_change(trained, data.transactions, as_of_day)
    if change is None:
        return None
    log = data.transactions
    where = f"{log.source}: " if log.source else ""
    return (
        f"{where}{change.describe(version)} The model's spend features are in "
        "its training log's unit; score a log in that unit"
    )


class ScoreSink(Protocol):
    """Where published CLTV scores go (implemented by the state store).

    ``scores`` has the columns of :data:`SCORE_COLUMNS`; the return value is
    the number of rows written. Writing the same ``(as_of, model_version)``
    twice must leave the same state (an upsert), so retries are safe.
    ``new_customer_spend`` is the day's new-customer prior
    (:attr:`~tierflow.cltv.model.Scores.new_customer_spend`), kept with the
    scores by a sink that can (a CSV of scores has no place for it).
    """

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: datetime.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class CsvScoreSink:
    """A :class:`ScoreSink` writing a CSV (temp file + atomic rename)."""

    path: Path

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: datetime.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int:
        write_scores_csv(scores, self.path)
        return len(scores)


@runtime_checkable
class ServedScores(Protocol):
    """A :class:`ScoreSink` that serves the scores of its latest day only
    (the state store): scores written for an earlier day are kept, never
    served."""

    def latest_cltv_as_of(self) -> datetime.date | None: ...


def served_day(sink: ScoreSink) -> datetime.date | None:
    """The latest day ``sink`` (or any of :class:`ScoreSinks`' sinks) serves
    scores of; None when none serves a day (a CSV, an empty store)."""
    sinks = sink.sinks if isinstance(sink, ScoreSinks) else [sink]
    days = [s.latest_cltv_as_of() for s in sinks if isinstance(s, ServedScores)]
    return max((d for d in days if d is not None), default=None)


class ScoreSinks:
    """Publish to several sinks, all or none as far as a file can be: each
    CSV is written to its temporary file first, then the other sinks (the
    state store) are written, then the files are renamed into place. A CSV
    that could not be written (a read-only folder) was found after the state
    store already held scores of a model that never became current.

    Returns the row count of the first sink."""

    def __init__(self, sinks: Sequence[ScoreSink]) -> None:
        self.sinks = list(sinks)

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: datetime.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int:
        files = [s for s in self.sinks if isinstance(s, CsvScoreSink)]
        staged: list[tuple[Path, Path]] = []
        try:
            for sink in files:
                staged.append((_staged_scores(scores, sink.path), sink.path))
            counts = [
                len(scores)
                if isinstance(s, CsvScoreSink)
                else s.put_cltv_scores(
                    scores,
                    as_of=as_of,
                    model_version=model_version,
                    new_customer_spend=new_customer_spend,
                )
                for s in self.sinks
            ]
            for tmp, path in staged:
                os.replace(tmp, path)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
        return counts[0]


def write_scores_csv(scores: pd.DataFrame, path: Path) -> None:
    """``customer_id,predicted_spend,p_active,segment``, written atomically
    and at full precision (as ``predictions.csv``: six decimals made ties
    the state store's copy of the same scores does not have).

    A write stopped half-way (Ctrl-C, a full disk) removes its temporary
    file: it sits beside the user's file, where no later run would.
    """
    tmp = _staged_scores(scores, path)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _staged_scores(scores: pd.DataFrame, path: Path) -> Path:
    """The scores written to a temporary file beside ``path`` (removed when
    the write fails); a failure names ``path``, not the temporary file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scores.loc[:, list(SCORE_COLUMNS)].to_csv(tmp, index=False)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(
            f"cannot be written ({exc.strerror or exc})", file=str(path)
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def backtest_days(horizon_days: int) -> int:
    """The backtest window: the horizon, at most :data:`MAX_BACKTEST_DAYS`."""
    return max(1, min(horizon_days, MAX_BACKTEST_DAYS))


@dataclass(frozen=True, slots=True)
class BacktestSkipped:
    """Why a retrain ran no backtest, which then failed every such day:

    - ``cause="history"``: the history is shorter than its window plus the
      training of the refit before the window (every day of a young history
      failed, and the champion was never replaced). Days count from the
      first purchase to the as-of date; ``runs_from`` is the first as-of date
      with history enough.
    - ``cause="empty_window"``: the window (``window_from`` to ``window_to``)
      has no spend by the customers known before it to score the refits on:
      a quiet day of a one-day horizon, a day of new customers or returns
      only, or a log a day or two late (``runs_from`` is ``None``: from the
      next day with spend in its window). A log whose data ends more than
      :data:`STALE_LOG_DAYS` before the as-of date (:func:`log_end_gap`)
      still fails it.
    """

    window_days: int
    needed_days: int
    history_days: int
    first_purchase: str
    runs_from: str | None
    cause: str
    window_from: str
    window_to: str

    def message(self) -> str:
        if self.cause == "empty_window":
            return (
                f"backtest not run: no spend to score it on in its "
                f"{self.window_days}-day window ({self.window_from} to "
                f"{self.window_to}) by the customers known before it (no "
                "transactions, only new customers', or more returns than "
                "purchases)"
            )
        trains = self.needed_days - self.window_days
        return (
            f"backtest not run: history too short for it ({self.history_days} "
            f"days from the first purchase on {self.first_purchase} to the "
            f"as-of date; it needs {self.needed_days}: its {self.window_days}-day "
            f"window and the {trains} days a model trains on before it; it runs "
            f"from the as-of date {self.runs_from})"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def backtest_shortfall(
    data: CustomerData, as_of_day: int, configs: Sequence[CLTVConfig], window_days: int
) -> BacktestSkipped | None:
    """A :class:`BacktestSkipped` when the history up to ``as_of_day`` cannot
    hold a backtest of every config in ``configs`` (each refitted as of
    ``as_of_day − window_days`` and scored on the window after it), or the
    window holds no spend to score; ``None`` when it can run."""
    log = data.transactions
    first = log.first_day
    needed = window_days + max(c.min_training_days for c in configs)
    start = as_of_day - window_days
    window = (str(day_to_date(start + 1).date()), str(day_to_date(as_of_day).date()))
    history = (window_days, needed, as_of_day - first, str(day_to_date(first).date()))
    if as_of_day - first < needed:
        runs_from = str(day_to_date(first + needed).date())
        return BacktestSkipped(*history, runs_from, "history", *window)
    stale = log_end_gap(log, as_of_day) > STALE_LOG_DAYS
    if not stale and _window_spend(log, start, as_of_day) <= 0:
        # a log weeks behind is a broken feed: its backtest fails the day
        return BacktestSkipped(*history, None, "empty_window", *window)
    return None


def _window_spend(log: TransactionLog, start: int, end: int) -> float:
    """Net spend in ``(start, end]`` of the customers who purchased on or
    before ``start``: what a backtest trained as of ``start`` is scored on
    (:func:`~tierflow.cltv.evaluate.evaluate_forecasts` refuses 0 or less),
    summed as it sums it."""
    return float(spend_between(log, purchasers_by(log, start), start, end).sum())


def backtest(
    data: CustomerData,
    as_of_day: int,
    config: CLTVConfig,
    window_days: int,
    *,
    hint: str = "",
) -> dict[str, dict[str, float]]:
    """Metrics of ``config`` and the baselines, trained as of ``as_of_day −
    window_days`` and scored on the ``window_days`` up to ``as_of_day``.

    An error names the backtest's own as-of date as such (the user gave only
    ``as_of_day``), followed by ``hint``.
    """
    start = as_of_day - window_days
    try:
        evaluation, _ = evaluate_model(data, start, window_days, config)
    except InputError as exc:
        given = str(day_to_date(as_of_day).date())
        raise InputError(
            f"{exc.reason} (the backtest trains as of the as-of date {given} "
            f"minus its {window_days}-day window){hint}",
            file=exc.file,
            row=exc.row,
            field="backtest_as_of" if exc.field == "as_of" else exc.field,
            value=exc.value,
        ) from exc
    return evaluation.metrics


def _metadata(
    model: CLTVModel,
    recipe: Recipe,
    version: str,
    data: CustomerData,
    training_metrics: dict[str, Any],
) -> dict[str, Any]:
    """``metadata.json``; ``data.history`` is what the history guard of a
    later retrain compares the day's data with."""
    history = summarize_history(data.transactions, recipe.as_of_day)
    described = model.describe()
    if described.get("level") is not None and model.level_ is not None:
        # beside seasonal_windows, as in cltv evaluate's metrics.json
        described["level"]["young_history_note"] = young_season_note(
            model.level_, data.transactions.first_day
        )
    return {
        "version": version,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data": {
            "fingerprint": recipe.fingerprint,
            "source": data.transactions.source,
            "profiles": recipe.profiles is not None,
            "browsing": recipe.browsing is not None,
            "profiles_fingerprint": recipe.profiles,
            "browsing_fingerprint": recipe.browsing,
            "history": history.to_json(),
        },
        **described,
        "training_metrics": training_metrics,
        "library_versions": library_versions(),
    }


@dataclass(frozen=True, slots=True)
class TrainResult:
    """``created``: a new version was written; ``added_backtest``: an
    existing one stored without a backtest got it now; ``model``: the
    version's model as fitted or loaded (a retrain publishes with it rather
    than load it again)."""

    version: str
    created: bool
    metadata: dict[str, Any]
    added_backtest: bool = False
    model: CLTVModel | None = field(default=None, repr=False, compare=False)


def _recipe(
    data: CustomerData, as_of_day: int, horizon_days: int, config: CLTVConfig
) -> Recipe:
    return Recipe(
        fingerprint=data.fingerprint(),
        as_of_day=as_of_day,
        horizon_days=horizon_days,
        config=config,
        profiles=None if data.profiles is None else data.profiles.fingerprint(),
        browsing=None if data.browsing is None else data.browsing.fingerprint(),
    )


def _fit_and_write(
    registry: ModelRegistry,
    data: CustomerData,
    recipe: Recipe,
    *,
    with_backtest: bool,
    champion: StoredModel | None = None,
) -> TrainResult:
    """Fit and write the version of ``recipe``, or take it as stored;
    ``champion``: the current model as already loaded (a retrain's
    challenger of the champion's own recipe loaded it again)."""
    version = recipe.version()
    # a version damaged on disk (:meth:`ModelRegistry.readable`) is fitted
    # and written again: the recipe names it, so "train again" found it,
    # "already had", and made the damaged model current
    stored = version in registry.versions()
    loaded = champion if champion is not None and champion.version == version else None
    if stored and loaded is None:
        with contextlib.suppress(InputError):
            loaded = registry.load(version)
    if loaded is not None:
        meta = dict(loaded.metadata)  # the champion's own stays as loaded
        training = meta.get("training_metrics") or {}
        if not with_backtest or "backtest" in training:
            return TrainResult(version, False, meta, model=loaded.model)
        # stored without one (--no-backtest, retrain): the backtest asked for
        # now is run and stored with it, as a first train would have
        meta["training_metrics"] = {**training, **_training_backtest(data, recipe)}
        registry.write_metadata(version, meta)
        return TrainResult(
            version, False, meta, added_backtest=True, model=loaded.model
        )
    damaged = stored
    model = CLTVModel(recipe.config).fit(data, recipe.as_of_day, recipe.horizon_days)
    training = {"n_training_rows": model.n_training_rows_}
    if with_backtest:
        training |= _training_backtest(data, recipe)
    meta = _metadata(model, recipe, version, data, training)
    registry.write(model, version, meta, replace=damaged)
    return TrainResult(version, True, meta, model=model)


def _training_backtest(data: CustomerData, recipe: Recipe) -> dict[str, Any]:
    """The training metrics of :func:`train_model`'s backtest."""
    window = backtest_days(recipe.horizon_days)
    metrics = backtest(
        data,
        recipe.as_of_day,
        recipe.config,
        window,
        hint="; train with --no-backtest to skip it",
    )
    return {"backtest_window_days": window, "backtest": metrics}


def train_model(
    data: CustomerData,
    as_of_day: int,
    horizon_days: int,
    registry: ModelRegistry,
    config: CLTVConfig | None = None,
    *,
    with_backtest: bool = True,
) -> TrainResult:
    """Fit, write a new version and make it current (an explicit train is a
    deliberate promotion; the daily job uses :func:`retrain`)."""
    recipe = _recipe(data, as_of_day, horizon_days, config or CLTVConfig())
    with registry.locked():
        result = _fit_and_write(registry, data, recipe, with_backtest=with_backtest)
        registry.set_current(result.version)
    return result


def score_model(
    data: CustomerData,
    registry: ModelRegistry,
    as_of_day: int,
    *,
    version: str | None = None,
    horizon_days: int | None = None,
) -> tuple[str, Scores]:
    """Scores of every customer as of ``as_of_day`` with a stored model."""
    stored = registry.load(version)
    return stored.version, stored.model.score(data, as_of_day, horizon_days)


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What one run of the daily job did."""

    as_of: str
    challenger: str
    champion_before: str | None
    champion: str
    promoted: bool
    reason: str
    noop: bool = False
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()
    published_rows: int | None = None
    #: The history guard's verdict (``None``: nothing to compare with, i.e.
    #: no champion, an older day than the champion's, or a no-op).
    history: HistoryGuard | None = None
    #: Why the backtest did not run (``None``: it ran, or none was due).
    backtest_skipped: BacktestSkipped | None = None
    #: The challenger's level's young-history note (``None``: none, or no
    #: challenger trained): the level the day's scores are rescaled to.
    young_history_note: str | None = None
    #: The config and horizon :attr:`champion` was trained with, as the run
    #: had them (the simulation's cltv job read its metadata.json again).
    champion_config: CLTVConfig = field(kw_only=True)
    champion_horizon_days: int = field(kw_only=True)

    @property
    def refused(self) -> bool:
        """The day's data lost history: nothing was trained or published."""
        return self.history is not None and self.history.status is GuardStatus.REFUSED

    @property
    def challenger_trained(self) -> bool:
        """Whether :attr:`challenger` names a model in the registry: a refused
        day names the version its challenger would have been, never trained."""
        return not self.refused

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "challenger": self.challenger,
            "challenger_trained": self.challenger_trained,
            "champion_before": self.champion_before,
            "champion": self.champion,
            "promoted": self.promoted,
            "reason": self.reason,
            "noop": self.noop,
            "metrics": {name: metrics_json(m) for name, m in self.metrics.items()},
            "pruned": list(self.pruned),
            "published_rows": self.published_rows,
            "history_check": None if self.history is None else self.history.to_json(),
            "backtest_skipped": _skipped_json(self.backtest_skipped),
            "young_history_note": self.young_history_note,
        }


def _skipped_json(skipped: BacktestSkipped | None) -> dict[str, Any] | None:
    return None if skipped is None else skipped.to_json()


def compare(
    champion: dict[str, float], challenger: dict[str, float], tolerance: float
) -> tuple[bool, str]:
    """``(promote, reason)``: promote unless the challenger is worse by more
    than ``tolerance`` on a ranking metric (absolute) or on MAE (relative)."""
    worse = []
    for name in RANKING_METRICS:
        if challenger[name] < champion[name] - tolerance:
            worse.append(f"{name} {challenger[name]:.4f} < {champion[name]:.4f}")
    if challenger["mae"] > champion["mae"] * (1.0 + tolerance):
        # in the log's unit: "mae 0.000 > 0.000" of a log in 0.0001
        money = error_format(challenger["mae"], champion["mae"], decimals=3)
        worse.append(f"mae {challenger['mae']:{money}} > {champion['mae']:{money}}")
    if worse:
        return False, "challenger worse beyond tolerance: " + "; ".join(worse)
    return True, f"challenger not worse than champion within tolerance {tolerance}"


@dataclass(frozen=True, slots=True)
class _Plan:
    """Today's challenger and the champion it meets."""

    date: str
    recipe: Recipe
    #: The champion as loaded (None: no champion yet); the run publishes
    #: with its model rather than load it again.
    stored: StoredModel | None
    #: What the last retrain recorded (``RETRAIN.json``, its fields checked
    #: by :meth:`~ModelRegistry.read_retrain_state`; None: never ran).
    last_run: dict[str, Any] | None = None

    @property
    def champion(self) -> str | None:
        return None if self.stored is None else self.stored.version

    @property
    def champion_config(self) -> CLTVConfig | None:
        return None if self.stored is None else self.stored.config

    @property
    def champion_as_of(self) -> str | None:
        return None if self.stored is None else self.stored.as_of

    @property
    def champion_history(self) -> HistorySummary | None:
        """The champion's ``data.history`` (None: saved before the guard)."""
        return None if self.stored is None else self.stored.history

    @property
    def adopted(self) -> bool:
        """Whether the champion was made current since the last completed
        retrain by something else (``cltv train``, a deliberate promotion,
        or a hand edit of ``CURRENT``): that run left another one."""
        last = self.last_run
        return self.champion is not None and (
            last is None or last["champion"] != self.champion
        )

    @property
    def challenger(self) -> str:
        return self.recipe.version()

    @property
    def backfill(self) -> bool:
        """Whether the day is older than the champion's (a re-run of a past
        day): it neither promotes nor publishes."""
        return self.champion_as_of is not None and self.date < self.champion_as_of

    def recipe_of(self, version: str) -> tuple[CLTVConfig, int]:
        """The config and horizon of ``version``: the champion's as loaded,
        else the challenger's recipe (a run ends with one of the two)."""
        if self.stored is not None and version == self.stored.version:
            return self.stored.config, self.stored.horizon_days
        assert version == self.challenger, version
        return self.recipe.config, self.recipe.horizon_days


def _plan(
    data: CustomerData,
    as_of_day: int,
    registry: ModelRegistry,
    horizon_days: int | None,
    config: CLTVConfig | None,
) -> _Plan:
    """The challenger's recipe: horizon and config default to the champion's."""
    before = registry.current()
    # loaded, not only its metadata read: a model file this tierflow cannot
    # score, or a metadata.json that does not describe it, was found when
    # publishing, after the challenger was trained and written
    champ = None if before is None else registry.load(before)
    horizon = horizon_days or (365 if champ is None else champ.horizon_days)
    cfg = config or (CLTVConfig() if champ is None else champ.config)
    date = str(day_to_date(as_of_day).date())
    return _Plan(
        date,
        _recipe(data, as_of_day, horizon, cfg),
        champ,
        registry.read_retrain_state(),
    )


def _already_done(
    plan: _Plan, registry: ModelRegistry, sink: ScoreSink | None
) -> RetrainResult | None:
    """The no-op result when the last run completed this very recipe and
    its champion is still current. A model of the day's recipe that a
    ``cltv train`` made current since (the run kept the champion, or pruned
    its challenger and the train wrote it again) was taken for the run's
    own, "already done", while the scores published were the champion's
    the run had kept: the day is run again against it (:func:`_decide`)."""
    state = plan.last_run
    if (
        state is None
        or state["challenger"] != plan.challenger
        or not state["completed"]
        or (sink is not None and state["published_rows"] is None)
        or plan.challenger not in registry.versions()
        or plan.adopted
    ):
        return None
    reason = "already done for this as-of date, data and config"
    if state.get("rolled_back_from") is not None:
        # the rerun of a day a rollback undid: its challenger stays out
        reason += (
            f" (tierflow cltv rollback made {state['champion']} current in "
            f"place of {state['rolled_back_from']}: it stays)"
        )
    return _champion_stays(plan, reason, noop=True, metrics=state["metrics"])


def _champion_stays(plan: _Plan, reason: str, **done: Any) -> RetrainResult:
    """A run that promoted nothing: the champion (or the first model, on a
    re-run of its own day) stays; ``done``: the result's other fields."""
    champion = plan.champion or plan.challenger
    config, horizon = plan.recipe_of(champion)
    return RetrainResult(
        plan.date,
        plan.challenger,
        plan.champion,
        champion,
        False,
        reason,
        **done,
        champion_config=config,
        champion_horizon_days=horizon,
    )


def _guard(
    data: CustomerData, plan: _Plan, max_loss: float, accept: bool
) -> HistoryGuard | None:
    """The day's data against the champion's history summary: the history up
    to the champion's as-of date only grows, so a loss is a broken feed; and
    its amounts must be in the champion's unit (:func:`unit_change`, the
    test of :func:`unit_note`): a log switched to cents summed to 100 times
    the spend, a gain, and its challenger was promoted to publish forecasts
    in cents. ``accept`` lets a loss through, never a unit change (a switch
    of unit is made on purpose by ``cltv train``, a deliberate promotion).

    ``None`` when there is nothing to guard: no champion, or an older day
    than the champion's (never promoted, see :func:`_decide`).
    """
    if plan.champion is None:
        return None
    if plan.champion_as_of is not None and plan.date < plan.champion_as_of:
        return None
    if plan.champion_history is None:
        return HistoryGuard(
            GuardStatus.SKIPPED,
            note=(
                f"the champion {plan.champion} was saved without a history "
                "summary (before the history guard): history not checked; "
                "the next model promoted records one"
            ),
        )
    return _judge_history(
        plan.champion_history,
        data.transactions,
        plan.recipe.as_of_day,
        max_loss,
        accept,
    )


def _judge_history(
    stored: HistorySummary,
    log: TransactionLog,
    unit_day: int,
    max_loss: float,
    accept: bool,
    sides: tuple[str, str] = ("the champion's", "today's"),
) -> HistoryGuard:
    """``log`` up to ``stored``'s as-of date against ``stored`` (a model's
    history summary), for :func:`_guard` and :func:`_rollback_guard`:
    refused for another unit of its amounts up to ``unit_day``
    (:func:`unit_change`, never accepted) or a loss beyond ``max_loss``
    (accepted with ``accept``), else passed. ``sides``: whose figures the
    check's message names, the model's then the log's."""
    today = summarize_history(log, day_number(stored.as_of))
    check = compare_history(stored, today, max_loss)
    unit = unit_change(stored, log, unit_day)
    if unit is not None:
        return HistoryGuard(GuardStatus.REFUSED, check, unit=unit)
    if not check.exceeded:
        return HistoryGuard(GuardStatus.PASSED, check)
    if accept:
        return HistoryGuard(
            GuardStatus.ACCEPTED,
            check,
            note="going on as asked: " + check.message(*sides),
        )
    return HistoryGuard(GuardStatus.REFUSED, check)


def _refused(plan: _Plan, guard: HistoryGuard) -> str:
    """The reason of a day :func:`_guard` refused: the unit, else the loss."""
    assert guard.check is not None
    why = guard.check.message()
    if guard.unit is not None:
        why = (
            guard.unit.describe(f"the champion {plan.champion}")
            + " A challenger trained on it would forecast and publish spend "
            "in its unit"
        )
    return (
        why + "; the challenger was not trained, the champion and its "
        "published scores stay"
    )


def _decide(
    data: CustomerData, plan: _Plan, tolerance: float
) -> tuple[bool, str, dict[str, dict[str, float]], BacktestSkipped | None]:
    """``(promote, reason, metrics, skipped)``: both recipes backtested on the
    latest complete window, each refitted before it on the same data.

    A challenger of the champion's config is promoted (:data:`SAME_CONFIG`):
    the backtest would compare the config with itself. Its own backtest
    still runs (a log weeks stale fails it) and is reported alone, with no
    champion's line, the same numbers by construction. On a history too
    short for the backtest (``skipped``) it is promoted the same way, and
    another config, which only the backtest can judge, is not.
    """
    if plan.champion is None or plan.champion_config is None:
        return True, "no champion yet", {}, None
    if plan.champion == plan.challenger:
        if plan.adopted:
            return (
                False,
                "challenger is the champion, made current outside a completed "
                "retrain (by tierflow cltv train, or a retrain stopped before "
                "it recorded the day): it stays",
                {},
                None,
            )
        return False, "challenger is the champion", {}, None
    if plan.backfill:
        # re-running an older day (a backfill) rolled CURRENT back to it
        return (
            False,
            f"as of {plan.date}, before the champion's {plan.champion_as_of}: "
            "an older day does not replace a newer champion (nor its "
            "published scores)",
            {},
            None,
        )
    recipe = plan.recipe
    window = backtest_days(recipe.horizon_days)
    configs = (recipe.config, plan.champion_config)
    same = plan.champion_config == recipe.config
    skipped = backtest_shortfall(data, recipe.as_of_day, configs, window)
    if skipped is not None:
        if same:
            return True, skipped.message() + "; " + SAME_CONFIG, {}, skipped
        return (
            False,
            skipped.message() + "; the challenger's config differs from the "
            "champion's and is not promoted untested: the champion stays",
            {},
            skipped,
        )
    chall = backtest(data, recipe.as_of_day, recipe.config, window)
    if same:
        # the champion's recipe refitted on the same data is the challenger's
        # backtest again: it was reported as the champion's line, identical
        # by construction, and "not worse within tolerance" compared nothing
        metrics = {"challenger": chall["cltv"], "bgnbd_gg": chall["bgnbd_gg"]}
        return True, SAME_CONFIG, metrics, None
    champ = backtest(data, recipe.as_of_day, plan.champion_config, window)
    metrics = {
        "challenger": chall["cltv"],
        "champion": champ["cltv"],
        "bgnbd_gg": chall["bgnbd_gg"],
    }
    promoted, reason = compare(champ["cltv"], chall["cltv"], tolerance)
    return promoted, reason, metrics, None


def _model_of(
    plan: _Plan,
    version: str,
    registry: ModelRegistry,
    trained: TrainResult | None = None,
) -> CLTVModel:
    """``version``'s model as the run has it: the champion as the plan
    loaded it, the challenger as fitted or loaded; else (no ``CURRENT``)
    loaded from ``registry``."""
    if plan.stored is not None and version == plan.stored.version:
        return plan.stored.model
    if trained is not None and trained.version == version and trained.model is not None:
        return trained.model
    return registry.load(version).model


def _publish(
    data: CustomerData,
    as_of_day: int,
    champion: str,
    model: CLTVModel,
    sink: ScoreSink,
) -> int:
    """``champion``'s scores to ``sink``, with its ``model`` as the run
    loaded or fitted it (it was loaded a second time to publish)."""
    scores = model.score(data, as_of_day)
    return sink.put_cltv_scores(
        scores.frame.loc[:, list(SCORE_COLUMNS)],
        as_of=day_to_date(as_of_day).date(),
        model_version=champion,
        new_customer_spend=scores.new_customer_spend,
    )


def retrain(
    data: CustomerData,
    as_of_day: int,
    registry: ModelRegistry,
    *,
    horizon_days: int | None = None,
    config: CLTVConfig | None = None,
    tolerance: float = 0.02,
    keep: int = 5,
    sink: ScoreSink | None = None,
    max_history_loss: float = DEFAULT_MAX_HISTORY_LOSS,
    accept_history_loss: bool = False,
) -> RetrainResult:
    """The daily job: history guard, challenger vs champion, promotion,
    pruning, publishing.

    ``horizon_days`` and ``config`` default to the champion's (or 365 days and
    the default config for the first model). A history too short for the
    backtest does not fail the day (:func:`_decide`; ``backtest_skipped``).

    Parameters
    ----------
    max_history_loss
        Share of the champion's history (rows, customers or gross spend up to
        its as-of date; a week: at least
        :data:`~tierflow.cltv.history.WEEK_LOSS_SHARE`) the day's data may
        lack. Beyond it the run is refused: nothing is trained, promoted,
        pruned or published, and the result says why (``refused``). Both
        recipes are backtested on the same data, so the tolerance of the
        backtest cannot see a broken feed.
    accept_history_loss
        Go on even so (a deliberate correction of the history); the loss is
        reported with status ``accepted``.
    """
    if keep < 1:
        raise InputError("must be >= 1", field="keep", value=keep)
    if tolerance < 0:
        raise InputError("must be >= 0", field="tolerance", value=tolerance)
    if not 0 <= max_history_loss <= 1:
        raise InputError(
            "must be in [0, 1]", field="max_history_loss", value=max_history_loss
        )
    with registry.locked():
        plan = _plan(data, as_of_day, registry, horizon_days, config)
        done = _already_done(plan, registry, sink)
        if done is not None:
            if sink is None:
                return done
            # the same day again, maybe to another sink (a store added or
            # rebuilt): the champion's scores go there too (an upsert), not
            # nowhere as before
            model = _model_of(plan, done.champion, registry)
            again = _publish(data, as_of_day, done.champion, model, sink)
            return replace(done, published_rows=again)
        guard = _guard(data, plan, max_history_loss, accept_history_loss)
        if guard is not None and guard.status is GuardStatus.REFUSED:
            # before anything is fitted or written: CURRENT, the versions,
            # RETRAIN.json and the published scores stay as they were
            return _champion_stays(plan, _refused(plan, guard), history=guard)
        trained = _fit_and_write(
            registry, data, plan.recipe, with_backtest=False, champion=plan.stored
        )
        try:
            promoted, reason, metrics, skipped = _decide(data, plan, tolerance)
            # kept: the champion the plan loaded (CURRENT is locked since)
            champion = (
                plan.challenger if promoted else (plan.champion or plan.challenger)
            )
            # published before it is made current: a sink that fails (a
            # locked store) leaves CURRENT and the published scores as they
            # were, not a new champion whose scores never went out
            published = None
            if sink is not None and not plan.backfill:
                # a backfill published the champion's scores as of its older
                # day, over the newer ones (and without the customers since)
                model = _model_of(plan, champion, registry, trained)
                published = _publish(data, as_of_day, champion, model, sink)
            if promoted:
                registry.set_current(plan.challenger)
        except Exception:
            # a failed day (a backtest that cannot run, a locked store) keeps
            # its challenger for the next run, as a stopped one does, but
            # prunes as a completed one would: every failing day added a
            # version for good. A prune that fails too is left to the next
            # run; the day's own error is the one to report.
            with contextlib.suppress(OSError):
                registry.prune(keep)
            raise
        pruned = tuple(registry.prune(keep))
        state: dict[str, Any] = {
            "as_of": plan.date,
            "challenger": plan.challenger,
            "champion": champion,
            "champion_before": plan.champion,
            "promoted": promoted,
            "reason": reason,
            "metrics": metrics,
            "completed": True,
            "published_rows": published,
            "history_check": None if guard is None else guard.to_json(),
            "backtest_skipped": _skipped_json(skipped),
        }
        registry.write_retrain_state(state)
    config, horizon = plan.recipe_of(champion)
    return RetrainResult(
        plan.date,
        plan.challenger,
        plan.champion,
        champion,
        promoted,
        reason,
        metrics=metrics,
        pruned=pruned,
        published_rows=published,
        history=guard,
        backtest_skipped=skipped,
        young_history_note=(trained.metadata.get("level") or {}).get(
            "young_history_note"
        ),
        champion_config=config,
        champion_horizon_days=horizon,
    )


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """What a rollback did: ``champion`` made current in place of
    ``rolled_back_from`` with its scores as of ``as_of`` published
    (``done`` false: ``champion`` was current already, nothing written)."""

    champion: str
    rolled_back_from: str
    as_of: str | None
    published_rows: int | None
    done: bool = True
    #: The history guard's verdict on the log (``passed``, ``accepted``, or
    #: ``skipped`` for a version saved without a summary); ``None``: nothing
    #: done.
    history: HistoryGuard | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "rolled_back_from": self.rolled_back_from,
            "as_of": self.as_of,
            "published_rows": self.published_rows,
            "done": self.done,
            "history_check": None if self.history is None else self.history.to_json(),
        }


def previous_champion(
    registry: ModelRegistry,
    current: str,
    state: dict[str, Any] | None,
    versions: list[str],
) -> str:
    """The champion the last retrain replaced with ``current``, as its
    ``RETRAIN.json`` (``state``) records it and if still among the
    ``versions`` kept; an :class:`InputError` saying why when the record
    cannot tell (the versions kept cannot either: a rejected challenger is
    kept beside the champions)."""
    if state is None:
        why = "no retrain is recorded (no RETRAIN.json)"
        raise _cannot_tell(registry, current, why, versions, registry.root)
    before = state.get("champion_before")
    if state["champion"] != current:
        why = (
            f"the last retrain left {state['champion']} current, not it (made "
            "current since by tierflow cltv train or by hand)"
        )
    elif state.get("rolled_back_from") is not None:
        why = (
            "tierflow cltv rollback made it current in place of "
            f"{state['rolled_back_from']}"
        )
    elif state.get("promoted") is not True:
        why = "the last retrain kept it (it promoted nothing)"
    elif "champion_before" not in state:
        # a record of a tierflow before champion_before: the champion the
        # day met is told by the figures its history check recorded of it
        return _champion_met(registry, current, state, versions)
    elif before is None:
        why = "it was the first model (no champion before it)"
    elif before not in versions:
        why = f"the champion before it, {before}, is no longer in the folder (pruned)"
    else:
        return str(before)
    raise _cannot_tell(registry, current, why, versions)


def _cannot_tell(
    registry: ModelRegistry,
    current: str,
    why: str,
    versions: list[str],
    file: Path | None = None,
) -> InputError:
    """The refusal when the record cannot tell the champion before
    ``current``: why, and the versions to name with ``--to``; the file
    named is ``RETRAIN.json`` unless ``file`` is given."""
    return InputError(
        f"cannot tell the champion before {current}: {why}; name the version "
        f"with --to VERSION (have: {', '.join(versions)})",
        file=str(file or registry.root / RETRAIN_FILE),
    )


def _champion_met(
    registry: ModelRegistry,
    current: str,
    state: dict[str, Any],
    versions: list[str],
) -> str:
    """The champion a promoting retrain of an older tierflow replaced with
    ``current``, its record (``state``) written before ``champion_before``:
    the version whose as-of date and history summary (rows, customers,
    gross spend) are those the record's ``history_check`` gives of the
    champion, and whose recipe (config and horizon) is ``current``'s, when
    exactly one such version is kept and none is unreadable (a version's
    summary is written once, with it). The recipe: the challenger took the
    champion's (``cltv retrain`` has no config option, the horizon defaults
    to the champion's), so another recipe of the champion's day and log (a
    ``cltv train`` of another config) is not it; a champion line of the
    record's backtest that differs from the challenger's says the champion
    had another config (the same config refitted on the same data backtests
    the same), which the record does not give. An :class:`InputError`
    saying why otherwise: no figures (a first model, a champion saved
    before the history guard), a backtest of another config, none kept
    (pruned), several, or a version whose metadata cannot be read."""
    check = state.get("history_check")
    figures = check.get("champion") if isinstance(check, dict) else None
    as_of = check.get("as_of") if isinstance(check, dict) else None
    if not isinstance(figures, dict) or not isinstance(as_of, str):
        why = (
            "its record, of an older tierflow, names no champion before it, "
            "nor gives its history figures (the first model, or a champion "
            "saved before the history guard)"
        )
        raise _cannot_tell(registry, current, why, versions)
    described = (
        f"as of {as_of}, {figures.get('rows')} rows, "
        f"{figures.get('customers')} customers, spend {figures.get('spend')}"
    )
    given = (
        "its record, of an older tierflow, gives the champion before it only "
        f"by its history ({described})"
    )
    metrics = state["metrics"]
    if "champion" in metrics and metrics["champion"] != metrics.get("challenger"):
        why = (
            f"{given} and its backtest, whose champion line is not the "
            f"challenger's: it had another config than {current}, which the "
            "record does not give"
        )
        raise _cannot_tell(registry, current, why, versions)
    wanted = (as_of, figures.get("rows"), figures.get("customers"))
    found: list[str] = []
    other_recipe: list[str] = []
    read, unreadable = _kept_recipes(registry, versions)
    recipe = read[current][1] if current in read else None
    for version, (history, its_recipe) in read.items():
        if (
            version != current
            and history is not None
            and (history.as_of, history.rows, history.customers) == wanted
            and history.spend == figures.get("spend")
        ):
            (found if its_recipe == recipe else other_recipe).append(version)
    why = ""
    if unreadable:
        why = f"{given}, and the metadata of {', '.join(unreadable)} cannot be read"
    elif len(found) > 1:
        why = f"{given}, which {', '.join(found)} all have"
    elif not found:
        why = (
            f"the champion before it ({described}, as its record of an "
            "older tierflow gives it) is no longer in the folder (pruned)"
        )
        if other_recipe:
            why += (
                f"; {', '.join(other_recipe)} "
                f"{'has' if len(other_recipe) == 1 else 'have'} its history "
                f"but not the config and horizon of {current}, which took "
                "the champion's"
            )
    if why:
        raise _cannot_tell(registry, current, why, versions)
    return found[0]


def _kept_recipes(
    registry: ModelRegistry, versions: list[str]
) -> tuple[dict[str, tuple[HistorySummary | None, tuple[CLTVConfig, int]]], list[str]]:
    """Each version's history summary and recipe (config, horizon) as its
    ``metadata.json`` has them, and the versions whose metadata cannot be
    read."""
    read = {}
    unreadable = []
    for version in versions:
        path = registry.root / version / METADATA_FILE
        try:
            meta = registry.metadata(version)
            config, horizon, _ = stored_recipe(meta, path)
            read[version] = stored_history(meta, path), (config, horizon)
        except InputError:
            unreadable.append(version)
    return read, unreadable


def _rollback_guard(
    data: CustomerData,
    stored: StoredModel,
    as_of_day: int,
    max_loss: float,
    accept: bool,
) -> HistoryGuard:
    """Refuse to publish ``stored``'s scores of a log it was not trained on,
    as the retrain's history guard refuses a day (:func:`_guard`): the log
    up to the version's as-of date lacks the history it recorded beyond
    ``max_loss`` (a cut file, a lost segment), holds other customers (the
    same counts, other ids), or its amounts are in another unit. Unguarded,
    a rollback published a model in dollars scoring a log in cents, or one
    of another customer base, and made it current. ``accept`` lets a loss
    through (``accepted``), never a unit change. A version saved without a
    history summary (before the guard) is not checked (``skipped``), as the
    retrain's guard skips it."""
    history = stored.history
    target = stored.version
    if history is None:
        return HistoryGuard(
            GuardStatus.SKIPPED,
            note=(
                f"{target} was saved without a history summary (before the "
                "history guard): the log not checked against it"
            ),
        )
    sides = ("the version's", "the log's")
    guard = _judge_history(
        history, data.transactions, as_of_day, max_loss, accept, sides
    )
    if guard.status is not GuardStatus.REFUSED:
        return guard
    assert guard.check is not None
    if guard.unit is not None:
        why = (
            f"{guard.unit.describe(target)} Its spend features are in that "
            "log's unit; roll back with a log in it"
        )
    else:
        why = (
            f"{guard.check.message(*sides)}: the log is not the history it was "
            "trained on (--accept-history-loss goes on)"
        )
    raise InputError(
        f"cannot roll back to {target}: {why}",
        file=data.transactions.source or None,
    )


def rollback(
    data: CustomerData,
    registry: ModelRegistry,
    sink: ScoreSink,
    *,
    version: str | None = None,
    as_of_day: int | None = None,
    max_history_loss: float = DEFAULT_MAX_HISTORY_LOSS,
    accept_history_loss: bool = False,
) -> RollbackResult:
    """Make ``version`` (default: :func:`previous_champion`) current again,
    under the registry's lock, as a retrain promotes: its scores published
    to ``sink`` first, then ``CURRENT``, then ``RETRAIN.json``.

    The scores are as of ``as_of_day`` (default: the day ``RETRAIN.json``
    is of when it left the current model current, else the version's own
    as-of date; either way not before the latest day ``sink`` serves, see
    :func:`served_day`, and an earlier ``as_of_day`` is refused: the store
    would go on serving the model rolled back from). The record keeps the
    day's challenger with ``version`` as its champion and
    ``rolled_back_from``: a rerun of that day's retrain is "already done"
    and keeps ``version`` (it re-promoted the model rolled back from), the
    next day's retrain runs as usual.

    ``max_history_loss`` and ``accept_history_loss`` are :func:`retrain`'s,
    of the log against the version's history summary
    (:func:`_rollback_guard`).
    """
    if not 0 <= max_history_loss <= 1:
        raise InputError(
            "must be in [0, 1]", field="max_history_loss", value=max_history_loss
        )
    with registry.locked():
        current = registry.current()
        if current is None:
            raise InputError(
                "no current model: nothing to roll back; make one current "
                "with tierflow cltv train",
                file=str(registry.root),
            )
        state = registry.read_retrain_state()
        versions = registry.versions()
        target = (
            previous_champion(registry, current, state, versions)
            if version is None
            else version
        )
        if target not in versions:
            raise InputError(
                "no such model version in the folder (never written, or "
                f"pruned; have: {', '.join(versions)})",
                file=str(registry.root),
                field="--to",
                value=target,
            )
        if target == current:
            return RollbackResult(target, current, None, None, done=False)
        try:
            stored = registry.load(target)
        except InputError as exc:
            raise InputError(
                f"cannot roll back to {target}: {exc.reason}",
                file=exc.file,
                field=exc.field,
                value=exc.value,
            ) from exc
        # the record of the day that left the model rolled back from current
        record = (
            dict(state) if state is not None and state["champion"] == current else {}
        )
        trained = int(stored.model.as_of_day_ or 0)
        # scores of a day before the store's latest are kept, never served
        served = served_day(sink)
        given = as_of_day is not None
        if as_of_day is None:
            as_of_day = day_number(record["as_of"]) if "as_of" in record else trained
            if served is not None:
                as_of_day = max(as_of_day, day_number(served))
        date = str(day_to_date(as_of_day).date())
        if as_of_day < trained:
            raise InputError(
                f"before {target}'s own as-of date "
                f"{day_to_date(trained).date()}: its scores would forecast "
                "days it was trained on",
                field="--as-of",
                value=date,
            )
        if given and served is not None and as_of_day < day_number(served):
            raise InputError(
                f"before the state store's latest scores, as of {served}: it "
                f"serves that day's, so {target}'s of an earlier day would "
                f"never be served ({current}'s would go on being served); "
                f"roll back as of {served} or later",
                field="--as-of",
                value=date,
            )
        guard = _rollback_guard(
            data, stored, as_of_day, max_history_loss, accept_history_loss
        )
        published = _publish(data, as_of_day, target, stored.model, sink)
        registry.set_current(target)
        record |= {
            # a record of another day (or none): the model rolled back from
            # is the challenger a rerun of its day must not promote again
            "as_of": record.get("as_of", date),
            "challenger": record.get("challenger", current),
            "champion": target,
            "champion_before": current,
            "promoted": False,
            "rolled_back_from": current,
            "reason": (
                f"tierflow cltv rollback made {target} current in place of "
                f"{current}, its scores as of {date} published"
            ),
            "metrics": record.get("metrics", {}),
            "completed": True,
            "published_rows": published,
            "published_as_of": date,
            "history_check": record.get("history_check"),
            "backtest_skipped": record.get("backtest_skipped"),
        }
        registry.write_retrain_state(record)
    return RollbackResult(target, current, date, published, history=guard)
