"""A second connection to a SQLite store (``SqliteStore.reopen``: a server's
capacity follower, pages and metrics each open one) opens the file the
first opened or none: a file deleted under the server made a new, empty
store at the path, seeded with the network's stock by the next router that
opened it, beside connections still on the old file (QA, 2026-12-07: a
worker starting while the file was deleted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tierflow.data.store import SqliteStore, StoreUnavailable

GONE = "the database file is gone (deleted or replaced since it was opened)"


def test_a_second_connection_opens_the_same_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    second = store.reopen()
    try:
        assert second.schema_version() == store.schema_version()
        assert os.path.samefile(second.path, store.path)
    finally:
        second.close()
        store.close()


def test_a_second_connection_to_a_deleted_file_makes_none(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    with pytest.raises(StoreUnavailable) as refused:
        store.reopen()
    assert str(refused.value) == f"{path}: {GONE}"
    assert not path.exists()
    store.close()


def test_a_second_connection_to_a_replaced_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    other = SqliteStore(tmp_path / "other.db")
    other.close()
    os.replace(tmp_path / "other.db", path)  # a restore by mv
    with pytest.raises(StoreUnavailable) as refused:
        store.reopen()
    assert str(refused.value) == f"{path}: {GONE}"
    store.close()
