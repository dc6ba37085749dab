"""`tierflow allocate --backend dask` against schedulers and workers that
cannot run it: one line, exit 1, in a bounded time, nothing written.

Real processes: the command runs as a subprocess; the scheduler is a
``LocalCluster`` without workers in the test's process, its workers
``dask worker`` processes whose ``PYTHONPATH`` puts another ``tierflow``
(or one that cannot be imported) first.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_allocate import TINY, _write_orders
from tests.conftest import ROOT
from tests.dask_local import local_cluster
from tierflow.solver.dask_cluster import tierflow_version

pytest.importorskip("distributed")

#: ``dask worker`` options: one thread, no dashboard.
WORKER = ("--nthreads", "1", "--no-dashboard")


def _allocate(
    tmp_path: Path,
    scheduler: str,
    timeout: float = 90,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], float]:
    orders = _write_orders(tmp_path / "orders.csv", 20)
    args = ["allocate", "--network", str(TINY), "--orders", str(orders)]
    args += ["--engine", "greedy", "--backend", "dask", "--scheduler", scheduler]
    args += ["--out", str(tmp_path / "out")]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tierflow.cli.entry", *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "ignore",
            **(env or {}),
        },
        timeout=timeout,
    )
    return done, time.monotonic() - start


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_a_scheduler_address_that_is_not_one(tmp_path: Path) -> None:
    done, _ = _allocate(tmp_path, "scheduler.example")
    assert done.returncode == 1
    assert _last_line(done) == (
        "Error: field '--scheduler': value 'scheduler.example': not a Dask "
        "scheduler address (missing port number in address 'scheduler.example')"
    )
    assert not (tmp_path / "out").exists()  # refused before the run


#: dask's setting that refuses unencrypted connections, as an environment variable.
REQUIRE_ENCRYPTION = {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}


@pytest.mark.parametrize(
    ("address", "env", "why"),
    [
        ("tls://127.0.0.1:1", None,
         "a tls:// scheduler needs dask's TLS settings (distributed.comm.tls: "
         "ca-file, and client cert and key)"),
        ("tcp://127.0.0.1:1", REQUIRE_ENCRYPTION,
         "dask's settings require encryption (distributed.comm.require-encryption): "
         "give a tls:// address"),
        ("ucx://127.0.0.1:1", None,
         "cannot reach the Dask scheduler (Can't instantiate abstract class "
         "UCXConnector with abstract method connect)"),
    ],
)  # fmt: skip
def test_an_address_dask_s_settings_cannot_reach(
    tmp_path: Path, address: str, env: dict[str, str] | None, why: str
) -> None:
    # until 2026-12-06 the first and the last ended in a TypeError
    # traceback, the second (on a live scheduler) in a RuntimeError one
    done, took = _allocate(tmp_path, address, env=env)
    assert done.returncode == 1
    assert _last_line(done) == f"Error: field '--scheduler': value '{address}': {why}"
    assert took < 10  # said at once, not after the 10 s of a connection
    assert not (tmp_path / "out").exists()


def _self_signed(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (the cluster's and the client's)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs openssl for a TLS certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_tls_scheduler_is_reached_with_dask_s_tls_settings(tmp_path: Path) -> None:
    """A ``tls://`` scheduler that ``dask.distributed.Client`` reaches with
    dask's TLS settings: the check before it connected without them and
    refused it with distributed's ``TypeError`` traceback ("TLS expects a
    `ssl_context` argument"), until 2026-12-06."""
    import dask
    from dask.distributed import LocalCluster, Security

    from tierflow.solver.dask_cluster import connect, run_tasks

    cert, key = _self_signed(tmp_path)
    roles = ("scheduler", "worker", "client")
    security = Security(  # type: ignore[no-untyped-call]
        tls_ca_file=cert,
        require_encryption=True,
        **{f"tls_{role}_{part}": path for role in roles
           for part, path in (("cert", cert), ("key", key))},
    )  # fmt: skip
    settings = {
        "distributed.comm.tls.ca-file": cert,
        "distributed.comm.tls.client.cert": cert,
        "distributed.comm.tls.client.key": key,
    }
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
            security=security, dashboard_address=":0",
        ) as cluster,
        dask.config.set(settings),
    ):  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        client = connect(address)
        try:
            assert run_tasks(abs, [((-3,), {})]) == [3]
        finally:
            client.close()


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word (another
    service, a proxy): the Dask handshake waits for an answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


def test_a_scheduler_that_never_answers(tmp_path: Path, silent_listener: int) -> None:
    # hung for good (ten minutes and counting) until 2026-12-04
    address = f"tcp://127.0.0.1:{silent_listener}"
    done, took = _allocate(tmp_path, address, timeout=60)
    assert done.returncode == 1
    assert _last_line(done) == (
        f"Error: field '--scheduler': value '{address}': cannot reach the "
        "Dask scheduler (no answer within 10 s)"
    )
    assert took < 30
    assert not (tmp_path / "out").exists()


_NO_TIERFLOW = (
    'raise ModuleNotFoundError("No module named \'tierflow\'", name="tierflow")\n'
)


def _fake_tierflow(root: Path, kind: str) -> Path:
    """A ``tierflow`` for a worker: one that cannot be imported, or one that
    answers another version."""
    package = root / "tierflow"
    (package / "solver").mkdir(parents=True)
    if kind == "without tierflow":
        (package / "__init__.py").write_text(_NO_TIERFLOW)
    else:
        (package / "__init__.py").write_text("")
        (package / "solver" / "__init__.py").write_text("")
        (package / "solver" / "dask_cluster.py").write_text(
            "def tierflow_version():\n    return '0.0.1'\n"
        )
    return root


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("kind", ["no worker", "without tierflow", "another version"])
def test_workers_that_cannot_run_the_partitions(tmp_path: Path, kind: str) -> None:
    # until 2026-12-04 these ran: workers without tierflow hung a day with
    # parallel partitions for good (the worker dropped its scheduler link
    # on each task) and a one-thread cluster ran them all in this process,
    # unnoticed; with no worker a day that split failed after 10 s with
    # joblib's advice for Python code, its store left behind
    with local_cluster(0) as (cluster, client):
        address = cluster.scheduler_address
        worker, name = None, ""
        if kind != "no worker":
            path = _fake_tierflow(tmp_path / "worker", kind)
            worker = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, *WORKER],
                env={**os.environ, "PYTHONPATH": str(path)},
                cwd=path,  # not the repository's, whose tierflow/ comes first
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            client.wait_for_workers(1, timeout=60)
            (name,) = client.scheduler_info()["workers"]
        try:
            done, took = _allocate(tmp_path, address)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(30)
    local = tierflow_version()
    if kind == "no worker":
        why = (
            "no Dask worker joined the scheduler within 10 s: start workers "
            "with tierflow installed (dask worker ADDR)"
        )
    elif kind == "without tierflow":
        why = (
            f"Dask worker {name} cannot run tierflow "
            f"(ModuleNotFoundError(\"No module named 'tierflow'\")): "
            f"install tierflow {local} on every worker"
        )
    else:
        why = (
            f"Dask worker {name} runs tierflow 0.0.1, this command {local}: "
            f"install tierflow {local} on every worker"
        )
    assert done.returncode == 1, done.stderr
    assert _last_line(done) == (f"Error: field '--scheduler': value '{address}': {why}")
    assert took < 45
    assert not (tmp_path / "out").exists()


def _start_worker(address: str) -> subprocess.Popen[bytes]:
    """A ``dask worker`` (a nanny and its worker process) in a session of
    its own, so that both can be killed at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, *WORKER],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL each worker's nanny and process together."""
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)


def _tierflow(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli.entry", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_every_worker_killed_mid_run_stops_it_resumable(tmp_path: Path) -> None:
    """Every Dask worker (nanny and process) killed with SIGKILL mid-run:
    the run waited for good on a scheduler holding its tasks (or, workers
    dying under a task, ended in joblib's many-line error). One line now
    names the scheduler and what happened, exit 1, within 10 s of the last
    worker; the batches committed before stay, and the same command, once
    workers are back, resumes after them and ends with the allocations of
    an uninterrupted run."""
    from tests.cli.test_allocate import _committed

    orders = _write_orders(tmp_path / "orders.csv", 400, seed=2)
    clean, out = tmp_path / "clean", tmp_path / "out"
    with local_cluster(0) as (cluster, client):
        address = cluster.scheduler_address
        args = ["allocate", "--network", str(TINY), "--orders", str(orders)]
        args += ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
        args += ["--backend", "dask", "--scheduler", address]
        workers = [_start_worker(address) for _ in range(2)]
        try:
            client.wait_for_workers(2, timeout=60)
            assert _tierflow([*args, "--out", str(clean)]).wait(300) == 0
            run = _tierflow([*args, "--out", str(out)])
            deadline = time.monotonic() + 120
            while _committed(out / "state.db") < 5:
                assert run.poll() is None, "the run ended before its workers died"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            _kill(workers)
            killed = time.monotonic()
            _, stderr = run.communicate(timeout=120)
            took = time.monotonic() - killed
            kept = _committed(out / "state.db")
            workers = [_start_worker(address) for _ in range(2)]
            client.wait_for_workers(2, timeout=60)
            again = _tierflow([*args, "--out", str(out)])
            again_err = again.communicate(timeout=300)[1]
        finally:
            _kill(workers)
    _stopped_then_resumed(
        (run.returncode, stderr, took, kept),
        f"Error: Dask scheduler {address}: every worker left mid-run and none "
        "joined within 10 s; the batches committed so far are kept: start "
        "workers and run the same command to resume",
        (again.returncode, again_err),
        out,
        clean,
    )


def _die() -> None:
    """A task that takes its worker process down with it."""
    os._exit(1)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_task_that_kills_every_worker_it_runs_on_is_one_line() -> None:
    """A partition whose task took its worker down each time its nanny
    restarted it ended, through joblib, in a page of KilledWorker traceback;
    it is a ClusterError naming the scheduler now, the task cancelled."""
    from tierflow.data.errors import ClusterError
    from tierflow.solver.dask_cluster import run_tasks

    with local_cluster(1, threads_per_worker=1) as (cluster, _):
        address = cluster.scheduler_address
        with pytest.raises(ClusterError) as raised:
            run_tasks(_die, [((), {})])
    assert re.fullmatch(
        rf"Dask scheduler {re.escape(address)}: a partition's task took down "
        r"each of the 4 workers that ran it \(the last tcp://127\.0\.0\.1:\d+; "
        r"see the workers' logs\); the batches committed so far are kept: "
        r"start workers and run the same command to resume",
        str(raised.value),
    ), str(raised.value)


def _start_scheduler() -> tuple[subprocess.Popen[bytes], str]:
    """A ``dask scheduler`` process in a session of its own, and its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    scheduler = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return scheduler, f"tcp://127.0.0.1:{port}"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_scheduler_killed_mid_run_stops_it_resumable(tmp_path: Path) -> None:
    """The scheduler itself SIGKILLed mid-run: the client cancels its
    futures (``FuturesCancelledError``, no ``OSError``), which ended the run
    in a traceback and distributed's log of its reconnect attempts. One
    line now names the scheduler, exit 1; the batches committed before
    stay, and the same command against a new scheduler resumes after them
    and ends with the allocations of an uninterrupted run."""
    from tests.cli.test_allocate import _committed

    orders = _write_orders(tmp_path / "orders.csv", 400, seed=2)
    clean, out = tmp_path / "clean", tmp_path / "out"
    base = ["allocate", "--network", str(TINY), "--orders", str(orders)]
    base += ["--engine", "greedy", "--no-bid-prices", "--batch-size", "4"]
    scheduler, address = _start_scheduler()
    workers = [_start_worker(address) for _ in range(2)]
    try:
        args = [*base, "--backend", "dask", "--scheduler", address]
        assert _tierflow([*args, "--out", str(clean)]).wait(300) == 0
        run = _tierflow([*args, "--out", str(out)])
        deadline = time.monotonic() + 120
        while _committed(out / "state.db") < 5:
            assert run.poll() is None, "the run ended before its scheduler died"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _kill([scheduler])
        killed = time.monotonic()
        _, stderr = run.communicate(timeout=120)
        took = time.monotonic() - killed
        kept = _committed(out / "state.db")
        _kill(workers)
        first = address
        scheduler, address = _start_scheduler()
        workers = [_start_worker(address) for _ in range(2)]
        args = [*base, "--backend", "dask", "--scheduler", address]
        again = _tierflow([*args, "--out", str(out)])
        again_err = again.communicate(timeout=300)[1]
    finally:
        _kill([*workers, scheduler])
    _stopped_then_resumed(
        (run.returncode, stderr, took, kept),
        f"Error: Dask scheduler {first}: the connection to it was lost "
        "mid-run; the batches committed so far are kept: start the scheduler "
        "and its workers and run the same command to resume",
        (again.returncode, again_err),
        out,
        clean,
    )


def _stopped_then_resumed(
    stopped: tuple[int | None, str, float, int],
    said: str,
    resumed: tuple[int | None, str],
    out: Path,
    clean: Path,
) -> None:
    """A run the cluster failed mid-way: exit 1 within 45 s, ``said`` its
    one line (no traceback) after the batch it stopped in (the one after
    those kept), some but not all of the 100 batches kept; the rerun
    resumed from them to the uninterrupted run's allocations, byte for
    byte."""
    code, stderr, took, kept = stopped
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    named = re.fullmatch(
        r"Error: batch (\d+) of 100 \(orders of \S+ to \S+\): (.*)", line
    )
    assert named is not None, line
    assert f"Error: {named[2]}" == said
    assert int(named[1]) == kept
    assert took < 45
    assert 5 <= kept < 100
    again_code, again_err = resumed
    assert again_code == 0, again_err
    assert f"resuming: {kept} of 100 batches already in" in again_err
    assert (out / "allocations.csv").read_bytes() == (
        clean / "allocations.csv"
    ).read_bytes()


def _raise(exc: BaseException) -> None:
    """A task that fails as a partition's solve can (bad data, an engine)."""
    raise exc


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_error_raised_in_a_task_is_raised_as_it_was() -> None:
    """An exception a partition's task raises reaches the caller as it was
    raised, as joblib gives it on loky: an ``OSError`` (a disk full under
    an engine's files) was reported as the scheduler gone ("stopped
    answering mid-run")."""
    from tierflow.data.errors import InputError, SolverError
    from tierflow.solver.dask_cluster import run_tasks

    raised = [
        InputError("must be >= 0", file="orders.csv", row=7, field="quantity"),
        SolverError("HiGHS failed: model status 'Solve error'"),
        OSError(errno.ENOSPC, "No space left on device", "/tmp/cbc.mps"),
        TimeoutError("took too long"),
    ]
    with local_cluster(1, threads_per_worker=1):
        for exc in raised:
            with pytest.raises(type(exc)) as caught:
                run_tasks(_raise, [((exc,), {})])
            assert type(caught.value) is type(exc)
            assert str(caught.value) == str(exc)


_LOG_A_CLOSED_WRITE = """
import logging, sys
from tierflow.data.logging_setup import configure_logging
if sys.argv[2] == "tierflow's":  # the CLI's, set up before distributed's import
    configure_logging()
import distributed
from tierflow.solver import dask_cluster
if sys.argv[1] == "connected":
    dask_cluster._one_line_records()
    dask_cluster._one_line_records()
try:
    raise OSError("Stream is closed")
except OSError:
    logging.getLogger("distributed.batched").info(
        "Batched Comm Closed %r", "<TCP>", exc_info=True
    )
    if sys.argv[2] == "tierflow's":
        logging.getLogger("tierflow.cli").error("its own", exc_info=True)
"""


@pytest.mark.parametrize("handlers", ["distributed's", "tierflow's"])
@pytest.mark.parametrize("state", ["connected", "not connected"])
def test_distributed_records_print_without_their_traceback(
    state: str, handlers: str
) -> None:
    """A scheduler killed while the client wrote to it: distributed logs
    "Batched Comm Closed" with a page of ``StreamClosedError`` traceback,
    which printed above the run's one line (seen once under load). Once
    connected, the record prints as its line alone: on the handlers
    distributed installs on import, and on tierflow's, which it reaches
    in ``tierflow allocate`` (distributed installs none under a root
    handler; there the traceback still printed until 2026-12-06). A record
    of tierflow's keeps its traceback."""
    done = subprocess.run(
        [sys.executable, "-c", _LOG_A_CLOSED_WRITE, state, handlers],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    if handlers == "tierflow's":
        assert lines[0].endswith(
            " INFO distributed.batched: Batched Comm Closed '<TCP>'"
        ), lines
        own = next(i for i, line in enumerate(lines) if line.endswith(": its own"))
        assert lines[own + 1 :] == [
            "Traceback (most recent call last):",
            *lines[own + 2 : -1],
            "OSError: Stream is closed",
        ]
        lines = lines[:own]
    else:
        assert lines[0].endswith("- INFO - Batched Comm Closed '<TCP>'"), lines
    if state == "connected":
        assert lines == lines[:1]
    else:  # the handler printed the traceback before
        assert lines[1] == "Traceback (most recent call last):"
