"""The Dask cluster ``tierflow allocate --backend dask`` solves its partitions on.

:func:`run_tasks` runs the partitions on it and stops, with one line naming
the scheduler, when the cluster loses every worker mid-run.

:func:`connect` reaches the scheduler and checks its workers in a bounded
time, before a run writes anything: a scheduler that never answered hung the
run (``distributed.Client`` waits for the handshake with no time limit), and
workers without tierflow hung it too (each task failed to unpickle and the
worker dropped its link to the scheduler, over and over). It connects with
dask's security settings, as the client does: a ``tls://`` scheduler that
the client reached was refused with a ``TypeError`` traceback.
:func:`tierflow_version` is what each worker runs for the check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from tierflow.data.errors import ClusterError, InputError
from tierflow.data.extras import require

#: Seconds to reach the scheduler, and again for a worker to join it (at
#: the start, and when every worker left mid-run).
CONNECT_TIMEOUT_S = 10.0
#: Seconds between looks at the cluster while its tasks run.
POLL_S = 0.5


def tierflow_version() -> str:
    """The installed tierflow's version (run on each worker by :func:`connect`)."""
    return importlib.metadata.version("tierflow")


async def _handshake(
    address: str, timeout_s: float, connection_args: dict[str, Any]
) -> None:
    """Open and close one connection to ``address``, handshake included."""
    from distributed.comm.core import connect as comm_connect

    comm = await asyncio.wait_for(
        comm_connect(  # type: ignore[no-untyped-call]
            address, timeout=timeout_s, **connection_args
        ),
        timeout_s,
    )
    await comm.close()


#: Address schemes whose connections are encrypted (dask's TLS settings).
_ENCRYPTED = ("tls", "wss")


def _unusable_settings(address: str, connection_args: dict[str, Any]) -> str | None:
    """Why dask's security settings (``distributed.comm``) cannot reach
    ``address``, else ``None``: distributed's comm raised a ``TypeError``
    (TLS without a certificate) or ``RuntimeError`` (encryption required),
    each a traceback."""
    from distributed.comm.addressing import parse_address

    scheme = parse_address(address)[0].lower()
    if scheme in _ENCRYPTED and connection_args.get("ssl_context") is None:
        return (
            f"a {scheme}:// scheduler needs dask's TLS settings "
            "(distributed.comm.tls: ca-file, and client cert and key)"
        )
    if scheme not in _ENCRYPTED and connection_args.get("require_encryption"):
        return (
            "dask's settings require encryption "
            "(distributed.comm.require-encryption): give a tls:// address"
        )
    return None


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    InputError
        (field ``--scheduler``) ``address`` is not an address, dask's security
        settings cannot reach it (a ``tls://`` one without them, a ``tcp://``
        one where they require encryption), nothing answers
        there as a Dask scheduler within ``timeout_s``, no worker joins it
        within ``timeout_s``, or a worker cannot import tierflow or runs
        another version of it than this process.
    """
    distributed = require("dask.distributed", feature="dask backend", extra="dask")

    def refused(why: str) -> InputError:
        return InputError(why, field="--scheduler", value=address)

    # the settings the client connects with (distributed.comm.tls, ...)
    connection_args = distributed.Security().get_connection_args("client")
    unusable = _unusable_settings(address, connection_args)
    if unusable:
        raise refused(unusable)
    try:
        asyncio.run(_handshake(address, timeout_s, connection_args))
    except ValueError as exc:  # "missing port number", an unknown scheme
        raise refused(f"not a Dask scheduler address ({exc})") from None
    except OSError as exc:  # refused, unresolved, or no answer (TimeoutError)
        why = str(exc) or f"no answer within {timeout_s:g} s"
        raise refused(f"cannot reach the Dask scheduler ({why})") from None
    except TypeError as exc:  # a scheme's comm that cannot be built (ucx://)
        raise refused(f"cannot reach the Dask scheduler ({exc})") from None
    client = distributed.Client(address, timeout=timeout_s)
    _one_line_records()
    try:
        _check_workers(client, timeout_s, refused)
    except BaseException:
        client.close()
        raise
    return client


class _NoTraceback(logging.Filter):
    """Pass a record on, one of distributed's without its traceback (its
    message line kept); the others as they are."""

    def __init__(self) -> None:
        super().__init__("distributed")

    def filter(self, record: logging.LogRecord) -> bool:
        if super().filter(record):
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _one_line_records() -> None:
    """Make the log handlers distributed's records reach print them without
    tracebacks.

    A scheduler killed mid-run is said in the run's one line; distributed
    also logs the write it was making at that moment (an INFO "Batched Comm
    Closed" or an ERROR, each with a page of ``StreamClosedError``
    traceback), printed above that line when the kill met a write. The
    handlers are those distributed installs on import, or, where logging
    was set up before it (``tierflow allocate``: it installs none), those
    its records propagate to: tierflow's own, whose filter leaves other
    records alone. Their message lines stay.
    """
    for name in ("distributed", "distributed.client"):
        logger: logging.Logger | None = logging.getLogger(name)
        while logger is not None:
            for handler in logger.handlers:
                if not any(isinstance(f, _NoTraceback) for f in handler.filters):
                    handler.addFilter(_NoTraceback())
            logger = logger.parent if logger.propagate else None


def _check_workers(client: Any, timeout_s: float, refused: Any) -> None:
    """At least one worker, each running this process's tierflow."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise refused(
            f"no Dask worker joined the scheduler within {timeout_s:g} s: "
            "start workers with tierflow installed (dask worker ADDR)"
        ) from None
    local = tierflow_version()
    answers = client.run(tierflow_version, on_error="return")
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            raise refused(
                f"Dask worker {worker} cannot run tierflow ({answer}): "
                f"install tierflow {local} on every worker"
            )
        if answer != local:
            raise refused(
                f"Dask worker {worker} runs tierflow {answer}, this command "
                f"{local}: install tierflow {local} on every worker"
            )


def run_tasks(
    func: Callable[..., Any],
    calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> list[Any]:
    """``func(*args, **kwargs)`` for each of ``calls`` on the current
    client's cluster; the results in order.

    A worker lost mid-task has its task run again elsewhere (the scheduler's
    doing). When every worker is gone and none joins within ``timeout_s``
    the tasks are cancelled: the run waited for good, the scheduler holding
    its tasks for workers that never came (and joblib's Dask backend gave a
    task that killed its workers as a page of traceback).

    Raises
    ------
    ClusterError
        Naming the scheduler and what happened: no worker left, a task
        that killed every worker it ran on, or the scheduler gone (the
        client cancels the futures when it loses it: a
        ``FuturesCancelledError``, which ended the run in a traceback).
        An exception a task raised is raised as it was (an ``OSError`` of
        a task was taken for the scheduler gone).
    """
    distributed: Any = require("dask.distributed", feature="dask backend", extra="dask")
    client: Any = distributed.get_client()
    address = client.scheduler.address
    futures = [client.submit(func, *args, pure=False, **kw) for args, kw in calls]
    kept = "the batches committed so far are kept"
    resume = "start workers and run the same command to resume"
    lost = ClusterError(
        f"Dask scheduler {address}: the connection to it was lost mid-run; "
        f"{kept}: start the scheduler and its workers and run the same "
        "command to resume"
    )
    alone_since: float | None = None
    try:
        while True:
            try:
                distributed.wait(futures, timeout=POLL_S)
                break
            except TimeoutError:
                pass
            try:
                workers = client.nthreads()
            except OSError:  # the scheduler itself went away
                _close_quietly(client)
                raise lost from None
            if workers:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > timeout_s:
                raise ClusterError(
                    f"Dask scheduler {address}: every worker left mid-run and "
                    f"none joined within {timeout_s:g} s; {kept}: {resume}"
                )
        return list(client.gather(futures))
    except distributed.KilledWorker as exc:
        last = getattr(exc.last_worker, "address", exc.last_worker)
        raise ClusterError(
            f"Dask scheduler {address}: a partition's task took down each of "
            f"the {exc.allowed_failures + 1} workers that ran it (the last "
            f"{last}; see the workers' logs); {kept}: {resume}"
        ) from None
    except concurrent.futures.CancelledError:  # the client lost the scheduler
        _close_quietly(client)
        raise lost from None
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()])


def _close_quietly(client: Any) -> None:
    """Close ``client``, whose scheduler is gone, without distributed's log
    of its cancelled reconnect (an ERROR with a page of traceback, printed
    above the run's one line as the caller closed the client)."""
    logger = logging.getLogger("distributed.client")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.suppress(Exception):
            client.close(timeout=CONNECT_TIMEOUT_S)
    finally:
        logger.setLevel(level)
