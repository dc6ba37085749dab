"""Output folders written whole or not at all.

A command that writes a folder ``OUT`` writes into a staging folder beside
it, ``PARENT/.<name>.partial/``, and moves what it wrote into ``OUT`` when
it has finished. So a failed run leaves ``OUT`` as it was (a first run
leaves no ``OUT`` at all), and a second run never sees the first one's
files while it works: every run starts fresh. Each file move is an
:func:`os.replace`; the names the command owns that this run did not write
(a plot without data this time, an old ``state.db-wal``) are removed, and
files of ``OUT`` the command does not own are left alone.

The moves are not cut by Ctrl-C or SIGTERM: one that comes while they run
is taken when the last has been made.

``.lock`` inside the staging folder is held (``fcntl``) while a run writes,
so two runs never share one. A run that stops (crash, ``kill -9``, Ctrl-C)
leaves its staging folder: ``resume`` keeps its contents for the command to
continue from (``tierflow simulate --resume``); without it the next run
clears it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from tierflow.data.errors import InputError, TierflowError
from tierflow.data.stop_signals import held_stop_signals

#: The lock file inside a staging folder.
LOCK_FILE = ".lock"
_SUFFIX = ".partial"


class FolderBusyError(TierflowError):
    """Another process is writing the same output folder."""


@dataclass(frozen=True, slots=True)
class Staging:
    """An open staging folder: where this run writes.

    ``resumed``: it holds an unfinished run kept for this one to continue;
    ``discarded``: it held one and this run cleared it (it starts fresh).
    """

    path: Path
    resumed: bool
    discarded: bool


class StagedOutput:
    """The output folder ``out`` of a command that owns the names ``owned``.

    Constructing it touches nothing; :meth:`open` claims the staging folder.
    """

    def __init__(self, out: Path, owned: Collection[str]) -> None:
        folder = Path(os.path.abspath(out))
        if not folder.name or folder.parent == folder:
            raise InputError(
                "cannot be a file system root", field="--out", value=str(out)
            )
        self.out = folder
        self.owned = frozenset(owned)
        self.staging = folder.parent / f".{folder.name}{_SUFFIX}"

    @contextlib.contextmanager
    def open(self, *, resume: bool = False) -> Iterator[Staging]:
        """Claim the staging folder, yield it, and move its files into ``out``
        when the block ends without an error.

        Raises
        ------
        FolderBusyError
            Another run holds the staging folder.
        """
        made = _make_parents(self.out.parent)
        try:
            self.staging.mkdir(exist_ok=True)
        except BaseException:
            _remove_empty(made)
            raise
        fd = os.open(self.staging / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            _lock(fd, self.out)
        except BaseException:
            os.close(fd)
            raise
        try:
            left = _has_work(self.staging)
            if left and not resume:
                _clear(self.staging)
            yield Staging(
                self.staging, resumed=left and resume, discarded=left and not resume
            )
            # a Ctrl-C between two moves left OUT half the new run's, half
            # the old one's: it waits for the last move, then stops the run
            with held_stop_signals() as held:
                self._commit()
            held.deliver()
        except BaseException:
            if not _has_work(self.staging):
                shutil.rmtree(self.staging, ignore_errors=True)
                _remove_empty(made)
            raise
        finally:
            os.close(fd)

    def _commit(self) -> None:
        """Stale owned names out, every written entry in, the staging folder gone."""
        self.out.mkdir(exist_ok=True)
        written = sorted(p.name for p in self.staging.iterdir() if not _hidden(p))
        for name in sorted(self.owned - set(written)):
            _remove(self.out / name)
        for name in written:
            _replace(self.staging / name, self.out / name, self.staging)
        shutil.rmtree(self.staging)


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing path above ``path`` when it is a file, not a
    folder (nothing can then be created at ``path``); else None."""
    above = next((p for p in path.parents if p.exists()), None)
    return above if above is not None and not above.is_dir() else None


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _has_work(staging: Path) -> bool:
    """Whether the staging folder holds anything but its lock."""
    return staging.is_dir() and any(p.name != LOCK_FILE for p in staging.iterdir())


def _lock(fd: int, out: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderBusyError(
            f"{out}: another tierflow run is writing this folder"
        ) from None


def _clear(staging: Path) -> None:
    for entry in staging.iterdir():
        if entry.name != LOCK_FILE:
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _replace(src: Path, dst: Path, scratch: Path) -> None:
    """Put ``src`` at ``dst``: one rename for a file; a folder in place of
    an old one moves the old one aside first (into ``scratch``)."""
    if dst.is_dir() and not dst.is_symlink():
        aside = scratch / f".old-{dst.name}"
        _remove(aside)
        dst.rename(aside)
    os.replace(src, dst)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first."""
    missing: list[Path] = []
    at = folder
    while not at.exists():
        missing.append(at)
        at = at.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()
