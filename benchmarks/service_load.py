"""The load clients of ``make bench-service``: keep-alive checkout clients, a
``/healthz`` baseline, an operator posting keyed and keyless writes and a
stream follower, all on loopback (protocol: ``docs/benchmarks.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HOST = "127.0.0.1"  # loopback only: this benchmark never sends traffic elsewhere


def wait_until_up(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0
) -> None:
    """Return once the ``tierflow serve`` at ``url`` answers ``/healthz``;
    a server that exits or is not up within ``timeout_s`` is an error
    naming its log."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"tierflow serve exited: see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"tierflow serve did not start: see {log}")
        time.sleep(0.2)


@contextlib.contextmanager
def child_server(
    command: list[str],
    log: Path,
    api_key: str,
    *,
    url: str | None = None,
    stop: signal.Signals = signal.SIGINT,
    append_log: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` (a ``tierflow serve ...``) as a child process writing to
    ``log``, with ``api_key`` as its ``TIERFLOW_API_KEY``; when ``url`` is
    given, entered once it answers (:func:`wait_until_up`). On exit it gets
    ``stop`` and a minute to finish, then is killed."""
    env = {**os.environ, "TIERFLOW_API_KEY": api_key}
    with open(log, "ab" if append_log else "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        if url is not None:
            wait_until_up(url, proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


ENDPOINTS = ("options", "select", "confirm", "cancel")


@dataclass
class Tally:
    """Requests seen by the load clients."""

    latency_ms: dict[str, list[float]] = field(
        default_factory=lambda: {k: [] for k in (*ENDPOINTS, "healthz")}
    )
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    confirmed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def record(self, endpoint: str, status: int, ms: float) -> None:
        self.latency_ms[endpoint].append(ms)
        self.statuses[f"{endpoint} {status}"] += 1

    @property
    def checkout_requests(self) -> int:
        """Requests of the checkout endpoints (every one but ``/healthz``)."""
        return sum(len(v) for k, v in self.latency_ms.items() if k != "healthz")

    @property
    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if k.split()[-1].startswith("5"))

    def latency_table(self, wall: float) -> dict[str, Any]:
        """Requests, rate and latency percentiles per endpoint."""
        out: dict[str, Any] = {}
        for name, values in self.latency_ms.items():
            if values:
                out[name] = {
                    "requests": len(values),
                    "per_s": len(values) / wall,
                    "p50_ms": percentile(values, 50),
                    "p99_ms": percentile(values, 99),
                    "max_ms": max(values),
                }
        return out


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile, or None without values."""
    return float(np.percentile(values, q)) if values else None


# -------------------------------------------------------------------- client
class RawClient:
    """A minimal keep-alive HTTP/1.1 client for the load (one connection).

    httpx's async client costs several times the server's own work per
    request, and here client and server share two cores; this one writes
    the request bytes and reads a ``Content-Length`` response, nothing more
    (every response of the app has one). Loopback only.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
        return self._reader, self._writer

    async def request(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body)."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if body is not None:
            head += (
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            )
        reader, writer = await self._connect()
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        status_line, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        status = int(status_line.split()[1])
        length = None
        close = False
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise RuntimeError(f"{method} {path}: response without Content-Length")
        data = await reader.readexactly(length)
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


# ---------------------------------------------------------------------- load
async def _timed(
    client: RawClient, tally: Tally, endpoint: str, method: str, path: str,
    body: Any = None,
) -> tuple[int, Any]:  # fmt: skip
    t0 = time.perf_counter()
    status, data = await client.request(method, path, body)
    tally.record(endpoint, status, (time.perf_counter() - t0) * 1000.0)
    return status, json.loads(data) if data else None


async def _checkout_client(
    client: RawClient,
    carts: list[tuple[str, list[tuple[str, int]], str]],
    start: int,
    deadline: float,
    tally: Tally,
    rng: random.Random,
) -> None:
    i = start
    while time.monotonic() < deadline:
        customer, cart, dest = carts[i % len(carts)]
        i += 1
        body = {
            "customer_id": customer,
            "items": [{"sku": s, "quantity": q} for s, q in cart],
            "dest": dest,
        }
        status, answer = await _timed(
            client, tally, "options", "POST", "/v1/options", body
        )
        if status != 200:
            tally.outcomes[f"options {status}"] += 1
            continue
        if not answer["options"]:
            tally.outcomes["nothing to offer"] += 1
            continue
        ids = [o["option_id"] for o in answer["options"]]
        choice = ids[0] if rng.random() < 0.7 or len(ids) == 1 else rng.choice(ids[1:])
        tally.outcomes["override" if choice != ids[0] else "recommended"] += 1
        rid = answer["request_id"]
        status, held = await _timed(
            client, tally, "select", "POST", f"/v1/checkouts/{rid}/select",
            {"option_id": choice},
        )  # fmt: skip
        if status != 200:
            tally.outcomes[f"select {held.get('status', status)}"] += 1
            continue
        if rng.random() < 0.85:
            status, done = await _timed(
                client, tally, "confirm", "POST", f"/v1/checkouts/{rid}/confirm"
            )
            if status == 200 and done["status"] == "confirmed":
                tally.confirmed.add(rid)
                tally.outcomes["confirmed"] += 1
            else:
                tally.outcomes[f"confirm {status}"] += 1
        else:
            status, _ = await _timed(
                client, tally, "cancel", "POST", f"/v1/checkouts/{rid}/cancel"
            )
            tally.outcomes["cancelled" if status == 200 else "cancel failed"] += 1


async def _healthz_client(client: RawClient, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        await _timed(client, tally, "healthz", "GET", "/healthz")


async def _operator(
    url: str, api_key: str, deadline: float, node_ids: list[str], auth: Counter[str]
) -> None:
    """A keyed staffing event every 10 s; keyless and wrong-key writes every 1 s."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tick = 0
        while time.monotonic() < deadline:
            event = {
                "event_id": f"bench-{tick}",
                "ts": dt.datetime.now(dt.UTC).isoformat(),
                "node_id": node_ids[tick % len(node_ids)],
                "type": "staffing",
                "value": 70.0 if tick % 2 == 0 else 100.0,
            }
            for label, headers in (
                ("no key", {}),
                ("wrong key", {"X-API-Key": "wrong-" + api_key}),
            ):
                r = await client.post(
                    "/v1/capacity/events", json={"events": [event]}, headers=headers
                )
                auth[f"{label} -> {r.status_code}"] += 1
            if tick % 10 == 0:
                r = await client.post(
                    "/v1/capacity/events",
                    json={"events": [event]},
                    headers={"X-API-Key": api_key},
                )
                auth[f"with key -> {r.status_code}"] += 1
            tick += 1
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


async def _follower(url: str, deadline: float, seen: Counter[str]) -> None:
    """One ``/v1/stream`` subscriber counting the events it gets."""
    timeout = httpx.Timeout(10, read=max(1.0, deadline - time.monotonic()) + 5)
    async with (
        httpx.AsyncClient(base_url=url, timeout=timeout) as client,
        client.stream("GET", "/v1/stream") as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                seen[line[6:].strip()] += 1
            if time.monotonic() >= deadline:
                break


async def run_phase(
    url: str,
    clients: int,
    seconds: float,
    carts: list[tuple[str, list[tuple[str, int]], str]] | None,
    seed: int,
    extra: list[Any] | None = None,
) -> tuple[Tally, float]:
    tally = Tally()
    port = int(url.rsplit(":", 1)[1])
    conns = [RawClient(port) for _ in range(clients)]
    start = time.monotonic()
    deadline = start + seconds
    if carts is None:
        tasks = [_healthz_client(c, deadline, tally) for c in conns]
    else:
        step = max(1, len(carts) // clients)
        tasks = [
            _checkout_client(
                c, carts, k * step, deadline, tally, random.Random(seed + k)
            )
            for k, c in enumerate(conns)
        ]
    extras = [asyncio.ensure_future(x) for x in (extra or [])]
    await asyncio.gather(*tasks)
    wall = time.monotonic() - start
    for c in conns:
        await c.close()
    for x in extras:
        try:
            await asyncio.wait_for(x, timeout=15)
        except (TimeoutError, httpx.HTTPError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
    return tally, wall


async def load_phase(
    url: str,
    api_key: str,
    *,
    clients: int,
    duration_s: float,
    carts: list[tuple[str, list[tuple[str, int]], str]],
    seed: int,
    node_ids: list[str],
    auth: Counter[str],
    stream: Counter[str],
) -> tuple[Tally, float]:
    """The checkout clients, with the operator and the stream follower."""
    deadline = time.monotonic() + duration_s
    return await run_phase(
        url,
        clients,
        duration_s,
        carts,
        seed,
        extra=[
            _operator(url, api_key, deadline, node_ids, auth),
            _follower(url, deadline, stream),
        ],
    )
