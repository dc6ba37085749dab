"""Reliability figures of the HTTP service (``make bench-service``).

Protocol (loopback only, bounded; ``python -m tierflow.benchmarks.service_bench``):

1. **Server.** ``tierflow serve`` in its own process on ``127.0.0.1`` and a
   free port, on the network (default: the embedded sample) and a fresh
   store in ``OUT``: the network's inventory with the stock of the 20 most
   popular SKUs made scarce (at most 8 units per node, as in ``tierflow
   bench online``), and CLTV stand-in scores (spend of the last 365 days of
   the sample's history) so that Platinum is in play.
2. **Baseline** (same server, same client, same run): ``clients`` concurrent
   clients calling ``GET /healthz`` for ``baseline_s`` seconds — what the
   stack (uvicorn, FastAPI, the client) costs per request with no checkout
   work.
3. **Load.** ``clients`` concurrent clients (asyncio, one keep-alive HTTP/1.1
   connection each, :class:`RawClient`) for ``duration_s`` seconds, each looping over generated
   checkouts (real baskets, customers and ZIPs of ``generate_orders``):
   ``POST /v1/options`` → choose (the recommendation 70 %, another option
   30 %) → ``POST …/select`` → ``…/confirm`` (85 %) or ``…/cancel`` (15 %).
   A checkout under way when the time is up is finished. Meanwhile an
   operator posts a keyed staffing event every 10 s, one client follows
   ``/v1/stream``, and every second a write without a key and one with a
   wrong key are sent (both must be refused).
4. **Checks.** Zero 5xx; zero oversell, from the store after the server
   stopped: ``check_consistency()`` is empty, no ``on_hand`` or
   ``reserved`` is negative, nothing is left reserved, per (node, SKU)
   ``on_hand`` dropped by exactly what the confirmed orders hold and never
   below zero, and the confirmed orders in ``online_orders`` are exactly the
   checkouts the clients saw confirmed.
5. **Fuzz.** :mod:`tierflow.benchmarks.service_fuzz` with ``fuzz_examples`` requests
   per operation and mode against an in-process server on the same network
   and a fresh store.

Throughput = completed requests / wall time; latency per request from send to
full response, p50/p99 per endpoint. The machine has 2 cores: server and
client share them, so the figures are a floor, not the server's ceiling.
Writes ``results.json`` and ``summary.md`` into ``OUT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tierflow.benchmarks.online_bench import _scarce_store, checkouts, stand_in_scores
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import SqliteStore
from tierflow.service.server import free_port

HOST = "127.0.0.1"  # loopback only: this benchmark never sends traffic elsewhere
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
    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if k.split()[-1].startswith("5"))


def _pct(values: list[float], q: float) -> float | None:
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


# -------------------------------------------------------------------- server
@contextmanager
def serve_process(
    network_dir: Path, state: Path, api_key: str, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``tierflow serve`` in a child process; stopped with SIGINT on exit."""
    port = free_port(HOST)
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    command = [tierflow, "serve", "--host", HOST, "--port", str(port),
               "--network", str(network_dir), "--state", str(state)]  # fmt: skip
    env = {**os.environ, "TIERFLOW_API_KEY": api_key}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tierflow serve exited: see {log}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"tierflow serve did not start: see {log}")
            threading.Event().wait(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


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


async def _run_phase(
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


# -------------------------------------------------------------------- checks
def check_store(
    state: Path, before: pd.DataFrame, confirmed: set[str]
) -> dict[str, Any]:
    """Zero oversell and exact stock accounting, read from the store."""
    with SqliteStore(state) as store:
        problems = store.check_consistency()
        after = store.inventory_frame().set_index(["node_id", "sku"])
        orders = store.online_orders()
    sold = orders.groupby(["node_id", "sku"])["quantity"].sum()
    start = before.set_index(["node_id", "sku"])["on_hand"]
    drop = (start - after["on_hand"].reindex(start.index)).fillna(0).astype(int)
    sold_full = sold.reindex(start.index, fill_value=0).astype(int)
    mismatched = int((drop != sold_full).sum())
    oversold = int((sold_full > start).sum())
    return {
        "consistency_problems": problems,
        "negative_on_hand": int((after["on_hand"] < 0).sum()),
        "negative_reserved": int((after["reserved"] < 0).sum()),
        "left_reserved": int(after["reserved"].sum()),
        "stock_mismatches": mismatched,
        "oversold_positions": oversold,
        "orders_in_store": int(orders["order_id"].nunique()),
        "orders_confirmed_by_clients": len(confirmed),
        "orders_match": set(orders["order_id"].astype(str)) == confirmed,
        "units_sold": int(sold.sum()),
        "positions_sold_out": int(((after["on_hand"] == 0) & (start > 0)).sum()),
    }


def _latency_table(tally: Tally, wall: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in tally.latency_ms.items():
        if values:
            out[name] = {
                "requests": len(values),
                "per_s": len(values) / wall,
                "p50_ms": _pct(values, 50),
                "p99_ms": _pct(values, 99),
                "max_ms": max(values),
            }
    return out


# ----------------------------------------------------------------------- run
def _fuzz(
    examples: int, api_key: str, network: Network, folder: Path
) -> dict[str, Any]:
    from tierflow.benchmarks.service_fuzz import CASES, fuzz_operation, load_schema
    from tierflow.orchestration.checkout.router import OnlineRouter
    from tierflow.service.app import create_app
    from tierflow.service.server import serve_in_thread

    for old in folder.glob("fuzz.db*"):
        old.unlink()
    results: dict[str, Any] = {}
    with (
        OnlineRouter.open(network, folder / "fuzz.db") as router,
        serve_in_thread(create_app(router, api_key=api_key)) as server,
    ):
        schema = load_schema(server.url)
        for method, path, mode in CASES:
            key = f"{method} {path} ({mode})"
            try:
                stats = fuzz_operation(
                    schema, server.url, method, path, mode,
                    max_examples=examples, api_key=api_key, seed=1,
                )  # fmt: skip
                results[key] = {
                    "requests": stats.requests,
                    "server_errors": stats.server_errors,
                    "statuses": dict(sorted(stats.statuses.items())),
                    "failure": None,
                }
            except Exception as exc:  # a failed check: record it, go on
                results[key] = {"failure": f"{type(exc).__name__}: {exc}"[:2000]}
    return results


def run(
    out: Path,
    *,
    network_dir: Path | None = None,
    clients: int = 50,
    duration_s: float = 60.0,
    baseline_s: float = 15.0,
    fuzz_examples: int = 200,
    seed: int = 1,
) -> dict[str, Any]:
    """Run every part (module docstring); write ``results.json`` and ``summary.md``."""
    out.mkdir(parents=True, exist_ok=True)
    folder = network_dir or sample_network_dir()
    network: Network = load_network(folder)
    state = out / "state.db"
    for old in out.glob("state.db*"):
        old.unlink()
    _scarce_store(state, network, stand_in_scores(network))
    with SqliteStore(state) as store:
        before = store.inventory_frame()
    carts = [(c, cart, dest) for c, cart, dest, _ in checkouts(network, 20_000, seed)]
    api_key = secrets.token_urlsafe(24)
    warehouses = [
        n for n, k in zip(network.node_ids, network.node_kind, strict=True) if k == 0
    ] or list(network.node_ids)
    auth: Counter[str] = Counter()
    stream: Counter[str] = Counter()
    with serve_process(folder, state, api_key, out / "server.log") as (url, _):
        base, base_wall = asyncio.run(_run_phase(url, clients, baseline_s, None, seed))

        async def load() -> tuple[Tally, float]:
            deadline = time.monotonic() + duration_s
            return await _run_phase(
                url,
                clients,
                duration_s,
                carts,
                seed,
                extra=[
                    _operator(url, api_key, deadline, warehouses, auth),
                    _follower(url, deadline, stream),
                ],
            )

        tally, wall = asyncio.run(load())
    store_checks = check_store(state, before, tally.confirmed)
    fuzz = _fuzz(fuzz_examples, api_key, network, out) if fuzz_examples > 0 else {}
    requests = sum(len(v) for k, v in tally.latency_ms.items() if k != "healthz")
    base_n = len(base.latency_ms["healthz"])
    checkout_rate = requests / wall
    base_rate = base_n / base_wall
    results: dict[str, Any] = {
        "setup": {
            "network": str(folder),
            "nodes": network.n_nodes,
            "skus": network.n_skus,
            "clients": clients,
            "duration_s": duration_s,
            "baseline_s": baseline_s,
            "cpus": os.cpu_count(),
            "server": "tierflow serve (uvicorn, 1 process) on " + HOST,
        },
        "baseline_healthz": {
            "requests": base_n,
            "per_s": base_rate,
            "p50_ms": _pct(base.latency_ms["healthz"], 50),
            "p99_ms": _pct(base.latency_ms["healthz"], 99),
            "server_errors": base.server_errors,
        },
        "load": {
            "wall_s": wall,
            "requests": requests,
            "requests_per_s": checkout_rate,
            "checkouts_confirmed_per_s": len(tally.confirmed) / wall,
            "ratio_to_healthz": checkout_rate / base_rate if base_rate else None,
            "server_errors": tally.server_errors,
            "by_endpoint": _latency_table(tally, wall),
            "statuses": dict(sorted(tally.statuses.items())),
            "outcomes": dict(sorted(tally.outcomes.items())),
            "client_errors": tally.errors,
        },
        "auth": dict(sorted(auth.items())),
        "stream_events": dict(stream),
        "store": store_checks,
        "fuzz": fuzz,
    }
    results["verdict"] = verdict(results)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "summary.md").write_text(summary(results))
    return results


def verdict(r: dict[str, Any]) -> dict[str, bool]:
    """The pass/fail lines of the run."""
    s = r["store"]
    refused = all(
        k.endswith(("-> 401", "-> 403"))
        for k in r["auth"]
        if k.startswith(("no key", "wrong key"))
    )
    return {
        "zero_5xx": r["load"]["server_errors"] == 0
        and r["baseline_healthz"]["server_errors"] == 0,
        "zero_oversell": s["oversold_positions"] == 0
        and s["negative_on_hand"] == 0
        and s["negative_reserved"] == 0,
        "exact_stock_accounting": s["stock_mismatches"] == 0
        and s["left_reserved"] == 0
        and s["orders_match"]
        and not s["consistency_problems"],
        "writes_refused_without_key": refused
        and any(k.startswith("no key -> 401") for k in r["auth"]),
        "fuzz_no_5xx_no_failed_check": all(
            v.get("failure") is None and v.get("server_errors", 0) == 0
            for v in r["fuzz"].values()
        ),
    }


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def summary(r: dict[str, Any]) -> str:
    """``summary.md``."""
    s, load, base = r["setup"], r["load"], r["baseline_healthz"]
    lines = [
        "# Service reliability figures",
        "",
        f"{s['clients']} concurrent clients on {s['server']}, {s['cpus']} CPUs shared "
        f"by server and clients; network {s['nodes']} nodes, {s['skus']} SKUs "
        "(20 popular SKUs scarce: at most 8 units per node).",
        "",
        "| phase | requests | req/s | p50 ms | p99 ms | 5xx |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline `GET /healthz` ({s['baseline_s']:.0f} s) | {base['requests']} | "
        f"{base['per_s']:.0f} | {_ms(base['p50_ms'])} | {_ms(base['p99_ms'])} | "
        f"{base['server_errors']} |",
    ]
    for name, e in load["by_endpoint"].items():
        if name == "healthz":
            continue
        lines.append(
            f"| load `{name}` | {e['requests']} | {e['per_s']:.0f} | "
            f"{_ms(e['p50_ms'])} | {_ms(e['p99_ms'])} | "
            f"{sum(n for k, n in load['statuses'].items() if k.startswith(name + ' 5'))} |"
        )
    lines += [
        f"| **load, all** ({load['wall_s']:.0f} s) | {load['requests']} | "
        f"{load['requests_per_s']:.0f} | | | {load['server_errors']} |",
        "",
        f"Checkout API throughput {load['requests_per_s']:.0f} req/s = "
        f"{load['ratio_to_healthz']:.2f} × the `/healthz` baseline; "
        f"{load['checkouts_confirmed_per_s']:.1f} confirmed checkouts/s.",
        "",
        "Outcomes: " + ", ".join(f"{k} {v}" for k, v in load["outcomes"].items()) + ".",
        "",
        "Store after the run: "
        + ", ".join(f"{k} {v}" for k, v in r["store"].items())
        + ".",
        "",
        "Writes without / with a wrong key: "
        + ", ".join(f"{k}: {v}" for k, v in r["auth"].items())
        + f". Stream events seen by a follower: {r['stream_events']}.",
        "",
        "Fuzz (schemathesis, same network, fresh store):",
        "",
        "| operation | requests | 5xx | statuses | failure |",
        "|---|---:|---:|---|---|",
    ]
    for op, f in r["fuzz"].items():
        lines.append(
            f"| {op} | {f.get('requests', '–')} | {f.get('server_errors', '–')} | "
            f"{f.get('statuses', '')} | {f.get('failure') or ''} |"
        )
    lines += ["", "Verdict: " + ", ".join(f"{k} {v}" for k, v in r["verdict"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-service"))
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline", type=float, default=15.0)
    parser.add_argument("--fuzz-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    results = run(
        args.out,
        network_dir=args.network,
        clients=args.clients,
        duration_s=args.duration,
        baseline_s=args.baseline,
        fuzz_examples=args.fuzz_examples,
        seed=args.seed,
    )
    print((args.out / "summary.md").read_text())
    if not all(results["verdict"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
