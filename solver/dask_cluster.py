"""The Dask cluster ``tierflow allocate --backend dask`` solves its partitions on.

:func:`connect` reaches the scheduler and checks its workers in a bounded
time, before a run writes anything: a scheduler that never answered hung the
run (``distributed.Client`` waits for the handshake with no time limit), and
workers without tierflow hung it too (each task failed to unpickle and the
worker dropped its link to the scheduler, over and over).
:func:`tierflow_version` is what each worker runs for the check.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

from tierflow.data.errors import InputError
from tierflow.data.extras import require

#: Seconds to reach the scheduler, and again for a worker to join it.
CONNECT_TIMEOUT_S = 10.0


def tierflow_version() -> str:
    """The installed tierflow's version (run on each worker by :func:`connect`)."""
    return importlib.metadata.version("tierflow")


async def _handshake(address: str, timeout_s: float) -> None:
    """Open and close one connection to ``address``, handshake included."""
    from distributed.comm.core import connect as comm_connect

    comm = await asyncio.wait_for(
        comm_connect(address, timeout=timeout_s),  # type: ignore[no-untyped-call]
        timeout_s,
    )
    await comm.close()


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    InputError
        (field ``--scheduler``) ``address`` is not an address, nothing answers
        there as a Dask scheduler within ``timeout_s``, no worker joins it
        within ``timeout_s``, or a worker cannot import tierflow or runs
        another version of it than this process.
    """
    distributed = require("dask.distributed", feature="dask backend", extra="dask")

    def refused(why: str) -> InputError:
        return InputError(why, field="--scheduler", value=address)

    try:
        asyncio.run(_handshake(address, timeout_s))
    except ValueError as exc:  # "missing port number", an unknown scheme
        raise refused(f"not a Dask scheduler address ({exc})") from None
    except OSError as exc:  # refused, unresolved, or no answer (TimeoutError)
        why = str(exc) or f"no answer within {timeout_s:g} s"
        raise refused(f"cannot reach the Dask scheduler ({why})") from None
    client = distributed.Client(address, timeout=timeout_s)
    try:
        _check_workers(client, timeout_s, refused)
    except BaseException:
        client.close()
        raise
    return client


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
