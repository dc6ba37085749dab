"""Helpers of the fleet tests: several replicas (uvicorn servers on their own
ports, each with its own router and connections) on one store, in this
process or as ``tierflow serve`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from tests.conftest import TINY_NETWORK
from tests.service_fixtures import API_KEY, live_server
from tierflow.data.store import open_store
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import RunningServer, free_port

Replica = tuple[RunningServer, OnlineRouter]


#: The live hubs' poll of the capacity log (``poll_s``) in a test that
#: times the capacity follower: longer than the test's waits, so that only
#: the follower's wake-up can bring another replica's event in time.
FOLLOWER_ONLY_POLL_S = 60.0


@contextmanager
def replicas(
    folder: Path,
    state: Path | str,
    n: int = 2,
    app_kw: dict[str, Any] | None = None,
    **router_kw: Any,
) -> Iterator[list[Replica]]:
    """``n`` servers on the tiny network and one store (pinned clock);
    ``app_kw``: ``create_app``'s settings of each (``live_server``'s
    otherwise, its hub polling the log every 0.1 s)."""
    with ExitStack() as stack:
        out = [
            stack.enter_context(
                live_server(
                    folder / f"r{k}",
                    router_kw={"state": state, **router_kw},
                    **(app_kw or {}),
                )
            )
            for k in range(n)
        ]
        yield out


def stock_up(state: Path | str, units: int) -> None:
    """Every (node, SKU) of the tiny network holds ``units``."""
    nodes = ["WH-EAST", "WH-WEST", "ST-CHI"]
    skus = ["TEE", "MUG", "SPRAY"]
    rows = pd.DataFrame(
        [(n, s, units) for n in nodes for s in skus],
        columns=["node_id", "sku", "on_hand"],
    )
    with open_store(state) as store:
        store.upsert_inventory(rows)


def post_events(url: str, *events: dict[str, Any]) -> None:
    """Operator events to one replica (must be applied)."""
    r = httpx.post(
        f"{url}/v1/capacity/events",
        json={"events": list(events)},
        headers={"X-API-Key": API_KEY},
        timeout=10,
    )
    assert r.status_code == 200, r.text


#: ``tierflow`` with module settings changed first: ``argv[1]`` is a JSON
#: object of ``"module:NAME"`` to value (set once the entry point has taken
#: its signals, as the commands load; a server's forked workers keep them)
_SET_THEN_RUN = """
import importlib, json, sys
from tierflow.cli.entry import main
settings = json.loads(sys.argv.pop(1))
sys.argv[0] = "tierflow"
def commands():
    for where, value in settings.items():
        module, name = where.split(":")
        module = importlib.import_module(module)
        assert hasattr(module, name), where
        setattr(module, name, value)
    from tierflow.cli.main import run
    run()
sys.exit(main(commands))
"""


def tierflow_program(settings: dict[str, float] | None = None) -> list[str]:
    """The command line that runs ``tierflow`` (its arguments to follow),
    with ``settings`` (``"module:NAME"``: value, e.g.
    ``"tierflow.cli.serve_cmd:STORE_WAIT_S": 1.0``) changed: for a test that
    waits one out, a shorter one."""
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    if not settings:
        return [tierflow]
    return [sys.executable, "-c", _SET_THEN_RUN, json.dumps(settings)]


@contextmanager
def serve_process(
    state: Path | str, log: Path, *args: str, store_wait_s: float | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``tierflow serve`` on the tiny network in a child process (wall clock),
    with more ``args``; ``store_wait_s``: the server's ``STORE_WAIT_S`` (5 s)
    set to that in the child, for a test that waits it out (its workers are
    forked: they keep it)."""
    with serve_processes(state, [log], *args, store_wait_s=store_wait_s) as (one,):
        yield one


@contextmanager
def serve_processes(
    state: Path | str,
    logs: list[Path],
    *args: str,
    store_wait_s: float | None = None,
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """:func:`serve_process` once per log in ``logs``, all started before
    any is waited for: replicas start side by side (a start is seconds of
    a loaded machine's wall time)."""
    waits = None
    if store_wait_s is not None:
        waits = {"tierflow.cli.serve_cmd:STORE_WAIT_S": store_wait_s}
    env = {**os.environ, "TIERFLOW_API_KEY": API_KEY}
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for log in logs:
            port = free_port()
            while any(url.endswith(f":{port}") for url, _, _ in started):
                port = free_port()  # none bound yet: the kernel may repeat one
            command = [*tierflow_program(waits), "serve", "--port", str(port),
                       "--network", str(TINY_NETWORK), "--state", str(state),
                       "--capacity-max-age", "0", *args]  # fmt: skip
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, env=env
                )
            started.append((f"http://127.0.0.1:{port}", proc, log))
        deadline = time.monotonic() + 60
        for url, proc, log in started:
            _wait_healthy(url, proc, log, deadline)
        yield [(url, proc) for url, proc, _ in started]
    finally:
        _stop([proc for _, proc, _ in started])


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float
) -> None:
    """Until the server at ``url`` answers ``/healthz`` (failing, with its
    log, if it ended or ``deadline`` passed)."""
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each of ``procs`` still running, then wait for them all
    (side by side), killing one that does not end within 20 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
