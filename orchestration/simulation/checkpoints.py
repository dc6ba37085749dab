"""The steps an unfinished ``tierflow simulate`` run has finished, so that
``--resume`` continues it instead of starting over.

Kept in ``WORK/.checkpoints/`` (the run's staging folder, see
:mod:`tierflow.data.output_folder`) as each step ends: ``identity.json``
(settings and input digests: a run resumes only the same job), then one
pickle per finished step, written to a temporary name and renamed, and for
the CLTV step a copy of the state store as it stood after it (the checkouts
change the store, so an interrupted checkout step starts again from that
copy). A step that had not finished is run again from its start, so a
resumed run ends as a fresh one would. The pickles are written by this
process for itself: trust a checkpoint folder as you trust the run's own.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.file_digest import file_digest, folder_digest
from tierflow.data.output_folder import LOCK_FILE
from tierflow.data.store.sqlite_database import FILE_SUFFIXES

#: The checkpoint folder inside a run's working folder.
CHECKPOINTS = ".checkpoints"
_IDENTITY = "identity.json"

__all__ = ["CHECKPOINTS", "Checkpoints", "file_digest", "folder_digest"]


class Checkpoints:
    """Finished steps of one run; ``folder=None`` keeps nothing (no resume)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def open(
        cls, work: Path, identity: Mapping[str, Any], *, resume: bool
    ) -> Checkpoints:
        """The checkpoints of the run in ``work``.

        With ``resume`` the finished steps are kept when ``identity`` matches
        the one they were made with; otherwise (or when no step had
        finished) ``work`` is cleared and the run starts fresh.

        Raises
        ------
        InputError
            ``resume`` and the unfinished run was started with other
            settings or inputs.
        """
        folder = work / CHECKPOINTS
        text = json.dumps(dict(identity), sort_keys=True, default=str)
        stored = folder / _IDENTITY
        if resume and stored.exists() and stored.read_text() != text:
            raise InputError(
                "the unfinished run there was started with other settings or "
                "inputs; run without --resume to start over",
                file=str(work),
                field="--resume",
            )
        started = stored.exists() and any(folder.glob("*.pkl"))
        if not (resume and started):
            _clear(work)
            folder.mkdir()
            _atomic_bytes(stored, text.encode())
        return cls(folder)

    def done(self) -> list[str]:
        """The finished steps, in the order they finished."""
        if self.folder is None:
            return []
        steps = sorted(self.folder.glob("*.pkl"), key=lambda p: p.stat().st_mtime_ns)
        return [_unquote(p.stem) for p in steps]

    def has(self, step: str) -> bool:
        """Whether ``step`` has finished."""
        path = self._path(step, ".pkl")
        return path is not None and path.exists()

    def load(self, step: str) -> Any:
        """What ``step`` saved, or ``None`` when it has not finished."""
        path = self._path(step, ".pkl")
        if path is None or not path.exists():
            return None
        with open(path, "rb") as fh:
            return pickle.load(fh)

    def save(self, step: str, value: Any, *, store: Path | None = None) -> None:
        """Mark ``step`` finished with ``value`` (and a copy of ``store``)."""
        path = self._path(step, ".pkl")
        if path is None:
            return
        if store is not None:
            copy = self._path(step, ".db")
            assert copy is not None
            _copy_store(store, copy)
        _atomic_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def restore_store(self, step: str, store: Path) -> None:
        """Put back the state store as it stood when ``step`` finished."""
        copy = self._path(step, ".db")
        assert copy is not None and copy.exists(), f"no store copy for {step}"
        remove_store(store)
        tmp = store.with_name(store.name + ".restoring")
        shutil.copyfile(copy, tmp)
        os.replace(tmp, store)

    def _path(self, step: str, suffix: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / f"{_quote(step)}{suffix}"


def remove_store(store: Path) -> None:
    """Delete a SQLite state store with its log files."""
    for suffix in FILE_SUFFIXES:
        store.with_name(store.name + suffix).unlink(missing_ok=True)


def _copy_store(store: Path, copy: Path) -> None:
    """A consistent copy of a SQLite store (its log folded in)."""
    tmp = copy.with_name(copy.name + ".tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(store)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(tmp, copy)


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _clear(work: Path) -> None:
    """Everything of an earlier attempt in ``work`` (its lock stays)."""
    for entry in work.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _quote(step: str) -> str:
    return step.replace("%", "%25").replace("/", "%2F").replace(" ", "%20")


def _unquote(stem: str) -> str:
    return stem.replace("%20", " ").replace("%2F", "/").replace("%25", "%")
