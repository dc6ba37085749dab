"""``tierflow cltv``: train, score, evaluate and the daily retrain of the CLTV model.

Only parsing, calls into :mod:`cltv` and printing live here.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierflow.cli.option_values import CLTV_LEVELS, DEFAULT_MAX_HISTORY_LOSS
from tierflow.cli.options import SEED_RANGE, examples, list_option, option
from tierflow.cli.param_types import (
    FiniteFloatRange,
    OutputPath,
    WholeRange,
    refuse_input_as_output,
)
from tierflow.cli.progress import progress_stage
from tierflow.cli.state_location import STATE_LOCATION, open_state
from tierflow.data.calendar_days import no_such_day
from tierflow.data.limits import DATA_WINDOW, MAX_HORIZON_DAYS
from tierflow.data.wording import counted
from tierflow.data.written_numbers import whole_number

if TYPE_CHECKING:
    from tierflow.cltv.features import CustomerData
    from tierflow.cltv.level import LevelChoice
    from tierflow.cltv.lifecycle import RetrainResult, ScoreSink
    from tierflow.cltv.model import CLTVConfig

FORMATS = ("auto", "csv", "parquet", "cdnow")
#: A forecast horizon or holdout: up to ten years (CLTV horizons are one to five).
HORIZON_DAYS = WholeRange(1, MAX_HORIZON_DAYS)
_log = logging.getLogger("tierflow.cli.cltv")


class AsOfDate(click.ParamType[datetime.date]):
    """``YYYY-MM-DD`` or ``today``."""

    name = "DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime.date:
        if isinstance(value, datetime.date):
            return value
        text = str(value).strip()
        if text.lower() == "today":
            return datetime.date.today()
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            missing = no_such_day(text)  # 2026-02-29: say why, not "not a date"
            why = (
                f": {missing}" if missing else " is not a date (YYYY-MM-DD or 'today')"
            )
            self.fail(f"{value!r}{why}", param, ctx)


AS_OF = AsOfDate()


def as_of_day(as_of: datetime.date) -> int:
    """``--as-of`` as a day number, held to the window the data's own dates
    are (:data:`~tierflow.data.limits.DATA_WINDOW`), else an ``InputError``
    naming the flag and the day: ``score --as-of 9999-12-31`` published
    scores of every customer inactive for 8,000 years with only the
    stale-log warning. Checked before the data is read."""
    from tierflow.data.transactions import day_number

    DATA_WINDOW.require_days(as_of, as_of, field="--as-of")
    return day_number(as_of)


_path = click.Path(exists=True, dir_okay=False, path_type=Path)


def _data_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The input options every sub-command shares."""
    options = [
        option(
            "--transactions",
            type=_path,
            required=True,
            help="Transactions: CSV/Parquet (customer_id, order_date, amount "
            "[, quantity, order_id]) or CDNOW text.",
        ),
        option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default="auto",
            show_default=True,
            help="auto: Parquet for .parquet/.pq, CSV otherwise.",
        ),
        option(
            "--profiles",
            type=_path,
            default=None,
            help="Optional customer profile table (customer_id, signup_date, "
            "loyalty_tier, region, acquisition_channel, age_band).",
        ),
        option(
            "--browsing",
            type=_path,
            default=None,
            help="Optional browsing aggregates (customer_id, date, sessions, "
            "product_views, cart_adds).",
        ),
        option(
            "--skip-bad-rows",
            is_flag=True,
            help="Drop and count bad rows instead of failing on the first one.",
        ),
    ]
    for decorator in reversed(options):
        func = decorator(func)
    return func


def _load(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
) -> tuple[CustomerData, list[str]]:
    """The data, and the readers' notes for :func:`_warn`; skipped rows are
    reported at once."""
    from tierflow.cltv.features import load_customer_data

    data, reports = load_customer_data(
        transactions,
        fmt=fmt,  # type: ignore[arg-type]
        profiles=profiles,
        browsing=browsing,
        skip_bad_rows=skip_bad_rows,
    )
    for report in reports:
        if report.n_bad:
            _log.warning("%s", report.summary())
    return data, [note for report in reports for note in report.notes]


def _warn(notes: list[str], data: CustomerData, as_of: datetime.date | None) -> None:
    """The readers' ``notes`` (rows repeated exactly) and, given the as-of
    date, a log that ends well before it; called once the command has
    succeeded, so that a failing run prints its one ``Error:`` line alone."""
    from tierflow.cltv.lifecycle import stale_log_note
    from tierflow.data.transactions import day_number

    stale = None if as_of is None else stale_log_note(data, day_number(as_of))
    for note in [*notes, stale]:
        if note:
            _log.warning("%s", note)


def _log_progress(message: str) -> None:
    """Each seed's time and each split's table of ``cltv protocol``: log
    records, as every command's progress, so that ``--log-format json`` and
    ``--log-level warning`` hold for them too (they were raw stderr text)."""
    _log.info("%s", message)


def _config(
    seed: int, platinum: float, gold: float, level: LevelChoice = "seasonal"
) -> CLTVConfig:
    """The recipe of the options; shares that sum past 1 are a usage error
    (each option alone is in range: it was exit 1, as for a bad file)."""
    from tierflow.cltv.model import CLTVConfig

    if platinum + gold > 1:
        raise click.BadParameter(
            f"--platinum-share {platinum:g} and --gold-share {gold:g} sum to "
            f"{platinum + gold:g}: the segments' shares must sum to <= 1",
            param_hint="'--gold-share'",
        )
    return CLTVConfig(
        random_state=seed, platinum_share=platinum, gold_share=gold, level=level
    )


_segment_options = [
    option(
        "--platinum-share",
        type=FiniteFloatRange(0.0, 1.0),
        default=0.10,
        show_default=True,
        help="Top share of customers by predicted spend labelled platinum "
        "(evaluate: the segment column of predictions.csv).",
    ),
    option(
        "--gold-share",
        type=FiniteFloatRange(0.0, 1.0),
        default=0.30,
        show_default=True,
        help="Next share labelled gold (the rest are silver).",
    ),
    option(
        "--seed",
        type=SEED_RANGE,
        default=0,
        show_default=True,
        help="Random seed of the model.",
    ),
    option(
        "--level",
        type=click.Choice(CLTV_LEVELS),
        default="seasonal",
        show_default=True,
        help="The published total: BTYD's, corrected by its miss in the same "
        "window 1 to 3 years earlier, pooled, where the history holds it "
        "(seasonal), BTYD's "
        "alone (baseline; where the history a year earlier was too young to "
        "measure a season, docs/cltv.md) or our regressor's own (learned).",
    ),
]


def _segments(func: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(_segment_options):
        func = decorator(func)
    return func


def _tune(
    data: CustomerData, as_of_day: int, horizon_days: int, base: CLTVConfig
) -> CLTVConfig:
    from tierflow.cltv.selection import tuned_config

    name, config = tuned_config(data, as_of_day, horizon_days, base)
    _log.info("time-based CV chose configuration %r", name)
    return config


def refuse_score_outputs(
    state: Path | None,
    scores_out: Path | None,
    model_dir: Path,
    **inputs: Path | None,
) -> None:
    """``--state`` or ``--scores-out`` naming one of the files read, a file
    of the model registry, or each other: refused.

    ``--scores-out`` naming the ``--state`` file replaced the SQLite store
    (every table, not only the scores) by the scores CSV, exit 0; the next
    command read "database disk image is malformed"."""
    for out, flag in ((scores_out, "--scores-out"), (state, "--state")):
        refuse_input_as_output(out, flag, **inputs)
        refuse_registry_file_as_output(out, flag, model_dir)
    if (
        isinstance(state, Path)
        and isinstance(scores_out, Path)
        and _same_path(state, scores_out)
    ):
        raise click.BadParameter(
            f"{str(scores_out)!r} is the --state store: the scores CSV would "
            "replace it.",
            param_hint="'--scores-out'",
        )


def refuse_registry_file_as_output(
    out: Path | str | None, flag: str, model_dir: Path
) -> None:
    """A usage error when ``out`` (``flag``'s path) is one of the model
    registry's own files: its ``CURRENT``, ``RETRAIN.json`` or lock, or a
    file in a version's folder (its ``model.joblib``) or in a temporary
    one.

    ``cltv score --out models/CURRENT`` replaced the champion's name by the
    scores, exit 0, and every later score, retrain and rollback of the
    folder failed; a URL ``out`` is no file."""
    from tierflow.cltv.registry import (
        CURRENT_FILE,
        LOCK_FILE,
        RETRAIN_FILE,
        TMP_PREFIX,
        VERSION_NAME,
    )

    if not isinstance(out, Path):
        return
    root = model_dir.resolve()
    target = out.resolve()
    folder = target.relative_to(root).parts[0] if root in target.parents else ""
    if target.parent == root and target.name in (CURRENT_FILE, RETRAIN_FILE, LOCK_FILE):
        what = f"its {target.name} file"
    elif target.parent != root and (
        VERSION_NAME.fullmatch(folder) or folder.startswith(TMP_PREFIX)
    ):
        # a version's folder, or one the next writer removes as a leftover;
        # other folders and files of --model-dir are the user's
        what = f"a file in its folder {folder}"
    else:
        return
    raise click.BadParameter(
        f"{str(out)!r} is {what} (--model-dir, the model registry): an output "
        "never replaces the registry's files.",
        param_hint=f"'{flag}'",
    )


def _same_path(first: Path, second: Path) -> bool:
    """Whether two paths name one file, written alike or not (a link, a
    ``./``), existing or about to be."""
    if first.resolve() == second.resolve():
        return True
    return first.exists() and second.exists() and os.path.samefile(first, second)


@contextmanager
def score_sinks(
    state: Path | None, scores_out: Path | None
) -> Iterator[list[ScoreSink]]:
    """Where ``retrain`` and ``rollback`` publish scores: the state store
    behind ``--state`` and the CSV ``--scores-out``, in that order; the
    store is closed on the way out. Refuse them first
    (:func:`refuse_score_outputs`), before the inputs are read: nothing is
    read, and no store made, for a refused command."""
    from tierflow.cltv.lifecycle import CsvScoreSink

    store = None if state is None else open_state(state)
    sinks: list[ScoreSink] = [] if store is None else [store]
    if scores_out is not None:
        sinks.append(CsvScoreSink(scores_out))
    try:
        yield sinks
    finally:
        if store is not None:
            store.close()


@click.group(
    "cltv",
    epilog=examples(
        "tierflow cltv train --transactions tx.csv --as-of 2025-12-31 "
        "--horizon-days 365 --model-dir models",
        "tierflow cltv retrain --transactions tx.csv --model-dir models --state state.db",
    ),
)
def cltv() -> None:
    """Customer lifetime value: train, score, evaluate, daily retrain, rollback."""


@cltv.command(
    "train",
    epilog=examples(
        "tierflow cltv train --transactions benchmarks/data/cdnow/CDNOW_master.txt "
        "--format cdnow --as-of 1997-09-30 --horizon-days 273 --model-dir models",
        "tierflow cltv train --transactions tx.parquet --profiles customers.csv "
        "--as-of 2025-12-31 --horizon-days 365 --model-dir models --json",
    ),
)
@_data_options
@option("--as-of", "as_of", type=AS_OF, required=True, help="Last day of history.")
@option(
    "--horizon-days",
    type=HORIZON_DAYS,
    required=True,
    help="Forecast horizon.",
)
@option(
    "--model-dir",
    type=OutputPath(file_okay=False, path_type=Path),
    required=True,
    help="Model registry folder (one sub-folder per version).",
)
@_segments
@option(
    "--tune",
    is_flag=True,
    help="Choose the configuration by time-based CV inside the training period "
    "(slow: trains every candidate on several folds).",
)
@option(
    "--no-backtest",
    is_flag=True,
    help="Skip the backtest on the latest complete window (training metrics).",
)
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    as_of: datetime.date,
    horizon_days: int,
    model_dir: Path,
    platinum_share: float,
    gold_share: float,
    seed: int,
    level: LevelChoice,
    tune: bool,
    no_backtest: bool,
    as_json: bool,
) -> None:
    """Train a model as of a date and write it as the current version."""
    from tierflow.cltv.history import error_format
    from tierflow.cltv.lifecycle import train_model
    from tierflow.cltv.registry import ModelRegistry

    config = _config(seed, platinum_share, gold_share, level)  # before the data
    day = as_of_day(as_of)
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    with progress_stage("cltv train"):
        if tune:
            config = _tune(data, day, horizon_days, config)
        result = train_model(
            data,
            day,
            horizon_days,
            ModelRegistry(model_dir),
            config,
            with_backtest=not no_backtest,
        )
    young = (result.metadata.get("level") or {}).get("young_history_note")
    if young:
        notes.append(str(young))
    _warn(notes, data, as_of)
    if as_json:
        record = {"version": result.version, "created": result.created}
        record |= {"added_backtest": result.added_backtest}
        record |= {"model_dir": str(model_dir), "as_of": str(as_of)}
        click.echo(json.dumps(record))
        return
    state = "wrote" if result.created else "already had"
    added = "; ran and stored its backtest" if result.added_backtest else ""
    click.echo(f"{state} model {model_dir / result.version} (current){added}")
    # training_metrics may be null (load() takes it, as level above): it was
    # an AttributeError traceback
    backtest = (result.metadata.get("training_metrics") or {}).get("backtest")
    if backtest:
        width = max(len(name) for name in backtest)
        # the log's unit: a log in 0.0001 read "mae 0.00" in every row
        money = error_format(*(m["mae"] for m in backtest.values()))
        for name, m in backtest.items():
            click.echo(
                f"  backtest {name:<{width}}  spearman {m['spearman']:.4f}  "
                f"top10 {100 * m['top10_capture']:.1f}%  mae {m['mae']:{money}}  "
                f"bias {m['bias_pct']:+.1f}%"
            )


@cltv.command(
    "score",
    epilog=examples(
        "tierflow cltv score --transactions tx.csv --model-dir models "
        "--as-of 2025-12-31 --out scores.csv",
        "tierflow cltv score --transactions tx.csv --model-dir models "
        "--as-of today --out scores.csv --json",
    ),
)
@_data_options
@option(
    "--model-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Model registry folder (tierflow cltv train's).",
)
@option("--version", "version", default=None, help="Model version (default: current).")
@option("--as-of", "as_of", type=AS_OF, required=True, help="Last day of history.")
@option(
    "--horizon-days",
    type=HORIZON_DAYS,
    default=None,
    help="Forecast horizon (default: the model's).",
)
@option(
    "--out",
    type=OutputPath(dir_okay=False, path_type=Path),
    required=True,
    help="Scores CSV to write.",
)
@option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def score_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    model_dir: Path,
    version: str | None,
    as_of: datetime.date,
    horizon_days: int | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write customer_id,predicted_spend,p_active,segment for every customer."""
    from tierflow.cltv.level import young_season_note
    from tierflow.cltv.lifecycle import score_model, unit_note, write_scores_csv
    from tierflow.cltv.registry import ModelRegistry
    from tierflow.data.transactions import day_to_date

    refuse_input_as_output(
        out, "--out", transactions=transactions, profiles=profiles, browsing=browsing
    )
    refuse_registry_file_as_output(out, "--out", model_dir)
    day = as_of_day(as_of)
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    registry = ModelRegistry(model_dir)
    # a minute for a million customers: lines then, none for a small log
    with progress_stage("cltv score", only_if_slow=True):
        used, scores = score_model(
            data, registry, day, version=version, horizon_days=horizon_days
        )
    unit = unit_note(data, day, registry, used)  # reads metadata.json: first
    write_scores_csv(scores.frame, out)
    if unit:
        notes.append(unit)
    trained = scores.trained_as_of_day
    if trained is not None and scores.as_of_day < trained:
        notes.append(
            f"scored as of {as_of} with {used}, trained as of "
            f"{day_to_date(trained).date()}: its training windows saw the days "
            "it forecasts (a backtest trains as of its own date or earlier)"
        )
    if scores.level is not None:
        young = young_season_note(scores.level, data.transactions.first_day)
        if young:
            notes.append(young)
    _warn(notes, data, as_of)
    counts = scores.frame["segment"].value_counts()
    if as_json:
        segments = {k: int(counts.get(k, 0)) for k in ("platinum", "gold", "silver")}
        record = {"version": used, "customers": len(scores.frame)}
        record |= {"segments": segments, "as_of": str(as_of), "out": str(out)}
        record["new_customer_spend"] = scores.new_customer_spend
        click.echo(json.dumps(record))
        return
    click.echo(
        f"scored {counted(len(scores.frame), 'customer')} with {used} "
        f"({', '.join(f'{k} {counts.get(k, 0)}' for k in ('platinum', 'gold', 'silver'))})"
        f" -> {out}"
    )


@cltv.command(
    "evaluate",
    epilog=examples(
        "tierflow cltv evaluate --transactions benchmarks/data/cdnow/CDNOW_master.txt "
        "--format cdnow --as-of 1997-09-30 --holdout-days 273",
        "tierflow cltv evaluate --transactions tx.csv --as-of 2025-06-30 "
        "--holdout-days 180 --out eval/ --json",
    ),
)
@_data_options
@option("--as-of", "as_of", type=AS_OF, required=True, help="Last day of history.")
@option("--holdout-days", type=HORIZON_DAYS, required=True, help="Holdout length.")
@option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
@option(
    "--out",
    type=OutputPath(file_okay=False, path_type=Path),
    default=None,
    help="Also write predictions.csv, gains.png and metrics.json here.",
)
@_segments
@option(
    "--tune",
    is_flag=True,
    help="Choose the configuration by time-based CV before the as-of date (slow).",
)
def evaluate_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    as_of: datetime.date,
    holdout_days: int,
    as_json: bool,
    out: Path | None,
    platinum_share: float,
    gold_share: float,
    seed: int,
    level: LevelChoice,
    tune: bool,
) -> None:
    """Train as of a date, forecast the holdout, compare with what happened.

    Next to our model: BG/NBD + Gamma-Gamma and the naive repeat run rate, raw
    and with our calibration (fitted the same way on the same windows).
    """
    from tierflow.cltv.evaluate import (
        EVALUATION_FILES,
        evaluate_model,
        write_evaluation,
    )

    config = _config(seed, platinum_share, gold_share, level)  # before the data
    # a log named predictions.csv in --out was replaced by the predictions
    for written in [] if out is None else [out / n for n in EVALUATION_FILES]:
        refuse_input_as_output(
            written,
            "--out",
            transactions=transactions,
            profiles=profiles,
            browsing=browsing,
        )
    day = as_of_day(as_of)
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    with progress_stage("cltv evaluate"):
        if tune:
            config = _tune(data, day, holdout_days, config)
        evaluation, _ = evaluate_model(data, day, holdout_days, config)
    made = (evaluation.calibration or {}).get("level")
    if isinstance(made, dict) and made.get("young_history_note"):
        notes.append(str(made["young_history_note"]))
    _warn(notes, data, None)  # a log ending before the holdout is in the table
    if out is not None:
        write_evaluation(
            evaluation, out, platinum_share=platinum_share, gold_share=gold_share
        )
    if as_json:
        click.echo(json.dumps(evaluation.to_json()))
    else:
        click.echo(
            f"as of {as_of}, {holdout_days}-day holdout" + evaluation.coverage_text()
        )
        click.echo(evaluation.table())
        targets = evaluation.targets_text()
        if targets:
            click.echo(targets)
        made = (evaluation.calibration or {}).get("level")
        if isinstance(made, dict):
            click.echo(
                f"level (every calibrated row): {made['source']}, "
                f"x{made['ratio']:.3f} on the BTYD total"
            )
        if out is not None:
            click.echo(f"wrote predictions.csv, gains.png, metrics.json to {out}")


#: ``--seeds``: at most as many as ``--origins`` (0-2147483647 hung).
MAX_SEEDS = 100


def _seed_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """``--seeds``: ``0-4``, ``0,1,2`` or both (``0-2,7``), each a seed of
    ``--seed``'s range, none twice, at most :data:`MAX_SEEDS`; anything else
    is a usage error."""
    seeds: list[int] = []
    for part in value.split(","):
        text = part.strip()
        low, dash, high = text.partition("-")
        # ASCII digits, as --seed's (int() took 3_0 and other scripts' digits)
        first = whole_number(low.strip())
        last = whole_number((high if dash else low).strip())
        if first is None or last is None:
            first = last = -1
        if first < 0 or last < first or last > SEED_RANGE.max:  # type: ignore[operator]
            raise click.BadParameter(
                f"{text!r}: not a seed or a range of seeds (e.g. 0-4 or 0,1,2)",
                ctx,
                param,
            )
        new = sorted(set(range(first, min(last, first + MAX_SEEDS) + 1)) - set(seeds))
        if len(seeds) + len(new) > MAX_SEEDS:
            raise click.BadParameter(
                f"{text!r}: at most {MAX_SEEDS} seeds (each trains every split)",
                ctx,
                param,
            )
        seeds += new
    return seeds


#: What ``cltv protocol --out`` writes in a split's folder.
SPLIT_FILES = frozenset({"predictions.csv", "gains.png", "metrics.json"})


def _stale_splits(out: Path, written: set[str]) -> list[str]:
    """Remove the ``<stem>-rolling-<k>`` folders in ``out`` that this run did
    not write and that hold only :data:`SPLIT_FILES` (a previous run's splits,
    which protocol.json no longer lists); a note for each, and for each such
    folder left because it holds other files."""
    import re
    import shutil

    notes = []
    for folder in sorted(out.iterdir()):
        if (
            folder.name in written
            or not re.fullmatch(r".+-rolling-\d+", folder.name)
            or not folder.is_dir()
            or folder.is_symlink()
        ):
            continue
        other = sorted(
            p.name
            for p in folder.iterdir()
            if p.name not in SPLIT_FILES or p.is_symlink() or not p.is_file()
        )
        if other:
            notes.append(
                f"left {folder}: not in this run's protocol.json, but it holds "
                f"files the protocol does not write ({', '.join(other)})"
            )
            continue
        shutil.rmtree(folder)
        notes.append(
            f"removed {folder}: a previous run's split, not in this run's protocol.json"
        )
    return notes


def _protocol_config(level: LevelChoice, blend: bool) -> CLTVConfig:
    """The recipe every split trains (each seed its ``random_state``)."""
    from tierflow.cltv.model import CLTVConfig

    return CLTVConfig(level=level, blend=blend)


@cltv.command(
    "protocol",
    epilog=examples(
        "tierflow cltv protocol --transactions tx.csv --out eval-protocol/",
        "tierflow cltv protocol --transactions tx.parquet --origins 3 "
        "--holdout-days 60 --seeds 0-1",
    ),
)
@_data_options
@option(
    "--origins",
    type=WholeRange(1, 100),
    default=4,
    show_default=True,
    help="As-of dates, one holdout apart, the latest one holdout before the "
    "log's last day.",
)
@option(
    "--holdout-days",
    type=HORIZON_DAYS,
    default=90,
    show_default=True,
    help="Holdout length (and the spacing of the as-of dates).",
)
@list_option(
    "--seeds",
    default="0-4",
    show_default=True,
    callback=_seed_list,
    help="Seeds of the model per split (0-4, or 0,1,2): the worst one counts.",
)
@option(
    "--level",
    type=click.Choice(CLTV_LEVELS),
    default="seasonal",
    show_default=True,
    help="The published total, as for cltv evaluate.",
)
@option(
    "--blend",
    is_flag=True,
    help="Publish the stacked blend of the calibrated forecasts.",
)
@option(
    "--out",
    type=OutputPath(file_okay=False, path_type=Path),
    default=None,
    help="Also write protocol.md, protocol.json and, per split, the first "
    "seed's predictions.csv, gains.png and metrics.json here.",
)
@option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print protocol.json's list of splits instead of the tables.",
)
def protocol_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    origins: int,
    holdout_days: int,
    seeds: list[int],
    level: LevelChoice,
    blend: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """The rolling-origin evaluation protocol on your own log.

    Each split trains, calibrates and selects on the data up to its as-of
    date only and is scored on the holdout after it, every seed; our worst
    seed against the best baseline row of each metric (docs/cltv.md, "The
    evaluation protocol"). Tables on stdout, progress on stderr.
    """
    from tierflow.benchmarks.cltv_bench import run_splits, write_protocol
    from tierflow.cltv.protocol import log_origins, stray_origins_note

    config = _protocol_config(level, blend)  # before the data
    if out is not None:
        for name in ("protocol.md", "protocol.json"):
            refuse_input_as_output(
                out / name,
                "--out",
                transactions=transactions,
                profiles=profiles,
                browsing=browsing,
            )
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    splits = log_origins(
        data.transactions, n_origins=origins, holdout_days=holdout_days
    )
    if out is not None:
        for split in splits:
            for name in ("predictions.csv", "metrics.json"):
                refuse_input_as_output(
                    out / f"{transactions.stem}-{split.name}" / name,
                    "--out",
                    transactions=transactions,
                    profiles=profiles,
                    browsing=browsing,
                )
    results = run_splits(
        data,
        transactions.stem,
        [(split, False) for split in splits],
        seeds,
        out,
        _log_progress,
        config,
    )
    if out is not None:
        notes += _stale_splits(out, {f"{transactions.stem}-{s.name}" for s in splits})
    _warn([*notes, stray_origins_note(data.transactions) or ""], data, None)
    command = (
        f"tierflow cltv protocol --transactions {transactions}"
        + ("" if fmt == "auto" else f" --format {fmt}")
        + ("" if profiles is None else f" --profiles {profiles}")
        + ("" if browsing is None else f" --browsing {browsing}")
        + (" --skip-bad-rows" if skip_bad_rows else "")
        + f" --origins {origins} --holdout-days {holdout_days} "
        f"--seeds {','.join(map(str, seeds))}"
        + ("" if level == "seasonal" else f" --level {level}")
        + (" --blend" if blend else "")
    )
    text = write_protocol(results, command, out)
    if as_json:
        click.echo(json.dumps([r.to_json(strict=st) for r, st in results]))
    else:
        click.echo(text)


def _retrain_notes(result: RetrainResult) -> list[str]:
    """The history check's, the skipped backtest's and the young-history
    notes of a retrain, for stderr."""
    guard = result.history
    notes = []
    if guard is not None and guard.note:
        notes.append(f"history check {guard.status}: {guard.note}")
    if result.backtest_skipped is not None:
        notes.append(result.backtest_skipped.message())
    if result.young_history_note:
        notes.append(result.young_history_note)
    return notes


@cltv.command(
    "retrain",
    epilog=examples(
        "tierflow cltv retrain --transactions tx.csv --model-dir models --state state.db",
        "tierflow cltv retrain --transactions tx.csv --model-dir models "
        "--as-of 2025-12-31 --scores-out scores.csv --json",
    ),
)
@_data_options
@option(
    "--model-dir",
    type=OutputPath(file_okay=False, path_type=Path),
    required=True,
    help="Model registry folder (champion and challengers).",
)
@option(
    "--as-of",
    "as_of",
    type=AS_OF,
    default="today",
    show_default=True,
    help="Last day of history.",
)
@option(
    "--horizon-days",
    type=HORIZON_DAYS,
    default=None,
    help="Forecast horizon (default: the champion's, else 365).",
)
@option(
    "--tolerance",
    type=FiniteFloatRange(0.0, 1.0),
    default=0.02,
    show_default=True,
    help="Promote unless worse by more than this (ranking metrics absolute, MAE "
    "relative).",
)
@option(
    "--keep",
    type=WholeRange(1, 1000),
    default=5,
    show_default=True,
    help="Versions to keep (the champion is always kept).",
)
@option(
    "--state",
    type=STATE_LOCATION,
    default=None,
    help="State store (a SQLite file or a postgresql:// URL) to publish the "
    "champion's scores to (tierflow allocate and the checkout read them).",
)
@option(
    "--scores-out",
    type=OutputPath(dir_okay=False, path_type=Path),
    default=None,
    help="Also publish the champion's scores to this CSV.",
)
@option(
    "--max-history-loss",
    type=FiniteFloatRange(0.0, 1.0),
    default=DEFAULT_MAX_HISTORY_LOSS,
    show_default=True,
    help="Refuse the day (nothing trained, promoted or published; exit 1) when "
    "its data lacks more than this share of the rows, customers or spend the "
    "champion had up to its as-of date, or a week more than max(this, 0.10) of "
    "its rows. 0: any loss refuses; 1: none does.",
)
@option(
    "--accept-history-loss",
    is_flag=True,
    help="Go on although history was lost beyond --max-history-loss (a "
    "deliberate correction of the history); the loss is reported.",
)
@option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def retrain_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    model_dir: Path,
    as_of: datetime.date,
    horizon_days: int | None,
    tolerance: float,
    keep: int,
    state: Path | None,
    scores_out: Path | None,
    max_history_loss: float,
    accept_history_loss: bool,
    as_json: bool,
) -> None:
    """The daily job: train a challenger, promote it if not worse, publish scores.

    A day whose data lost part of the champion's history, or whose amounts
    are in another unit than the champion's, is refused: the decision is
    printed as usual, then an error line, exit 1.
    """
    from tierflow.cltv.lifecycle import ScoreSinks, retrain
    from tierflow.cltv.registry import ModelRegistry

    inputs = {"transactions": transactions, "profiles": profiles, "browsing": browsing}
    refuse_score_outputs(state, scores_out, model_dir, **inputs)
    day = as_of_day(as_of)
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    registry = ModelRegistry(model_dir)
    with (
        score_sinks(state, scores_out) as sinks,
        progress_stage("cltv retrain"),
    ):
        result = retrain(
            data,
            day,
            registry,
            horizon_days=horizon_days,
            tolerance=tolerance,
            keep=keep,
            sink=ScoreSinks(sinks) if sinks else None,
            max_history_loss=max_history_loss,
            accept_history_loss=accept_history_loss,
        )
    _warn([*notes, *_retrain_notes(result)], data, as_of)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        _print_retrain(result)
    if result.refused:
        # after the report: a supervisor (cron, CI) must see the day refused
        assert result.history is not None
        if result.history.unit is not None:
            raise click.ClickException(
                "the day's amounts are in another unit than the champion's "
                f"(x{result.history.unit.ratio:.3g} a row): nothing trained, "
                "promoted or published (to switch units, train a model on the "
                "new log with tierflow cltv train)"
            )
        check = result.history.check
        lost = (
            "lost part of the champion's history"
            if check is None or check.lost_beyond
            else "holds other customers than the champion's"
        )
        raise click.ClickException(
            f"the day's data {lost}: nothing trained, promoted or published "
            "(--accept-history-loss goes on)"
        )


def _print_retrain(result: RetrainResult) -> None:
    """The decision as text (``--json`` prints :meth:`RetrainResult.to_json`)."""
    from tierflow.cltv.history import GuardStatus

    verb = "promoted" if result.promoted else "kept"
    untrained = "" if result.challenger_trained else ", not trained"
    click.echo(
        f"{result.as_of}: {verb} {result.champion} "
        f"(challenger {result.challenger}{untrained}): {result.reason}"
    )
    guard = result.history
    if guard is not None and guard.status is GuardStatus.PASSED and guard.check:
        click.echo(
            f"history up to {guard.check.champion.as_of} kept (champion's "
            f"-> today's): {guard.check.figures()}"
        )
    if result.pruned:
        click.echo(f"pruned {', '.join(result.pruned)}")
    if result.published_rows is not None:
        click.echo(f"published {counted(result.published_rows, 'score')}")


@cltv.command(
    "rollback",
    epilog=examples(
        "tierflow cltv rollback --transactions tx.csv --model-dir models --state state.db",
        "tierflow cltv rollback --transactions tx.csv --model-dir models "
        "--to 20251230-0123456789 --scores-out scores.csv --json",
    ),
)
@_data_options
@option(
    "--model-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Model registry folder (tierflow cltv retrain's).",
)
@option(
    "--to",
    "version",
    default=None,
    help="Version to make current (default: the champion the last retrain "
    "replaced, as RETRAIN.json records it).",
)
@option(
    "--as-of",
    "as_of",
    type=AS_OF,
    default=None,
    help="Day of the scores published (default: the day of the last retrain, "
    "else the version's own as-of date; never before the state store's latest "
    "scores day, which is the day it serves).",
)
@option(
    "--state",
    type=STATE_LOCATION,
    default=None,
    help="State store (a SQLite file or a postgresql:// URL) to publish the "
    "version's scores to.",
)
@option(
    "--scores-out",
    type=OutputPath(dir_okay=False, path_type=Path),
    default=None,
    help="Also publish the version's scores to this CSV.",
)
@option(
    "--max-history-loss",
    type=FiniteFloatRange(0.0, 1.0),
    default=DEFAULT_MAX_HISTORY_LOSS,
    show_default=True,
    help="Refuse the rollback (nothing published or made current; exit 1) when "
    "the log lacks more than this share of the rows, customers or spend the "
    "version had up to its as-of date, or a week more than max(this, 0.10) of "
    "its rows. 0: any loss refuses; 1: none does.",
)
@option(
    "--accept-history-loss",
    is_flag=True,
    help="Roll back although the log lost history beyond --max-history-loss "
    "(a deliberate correction of the history); the loss is reported.",
)
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rollback_command(
    transactions: Path,
    fmt: str,
    profiles: Path | None,
    browsing: Path | None,
    skip_bad_rows: bool,
    model_dir: Path,
    version: str | None,
    as_of: datetime.date | None,
    state: Path | None,
    scores_out: Path | None,
    max_history_loss: float,
    accept_history_loss: bool,
    as_json: bool,
) -> None:
    """Make an earlier model current again, its scores published first.

    A rerun of the day's retrain then keeps it; the next day's runs as usual.
    """
    from tierflow.cltv.history import GuardStatus
    from tierflow.cltv.lifecycle import ScoreSinks, rollback
    from tierflow.cltv.registry import ModelRegistry

    if state is None and scores_out is None:
        # CURRENT moved without the scores: the store kept publishing the
        # model rolled back from
        raise click.UsageError(
            "give --state STORE or --scores-out CSV (or both): a rollback "
            "publishes the version's scores before it makes it current"
        )
    inputs = {"transactions": transactions, "profiles": profiles, "browsing": browsing}
    refuse_score_outputs(state, scores_out, model_dir, **inputs)
    day = None if as_of is None else as_of_day(as_of)
    data, notes = _load(transactions, fmt, profiles, browsing, skip_bad_rows)
    registry = ModelRegistry(model_dir)
    with (
        score_sinks(state, scores_out) as sinks,
        progress_stage("cltv rollback"),
    ):
        result = rollback(
            data,
            registry,
            ScoreSinks(sinks),
            version=version,
            as_of_day=day,
            max_history_loss=max_history_loss,
            accept_history_loss=accept_history_loss,
        )
    # a log in another unit than the version's was refused before publishing
    published = (
        None if result.as_of is None else datetime.date.fromisoformat(result.as_of)
    )
    guard = result.history
    if guard is not None and guard.note:
        notes = [*notes, f"history check {guard.status}: {guard.note}"]
    _warn(notes, data, published)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    elif not result.done:
        click.echo(f"{result.champion} is already the current model: nothing to do")
    else:
        rows = result.published_rows
        click.echo(
            f"rolled back to {result.champion} (from {result.rolled_back_from}): "
            f"published {'no scores' if rows is None else counted(rows, 'score')} "
            f"as of {result.as_of}"
        )
        if guard is not None and guard.check is not None:
            kept = (
                "kept within tolerance"
                if guard.status is GuardStatus.PASSED
                else "lost beyond tolerance, rolled back as asked"
            )
            click.echo(
                f"history up to {guard.check.champion.as_of} {kept} (version's "
                f"-> the log's): {guard.check.figures()}"
            )
