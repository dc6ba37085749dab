"""The clients of ``make bench-fleet``: one client's latency run, and the
checkout processes of the two-replica run (requests alternating between the
replicas). Loopback only; protocol in ``docs/benchmarks.md``."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import numpy as np

from tierflow.benchmarks.service_load import RawClient, Tally, run_phase

_T = TypeVar("_T")
Cart = tuple[str, list[tuple[str, int]], str]


def run_fast(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine on uvloop (the client's own cost, kept small)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def body(cart: Cart) -> dict[str, Any]:
    """The ``POST /v1/options`` body of a cart."""
    customer, items, dest = cart
    return {
        "customer_id": customer,
        "items": [{"sku": s, "quantity": q} for s, q in items],
        "dest": dest,
    }


async def with_open_pages(
    url: str, carts: list[Cart], pages: int, clients: int, seconds: float, seed: int
) -> tuple[Tally, float, int]:
    """The checkout load of ``clients`` with ``pages`` checkout pages open
    meanwhile: each a checkout answered before the load whose stream (as the
    page opens it, ``capacity=false``) is read throughout; the load's tally,
    its seconds and the events the pages got during it. The pages' carts are
    the last ``pages`` of ``carts``, the load's the others."""
    got = 0
    size = pages + 10
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    timeout = httpx.Timeout(30)  # the streams: a keep-alive ping every 15 s

    async def page(client: httpx.AsyncClient, request_id: str) -> None:
        nonlocal got
        query = {"request_id": request_id, "capacity": "false"}
        async with client.stream("GET", "/v1/stream", params=query) as r:
            async for line in r.aiter_lines():
                got += line.startswith("event:")

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as c:
        ids = []
        for cart in carts[-pages:]:
            r = await c.post("/v1/options", json=body(cart))
            r.raise_for_status()
            ids.append(r.json()["request_id"])
        tasks = [asyncio.create_task(page(c, rid)) for rid in ids]
        try:
            await asyncio.sleep(1.0)  # every page's stream open
            before = got
            tally, wall = await run_phase(url, clients, seconds, carts[:-pages], seed)
            return tally, wall, got - before
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def one_client_latency(
    port: int,
    carts: list[Cart],
    warm: int,
    in_process: Callable[[list[Cart]], list[float]],
    *,
    block: int = 1,
) -> tuple[list[float], list[float]]:
    """Milliseconds of each ``POST /v1/options`` (one client, one keep-alive
    connection, one request at a time) and of the same carts in process
    (``in_process(carts)``: each one's milliseconds), in turns of ``block``
    carts: ``block`` requests, then those carts in process, and so on; the
    first ``warm`` of each not counted.

    Taking turns keeps their ratio fair on a shared machine: both see the
    same moments of load from other work. Turns of one cart (``block=1``)
    run the in-process call on the server's CPU between every two requests,
    so each request finds that CPU's caches full of the other's data: both
    figures are then those of a server that shares its CPU call by call.
    """
    client = RawClient(port)
    http, local = [], []
    for start in range(0, len(carts), block):
        turn = carts[start : start + block]
        for k, cart in enumerate(turn, start=start):
            t = time.perf_counter()
            status, data = await client.request("POST", "/v1/options", body(cart))
            ms = (time.perf_counter() - t) * 1e3
            if status != 200:
                raise RuntimeError(f"options answered {status}: {data[:200]!r}")
            if k >= warm:
                http.append(ms)
        local += in_process(turn)[max(warm - start, 0) :]
    await client.close()
    return http, local


def replica_client(
    urls: list[str], carts: list[Cart], seed: int, barrier: Any, queue: Any
) -> None:
    """One checkout process of the two-replica run (see ``docs/benchmarks.md``).

    Call ``k`` goes to ``urls[k % 2]``: options, select, confirm, cancel of
    one checkout land on different replicas. Puts the tally on ``queue``.
    """
    rng = random.Random(seed)
    tally: dict[str, Any] = {"statuses": Counter(), "confirmed": [], "latency": []}
    with httpx.Client(timeout=60) as client:
        barrier.wait()
        calls = 0
        for cart in carts:
            calls = _checkout(client, urls, cart, rng, calls, tally)
    tally["statuses"] = dict(tally["statuses"])
    tally["p50_ms"] = float(np.percentile(tally.pop("latency"), 50))
    queue.put(tally)


def _checkout(
    client: httpx.Client,
    urls: list[str],
    cart: Cart,
    rng: random.Random,
    calls: int,
    tally: dict[str, Any],
) -> int:
    """One checkout: 80 % confirmed, 10 % cancelled, 10 % left to expire."""

    def post(path: str, json: Any = None) -> tuple[int, Any]:
        nonlocal calls
        url = urls[calls % len(urls)]
        calls += 1
        t = time.perf_counter()
        r = client.post(url + path, json=json)
        tally["latency"].append((time.perf_counter() - t) * 1e3)
        tally["statuses"][f"{path.rsplit('/', 1)[-1]} {r.status_code}"] += 1
        return r.status_code, r.json()

    status, answer = post("/v1/options", body(cart))
    if status != 200 or not answer["options"]:
        return calls
    rid = answer["request_id"]
    status, _ = post(
        f"/v1/checkouts/{rid}/select", {"option_id": answer["recommended"]}
    )
    if status != 200:
        return calls
    roll = rng.random()
    if roll < 0.8:
        status, done = post(f"/v1/checkouts/{rid}/confirm")
        if status == 200 and done["status"] == "confirmed":
            tally["confirmed"].append(rid)
    elif roll < 0.9:
        post(f"/v1/checkouts/{rid}/cancel")
    return calls
