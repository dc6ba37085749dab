"""State store benchmark: reserve, hold and confirm on SQLite and PostgreSQL.

Protocol: every cell (backend × processes) gets a fresh store stocked with
``--nodes`` × ``--skus`` cells of ample stock; its worker processes start
together and, for ``--seconds``, each repeats one *round*: ``reserve`` (one
line at one node), ``hold_checkout`` (one shipment of one line) and
``confirm_checkout`` of that hold, on random cells (seeded per worker).
Reported per operation: throughput (all workers' operations over the wall
time) and latency percentiles; both backends and both process counts are
measured in the same run on the same machine.

PostgreSQL is a private server this run starts on a Unix socket (fsync on,
``synchronous_commit=off``: like SQLite's WAL with ``synchronous=NORMAL``,
a commit survives a crash of any process but may be lost on power loss);
``--postgres URL`` uses an existing database instead.

Run: ``python -m tierflow.benchmarks.store_bench --out out/bench-store``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import decimal, whole
from tierflow.data.store import open_store
from tierflow.data.store.local_postgres import LocalPostgres

OPERATIONS = ("reserve", "hold", "confirm")
_SERVER_OPTIONS = ("-c", "synchronous_commit=off")


def _order_line(rid: str, node: str, sku: str) -> dict[str, Any]:
    return {
        "order_id": rid, "created_at": "2026-01-05T15:00:00Z", "customer_id": "C1",
        "dest": "100", "tier": "gold", "sku": sku, "quantity": 1, "node_id": node,
        "service": "ground", "ship_date": "2026-01-05", "delivery_date": "2026-01-07",
    }  # fmt: skip


def _worker(
    location: str, tag: str, seed: int, cells: tuple[int, int], seconds: float,
    barrier: Any, queue: Any,
) -> None:  # fmt: skip
    """Repeat rounds for ``seconds``; put each operation's latencies (s)."""
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    with open_store(location) as store:
        barrier.wait()
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            node, sku = f"N{rng.integers(cells[0])}", f"S{rng.integers(cells[1])}"
            rid = f"{tag}-{i}"
            t0 = time.perf_counter()
            store.reserve(rid, [(sku, 1)], node, ttl_s=600)
            t1 = time.perf_counter()
            store.hold_checkout(
                f"c{rid}", "gold", [(node, [(sku, 1)])], 600,
                order_lines=[_order_line(rid, node, sku)],
            )  # fmt: skip
            t2 = time.perf_counter()
            store.confirm_checkout(f"c{rid}")
            t3 = time.perf_counter()
            for op, dt in zip(OPERATIONS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                times[op].append(dt)
            i += 1
    queue.put(times)


def _stock(location: str, nodes: int, skus: int) -> None:
    cells = pd.MultiIndex.from_product(
        [[f"N{n}" for n in range(nodes)], [f"S{s}" for s in range(skus)]],
        names=["node_id", "sku"],
    )
    frame = cells.to_frame(index=False).assign(on_hand=10**9)
    with open_store(location) as store:
        store.upsert_inventory(frame)


def run_cell(
    location: str, processes: int, args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    """One backend and process count: throughput and latency per operation."""
    _stock(location, args.nodes, args.skus)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes + 1), ctx.Queue()
    cells = (args.nodes, args.skus)
    procs = [
        ctx.Process(
            target=_worker,
            args=(location, f"{tag}-w{w}", w, cells, args.seconds, barrier, queue),
        )
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    results = [queue.get(timeout=args.seconds + 600) for _ in procs]
    wall = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
    out: dict[str, Any] = {"processes": processes, "wall_s": round(wall, 2)}
    for op in OPERATIONS:
        lat = np.concatenate([np.asarray(r[op]) for r in results]) * 1e3
        out[op] = {
            "per_s": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p95_ms": round(float(np.percentile(lat, 95)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
        }
    return out


def _locations(
    backend: str, processes: Sequence[int], args: argparse.Namespace, tmp: Path,
    server: LocalPostgres | None,
) -> list[tuple[int, str]]:  # fmt: skip
    """A fresh store location per process count."""
    out = []
    for n in processes:
        if backend == "sqlite":
            out.append((n, str(tmp / f"bench-{n}.db")))
        elif server is not None:
            out.append((n, server.create_database(f"bench_{n}")))
        else:
            out.append((n, str(args.postgres)))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every cell: ``{backend: [cell, ...]}``."""
    processes = [int(p) for p in args.processes.split(",")]
    results: dict[str, Any] = {"config": vars(args).copy()}
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.postgres else LocalPostgres(_SERVER_OPTIONS).start()
        try:
            for backend in ("sqlite", "postgres"):
                cells = _locations(backend, processes, args, Path(tmp), server)
                results[backend] = [
                    run_cell(loc, n, args, tag=f"{backend}{n}-{time.time_ns()}")
                    for n, loc in cells
                ]
        finally:
            if server is not None:
                server.stop()
    return results


def summary(results: dict[str, Any]) -> str:
    """A markdown table of every cell."""
    lines = [
        "| backend | processes | op | ops/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for backend in ("sqlite", "postgres"):
        for cell in results[backend]:
            for op in OPERATIONS:
                m = cell[op]
                lines.append(
                    f"| {backend} | {cell['processes']} | {op} | {m['per_s']:.0f} "
                    f"| {m['p50_ms']:.2f} | {m['p95_ms']:.2f} | {m['p99_ms']:.2f} |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m tierflow.benchmarks.store_bench``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=decimal, default=10.0)
    parser.add_argument("--processes", default="1,4")
    parser.add_argument("--nodes", type=whole, default=10)
    parser.add_argument("--skus", type=whole, default=100)
    parser.add_argument("--postgres", default=None, help="use this database URL")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args)
    table = summary(results)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        results["config"]["out"] = str(args.out)
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "summary.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
