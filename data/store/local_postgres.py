"""A private PostgreSQL server on a Unix socket in a temporary folder, for
the test suite, the store benchmark and trying the backend: ``initdb`` and
``pg_ctl`` from Debian's ``postgresql`` package, run as the ``postgres``
user when started by root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from tierflow.data.errors import TierflowError

#: The role the tests and benchmarks connect as (trusted on the socket).
USER = "tierflow"
#: For tests and benchmarks only: no fsync at all.
NO_FSYNC = ("-F",)
#: Shared memory, where a test server's files never reach a disk.
SHARED_MEMORY = Path("/dev/shm")


def memory_folder(min_free_bytes: int = 4 << 30) -> Path | None:
    """``/dev/shm`` when it is a writable folder with ``min_free_bytes``
    free, else None. A test server there creates and deletes its databases
    (about 8 MB each, a few hundred per test session) without disk I/O: on a
    busy disk, deleting them alone took minutes."""
    try:
        stat = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    if not os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return None
    return SHARED_MEMORY if stat.f_bavail * stat.f_frsize >= min_free_bytes else None


def server_programs() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``$TIERFLOW_PG_BIN``, Debian's
    newest ``/usr/lib/postgresql/*/bin``, or the ``PATH``.

    Raises
    ------
    TierflowError
        PostgreSQL's server programs are not installed.
    """
    env = os.environ.get("TIERFLOW_PG_BIN")
    if env:
        return Path(env)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)],
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise TierflowError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
        "apt-get install postgresql (make test does, as root), or set "
        "TIERFLOW_PG_BIN to their folder"
    )


class LocalPostgres:
    """A throwaway PostgreSQL server (``with LocalPostgres() as pg: ...``).

    Parameters
    ----------
    options
        Server flags given to ``postgres`` (``-c name=value``, ``-F``).
    parent
        Where the server's temporary folder is made (default ``/tmp``; the
        tests use :func:`memory_folder`).
    """

    def __init__(
        self, options: Sequence[str] = NO_FSYNC, *, parent: Path | None = None
    ) -> None:
        self.bin = server_programs()
        self.options = tuple(options)
        self.parent = parent
        self.folder: Path | None = None
        self._running = False
        self._owner = _server_owner()

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's socket (the URL's ``host``)."""
        if self.folder is None:
            raise TierflowError("the PostgreSQL server is not started")
        return self.folder

    def url(self, dbname: str) -> str:
        """The libpq URL of database ``dbname`` on this server."""
        return f"postgresql://{USER}@/{dbname}?host={self.socket_dir}"

    def start(self) -> Self:
        """``initdb`` a fresh cluster and start it (a few seconds)."""
        base = self.parent or ("/tmp" if os.path.isdir("/tmp") else None)
        self.folder = Path(tempfile.mkdtemp(prefix="tierflow-pg-", dir=base))
        self.folder.chmod(0o711)
        if self._owner is not None:
            os.chown(self.folder, self._owner.pw_uid, self._owner.pw_gid)
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", USER, "-N",
                  "-E", "UTF8", "--locale=C")  # fmt: skip
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server (its sessions end), keeping its files for :meth:`resume`."""
        self._run("pg_ctl", "-D", str(self.socket_dir / "data"), "-m", "fast",
                  "-w", "stop")  # fmt: skip
        self._running = False

    def resume(self) -> None:
        """Start the server on its files (after :meth:`start`'s ``initdb`` or a
        :meth:`halt`)."""
        folder = self.socket_dir
        flags = [
            "-k", str(folder), "-c", "listen_addresses=", "-c",
            "max_connections=300", *self.options,
        ]  # fmt: skip
        self._run("pg_ctl", "-D", str(folder / "data"), "-o", shlex.join(flags),
                  "-l", str(folder / "server.log"), "-w", "start")  # fmt: skip
        self._running = True

    @property
    def pid(self) -> int:
        """The server's (postmaster's) process id; its backends are its children."""
        text = (self.socket_dir / "data" / "postmaster.pid").read_text()
        return int(text.split()[0])

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create an empty database, or a copy of database ``template`` (which
        no session may be connected to); returns its URL."""
        import psycopg
        from psycopg import sql

        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            for attempt in range(50):  # the template (template1) is busy under load
                try:
                    conn.execute(create)
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.05)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self.folder is None:
            return
        try:
            if self._running:
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m",
                          "immediate", "-w", "stop")  # fmt: skip
                self._running = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.folder / "server.log" if self.folder else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise TierflowError(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )


def _server_owner() -> pwd.struct_passwd | None:
    """The ``postgres`` user when running as root (else None: run as oneself)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise TierflowError(
            "running as root, but there is no 'postgres' user to run the "
            "server as (apt-get install postgresql creates it)"
        ) from None
