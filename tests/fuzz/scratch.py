"""Throw-away folders for one fuzz example: a corrupted file, or the tiny
network with one table corrupted."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TINY_NETWORK


@contextmanager
def scratch() -> Iterator[Path]:
    """An empty folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@contextmanager
def file_with(name: str, data: bytes) -> Iterator[Path]:
    """``name`` holding ``data`` in a scratch folder."""
    with scratch() as folder:
        path = folder / name
        path.write_bytes(data)
        yield path


@contextmanager
def network_with(
    name: str, data: bytes, *, replace: str | None = None
) -> Iterator[Path]:
    """A copy of the tiny network whose file ``name`` holds ``data`` (the
    file ``replace``, when given, removed)."""
    with scratch() as tmp:
        folder = tmp / "net"
        shutil.copytree(TINY_NETWORK, folder)
        if replace is not None:
            (folder / replace).unlink()
        (folder / name).write_bytes(data)
        yield folder
