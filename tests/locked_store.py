"""A SQLite store's write lock held by a second, real process until a block
ends: what a ``sqlite3`` shell or another tierflow job mid-commit does to a
command or a server that wants to write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT

#: The holder: SQLite's write lock (``BEGIN IMMEDIATE``), after tierflow's
#: writers' turn (``<db>-writer``) when told to; held until stdin closes.
_HOLDER = textwrap.dedent("""
    import sqlite3, sys
    from pathlib import Path
    db = Path(sys.argv[1])
    if sys.argv[2] == "tierflow":
        from tierflow.data.store.sqlite_writer_lock import WriterLock
        WriterLock(db, 0).__enter__()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("holding", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    """)

#: How a second process holds the lock: as the ``sqlite3`` shell does (SQLite's
#: lock only), or as a tierflow writer does (its turn on the lock file, then
#: SQLite's lock).
HOLDERS = ("sqlite3", "tierflow")


@contextmanager
def locked_by_another_process(db: Path, holder: str = "sqlite3") -> Iterator[None]:
    """``db``'s write lock held by another process for the block (``holder``:
    one of :data:`HOLDERS`); released, and the process gone, after it."""
    if holder not in HOLDERS:
        raise ValueError(f"holder must be one of {HOLDERS}, not {holder!r}")
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), holder],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "holding"
            yield
        finally:
            proc.stdin.close()  # the holder rolls back and ends
            proc.wait(timeout=30)
    assert proc.returncode == 0
