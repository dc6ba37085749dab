"""Versioned CLTV models on disk, champion/challenger promotion, atomic writes.

Layout of a model directory ``DIR``::

    DIR/<version>/model.joblib     the fitted CLTVModel
    DIR/<version>/metadata.json    as-of, data fingerprint and history summary,
                                   features, metrics, versions
    DIR/CURRENT                    the champion's version (one line)
    DIR/RETRAIN.json               what the last ``retrain`` (or ``rollback``)
                                   decided (idempotence)
    DIR/.lock                      held while writing (fcntl, one writer at a time);
                                   a write that fails with nothing written
                                   removes it and the folders it created

A version is written into ``DIR/.tmp-<version>-<pid>`` and renamed into
place, and ``CURRENT`` is replaced with :func:`os.replace`; both are atomic on
one file system, so a crash at any point leaves the previous champion current
and readable. A pruned version is renamed out of sight (``.tmp-pruned-*``)
before it is deleted. Leftover ``.tmp-*`` entries, and a version folder
without both its files (a delete cut short by an older tierflow, which
deleted in place), are removed by the next writer.

``model.joblib`` is a pickle: load only model directories you trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, fields
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np

from tierflow.cltv.calibration import Blend, Shape
from tierflow.cltv.features import BtydFit
from tierflow.cltv.history import HistorySummary
from tierflow.cltv.level import Level
from tierflow.cltv.model import CLTVConfig, CLTVModel
from tierflow.cltv.regressor import CLTVRegressor
from tierflow.cltv.training import FeatureEncoder
from tierflow.data.errors import InputError
from tierflow.data.json_objects import (
    FieldKinds,
    field_problem,
    is_count,
    is_iso_date,
    is_number,
)
from tierflow.data.limits import MAX_HORIZON_DAYS, require_number
from tierflow.data.transactions import day_to_date

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CURRENT_FILE = "CURRENT"
RETRAIN_FILE = "RETRAIN.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
#: A version folder's name (:meth:`Recipe.version`): as-of date, recipe hash.
VERSION_NAME = re.compile(r"\d{8}-[0-9a-f]{10}")
#: Libraries whose versions are recorded with every model.
LIBRARIES = ("tierflow", "numpy", "pandas", "scipy", "scikit-learn", "joblib")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model depends on, plus Python
    (a new dict each call: the caller may change it)."""
    return dict(_library_versions())


@functools.cache
def _library_versions() -> dict[str, str]:
    """:func:`library_versions`, read once a process: each read of the
    installed packages' metadata took 4.5 ms of CPU, and a retrain asked for
    it at every recipe digest and model write (276 times, 1.2 s, in
    tests/cltv/test_registry.py)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "unknown"
    return out


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything that determines a fitted model: data, dates, config, inputs.

    Fitting is deterministic given the recipe, so its hash identifies a
    version before any fitting, and training the same recipe twice is a no-op.
    """

    fingerprint: str
    as_of_day: int
    horizon_days: int
    config: CLTVConfig
    #: Content hashes of the optional tables (None: not given).
    profiles: str | None = None
    browsing: str | None = None

    def digest(self) -> str:
        """Hash of the recipe; a table's content is in it (two profile tables
        once gave one version), an absent table is ``False`` as before."""
        payload = json.dumps(
            {
                "fingerprint": self.fingerprint,
                "as_of": self.as_of_day,
                "horizon": self.horizon_days,
                "config": self.config.as_dict(),
                "profiles": self.profiles or False,
                "browsing": self.browsing or False,
                "tierflow": library_versions()["tierflow"],
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    def version(self) -> str:
        """``<as-of YYYYMMDD>-<digest>``: sorts by date, unique per recipe."""
        return f"{day_to_date(self.as_of_day).strftime('%Y%m%d')}-{self.digest()}"


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model loaded from the registry with its metadata, and what
    ``metadata.json`` says of the model, checked against it: the config,
    horizon and as-of date it was trained on, and its history summary
    (``None``: saved before the history guard)."""

    version: str
    model: CLTVModel
    metadata: dict[str, Any]
    config: CLTVConfig
    horizon_days: int
    as_of: str | None
    history: HistorySummary | None


class ModelRegistry:
    """The versioned model directory ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ------------------------------------------------------------
    def versions(self) -> list[str]:
        """Complete versions, oldest first (half-written ones are invisible)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.name.startswith(".")
            and (p / MODEL_FILE).is_file()
            and (p / METADATA_FILE).is_file()
        )

    def current(self) -> str | None:
        """The champion's version, or ``None`` before the first promotion.

        A version not in the folder (its folder deleted by hand, or one
        without its model that a writer removed) is an :class:`InputError`
        naming ``CURRENT``: it was "field 'version': no such model version",
        a ``--version`` the user never gave."""
        path = self.root / CURRENT_FILE
        if not path.is_file():
            return None
        raw = path.read_bytes()
        # damage to CURRENT itself (a writer replaces it whole, never blank):
        # not UTF-8 was a UnicodeDecodeError traceback, blank "no current
        # model" of the folder
        try:
            name = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            problem = f"not UTF-8 text (byte 0x{bad} at position {exc.start})"
        else:
            problem = "" if name else "empty"
        if problem:
            raise InputError(
                f"{problem}: it names the current model's version; make one "
                "current with tierflow cltv train",
                file=str(path),
            )
        if name not in self.versions():
            raise InputError(
                f"names no model in the folder (have: {', '.join(self.versions()) or 'none'}); "
                "make one current with tierflow cltv train",
                file=str(path),
                value=name,
            )
        return name

    def metadata(self, version: str) -> dict[str, Any]:
        """``metadata.json`` of ``version`` (a damaged file is an
        :class:`InputError` naming it, not a traceback)."""
        return _read_json(self._version_dir(version) / METADATA_FILE)

    def load(self, version: str | None = None) -> StoredModel:
        """Load ``version`` (default, ``None``: the champion; ``""`` is no
        version, not the champion: ``--version "$V"`` with ``V`` unset)."""
        name = self.current() if version is None else version
        if name is None:
            raise InputError(
                "no current model; run 'tierflow cltv train' first",
                file=str(self.root),
            )
        directory = self._version_dir(name)
        metadata = self.metadata(name)
        meta_path = directory / METADATA_FILE
        recipe = stored_recipe(metadata, meta_path)
        history = stored_history(metadata, meta_path)
        for key in ("training_metrics", "level"):  # what cltv train prints
            _optional_object(metadata, key, meta_path)
        _stored_backtest(metadata, meta_path)
        _optional_note(metadata, meta_path)
        try:
            model = joblib.load(directory / MODEL_FILE)
        except Exception as exc:  # unpickling a damaged file raises anything
            raise InputError(
                f"cannot load the model ({type(exc).__name__}: {exc}); the file "
                "is damaged or was written by an incompatible version: train again",
                file=str(directory / MODEL_FILE),
            ) from exc
        if not isinstance(model, CLTVModel):
            raise InputError(
                "not a CLTV model", file=str(directory / MODEL_FILE), value=name
            )
        _check_model(model, directory / MODEL_FILE, metadata)
        _check_matches(model, recipe, meta_path)
        _history_of_its_day(history, recipe[2], meta_path)
        return StoredModel(name, model, metadata, *recipe, history)

    def readable(self, version: str) -> bool:
        """Whether ``version``'s metadata and model load: a file damaged on
        disk (truncated, overwritten) makes a version that only a new write
        of it (:meth:`write` with ``replace``) repairs."""
        try:
            self.load(version)
        except InputError:
            return False
        return True

    def _version_dir(self, version: str) -> Path:
        directory = self.root / version
        if (
            "/" in version
            or version.startswith(".")
            or not (directory / MODEL_FILE).is_file()
            or not (directory / METADATA_FILE).is_file()
        ):
            known = ", ".join(self.versions()) or "none"
            raise InputError(
                f"no such model version (have: {known})",
                file=str(self.root),
                field="version",
                value=version,
            )
        return directory

    # -- writing ------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's write lock (blocks other writers).

        A body that fails leaves the folders this call created, and the
        lock file it created, removed when nothing else was written there: a
        train that failed before writing a model left its ``--model-dir``
        behind with only ``.lock`` in it. A model folder keeps its lock.
        """
        lock = self.root / LOCK_FILE
        while True:
            made = [p for p in (self.root, *self.root.parents) if not p.exists()]
            self.root.mkdir(parents=True, exist_ok=True)
            made_lock = not lock.exists()
            handle = open(lock, "a+")  # noqa: SIM115 (closed below, or on retry)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if _same_file(handle, lock):
                break
            # a failed writer removed the lock we waited on (and maybe its
            # folder): lock the one at the path now
            handle.close()
        with handle:
            try:
                self._remove_leftovers()
                yield
            except BaseException:
                if made_lock and [p.name for p in self.root.iterdir()] == [LOCK_FILE]:
                    lock.unlink()
                    for folder in made:  # the deepest first
                        try:
                            folder.rmdir()
                        except OSError:  # not empty (another writer's), or gone
                            break
                raise
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_leftovers(self) -> None:
        """What a writer stopped mid-way left (under the lock: no writer is
        at work): temporary files and folders, and version folders without
        both their files, which :meth:`versions` never lists, so nothing
        else would ever remove them."""
        for path in self.root.glob(f"{TMP_PREFIX}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        complete = set(self.versions())
        for path in self.root.iterdir():
            if (
                path.is_dir()
                and VERSION_NAME.fullmatch(path.name)
                and path.name not in complete
            ):
                shutil.rmtree(path, ignore_errors=True)

    def write(
        self,
        model: CLTVModel,
        version: str,
        metadata: dict[str, Any],
        *,
        replace: bool = False,
    ) -> Path:
        """Write ``version`` atomically (call inside :meth:`locked`).

        Writing an existing version is a no-op (versions are immutable),
        unless ``replace``: a damaged one (:meth:`readable`) is written
        again, the old folder renamed out of sight only once the new one is
        whole.
        """
        final = self.root / version
        if final.is_dir() and version in self.versions() and not replace:
            return final
        tmp = self.root / f"{TMP_PREFIX}{version}-{os.getpid()}"
        with _writing(final):
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            joblib.dump(model, tmp / MODEL_FILE)
            _write_text(tmp / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
            _fsync_dir(tmp)
            trash = None
            if final.exists():  # damaged, or partial from an older, non-atomic writer
                trash = self.root / f"{TMP_PREFIX}replaced-{version}-{os.getpid()}"
                os.rename(final, trash)
            os.rename(tmp, final)
            _fsync_dir(self.root)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return final

    def write_metadata(self, version: str, metadata: dict[str, Any]) -> None:
        """Replace ``version``'s metadata atomically (call inside :meth:`locked`;
        the model itself is immutable)."""
        path = self._version_dir(version) / METADATA_FILE
        _atomic_write(path, json.dumps(metadata, indent=2) + "\n")

    def set_current(self, version: str) -> None:
        """Make ``version`` the champion (atomic replace of ``CURRENT``)."""
        self._version_dir(version)
        _atomic_write(self.root / CURRENT_FILE, version + "\n")

    def prune(self, keep: int) -> list[str]:
        """Delete all but ``keep`` versions: the champion, never deleted, and
        the newest others (call inside :meth:`locked`).

        The champion counts among the ``keep``: kept beside the ``keep``
        newest, a champion older than them (a challenger rejected, a day
        that failed) left one version more than asked.
        """
        if keep < 1:
            raise InputError("must be >= 1", field="keep", value=keep)
        current = self.current()
        versions = self.versions()
        others = [v for v in versions if v != current]
        room = keep - (len(versions) - len(others))
        doomed = others[: max(0, len(others) - room)]
        for name in doomed:
            # out of sight in one rename, then deleted: a delete cut short
            # (Ctrl-C, a kill) leaves a temporary folder the next writer
            # removes, not a version folder without its model, which no
            # later prune would see
            trash = self.root / f"{TMP_PREFIX}pruned-{name}-{os.getpid()}"
            os.rename(self.root / name, trash)
            shutil.rmtree(trash)
        return doomed

    def read_retrain_state(self) -> dict[str, Any] | None:
        """What the last retrain decided; a damaged record is an error that
        says how to go on (it stopped every daily retrain with "not valid
        JSON" alone): it only makes a repeat of a finished day a no-op.

        The fields a retrain reads (:data:`RETRAIN_FIELDS`) are checked here,
        once, with the same advice: unchecked, ``"completed": "no"`` was read
        as done, ``"published_rows": "0"`` as published, and a ``"metrics"``
        list became the no-op's metrics."""
        path = self.root / RETRAIN_FILE
        if not path.is_file():
            return None
        try:
            state = _read_json(path)
        except InputError as exc:
            raise InputError(
                f"{exc.reason}; {_RETRAIN_ADVICE}", file=exc.file
            ) from exc.__cause__
        found = _retrain_problem(state)
        if found is not None:
            problem, key, value = found
            raise InputError(
                f"{problem}; {_RETRAIN_ADVICE}", file=str(path), field=key, value=value
            )
        return state

    def write_retrain_state(self, state: dict[str, Any]) -> None:
        _atomic_write(self.root / RETRAIN_FILE, json.dumps(state, indent=2) + "\n")


_RETRAIN_ADVICE = (
    "it only records the last retrain's decision: remove it and the next "
    "retrain decides its day again"
)


def _is_version(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _is_count_or_null(value: object) -> bool:
    return value is None or is_count(value)


def _is_version_or_null(value: object) -> bool:
    return value is None or _is_version(value)


#: The fields of ``RETRAIN.json`` that a retrain reads, with what
#: :func:`~tierflow.cltv.lifecycle.retrain` writes in them (every record
#: since the first has all of them) and its test. The others (``promoted``,
#: ``reason``, ``history_check``, ``backtest_skipped``) are for people,
#: never read back.
RETRAIN_FIELDS: FieldKinds = {
    "challenger": ("a version name", _is_version),
    "champion": ("a version name", _is_version),
    "completed": ("true or false", lambda value: isinstance(value, bool)),
    "published_rows": ("a row count or null", _is_count_or_null),
    "metrics": ("an object of each model's metrics", lambda v: isinstance(v, dict)),
}
#: The fields of ``RETRAIN.json`` that :func:`~tierflow.cltv.lifecycle.rollback`
#: reads, checked when present: records of an older tierflow lack
#: ``champion_before`` (the champion the day met) and only a rollback's
#: record has ``rolled_back_from``.
RETRAIN_OPTIONAL: FieldKinds = {
    "as_of": ("a date (YYYY-MM-DD)", is_iso_date),
    "champion_before": ("a version name or null", _is_version_or_null),
    "rolled_back_from": ("a version name or null", _is_version_or_null),
}


def _retrain_problem(state: dict[str, Any]) -> tuple[str, str, object] | None:
    """``(problem, field, value)`` of the first field of :data:`RETRAIN_FIELDS`
    missing from ``state`` or not what a retrain writes there, down to each
    metric, or of :data:`RETRAIN_OPTIONAL` present and not; ``None`` when
    every one is."""
    found = field_problem(state, RETRAIN_FIELDS)
    present = {k: v for k, v in RETRAIN_OPTIONAL.items() if k in state}
    return (
        found
        or _metrics_problem(state["metrics"], "metrics")
        or field_problem(state, present)
    )


def _metrics_problem(
    by_model: dict[str, Any], field: str, printed: FieldKinds | None = None
) -> tuple[str, str, object] | None:
    """``(problem, field, value)`` of the first of ``by_model``'s models
    (``field.<model>``) whose metrics are not an object of numbers, or lack
    one of ``printed``; ``None`` when there is none."""
    for model, metrics in by_model.items():
        where = f"{field}.{model}"
        if not isinstance(metrics, dict):
            return "not an object of metrics", where, metrics
        found = field_problem(metrics, printed or {})
        if found is not None:
            problem, name, number = found
            return problem, f"{where}.{name}", number
        for name, number in metrics.items():
            if not is_number(number):
                return "not a number", f"{where}.{name}", number
    return None


#: The metrics ``cltv train`` prints of each model's stored backtest (every
#: backtest since the first has them; the others are read by no command).
BACKTEST_PRINTED: FieldKinds = {
    name: ("a number", is_number)
    for name in ("spearman", "top10_capture", "mae", "bias_pct")
}


def stored_recipe(
    meta: dict[str, Any], path: Path
) -> tuple[CLTVConfig, int, str | None]:
    """The config, horizon and as-of date of a version's ``metadata.json``
    at ``path`` (what ``cltv retrain`` plans the day from); a damaged one (by
    hand, by a disk) is an :class:`InputError` naming the file and the
    field: a config that is not an object or has a key too many, a horizon
    that is not a number, were TypeError and KeyError tracebacks from
    ``cltv retrain``."""
    file = str(path)
    settings = meta.get("config")
    if not isinstance(settings, dict):
        raise InputError("not a JSON object", file=file, field="config", value=settings)
    try:
        config = CLTVConfig(**settings)
    except TypeError as exc:  # a key CLTVConfig does not have
        key = str(exc).rpartition(" argument ")[2]
        raise InputError(
            f"not CLTV settings (unexpected key {key})", file=file, field="config"
        ) from None
    except InputError as exc:
        raise InputError(
            exc.reason, file=file, field=f"config.{exc.field}", value=exc.value
        ) from None
    horizon = meta.get("horizon_days")
    try:
        require_number(horizon, "horizon_days", 1, MAX_HORIZON_DAYS, integer=True)
    except InputError as exc:
        raise InputError(
            exc.reason, file=file, field="horizon_days", value=horizon
        ) from None
    as_of = meta.get("as_of")
    if as_of is not None and not is_iso_date(as_of):
        raise InputError(
            "must be a date (YYYY-MM-DD)", file=file, field="as_of", value=as_of
        )
    return config, int(horizon), as_of or None  # type: ignore[arg-type]


def stored_data(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """``data`` of a version's ``metadata.json`` (``{}`` when absent); not
    an object, an :class:`InputError` naming the file (it was an
    AttributeError traceback from ``cltv retrain`` and ``cltv score``)."""
    stored = meta.get("data")
    if stored is None:
        return {}
    if not isinstance(stored, dict):
        raise InputError(
            "not a JSON object", file=str(path), field="data", value=stored
        )
    return stored


def stored_history(meta: dict[str, Any], path: Path) -> HistorySummary | None:
    """``data.history`` of a version's ``metadata.json`` (``None``: saved
    before the history guard); damaged, an :class:`InputError` naming the
    file (``cltv score``'s unit note was dropped without a word)."""
    stored = stored_data(meta, path).get("history")
    return None if stored is None else HistorySummary.from_json(stored, file=str(path))


def _history_of_its_day(
    history: HistorySummary | None, as_of: str | None, path: Path
) -> None:
    """The history summary is of the version's own as-of date: the guard
    compares the day's log up to that date with it, so an edited date read
    as rows lost or added."""
    if history is not None and as_of is not None and history.as_of != as_of:
        raise InputError(
            f"not the version's as_of ({as_of}): the history guard would "
            "compare the log with another day's",
            file=str(path),
            field="data.history.as_of",
            value=history.as_of,
        )


def _optional_object(meta: dict[str, Any], key: str, path: Path) -> None:
    """``meta[key]`` is absent, ``null`` or a JSON object (``cltv train``
    of a stored recipe read ``training_metrics`` and ``level`` as objects:
    a list was a TypeError or AttributeError traceback)."""
    value = meta.get(key)
    if value is not None and not isinstance(value, dict):
        raise InputError(
            "not a JSON object or null" if key == "level" else "not a JSON object",
            file=str(path),
            field=key,
            value=value,
        )


def _stored_backtest(meta: dict[str, Any], path: Path) -> None:
    """``training_metrics.backtest`` is absent, or an object of each model's
    metrics with those ``cltv train`` prints (:data:`BACKTEST_PRINTED`): a
    list, a metric ``"x"`` or one missing was a TypeError, ValueError or
    KeyError traceback when a train of the recipe printed it back."""
    training = meta.get("training_metrics") or {}
    if "backtest" not in training:
        return
    backtest = training["backtest"]
    field = "training_metrics.backtest"
    if not isinstance(backtest, dict):
        raise InputError(
            "not an object of each model's metrics",
            file=str(path),
            field=field,
            value=backtest,
        )
    found = _metrics_problem(backtest, field, BACKTEST_PRINTED)
    if found is not None:
        problem, where, value = found
        raise InputError(problem, file=str(path), field=where, value=value)


def _optional_note(meta: dict[str, Any], path: Path) -> None:
    """``level.young_history_note`` is absent, ``null`` or a string: ``cltv
    retrain`` and ``cltv train`` print it as a warning (a number or a list
    was printed as one)."""
    level = meta.get("level")
    note = level.get("young_history_note") if isinstance(level, dict) else None
    if note is not None and not isinstance(note, str):
        raise InputError(
            "not a string or null",
            file=str(path),
            field="level.young_history_note",
            value=note,
        )


#: The fields of a fitted :class:`CLTVModel` this tierflow scores with, and
#: their kinds (``None``: may be ``None``). ``blend_``, ``uses_quantity_``
#: and ``data_fingerprint_`` are left out: models stored before them are
#: read with their defaults.
_FITTED: dict[str, tuple[tuple[type, ...], str]] = {
    "config": ((CLTVConfig,), "a CLTVConfig"),
    "as_of_day_": ((int, np.integer), "an int"),
    "horizon_days_": ((int, np.integer), "an int"),
    "encoder_": ((FeatureEncoder,), "a FeatureEncoder"),
    "windows_": ((list,), "a list"),
    "regressor_": ((CLTVRegressor,), "a CLTVRegressor"),
    "btyd_": ((BtydFit, type(None)), "a BtydFit or None"),
    "shapes_": ((dict,), "a dict of Shape"),
    "level_": ((Level, type(None)), "a Level or None"),
    "uses_profiles_": ((bool,), "a bool"),
    "uses_browsing_": ((bool,), "a bool"),
}


def _check_model(model: CLTVModel, path: Path, meta: dict[str, Any]) -> None:
    """A model this tierflow can score (:func:`_model_problem`), else an
    :class:`InputError` naming the file, the field and the tierflow that
    wrote it when ``metadata.json`` says it was another."""
    found = _model_problem(model)
    if found is None:
        return
    problem, field, value = found
    installed = library_versions()["tierflow"]
    wrote = meta.get("library_versions")
    by = wrote.get("tierflow") if isinstance(wrote, dict) else None
    version = (
        f" (tierflow {by}; this is {installed})"
        if isinstance(by, str) and by != installed
        else ""
    )
    raise InputError(
        f"{problem}; the file is damaged or was written by an incompatible "
        f"version{version}: train again",
        file=str(path),
        field=field,
        value=value,
    )


def _model_problem(model: CLTVModel) -> tuple[str, str, object] | None:
    """``(problem, field, value)`` of the first field of :data:`_FITTED`
    missing or of another kind, or of a config setting out of its range;
    ``None`` when there is none. A model file of another tierflow unpickles
    without a word and was an AttributeError or TypeError traceback when
    scoring (QA)."""
    for name, (kinds, kind) in _FITTED.items():
        # a field with a plain default that the pickle lacks reads as the
        # class's default (a model stored before level_ scores as before)
        value = getattr(model, name, _MISSING)
        if value is _MISSING:
            return "missing", name, None
        # True is an int, and an int no bool
        if not isinstance(value, kinds) or isinstance(value, bool) != (bool in kinds):
            return f"a {type(value).__name__}, not {kind}", name, None
    shapes = model.shapes_.items()
    if not all(isinstance(k, str) and isinstance(v, Shape) for k, v in shapes):
        return "not a dict of Shape", "shapes_", None
    blend = getattr(model, "blend_", None)
    if blend is not None and not isinstance(blend, Blend):
        return f"a {type(blend).__name__}, not a Blend", "blend_", None
    config = model.config
    try:  # slots a pickle of another CLTVConfig lacks; values it let by
        CLTVConfig(**{f.name: getattr(config, f.name) for f in fields(CLTVConfig)})
    except AttributeError as exc:
        return "missing", f"config.{exc.name}", None
    except InputError as exc:
        return exc.reason, f"config.{exc.field}", exc.value
    return None


_MISSING = object()


def _check_matches(
    model: CLTVModel, recipe: tuple[CLTVConfig, int, str | None], path: Path
) -> None:
    """``metadata.json`` at ``path`` describes ``model``: its config,
    horizon and as-of date are the model file's (``cltv retrain`` plans the
    day from the metadata, the model scores with its own: an edited config
    was the challenger's without a word)."""
    config, horizon, as_of = recipe
    ours = model.config.as_dict()
    for key, value in config.as_dict().items():
        if value != ours[key]:
            raise InputError(
                f"does not match the model file's ({ours[key]!r})",
                file=str(path),
                field=f"config.{key}",
                value=value,
            )
    checks: list[tuple[str, object, object]] = [
        ("horizon_days", horizon, int(model.horizon_days_ or 0))
    ]
    if as_of is not None:
        checks.append(
            ("as_of", as_of, str(day_to_date(int(model.as_of_day_ or 0)).date()))
        )
    for key, value, theirs in checks:
        if value != theirs:
            raise InputError(
                f"does not match the model file's ({theirs})",
                file=str(path),
                field=key,
                value=value,
            )


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; what is wrong with it as an
    :class:`InputError` naming the file (damaged by hand or by a disk)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            file=str(path),
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ({exc})", file=str(path)) from exc
    if not isinstance(data, dict):
        raise InputError(f"not a JSON object (a {type(data).__name__})", file=str(path))
    return data


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}")
    with _writing(path):
        _write_text(tmp, text)
        os.replace(tmp, path)
        _fsync_dir(path.parent)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An ``OSError`` of writing ``path`` (through a temporary name) as one
    naming ``path``: a write or fsync that fails on a full disk names no
    file, and a night's ``cltv retrain`` said only ``Error: No space left
    on device``, or named a ``.tmp-*`` folder gone by the next run."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        there = path.stat()
    except FileNotFoundError:
        return False
    here = os.fstat(handle.fileno())
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
