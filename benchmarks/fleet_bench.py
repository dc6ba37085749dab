"""Fleet figures of the HTTP service (``make bench-fleet``): one client's
``POST /v1/options`` latency against the in-process call, checkout
throughput against ``/healthz``, 1 → 2 workers, SQLite and PostgreSQL side
by side, and two replicas on one PostgreSQL store under contention.

Loopback only. Protocol and figures: ``docs/benchmarks.md``,
``docs/service.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import decimal, whole
from tierflow.benchmarks.fleet_clients import (
    Cart,
    one_client_latency,
    replica_client,
    run_fast,
    with_open_pages,
)
from tierflow.benchmarks.online_bench import (
    SCARCE_UNITS,
    _scarce,
    checkouts,
    stand_in_scores,
)
from tierflow.benchmarks.processes import (
    DISTURBED_CORES,
    disturbed_lines,
    other_cpu,
    run_together,
    tree_cpu_seconds,
)
from tierflow.benchmarks.service_load import (
    HOST,
    child_server,
    run_phase,
)
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.server import free_port

#: PostgreSQL with the durability of SQLite's WAL at ``synchronous=NORMAL``.
PG_OPTIONS = ("-c", "synchronous_commit=off", "-c", "max_connections=200")
API_KEY = secrets.token_urlsafe(24)
#: Carts per turn of the latency part: that many requests, then the same
#: carts in process (turns of one cart put the in-process call on the
#: server's CPU between every two requests; ``docs/benchmarks.md``).
LATENCY_TURN = 50


# --------------------------------------------------------------- fixtures
def prepare_store(location: str, network: Network) -> pd.DataFrame:
    """The network's stock (the 20 most popular SKUs scarce) and stand-in
    CLTV scores; returns the inventory before any checkout."""
    import datetime as dt

    with open_store(location) as store:
        store.seed_network_inventory(network)
        scores = stand_in_scores(network)
        if scores is not None:
            store.put_cltv_scores(
                scores, as_of=dt.date(2026, 1, 4), model_version="bench"
            )
        inv = store.inventory_frame()
        scarce = inv[inv["sku"].isin(_scarce(network))]
        rows = scarce.assign(on_hand=scarce["on_hand"].clip(upper=SCARCE_UNITS))
        store.upsert_inventory(rows[["node_id", "sku", "on_hand"]])
        return store.inventory_frame()


def pinning() -> tuple[str | None, str | None, str | None]:
    """CPU lists (server with one worker, server with two, load generator):
    the load generator on the last CPU, one worker on the first."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None, None, None
    return str(cpus[0]), ",".join(map(str, cpus[:2])), str(cpus[-1])


class Served(NamedTuple):
    """A ``tierflow serve`` child: its URL and process id (its workers are
    its children)."""

    url: str
    pid: int


@contextmanager
def serve(
    network_dir: Path,
    state: str,
    log: Path,
    *,
    workers: int = 1,
    cpus: str | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[Served]:
    """``tierflow serve`` in a child process (under ``taskset -c cpus``, which
    runs it in its own process)."""
    port = free_port(HOST)
    tierflow = str(Path(sys.executable).with_name("tierflow"))
    command = [tierflow, "serve", "--host", HOST, "--port", str(port),
               "--network", str(network_dir), "--state", state,
               "--workers", str(workers), "--capacity-max-age", "0", *extra]  # fmt: skip
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    url = f"http://{HOST}:{port}"
    with child_server(
        command, log, API_KEY, url=url, stop=signal.SIGTERM, append_log=True
    ) as proc:
        yield Served(url, proc.pid)


# ------------------------------------------------------------------ parts
def latency(
    url: str,
    state: str,
    network: Network,
    carts: list[Cart],
    warm: int,
    server_cpus: str | None,
    known: list[int],
) -> dict[str, Any]:
    """One client's ``POST /v1/options`` p50 over HTTP, and the same call in
    process (a router on the same store, on the server's CPUs), taking turns
    on the same carts in the same run: in turns of ``LATENCY_TURN`` carts
    (the figures), then of one cart (``per_call_turns``: each request after
    an in-process call on the server's CPU, for comparison). ``other_cpu``:
    what processes outside the ``known`` trees used meanwhile."""
    port = int(url.rsplit(":", 1)[1])
    client_cpus = os.sched_getaffinity(0)
    server = None if server_cpus is None else {int(c) for c in server_cpus.split(",")}
    with OnlineRouter.open(network, state) as router:

        def in_process(turn: list[Cart]) -> list[float]:
            """Milliseconds of each call, where the server's own calls run."""
            if server is not None:
                os.sched_setaffinity(0, server)
            try:
                out = []
                for cart in turn:
                    t = time.perf_counter()
                    router.generate_fulfillment_options(*cart)
                    out.append((time.perf_counter() - t) * 1e3)
                return out
            finally:
                if server is not None:
                    os.sched_setaffinity(0, client_cpus)

        figures = {}
        with other_cpu(known) as other:
            for name, turn in (("turns", LATENCY_TURN), ("per_call_turns", 1)):
                http, inproc = run_fast(
                    one_client_latency(port, carts, warm, in_process, block=turn)
                )
                p50, inp50 = statistics.median(http), statistics.median(inproc)
                figures[name] = {
                    "turn": turn,
                    "requests": len(http),
                    "http_p50_ms": p50,
                    "http_p90_ms": float(np.percentile(http, 90)),
                    "in_process_p50_ms": inp50,
                    "ratio": p50 / inp50,
                }
    return {
        **figures["turns"],
        "per_call_turns": figures["per_call_turns"],
        "other_cpu": other,
    }


def throughput(
    url: str,
    carts: list[Cart],
    clients: int,
    seconds: float,
    baseline_s: float,
    cpu: Callable[[], tuple[float, float]],
    known: list[int],
) -> dict[str, Any]:
    """``/healthz`` by ``clients`` clients, then the checkout load; with the
    CPU seconds each phase cost the server (``cpu()``: the server's and
    PostgreSQL's process trees, read before and after), and what processes
    outside the ``known`` trees used during each (``healthz_other_cpu``,
    ``other_cpu``)."""
    c0 = cpu()
    with other_cpu(known) as base_other:
        base, base_wall = run_fast(run_phase(url, clients, baseline_s, None, 1))
    c1 = cpu()
    with other_cpu(known) as load_other:
        load, wall = run_fast(run_phase(url, clients, seconds, carts, 1))
    c2 = cpu()
    health_n = len(base.latency_ms["healthz"])
    health = health_n / base_wall
    requests = load.checkout_requests
    rate = requests / wall
    return {
        "healthz_per_s": health,
        "checkout_requests_per_s": rate,
        "ratio_to_healthz": rate / health,
        "confirmed_per_s": len(load.confirmed) / wall,
        "server_errors": load.server_errors + base.server_errors,
        "p50_ms": {
            k: load.latency_table(wall)[k]["p50_ms"]
            for k in ("options", "select", "confirm")
        },
        # CPU: the server's cores busy and its CPU per request, per phase
        "healthz_server_cores": (c1[0] - c0[0]) / base_wall,
        "healthz_server_cpu_us": (c1[0] - c0[0]) / max(health_n, 1) * 1e6,
        "server_cores": (c2[0] - c1[0]) / wall,
        "server_cpu_us_per_request": (c2[0] - c1[0]) / max(requests, 1) * 1e6,
        "postgres_cores": (c2[1] - c1[1]) / wall,
        "postgres_cpu_us_per_request": (c2[1] - c1[1]) / max(requests, 1) * 1e6,
        "healthz_other_cpu": base_other,
        "other_cpu": load_other,
    }


def open_pages(
    url: str,
    carts: list[Cart],
    pages: int,
    clients: int,
    seconds: float,
    cpu: Callable[[], tuple[float, float]],
    without: dict[str, Any],
    known: list[int],
) -> dict[str, Any]:
    """The checkout load again with ``pages`` checkout pages open, each
    following its checkout's stream (every confirm moves the capacity map,
    so the live hub answers the watched checkouts again); against
    ``without``, the same server's load without pages."""
    c1 = cpu()
    with other_cpu(known) as other:
        load, wall, events = run_fast(
            with_open_pages(url, carts, pages, clients, seconds, 1)
        )
    c2 = cpu()
    requests = load.checkout_requests
    rate = requests / wall
    return {
        "pages": pages,
        "checkout_requests_per_s": rate,
        "ratio_to_no_pages": rate / without["checkout_requests_per_s"],
        "server_cpu_us_per_request": (c2[0] - c1[0]) / max(requests, 1) * 1e6,
        "page_events_per_s": events / wall,
        "server_errors": load.server_errors,
        "other_cpu": other,
    }


def replicas(
    network_dir: Path,
    network: Network,
    pg: str,
    out: Path,
    *,
    processes: int,
    checkouts_each: int,
    ttl_s: float,
    known: list[int],
) -> dict[str, Any]:
    """Two replicas (own ports) on one PostgreSQL store; ``processes``
    clients of ``checkouts_each`` checkouts on the scarce SKUs, every call
    alternating between the replicas; then the checks, and what processes
    outside the ``known`` trees used while the clients started and ran."""
    before = prepare_store(pg, network)
    scarce = set(_scarce(network))
    pool = [
        (c, [(s, q) for s, q in cart if s in scarce], d)
        for c, cart, d, _ in checkouts(network, 40_000, 7)
    ]
    pool = [c for c in pool if c[1]]
    extra = ("--reservation-ttl", str(ttl_s))
    with (
        serve(network_dir, pg, out / "replica-a.log", extra=extra) as (a, _),
        serve(network_dir, pg, out / "replica-b.log", extra=extra) as (b, _),
    ):
        args = [
            ([a, b] if k % 2 == 0 else [b, a],
             pool[k * checkouts_each : (k + 1) * checkouts_each], k)
            for k in range(processes)
        ]  # fmt: skip
        with other_cpu(known) as other:
            tallies, released = run_together(replica_client, args, timeout_s=3600)
            wall = time.perf_counter() - released
    time.sleep(ttl_s + 1.0)  # every hold left open has expired
    return {**_replica_checks(pg, before, tallies, wall), "other_cpu": other}


def _replica_checks(
    pg: str, before: pd.DataFrame, tallies: list[dict[str, Any]], wall: float
) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    confirmed: list[str] = []
    for t in tallies:
        statuses.update(t["statuses"])
        confirmed += t["confirmed"]
    with open_store(pg) as store:
        store.expire_stale()
        after = store.inventory_frame().set_index(["node_id", "sku"])
        orders = store.online_orders()
        problems = store.check_consistency()
    start = before.set_index(["node_id", "sku"])["on_hand"]
    sold = orders.groupby(["node_id", "sku"])["quantity"].sum()
    sold = sold.reindex(start.index, fill_value=0)
    drop = start - after["on_hand"].reindex(start.index)
    unexpected = {
        k: n for k, n in statuses.items()
        if not (k.endswith(" 200") or k == "select 409")
    }  # fmt: skip
    per_order = orders.groupby("order_id").size()
    return {
        "wall_s": wall,
        "requests": sum(statuses.values()),
        "requests_per_s": sum(statuses.values()) / wall,
        "statuses": dict(sorted(statuses.items())),
        "unexpected_statuses": unexpected,
        "confirmed_by_clients": len(confirmed),
        "orders_in_store": int(per_order.size),
        "orders_match": set(per_order.index) == set(confirmed)
        and len(confirmed) == len(set(confirmed)),
        "oversold_positions": int((sold > start).sum() + (after["on_hand"] < 0).sum()),
        "stock_mismatches": int((drop != sold).sum()),
        "units_held_after_ttl": int(after["reserved"].sum()),
        "consistency_problems": problems,
        "client_p50_ms": statistics.median(t["p50_ms"] for t in tallies),
    }


# -------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every part, in one run on one machine; ``results.json``, ``summary.md``."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    folder = args.network or sample_network_dir()
    network = load_network(folder)
    one, two, client_cpu = pinning() if not args.no_pin else (None, None, None)
    carts = [(c, cart, d) for c, cart, d, _ in checkouts(network, 20_000, 1)]
    results: dict[str, Any] = {
        "setup": {"cpus": os.cpu_count(), "server_cpus_1_worker": one,
                  "server_cpus_2_workers": two, "load_generator_cpu": client_cpu,
                  "clients": args.clients, "duration_s": args.duration,
                  "load_avg_start": os.getloadavg()},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, LocalPostgres(PG_OPTIONS) as pg:
        if client_cpu is not None:  # PostgreSQL itself stays on every CPU
            os.sched_setaffinity(0, {int(client_cpu)})
        for backend in ("sqlite", "postgres"):
            results[backend] = _backend(
                args, backend, folder, network, carts, pg, Path(tmp), (one, two)
            )
        results["replicas"] = replicas(
            folder, network, pg.create_database("fleet_replicas"), out,
            processes=args.processes, checkouts_each=args.checkouts, ttl_s=args.ttl,
            known=[os.getpid(), pg.pid],
        )  # fmt: skip
    results["setup"]["load_avg_end"] = os.getloadavg()
    results["verdict"] = verdict(results)
    # beside the verdict, not in it: a disturbed run is not a failed one
    results["quiet"] = not any(f["disturbed"] for f in phases(results).values())
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "summary.md").write_text(summary(results))
    return results


def _backend(
    args: argparse.Namespace,
    backend: str,
    folder: Path,
    network: Network,
    carts: list[Cart],
    pg: LocalPostgres,
    tmp: Path,
    cpus: tuple[str | None, str | None],
) -> dict[str, Any]:
    """Latency and throughput with one worker, throughput with two."""
    out: dict[str, Any] = {}
    for workers, pin in ((1, cpus[0]), (2, cpus[1])):
        state = (
            str(tmp / f"{backend}-{workers}.db")
            if backend == "sqlite"
            else pg.create_database(f"fleet_{workers}")
        )
        prepare_store(state, network)
        log = args.out / f"serve-{backend}-{workers}.log"
        with serve(folder, state, log, workers=workers, cpus=pin) as (url, pid):
            # the bench (its servers and clients are its children), PostgreSQL
            known = [os.getpid(), pg.pid]
            if workers == 1:
                out["latency"] = latency(
                    url, state, network, carts[: args.latency], args.latency // 5,
                    pin, known,
                )  # fmt: skip

            def cpu() -> tuple[float, float]:
                db = tree_cpu_seconds(pg.pid) if backend == "postgres" else 0.0
                return tree_cpu_seconds(pid), db

            out[f"workers_{workers}"] = throughput(
                url, carts, args.clients, args.duration, args.baseline, cpu, known
            )
            if workers == 1 and args.pages:
                out["open_pages"] = open_pages(
                    url, carts, args.pages, args.clients, args.duration, cpu,
                    out["workers_1"], known,
                )  # fmt: skip
    w1, w2 = out["workers_1"], out["workers_2"]
    out["scaling_2_workers"] = (
        w2["checkout_requests_per_s"] / w1["checkout_requests_per_s"]
    )
    # what the second CPU gives with the load generator on it: /healthz's own
    out["healthz_scaling_2_workers"] = w2["healthz_per_s"] / w1["healthz_per_s"]
    # with a second core to the server alone: what its CPU per request allows
    out["projected_2_workers"] = (
        2 * w1["server_cpu_us_per_request"] / w2["server_cpu_us_per_request"]
    )
    return out


def verdict(r: dict[str, Any]) -> dict[str, bool]:
    """The targets of issue 13 (``docs/service.md``)."""
    rep = r["replicas"]
    out = {}
    for b in ("sqlite", "postgres"):
        lat, w1 = r[b]["latency"], r[b]["workers_1"]
        out[f"{b}_p50_le_2ms"] = lat["http_p50_ms"] <= 2.0
        out[f"{b}_p50_le_3x_in_process"] = lat["ratio"] <= 3.0
        out[f"{b}_throughput_ge_0.3x_healthz"] = w1["ratio_to_healthz"] >= 0.3
        out[f"{b}_2_workers_ge_1.5x"] = r[b]["scaling_2_workers"] >= 1.5
        out[f"{b}_2_workers_projected_ge_1.5x"] = r[b]["projected_2_workers"] >= 1.5
    out["replicas_zero_oversold"] = rep["oversold_positions"] == 0
    out["replicas_nothing_held_after_ttl"] = rep["units_held_after_ttl"] == 0
    out["replicas_orders_exactly_once"] = (
        bool(rep["orders_match"]) and rep["stock_mismatches"] == 0
    )
    out["replicas_every_call_answered"] = not rep["unexpected_statuses"]
    return out


def phases(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every measured phase of the run by name, with what other processes
    used during it (``other_cpu`` of each part)."""
    out = {}
    for b in ("sqlite", "postgres"):
        out[f"{b} latency turns"] = r[b]["latency"]["other_cpu"]
        for n in (1, 2):
            w = r[b][f"workers_{n}"]
            out[f"{b} /healthz, {n} worker{'s' * (n > 1)}"] = w["healthz_other_cpu"]
            out[f"{b} checkout load, {n} worker{'s' * (n > 1)}"] = w["other_cpu"]
        if "open_pages" in r[b]:
            out[f"{b} open pages"] = r[b]["open_pages"]["other_cpu"]
    out["replicas"] = r["replicas"]["other_cpu"]
    return out


def _quiet_lines(r: dict[str, Any]) -> list[str]:
    """The CPU other processes used during each phase, and which ran
    disturbed."""
    lines = [
        "", "CPU other processes used during each phase: the machine's busy "
        "CPU (/proc/stat) minus the trees of the bench (its servers and "
        "clients) and PostgreSQL, in cores; above "
        f"{DISTURBED_CORES} the phase ran disturbed:", "",
        "| phase | other cores | busy cores (per CPU) | bench + PostgreSQL cores |",
        "|---|---:|---:|---:|",
    ]  # fmt: skip
    for name, f in phases(r).items():
        per_cpu = " + ".join(f"{c:.2f}" for c in f["busy_cores_per_cpu"])
        lines.append(
            f"| {name} | {f['other_cores']:.2f} | {f['busy_cores']:.2f} "
            f"({per_cpu}) | {f['known_cores']:.2f} |"
        )
    return lines


def summary(r: dict[str, Any]) -> str:
    """``summary.md``: the tables ``docs/service.md`` quotes."""
    s = r["setup"]
    lines = [
        "# Fleet figures", "",
        f"{s['cpus']} CPUs; server pinned to CPU {s['server_cpus_1_worker']} (1 worker) / "
        f"{s['server_cpus_2_workers']} (2 workers), load generator to CPU "
        f"{s['load_generator_cpu']}; {s['clients']} clients × {s['duration_s']:.0f} s; "
        f"load average {s['load_avg_start'][0]:.1f} → {s['load_avg_end'][0]:.1f}.", "",
        *(disturbed_lines(phases(r)) or [
            "quiet: no other process used more than "
            f"{DISTURBED_CORES} core during any phase."
        ]), "",
        "| backend | options p50 HTTP ms | in-process ms | ratio | /healthz req/s | "
        "checkout req/s (1 worker) | ratio | 2 workers req/s | 1 → 2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for b in ("sqlite", "postgres"):
        lat, w1, w2 = r[b]["latency"], r[b]["workers_1"], r[b]["workers_2"]
        lines.append(
            f"| {b} | {lat['http_p50_ms']:.2f} | {lat['in_process_p50_ms']:.2f} | "
            f"{lat['ratio']:.2f} | {w1['healthz_per_s']:.0f} | "
            f"{w1['checkout_requests_per_s']:.0f} | {w1['ratio_to_healthz']:.2f} | "
            f"{w2['checkout_requests_per_s']:.0f} | {r[b]['scaling_2_workers']:.2f} |"
        )
    lines += ["", f"Options latency in turns of {r['sqlite']['latency']['turn']} "
              "carts (the table), and in turns of one cart (each request right "
              "after an in-process call on the server's CPU):", "",
              "| backend | turn | options p50 HTTP ms | p90 | in-process ms | ratio |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for b in ("sqlite", "postgres"):
        lat = r[b]["latency"]
        for f in (lat, lat["per_call_turns"]):
            lines.append(
                f"| {b} | {f['turn']} | {f['http_p50_ms']:.2f} | "
                f"{f['http_p90_ms']:.2f} | {f['in_process_p50_ms']:.2f} | "
                f"{f['ratio']:.2f} |"
            )
    lines += [
        "", "With the load generator on the second worker's CPU, that CPU is not "
        "the server's alone; `/healthz` shows how much of it the server gets:", "",
        "| backend | /healthz req/s, 2 workers | /healthz 1 → 2 | checkout 1 → 2 | "
        "checkout's share of /healthz's |", "|---|---:|---:|---:|---:|",
    ]  # fmt: skip
    for b in ("sqlite", "postgres"):
        w2, hs = r[b]["workers_2"], r[b]["healthz_scaling_2_workers"]
        lines.append(
            f"| {b} | {w2['healthz_per_s']:.0f} | {hs:.2f} | "
            f"{r[b]['scaling_2_workers']:.2f} | {r[b]['scaling_2_workers'] / hs:.2f} |"
        )
    lines += [
        "", "What each request cost the server in CPU (its process and its "
        "workers, from /proc; PostgreSQL's own processes apart), and how many "
        "of its CPUs were busy. A second core to the server alone allows at most "
        "2 × one worker's CPU per request / two workers' (the projection); two "
        "workers' CPU per request includes what sharing the two CPUs with the "
        "load generator and PostgreSQL costs, so the projection errs low:", "",
        "| backend | workers | /healthz µs/req | checkout µs/req | "
        "PostgreSQL µs/req | server cores busy | 1 → 2 measured | "
        "1 → 2 projected |", "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for b in ("sqlite", "postgres"):
        for n in (1, 2):
            w = r[b][f"workers_{n}"]
            scale = (
                ("", "")
                if n == 1
                else (
                    f"{r[b]['scaling_2_workers']:.2f}",
                    f"{r[b]['projected_2_workers']:.2f}",
                )
            )
            lines.append(
                f"| {b} | {n} | {w['healthz_server_cpu_us']:.0f} | "
                f"{w['server_cpu_us_per_request']:.0f} | "
                f"{w['postgres_cpu_us_per_request']:.0f} | {w['server_cores']:.2f} | "
                f"{scale[0]} | {scale[1]} |"
            )
    if "open_pages" in r["sqlite"]:
        lines += [
            "", "One worker again with checkout pages open, each following its "
            "checkout's stream (`capacity=false`, as the page opens it): every "
            "confirm moves the map, so the live hub answers the watched "
            "checkouts again (within its budget):", "",
            "| backend | pages open | checkout req/s | of the load without pages | "
            "checkout µs/req | events to the pages /s |", "|---|---:|---:|---:|---:|---:|",
        ]  # fmt: skip
        for b in ("sqlite", "postgres"):
            o = r[b]["open_pages"]
            lines.append(
                f"| {b} | {o['pages']} | {o['checkout_requests_per_s']:.0f} | "
                f"{o['ratio_to_no_pages']:.2f} | {o['server_cpu_us_per_request']:.0f} | "
                f"{o['page_events_per_s']:.1f} |"
            )
    rep = r["replicas"]
    lines += ["", "Two replicas on one PostgreSQL: " + ", ".join(
        f"{k} {v}" for k, v in rep.items() if k not in ("statuses", "other_cpu")
    ) + ".", "", f"Statuses: {rep['statuses']}.", *_quiet_lines(r), "",
        "Verdict: " + ", ".join(f"{k} {v}" for k, v in r["verdict"].items())]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-fleet"))
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--clients", type=whole, default=50)
    parser.add_argument("--duration", type=decimal, default=20.0)
    parser.add_argument("--baseline", type=decimal, default=10.0)
    parser.add_argument("--latency", type=whole, default=1200, help="1-client requests")
    parser.add_argument(
        "--pages", type=whole, default=200, help="open checkout pages (0: no such run)"
    )
    parser.add_argument("--processes", type=whole, default=8)
    parser.add_argument("--checkouts", type=whole, default=1000, help="per process")
    parser.add_argument(
        "--ttl", type=decimal, default=5.0, help="hold TTL, replicas part"
    )
    parser.add_argument("--no-pin", action="store_true", help="no taskset pinning")
    args = parser.parse_args(argv)
    results = run(args)
    print((args.out / "summary.md").read_text())
    if not all(results["verdict"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
