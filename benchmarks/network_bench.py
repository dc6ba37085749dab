"""Network benchmarks: event ingest, score-map latency, reservations, forecast.

Fixed seeds, medians of ``--repeat`` runs, each beside a baseline of the
same run. Protocol: ``docs/benchmarks.md``.

Run: ``python -m tierflow.benchmarks.network_bench --out out/bench-network``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import whole
from tierflow.benchmarks.processes import run_together
from tierflow.capacity.events import EVENT_TYPES, parse_event_lines
from tierflow.capacity.forecast import holdout_errors, node_hour_volume
from tierflow.capacity.monitor import CapacityMonitor, OrderProfile
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.orders import read_orders, write_orders
from tierflow.data.rates import SERVICES
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import SqliteStore


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def event_lines(network: Network, n: int, seed: int) -> list[str]:
    """``n`` random valid events as JSON lines (seeded)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-05T08:00:00Z").value // 10**9
    kinds = [k for k in EVENT_TYPES if k != "nominal_capacity"]
    out = []
    for i in range(n):
        kind = kinds[int(rng.integers(len(kinds)))]
        value: Any = {
            "staffing": float(rng.uniform(50, 110)),
            "backlog": float(rng.uniform(0, 5000)),
            "backlog_delta": float(rng.uniform(-50, 100)),
            "congestion": float(rng.uniform(1, 2)),
            "outage": bool(rng.random() < 0.05),
            "forecast": float(rng.uniform(0, 5000)),
        }[kind]
        rec: dict[str, Any] = {
            "event_id": f"b{seed}-{i}",
            "ts": pd.Timestamp(t0 + i, unit="s", tz="UTC").isoformat(),
            "node_id": network.node_ids[int(rng.integers(network.n_nodes))],
            "type": kind,
            "value": value,
        }
        if kind == "congestion":
            rec["service"] = SERVICES[int(rng.integers(len(SERVICES)))]
        out.append(json.dumps(rec))
    return out


def bench_ingest(network: Network, n: int, repeat: int) -> dict[str, Any]:
    """Events/s: parse only (baseline) vs parse + log + apply (monitor with store)."""
    parse_rates, full_rates, memory_rates = [], [], []
    for r in range(repeat):
        lines = event_lines(network, n, seed=r)
        t = time.perf_counter()
        events = parse_event_lines(lines, network)
        parse_rates.append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        CapacityMonitor(network).ingest(parse_event_lines(lines, network))
        memory_rates.append(n / (time.perf_counter() - t))
        with (
            tempfile.TemporaryDirectory() as tmp,
            SqliteStore(Path(tmp) / "s.db") as store,
        ):
            mon = CapacityMonitor(network, store, snapshot_every=0)
            t = time.perf_counter()
            mon.ingest(parse_event_lines(lines, network))
            mon.snapshot()
            full_rates.append(n / (time.perf_counter() - t))
            assert mon.n_applied == len(events)
    full, base = _median(full_rates), _median(parse_rates)
    return {
        "events": n,
        "repeat": repeat,
        "ingest_events_per_s": full,
        "in_memory_events_per_s": _median(memory_rates),
        "baseline_parse_only_events_per_s": base,
        "ratio_to_baseline": full / base,
    }


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1e6


def bench_score_map(
    network: Network, repeat: int, calls: int = 20_000
) -> dict[str, Any]:
    """µs per whole-network score map vs a per-node Python loop."""
    mon = CapacityMonitor(network)
    mon.ingest(parse_event_lines(event_lines(network, 2000, seed=99), network))
    profile = OrderProfile(12.5, SERVICES.index("ground"))
    nodes = range(network.n_nodes)

    def per_node_loop() -> list[float]:
        return [mon.capacity_score(i, profile) for i in nodes]

    vec, vec_p, loop = [], [], []
    for _ in range(repeat):
        vec.append(_per_call_us(mon.score_map, calls))
        vec_p.append(_per_call_us(lambda: mon.score_map(profile), calls))
        loop.append(_per_call_us(per_node_loop, calls // 100))
    v, lp = _median(vec_p), _median(loop)
    return {
        "nodes": network.n_nodes,
        "repeat": repeat,
        "score_map_us": _median(vec),
        "score_map_with_profile_us": v,
        "baseline_per_node_loop_us": lp,
        "speedup_vs_loop": lp / v,
    }


def _reserve_worker(
    path: str, worker: int, n: int, skus: int, barrier: Any, q: Any
) -> None:
    store = SqliteStore(path)
    rng = np.random.default_rng(worker)
    barrier.wait()
    t = time.perf_counter()
    ok = 0
    for i in range(n):
        lines = [(f"S{int(k)}", 1) for k in rng.choice(skus, size=2, replace=False)]
        ok += store.reserve(f"w{worker}-{i}", lines, "N1", ttl_s=600).ok
    q.put((ok, time.perf_counter() - t, time.perf_counter()))
    store.close()


def _fresh_store(path: Path, skus: int) -> None:
    with SqliteStore(path) as s:
        s.upsert_inventory(
            pd.DataFrame(
                {
                    "node_id": "N1",
                    "sku": [f"S{k}" for k in range(skus)],
                    "on_hand": 10**6,
                }
            )
        )


def bench_reservations(
    repeat: int, processes: int = 8, per_process: int = 500, skus: int = 100
) -> dict[str, Any]:
    """Reservations/s: ``processes`` contending vs one process alone."""
    multi, single = [], []
    for r in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"r{r}.db"
            _fresh_store(path, skus)
            results, t0 = run_together(
                _reserve_worker,
                [(str(path), w, per_process, skus) for w in range(processes)],
                timeout_s=600,
            )
            elapsed = max(end for _, _, end in results) - t0
            assert sum(ok for ok, _, _ in results) == processes * per_process
            multi.append(processes * per_process / elapsed)
            path1 = Path(tmp) / f"single{r}.db"
            _fresh_store(path1, skus)
            with SqliteStore(path1) as store:
                rng = np.random.default_rng(r)
                t = time.perf_counter()
                for i in range(processes * per_process):
                    lines = [
                        (f"S{int(k)}", 1)
                        for k in rng.choice(skus, size=2, replace=False)
                    ]
                    store.reserve(f"s-{i}", lines, "N1", ttl_s=600)
                single.append(processes * per_process / (time.perf_counter() - t))
    m, s = _median(multi), _median(single)
    return {
        "processes": processes,
        "reservations": processes * per_process,
        "repeat": repeat,
        "contended_reservations_per_s": m,
        "baseline_single_process_per_s": s,
        "ratio_to_baseline": m / s,
    }


def bench_forecast(
    network: Network, seeds: list[int], days: int = 28, per_day: int = 4000
) -> dict[str, Any]:
    """Held-out-day error of exponential smoothing vs seasonal naive, per seed."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            frame = generate_orders(
                network, n_orders=days * per_day, days=days, seed=seed
            )
            orders = read_orders(
                write_orders(frame, Path(tmp) / f"o{seed}.csv"), network
            )
            runs.append(holdout_errors(node_hour_volume(orders, network), 24))
    return {
        "seeds": seeds,
        "days": days,
        "orders_per_day": per_day,
        "seasonal_naive_mae": _median([r["seasonal_naive"]["mae"] for r in runs]),
        "seasonal_naive_wape": _median([r["seasonal_naive"]["wape"] for r in runs]),
        "exp_smoothing_mae": _median([r["exp_smoothing"]["mae"] for r in runs]),
        "exp_smoothing_wape": _median([r["exp_smoothing"]["wape"] for r in runs]),
        "ratio_mae": _median([r["ratio_mae"] for r in runs]),
        "per_seed_ratio_mae": [r["ratio_mae"] for r in runs],
    }


def run(
    out: Path, *, repeat: int, events: int, network_dir: Path | None
) -> dict[str, Any]:
    """Run every benchmark, write ``results.json`` and ``summary.md`` into ``out``."""
    network = load_network(network_dir or sample_network_dir())
    results = {
        "ingest": bench_ingest(network, events, repeat),
        "score_map": bench_score_map(network, repeat),
        "reservations": bench_reservations(repeat),
        "forecast": bench_forecast(network, seeds=list(range(repeat))),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    i, s, r, f = (
        results[k] for k in ("ingest", "score_map", "reservations", "forecast")
    )
    md = [
        "# Network benchmarks (medians)",
        "",
        "| figure | value | baseline (same run) | ratio |",
        "|---|---|---|---|",
        f"| event ingest (parse+log+apply) | {i['ingest_events_per_s']:,.0f} events/s | "
        f"parse only {i['baseline_parse_only_events_per_s']:,.0f} events/s | "
        f"{i['ratio_to_baseline']:.2f} |",
        f"| score map, {s['nodes']} nodes | {s['score_map_with_profile_us']:.1f} µs "
        f"(no profile {s['score_map_us']:.1f} µs) | per-node loop "
        f"{s['baseline_per_node_loop_us']:.0f} µs | {s['speedup_vs_loop']:.0f}x faster |",
        f"| reservations, {r['processes']} processes | "
        f"{r['contended_reservations_per_s']:,.0f} /s | one process "
        f"{r['baseline_single_process_per_s']:,.0f} /s | {r['ratio_to_baseline']:.2f} |",
        f"| forecast MAE, held-out day | {f['exp_smoothing_mae']:.3f} (WAPE "
        f"{f['exp_smoothing_wape']:.3f}) | seasonal naive {f['seasonal_naive_mae']:.3f} "
        f"(WAPE {f['seasonal_naive_wape']:.3f}) | {f['ratio_mae']:.3f} |",
        "",
    ]
    (out / "summary.md").write_text("\n".join(md))
    return results


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-network"))
    parser.add_argument("--repeat", type=whole, default=5)
    parser.add_argument("--events", type=whole, default=20_000)
    parser.add_argument("--network", type=Path, default=None)
    args = parser.parse_args(argv)
    run(args.out, repeat=args.repeat, events=args.events, network_dir=args.network)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
