"""What ``/metrics`` costs ``POST /v1/options`` (part of ``make bench-service``).

Three ``tierflow serve`` processes on loopback, each on its own copy of the
same store: ``metrics`` (the default: metrics and access log on, its
``/metrics`` scraped every ``scrape_s`` all along), ``no_metrics``
(``--no-metrics``) and ``bare`` (``--no-metrics --no-access-log``). One
client sends sequential ``POST /v1/options`` over one keep-alive connection
per server, in short blocks of the same carts that take turns (the order
rotating each block), so a burst of the shared machine's load falls on
every variant alike. Figures: each variant's p50 over all its requests, the
median of the per-block p50 ratios, and each server's CPU time per request
(from ``/proc``). Then the same calls in one process, to an app with
metrics and one without (access log off in both) through httpx's ASGI
transport, alternating blocks: the CPU time per request without uvicorn,
the network or the scheduler between processes.
Protocol: ``docs/benchmarks.md``; figures: ``docs/service.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Self

import httpx

from tierflow.benchmarks.arguments import decimal, whole
from tierflow.benchmarks.fleet_bench import API_KEY, prepare_store
from tierflow.benchmarks.fleet_clients import Cart, body, run_fast
from tierflow.benchmarks.online_bench import checkouts
from tierflow.benchmarks.processes import cpu_seconds
from tierflow.benchmarks.service_load import (
    HOST,
    RawClient,
    child_server,
    wait_until_up,
)
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.service.server import free_port

#: Server flags of each variant.
VARIANTS: dict[str, tuple[str, ...]] = {
    "metrics": (),
    "no_metrics": ("--no-metrics",),
    "bare": ("--no-metrics", "--no-access-log"),
}


class Scraper:
    """Scrapes ``/metrics`` every ``every_s`` in a thread, as Prometheus would
    (its default is every 15 s); keeps each scrape's milliseconds."""

    def __init__(self, url: str, every_s: float) -> None:
        self.url = f"{url}/metrics"
        self.every_s = every_s
        self.ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                t = time.perf_counter()
                ok = client.get(self.url).status_code == 200
                self.ms.append((time.perf_counter() - t) * 1e3)
                self.failures += not ok
                self._stop.wait(self.every_s)


@contextmanager
def serve(
    network_dir: Path, state: Path, log: Path, flags: tuple[str, ...]
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``tierflow serve`` (one process) starting on a free loopback port:
    (port, process); :func:`~.service_load.wait_until_up` waits until it
    answers."""
    port = free_port(HOST)
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    command = [tierflow, "serve", "--host", HOST, "--port", str(port),
               "--network", str(network_dir), "--state", str(state),
               "--capacity-max-age", "0", *flags]  # fmt: skip
    with child_server(command, log, API_KEY, stop=signal.SIGTERM) as proc:
        yield port, proc


def measure(
    out: Path,
    *,
    network_dir: Path | None = None,
    blocks: int = 60,
    block: int = 50,
    warm: int = 100,
    scrape_s: float = 1.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Latency and CPU per ``POST /v1/options`` of each variant (see the
    module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    folder = network_dir or sample_network_dir()
    network = load_network(folder)
    pool = [(c, cart, d) for c, cart, d, _ in checkouts(network, 20_000, seed)]
    with ExitStack() as stack:
        servers: dict[str, tuple[int, int]] = {}
        starting: list[tuple[int, subprocess.Popen[bytes], Path]] = []
        for name, flags in VARIANTS.items():  # started together
            state = out / f"overhead-{name}.db"
            for old in out.glob(f"overhead-{name}.db*"):
                old.unlink()
            prepare_store(str(state), network)
            log = out / f"overhead-{name}.log"
            port, proc = stack.enter_context(serve(folder, state, log, flags))
            servers[name] = (port, proc.pid)
            starting.append((port, proc, log))
        for port, proc, log in starting:
            wait_until_up(f"http://{HOST}:{port}", proc, log, timeout_s=180)
        ports = {name: port for name, (port, _) in servers.items()}
        cpu0 = {name: cpu_seconds(pid) for name, (_, pid) in servers.items()}
        metrics_url = f"http://{HOST}:{ports['metrics']}"
        with Scraper(metrics_url, scrape_s) as scraper:
            runs = run_fast(_interleaved(ports, pool, blocks, block, warm))
        cpu = {
            name: cpu_seconds(pid) - cpu0[name] for name, (_, pid) in servers.items()
        }
        miscounted = _check_counts(metrics_url, blocks * block + warm)
    if scraper.failures:
        raise RuntimeError(f"{scraper.failures} scrapes of /metrics failed")
    result = _figures(runs, cpu, blocks * block + warm, scraper, miscounted, scrape_s)
    result["in_process"] = in_process(out, network, pool, blocks, block, warm)
    return result


def in_process(
    out: Path, network: Network, pool: list[Cart], blocks: int, block: int, warm: int
) -> dict[str, Any]:
    """CPU microseconds per ``POST /v1/options`` of an app with metrics and
    one without, in this process (ASGI calls, alternating blocks)."""
    from tierflow.orchestration.checkout.router import OnlineRouter
    from tierflow.service.app import create_app

    with ExitStack() as stack:
        apps = {}
        for name, on in (("metrics", True), ("no_metrics", False)):
            state = out / f"in-process-{name}.db"
            for old in out.glob(f"in-process-{name}.db*"):
                old.unlink()
            prepare_store(str(state), network)
            router = stack.enter_context(OnlineRouter.open(network, state))
            apps[name] = create_app(
                router, api_key=API_KEY, metrics=on, access_log=False
            )
        cpu = asyncio.run(_asgi_blocks(apps, pool, blocks, block, warm))
    us = {name: 1e6 * s / (blocks * block) for name, s in cpu.items()}
    return {
        "cpu_us_per_request": us,
        "overhead": us["metrics"] / us["no_metrics"] - 1.0,
    }


async def _asgi_blocks(
    apps: dict[str, Any], pool: list[Cart], blocks: int, block: int, warm: int
) -> dict[str, float]:
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
        for name, app in apps.items()
    }  # fmt: skip
    cpu = dict.fromkeys(apps, 0.0)
    for client in clients.values():
        for cart in pool[:warm]:
            (await client.post("/v1/options", json=body(cart))).raise_for_status()
    names = list(apps)
    for b in range(blocks):
        carts = pool[warm + b * block : warm + (b + 1) * block]
        for name in names if b % 2 == 0 else names[::-1]:
            t = time.process_time()
            for cart in carts:
                (
                    await clients[name].post("/v1/options", json=body(cart))
                ).raise_for_status()
            cpu[name] += time.process_time() - t
    for client in clients.values():
        await client.aclose()
    return cpu


async def _interleaved(
    ports: dict[str, int], pool: list[Cart], blocks: int, block: int, warm: int
) -> dict[str, list[list[float]]]:
    """Milliseconds of each request, per variant and block."""
    clients = {name: RawClient(port) for name, port in ports.items()}
    names = list(ports)
    out: dict[str, list[list[float]]] = {name: [] for name in names}
    for name in names:  # warm each server on the same carts
        for cart in pool[:warm]:
            await _options(clients[name], cart)
    for b in range(blocks):
        carts = pool[warm + b * block : warm + (b + 1) * block]
        for name in names[b % len(names) :] + names[: b % len(names)]:
            out[name].append([await _options(clients[name], c) for c in carts])
    for client in clients.values():
        await client.close()
    return out


async def _options(client: RawClient, cart: Cart) -> float:
    t = time.perf_counter()
    status, data = await client.request("POST", "/v1/options", body(cart))
    ms = (time.perf_counter() - t) * 1e3
    if status != 200:
        raise RuntimeError(f"options answered {status}: {data[:200]!r}")
    return ms


def _check_counts(url: str, sent: int) -> int:
    """How far the metrics server's count of ``POST /v1/options`` is from
    what it was sent (0 expected)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    key = 'tierflow_http_requests_total{method="POST",route="/v1/options",status="200"}'
    counted = next(
        (float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(key)),
        0.0,
    )  # fmt: skip
    return abs(int(counted) - sent)


def _figures(
    runs: dict[str, list[list[float]]], cpu: dict[str, float], sent: int,
    scraper: Scraper, miscounted: int, scrape_s: float,
) -> dict[str, Any]:  # fmt: skip
    p50 = {n: statistics.median([x for b in bs for x in b]) for n, bs in runs.items()}
    per_block = {n: [statistics.median(b) for b in bs] for n, bs in runs.items()}

    def paired(a: str, b: str) -> float:
        ratios = [x / y for x, y in zip(per_block[a], per_block[b], strict=True)]
        return statistics.median(ratios) - 1.0

    cpu_us = {n: 1e6 * s / sent for n, s in cpu.items()}
    return {
        "blocks": len(runs["metrics"]),
        "requests_per_block": len(runs["metrics"][0]),
        "requests_per_server": sent,
        "scrape_every_s": scrape_s,
        "p50_ms": p50,
        "p90_ms": {
            n: float(sorted(x for b in bs for x in b)[int(0.9 * sum(map(len, bs)))])
            for n, bs in runs.items()
        },
        "block_p50_ms_range": {n: [min(v), max(v)] for n, v in per_block.items()},
        "overhead_metrics": p50["metrics"] / p50["no_metrics"] - 1.0,
        "overhead_metrics_paired": paired("metrics", "no_metrics"),
        "overhead_access_log": p50["no_metrics"] / p50["bare"] - 1.0,
        "overhead_access_log_paired": paired("no_metrics", "bare"),
        "server_cpu_us_per_request": cpu_us,
        "cpu_overhead_metrics": cpu_us["metrics"] / cpu_us["no_metrics"] - 1.0,
        "cpu_overhead_access_log": cpu_us["no_metrics"] / cpu_us["bare"] - 1.0,
        "scrapes": len(scraper.ms),
        "scrape_p50_ms": statistics.median(scraper.ms) if scraper.ms else None,
        "options_miscounted": miscounted,
        "load_avg": os.getloadavg(),
    }


def summary(r: dict[str, Any]) -> str:
    """Markdown lines for ``summary.md``."""
    pct = {k: f"{100 * v:+.1f} %" for k, v in r.items() if k.startswith(("overhead", "cpu_overhead"))}  # fmt: skip
    rows = [
        f"| {n} | {r['p50_ms'][n]:.3f} | {r['p90_ms'][n]:.3f} | "
        f"{r['block_p50_ms_range'][n][0]:.2f}–{r['block_p50_ms_range'][n][1]:.2f} | "
        f"{r['server_cpu_us_per_request'][n]:.0f} |"
        for n in VARIANTS
    ]
    return "\n".join([
        f"`POST /v1/options`, one client, {r['blocks']} blocks of "
        f"{r['requests_per_block']} requests per server, taking turns (load "
        f"average {r['load_avg'][0]:.1f} at the end):",
        "",
        "| server | p50 ms | p90 ms | block p50 min–max | server CPU µs/request |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Metrics (`/metrics` scraped every {r['scrape_every_s']:g} s, "
        f"{r['scrapes']} scrapes, p50 {r['scrape_p50_ms'] or 0:.1f} ms): p50 "
        f"{pct['overhead_metrics']} (median of per-block ratios "
        f"{pct['overhead_metrics_paired']}), server CPU "
        f"{pct['cpu_overhead_metrics']}. Access log: p50 "
        f"{pct['overhead_access_log']} ({pct['overhead_access_log_paired']}), "
        f"CPU {pct['cpu_overhead_access_log']}. Options counted on /metrics vs "
        f"sent: off by {r['options_miscounted']}.",
        "",
        "In one process (ASGI calls, no access log): "
        + ", ".join(f"{n} {v:.0f} µs CPU per request"
                    for n, v in r["in_process"]["cpu_us_per_request"].items())
        + f", metrics {100 * r['in_process']['overhead']:+.1f} %.",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-metrics"))
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--blocks", type=whole, default=60)
    parser.add_argument("--block", type=whole, default=50, help="requests per block")
    parser.add_argument("--scrape", type=decimal, default=1.0, help="seconds")
    parser.add_argument("--seed", type=whole, default=1)
    args = parser.parse_args(argv)
    result = measure(
        args.out, network_dir=args.network, blocks=args.blocks, block=args.block,
        scrape_s=args.scrape, seed=args.seed,
    )  # fmt: skip
    (args.out / "metrics_overhead.json").write_text(json.dumps(result, indent=2))
    print(summary(result))


if __name__ == "__main__":
    main()
