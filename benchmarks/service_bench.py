"""Reliability figures of the HTTP service (``make bench-service``).

``tierflow serve`` in its own process on loopback, a ``/healthz`` baseline,
the checkout load (``/metrics`` scraped every second, its counts checked
against the clients'), stock checks in the store, what ``/metrics`` costs
``POST /v1/options`` (:mod:`tierflow.benchmarks.metrics_overhead`), a fuzz
pass; writes ``results.json`` and ``summary.md``. Protocol:
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from tierflow.benchmarks import metrics_overhead
from tierflow.benchmarks.arguments import decimal, whole
from tierflow.benchmarks.metrics_overhead import Scraper
from tierflow.benchmarks.online_bench import checkouts, scarce_store, stand_in_scores
from tierflow.benchmarks.processes import DISTURBED_CORES, disturbed_lines, other_cpu
from tierflow.benchmarks.service_fuzz import fuzz_all
from tierflow.benchmarks.service_load import (
    HOST,
    Tally,
    child_server,
    load_phase,
    percentile,
    run_phase,
)
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import SqliteStore
from tierflow.service.server import free_port


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
    url = f"http://{HOST}:{port}"
    with child_server(command, log, api_key, url=url) as proc:
        yield url, proc


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


# ----------------------------------------------------------------------- run
def run(
    out: Path,
    *,
    network_dir: Path | None = None,
    clients: int = 50,
    duration_s: float = 60.0,
    baseline_s: float = 15.0,
    fuzz_examples: int = 200,
    seed: int = 1,
    overhead_blocks: int = 60,
) -> dict[str, Any]:
    """Run every part (``docs/benchmarks.md``); write ``results.json`` and
    ``summary.md``."""
    out.mkdir(parents=True, exist_ok=True)
    folder = network_dir or sample_network_dir()
    network: Network = load_network(folder)
    state, before = _prepare_store(out, network)
    carts = [(c, cart, dest) for c, cart, dest, _ in checkouts(network, 20_000, seed)]
    api_key = secrets.token_urlsafe(24)
    auth: Counter[str] = Counter()
    stream: Counter[str] = Counter()
    known = [os.getpid()]  # the bench: its servers are its children
    with serve_process(folder, state, api_key, out / "server.log") as (url, _):
        with other_cpu(known) as base_other:
            base, base_wall = asyncio.run(
                run_phase(url, clients, baseline_s, None, seed)
            )
        with Scraper(url, 1.0) as scraper, other_cpu(known) as load_other:
            tally, wall = asyncio.run(
                load_phase(
                    url, api_key, clients=clients, duration_s=duration_s, carts=carts,
                    seed=seed, node_ids=_warehouses(network), auth=auth, stream=stream,
                )
            )  # fmt: skip
        scraped = metrics_agreement(url, tally, scraper)
    store_checks = check_store(state, before, tally.confirmed)
    overhead = None
    if overhead_blocks > 0:
        with other_cpu(known) as overhead_other:
            overhead = metrics_overhead.measure(
                out, network_dir=network_dir, blocks=overhead_blocks, seed=seed
            )
        overhead["other_cpu"] = overhead_other
    fuzz = (
        fuzz_all(network, out, examples=fuzz_examples, api_key=api_key)
        if fuzz_examples > 0
        else {}
    )
    baseline = _baseline_figures(base, base_wall)
    results: dict[str, Any] = {
        "setup": _setup(folder, network, clients, duration_s, baseline_s),
        "baseline_healthz": {**baseline, "other_cpu": base_other},
        "load": {
            **_load_figures(tally, wall, baseline["per_s"]),
            "other_cpu": load_other,
        },
        "auth": dict(sorted(auth.items())),
        "stream_events": dict(stream),
        "store": store_checks,
        "metrics_during_load": scraped,
        "metrics_overhead": overhead,
        "fuzz": fuzz,
    }
    results["verdict"] = verdict(results)
    # beside the verdict, not in it: a disturbed run is not a failed one
    results["quiet"] = not any(f["disturbed"] for f in phases(results).values())
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "summary.md").write_text(summary(results))
    return results


#: The load's endpoints by route template (``/metrics`` labels).
_ROUTES = {
    "options": "/v1/options",
    "select": "/v1/checkouts/{request_id}/select",
    "confirm": "/v1/checkouts/{request_id}/confirm",
    "cancel": "/v1/checkouts/{request_id}/cancel",
}


def metrics_agreement(url: str, tally: Tally, scraper: Scraper) -> dict[str, Any]:
    """The server's ``tierflow_http_requests_total`` of each checkout endpoint
    and status against what the load clients got (they are the only callers);
    the scrapes made during the load."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    server: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tierflow_http_requests_total":
                server[f"{sample.labels['route']} {sample.labels['status']}"] += int(
                    sample.value
                )
    mismatches = {}
    for key, n in tally.statuses.items():
        endpoint, status = key.split()
        if endpoint in _ROUTES:
            counted = server[f"{_ROUTES[endpoint]} {status}"]
            if counted != n:
                mismatches[key] = {"clients": n, "metrics": counted}
    return {
        "scrapes": len(scraper.ms),
        "scrape_failures": scraper.failures,
        "scrape_p50_ms": percentile(scraper.ms, 50),
        "scrape_max_ms": max(scraper.ms) if scraper.ms else None,
        "requests_compared": sum(
            n for k, n in tally.statuses.items() if k.split()[0] in _ROUTES
        ),
        "mismatches": mismatches,
    }


def _prepare_store(out: Path, network: Network) -> tuple[Path, pd.DataFrame]:
    """A fresh store in ``out`` with scarce stock; its inventory before the load."""
    state = out / "state.db"
    for old in out.glob("state.db*"):
        old.unlink()
    scarce_store(state, network, stand_in_scores(network))
    with SqliteStore(state) as store:
        return state, store.inventory_frame()


def _warehouses(network: Network) -> list[str]:
    """The nodes the operator's events go to (warehouses, else every node)."""
    return [
        n for n, k in zip(network.node_ids, network.node_kind, strict=True) if k == 0
    ] or list(network.node_ids)


def _baseline_figures(base: Tally, wall: float) -> dict[str, Any]:
    values = base.latency_ms["healthz"]
    return {
        "requests": len(values),
        "per_s": len(values) / wall,
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "server_errors": base.server_errors,
    }


def _load_figures(tally: Tally, wall: float, base_rate: float) -> dict[str, Any]:
    requests = tally.checkout_requests
    rate = requests / wall
    return {
        "wall_s": wall,
        "requests": requests,
        "requests_per_s": rate,
        "checkouts_confirmed_per_s": len(tally.confirmed) / wall,
        "ratio_to_healthz": rate / base_rate if base_rate else None,
        "server_errors": tally.server_errors,
        "by_endpoint": tally.latency_table(wall),
        "statuses": dict(sorted(tally.statuses.items())),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "client_errors": tally.errors,
    }


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
        "metrics_match_the_clients": not r["metrics_during_load"]["mismatches"]
        and r["metrics_during_load"]["scrape_failures"] == 0,
        **(
            {}
            if r["metrics_overhead"] is None
            else {
                "metrics_overhead_p50_le_5pct": r["metrics_overhead"][
                    "overhead_metrics"
                ]
                <= 0.05
                and r["metrics_overhead"]["options_miscounted"] == 0
            }
        ),
    }


def phases(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every measured phase by name, with what other processes used during
    it (``other_cpu``)."""
    out = {
        "the /healthz baseline": r["baseline_healthz"]["other_cpu"],
        "the checkout load": r["load"]["other_cpu"],
    }
    if r["metrics_overhead"] is not None:
        out["the metrics overhead"] = r["metrics_overhead"]["other_cpu"]
    return out


def _other_line(r: dict[str, Any]) -> str:
    return (
        "CPU other processes used (the machine's busy CPU from /proc/stat minus "
        "the bench's process tree, its servers included; above "
        f"{DISTURBED_CORES} core: disturbed): "
        + ", ".join(f"{k} {f['other_cores']:.2f} cores" for k, f in phases(r).items())
        + "."
    )


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
        *disturbed_lines(phases(r)),
        _other_line(r),
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
        _scrape_line(r["metrics_during_load"]),
        "",
        *_overhead_lines(r["metrics_overhead"]),
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


def _setup(
    folder: Path, network: Network, clients: int, duration_s: float, baseline_s: float
) -> dict[str, Any]:
    return {
        "network": str(folder),
        "nodes": network.n_nodes,
        "skus": network.n_skus,
        "clients": clients,
        "duration_s": duration_s,
        "baseline_s": baseline_s,
        "cpus": os.cpu_count(),
        "server": "tierflow serve (uvicorn, 1 process) on " + HOST,
    }


def _overhead_lines(overhead: dict[str, Any] | None) -> list[str]:
    return [] if overhead is None else [metrics_overhead.summary(overhead), ""]


def _scrape_line(m: dict[str, Any]) -> str:
    return (
        f"`/metrics` scraped every second during the load: {m['scrapes']} scrapes "
        f"(p50 {_ms(m['scrape_p50_ms'])} ms, max {_ms(m['scrape_max_ms'])} ms, "
        f"{m['scrape_failures']} failed); its counts of the "
        f"{m['requests_compared']} checkout requests against the clients': "
        f"{m['mismatches'] or 'all equal'}."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-service"))
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--clients", type=whole, default=50)
    parser.add_argument("--duration", type=decimal, default=60.0)
    parser.add_argument("--baseline", type=decimal, default=15.0)
    parser.add_argument("--fuzz-examples", type=whole, default=200)
    parser.add_argument("--seed", type=whole, default=1)
    parser.add_argument(
        "--overhead-blocks",
        type=whole,
        default=60,
        help="blocks of 50 requests per server for the metrics overhead (0: skip)",
    )
    args = parser.parse_args(argv)
    results = run(
        args.out,
        network_dir=args.network,
        clients=args.clients,
        duration_s=args.duration,
        baseline_s=args.baseline,
        fuzz_examples=args.fuzz_examples,
        seed=args.seed,
        overhead_blocks=args.overhead_blocks,
    )
    print((args.out / "summary.md").read_text())
    if not all(results["verdict"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
