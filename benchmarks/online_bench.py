"""Online checkout benchmark: option latency, reservation throughput, no oversell.

Warm latency beside a nearest-node baseline (ample and tight capacity), then
checkouts by several processes on scarce stock; ``tierflow bench online`` or
``python -m tierflow.benchmarks.online_bench``. Protocol: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tierflow.benchmarks.arguments import whole
from tierflow.benchmarks.processes import run_together
from tierflow.capacity.monitor import CapacityMonitor, events_for
from tierflow.data.errors import InputError
from tierflow.data.network import Network, load_network
from tierflow.data.order_generator import generate_orders
from tierflow.data.output_folder import StagedOutput
from tierflow.data.sample_network import sample_network_dir
from tierflow.data.store import SqliteStore, StateStore
from tierflow.data.wording import counted
from tierflow.orchestration.checkout.router import OnlineRouter

Checkout = tuple[str, list[tuple[str, int]], str, dt.datetime]
#: Every name ``bench online`` writes in OUT: written whole or not at all.
ONLINE_BENCH_NAMES = ("results.json", "summary.md", "latency.csv", "contention.csv")
TTL_S = 2.0
SCARCE_SKUS = 20
SCARCE_UNITS = 8


# ------------------------------------------------------------------ inputs
def checkouts(network: Network, n: int, seed: int) -> list[Checkout]:
    """``n`` generated checkouts (customer, cart, ZIP prefix, instant), in time order."""
    frame = generate_orders(network, n_orders=n, days=1, seed=seed)
    out = []
    for _, g in frame.groupby("order_id", sort=False):
        cart = [(str(s), int(q)) for s, q in zip(g["sku"], g["quantity"], strict=True)]
        when = dt.datetime.fromisoformat(str(g["created_at"].iloc[0]))
        out.append((str(g["customer_id"].iloc[0]), cart, str(g["dest"].iloc[0]), when))
    out.sort(key=lambda c: c[3])
    return out


def stand_in_scores(network: Network) -> pd.DataFrame | None:
    """CLTV stand-in: each customer's spend over the last 365 days of history."""
    if network.source is None or not (network.source / "transactions.csv").is_file():
        return None
    tx = pd.read_csv(
        network.source / "transactions.csv",
        usecols=["customer_id", "order_date", "amount"],
    )
    dates = pd.to_datetime(tx["order_date"])
    recent = tx[dates > dates.max() - pd.Timedelta(days=365)]
    spend = recent.groupby("customer_id")["amount"].sum()
    every = pd.Index(tx["customer_id"].unique())
    spend = spend.reindex(every, fill_value=0.0)
    rank = spend.rank(pct=True)
    return pd.DataFrame(
        {
            "customer_id": spend.index.astype(str),
            "predicted_spend": spend.to_numpy(dtype=float),
            "p_active": (spend > 0).astype(float).to_numpy(),
            "segment": np.select(
                [rank >= 0.9, rank >= 0.6], ["platinum", "gold"], "silver"
            ),
        }
    )


def fresh_store(path: Path, network: Network, scores: pd.DataFrame | None) -> None:
    """A new store: the network's inventory and the stand-in CLTV scores."""
    with SqliteStore(path) as store:
        store.seed_network_inventory(network)
        if scores is not None:
            store.put_cltv_scores(
                scores, as_of=dt.date(2026, 1, 4), model_version="bench"
            )


# ---------------------------------------------------------------- baseline
class NearestNodeRouter:
    """The baseline: nearest node holding the whole cart, one ground option.

    It does the same lookups as :class:`OnlineRouter` (validation, CLTV
    score, the cart's stock at every node, capacity refresh) but no pricing
    of tiers, no bid prices, no satisfaction score.
    """

    def __init__(self, network: Network, store: StateStore) -> None:
        self.network = network
        self.store = store
        self.monitor = CapacityMonitor.open(network, store, snapshot_every=0)
        self._read = -np.inf
        self._node_index = dict(network.node_index)

    def options(
        self,
        customer_id: str,
        items: list[tuple[str, int]],
        dest: str,
        now: dt.datetime,
    ) -> dict[str, Any]:
        """The one option (or none) for a checkout."""
        net = self.network
        skus = [s for s, _ in items]
        sku_idx = net.sku_idx(skus)
        qty = np.array([q for _, q in items])
        if (qty < 1).any():
            raise InputError("must be an integer >= 1", field="quantity")
        d = net.dest_idx(dest)
        if time.monotonic() - self._read >= 1.0:
            self.monitor.refresh()
            self._read = time.monotonic()
        score = self.store.cltv_score(customer_id)
        stock = np.zeros((net.n_nodes, len(skus)), dtype=np.int64)
        col = {s: k for k, s in enumerate(skus)}
        for node, sku, avail in self.store.available_by_sku(skus):
            i = self._node_index.get(node)
            if i is not None:
                stock[i, col[sku]] = avail
        ok = (stock >= qty).all(axis=1) & ~self.monitor.outage
        if not ok.any():
            return {"node": None}
        j = int(np.argmin(np.where(ok, net.distance_mi[:, d], np.inf)))
        ship, deliver = net.ship_and_delivery_dates(now, "ground", d)
        kg = net.billed_weight(sku_idx, qty)
        return {
            "node": net.node_ids[j],
            "service": "ground",
            "ship_date": str(ship[j]),
            "delivery_date": str(deliver[j]),
            "price": float(net.shipping_cost("ground", d, kg)[j]),
            "cltv": None if score is None else score.predicted_spend,
        }


# ---------------------------------------------------------------- latency
def _pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def tighten(router: OnlineRouter, seed: int) -> None:
    """Tight capacity: every node's rest-of-day forecast takes 80–99 % of it.

    The bid prices then come from the estimate LP (non-zero) and nodes below
    the overflow threshold make some checkouts offer Tier 4.
    """
    rng = np.random.default_rng(seed)
    net = router.network
    share = rng.uniform(0.80, 0.99, size=net.n_nodes)
    events = [
        {
            "event_id": f"tight-{seed}-{i}",
            "ts": "2026-01-05T06:00:00Z",
            "node_id": node,
            "type": "forecast",
            "value": float(net.capacity[i] * share[i]),
        }
        for i, node in enumerate(net.node_ids)
    ]
    router.monitor.ingest(events_for(net, events))


def bench_latency(
    network: Network,
    requests: list[Checkout],
    scores: pd.DataFrame | None,
    repeat: int,
    out_rows: list[dict[str, Any]],
    *,
    tight: bool = False,
) -> dict[str, Any]:
    """Warm per-call latency of the router and the baseline (µs), median of runs.

    Every run's calls go to ``out_rows`` (``latency.csv``, column ``run``), so
    each median can be recomputed from the file; the ratio is each run's p50
    over that same run's baseline p50, then the median of those ratios (a
    ratio of two medians could pair the router of one run with the baseline
    of another).
    """
    warm = max(len(requests) // 10, min(50, len(requests) // 2))
    runs: list[dict[str, float]] = []
    for r in range(repeat):
        run, lat, blat = _latency_run(network, requests, scores, warm, tight, r)
        run["ratio_p50_to_baseline"] = run["p50_us"] / run["baseline_p50_us"]
        runs.append(run)
        out_rows.extend(
            {
                "capacity": "tight" if tight else "ample",
                "run": r,
                "request": i,
                "router_us": a,
                "baseline_us": b,
            }
            for i, (a, b) in enumerate(zip(lat, blat, strict=True))
        )
    keys = runs[0].keys()
    med = {k: float(statistics.median(run[k] for run in runs)) for k in keys}
    med["timed_requests"] = len(requests) - warm
    med["warmup_requests"] = warm
    med["repeat"] = repeat
    return med


def _latency_run(
    network: Network,
    requests: list[Checkout],
    scores: pd.DataFrame | None,
    warm: int,
    tight: bool,
    seed: int,
) -> tuple[dict[str, float], list[float], list[float]]:
    """One run on a fresh store: its figures and every timed call (µs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        fresh_store(path, network, scores)
        router = OnlineRouter.open(network, path, profile=True)
        if tight:
            tighten(router, seed=seed)
        base_store = SqliteStore(path)
        base = NearestNodeRouter(network, base_store)
        for c, cart, dest, when in requests[:warm]:
            router.generate_fulfillment_options(c, cart, dest, now=when)
            base.options(c, cart, dest, when)
        router.timings.clear()
        lat, blat = [], []
        offered: Counter[str] = Counter()
        for c, cart, dest, when in requests[warm:]:
            t = time.perf_counter_ns()
            answer = router.generate_fulfillment_options(c, cart, dest, now=when)
            lat.append((time.perf_counter_ns() - t) / 1e3)
            t = time.perf_counter_ns()
            base.options(c, cart, dest, when)
            blat.append((time.perf_counter_ns() - t) / 1e3)
            offered.update(o.tier for o in answer.options)
            offered["_split"] += any(len(o.nodes) > 1 for o in answer.options)
        run = _latency_figures(router, lat, blat, offered)
        router.close()
        base_store.close()
    return run, lat, blat


def _latency_figures(
    router: OnlineRouter, lat: list[float], blat: list[float], offered: Counter[str]
) -> dict[str, float]:
    """Percentiles of one run, the router's stage p50s and what it offered."""
    stages = {
        k: np.asarray(v, dtype=np.float64) / 1e3 for k, v in router.timings.items()
    }
    run = {
        "p50_us": _pct(lat, 50),
        "p90_us": _pct(lat, 90),
        "p99_us": _pct(lat, 99),
        "max_us": float(max(lat)),
        "baseline_p50_us": _pct(blat, 50),
        "baseline_p99_us": _pct(blat, 99),
        "decision_p50_us": _pct(stages["decision"], 50),
        "decision_p99_us": _pct(stages["decision"], 99),
    }
    for name, values in stages.items():
        if name not in ("decision", "total"):
            run[f"stage_{name}_p50_us"] = _pct(values, 50)
    for tier in ("platinum", "gold", "silver", "overflow", "_split"):
        run[f"share_{tier.strip('_')}"] = offered[tier] / len(lat)
    run["bid_prices_nonzero_nodes"] = float((router.bid_prices.current() > 0).sum())
    return run


# -------------------------------------------------------------- contention
def _scarce(network: Network) -> list[str]:
    top = np.argsort(-network.sku_popularity)[:SCARCE_SKUS]
    carried = network.inventory[:, top].sum(axis=0) > 0
    return [network.sku_ids[int(k)] for k in top[carried]]


def scarce_store(path: Path, network: Network, scores: pd.DataFrame | None) -> None:
    """A fresh store whose popular SKUs are scarce (at most 8 units per node)."""
    fresh_store(path, network, scores)
    skus = _scarce(network)
    with SqliteStore(path) as store:
        inv = store.inventory_frame()
        rows = inv[inv["sku"].isin(skus)].assign(
            on_hand=lambda f: f["on_hand"].clip(upper=SCARCE_UNITS)
        )
        store.upsert_inventory(rows[["node_id", "sku", "on_hand"]])


def _checkout_worker(
    network_dir: str, state: str, worker: int, n: int, barrier: Any, queue: Any
) -> None:
    network = load_network(network_dir)
    queue.put(_run_checkouts(network, state, worker, n, barrier))


def _run_checkouts(
    network: Network, state: str, worker: int, n: int, barrier: Any = None
) -> dict[str, Any]:
    router = OnlineRouter.open(network, state, reservation_ttl_s=TTL_S)
    skus = _scarce(network)
    rng = np.random.default_rng(1000 + worker)
    dests = network.dest_zip3
    stats: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    for i in range(n):
        size = 1 + int(rng.random() < 0.3)
        chosen = rng.choice(len(skus), size=size, replace=False)
        cart = [(skus[int(k)], int(rng.integers(1, 3))) for k in chosen]
        dest = dests[int(rng.integers(len(dests)))]
        answer = router.generate_fulfillment_options(f"B{worker}-{i}", cart, dest)
        if not answer.options:
            stats["sold_out"] += 1
            continue
        option = answer.options[int(rng.integers(len(answer.options)))]
        held = router.select(answer.request_id, option.option_id)
        stats["selects"] += 1
        if held.status != "held":
            stats[held.status] += 1
            continue
        stats["held"] += 1
        fate = rng.random()
        if fate < 0.05:
            stats["abandoned"] += 1
        elif fate < 0.15:
            router.cancel(answer.request_id)
            stats["cancelled"] += 1
        else:
            try:
                router.confirm(answer.request_id)
            except InputError:
                stats["expired_before_confirm"] += 1
                continue
            stats["confirmed"] += 1
            for ship in option.shipments:
                for sku, q in ship.lines:
                    sold[f"{ship.node_id}|{sku}"] += q
    elapsed = time.perf_counter() - start
    router.close()
    return {
        "stats": dict(stats),
        "sold": dict(sold),
        "elapsed_s": elapsed,
        "end": time.perf_counter(),
    }


def bench_contention(
    network: Network,
    scores: pd.DataFrame | None,
    processes: int,
    requests: int,
    repeat: int = 1,
    out_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Checkouts by ``processes`` workers on scarce stock vs one process
    alone, ``repeat`` runs on fresh stores: the medians, and the worst run.

    Before 2026-12-07 it ran once whatever ``repeat`` while the latencies
    beside it were medians. Every run's figures go to ``out_rows``
    (``contention.csv``, column ``run``). The rates and the ratio (each run's
    own, as for the latencies) are medians, with the slowest run's as
    ``worst_*``; the outcome counts are the lower median (a count some run
    had); the checks (oversold positions, mismatches, units left reserved,
    consistency problems) are the worst run's, so one bad run fails them.
    """
    runs = [
        _contention_run(network, scores, processes, requests) for _ in range(repeat)
    ]
    if out_rows is not None:
        out_rows.extend(
            {
                "run": r,
                **{k: run[k] for k in _PER_RUN},
                "consistency_problem_count": len(run["consistency_problems"]),
            }
            for r, run in enumerate(runs)
        )
    total = processes * requests
    result: dict[str, Any] = {
        "processes": processes,
        "checkouts_per_process": requests,
        "checkouts": total,
        "repeat": repeat,
    }
    for key in _RATES:
        result[key] = float(statistics.median(run[key] for run in runs))
    for key in _COUNTS:
        result[key] = statistics.median_low(run[key] for run in runs)
    for key in _CHECKS:
        result[key] = max(run[key] for run in runs)
    result["scarce_units"] = runs[0]["scarce_units"]
    result["consistency_problems"] = [
        f"run {r}: {problem}" if repeat > 1 else problem
        for r, run in enumerate(runs)
        for problem in run["consistency_problems"]
    ]
    for key in ("checkouts_per_s", "holds_per_s", "ratio_to_single_process"):
        result[f"worst_{key}"] = min(run[key] for run in runs)
    result["worst_baseline_single_process_checkouts_per_s"] = min(
        run["baseline_single_process_checkouts_per_s"] for run in runs
    )
    result["worst_wall_s"] = max(run["wall_s"] for run in runs)
    return result


def _contention_run(
    network: Network, scores: pd.DataFrame | None, processes: int, requests: int
) -> dict[str, Any]:
    """One contention run on fresh scarce stores: its figures and checks."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "contended.db"
        scarce_store(state, network, scores)
        with SqliteStore(state) as store:
            before = store.inventory_frame().set_index(["node_id", "sku"])["on_hand"]
        results, wall = _contend(network, state, processes, requests)
        stats: Counter[str] = Counter()
        sold: Counter[str] = Counter()
        for r in results:
            stats.update(r["stats"])
            sold.update(r["sold"])
        time.sleep(TTL_S)
        stock = _stock_after(state, before, sold)
        single_state = Path(tmp) / "single.db"
        scarce_store(single_state, network, scores)
        single = _run_checkouts(network, str(single_state), 0, processes * requests)
    total = processes * requests
    return {
        "wall_s": wall,
        "checkouts_per_s": total / wall,
        "holds_per_s": stats["selects"] / wall,
        "baseline_single_process_checkouts_per_s": total / single["elapsed_s"],
        "ratio_to_single_process": (total / wall) / (total / single["elapsed_s"]),
        **{k: stats[k] for k in _OUTCOMES},
        "expired_released_after_run": stock["expired"],
        "units_sold": int(sum(sold.values())),
        "scarce_units": int(
            before[before.index.get_level_values("sku").isin(_scarce(network))].sum()
        ),
        "oversold_positions": stock["oversold"],
        "on_hand_mismatches": stock["mismatched"],
        "reserved_after_expiry": stock["reserved"],
        "consistency_problems": stock["problems"],
    }


#: The checkout outcomes counted by the workers, as reported.
_OUTCOMES = (
    "confirmed",
    "held",
    "rejected",
    "sold_out",
    "cancelled",
    "abandoned",
    "expired_before_confirm",
)

#: Contention figures reported as the median over runs.
_RATES = (
    "wall_s",
    "checkouts_per_s",
    "holds_per_s",
    "baseline_single_process_checkouts_per_s",
    "ratio_to_single_process",
)
#: Counts reported as the lower median over runs (a count some run had).
_COUNTS = (*_OUTCOMES, "expired_released_after_run", "units_sold")
#: Checks reported as the worst run's.
_CHECKS = ("oversold_positions", "on_hand_mismatches", "reserved_after_expiry")
#: The per-run figures of ``contention.csv`` (besides ``run``).
_PER_RUN = (*_RATES, *_COUNTS, "scarce_units", *_CHECKS)


def _contend(
    network: Network, state: Path, processes: int, requests: int
) -> tuple[list[dict[str, Any]], float]:
    """``processes`` spawned workers checking out at once; their results, wall s."""
    assert network.source is not None
    results, t0 = run_together(
        _checkout_worker,
        [(str(network.source), str(state), w, requests) for w in range(processes)],
        timeout_s=3600,
    )
    return results, max(r["end"] for r in results) - t0


def _stock_after(state: Path, before: pd.Series, sold: Counter[str]) -> dict[str, Any]:
    """Expire the stale holds, then check every position against what sold."""
    with SqliteStore(state) as store:
        expired = store.expire_stale()
        after = store.inventory_frame().set_index(["node_id", "sku"])
        problems = store.check_consistency()
    oversold = 0
    mismatched = 0
    for (node, sku), units in before.items():
        got = sold.get(f"{node}|{sku}", 0)
        oversold += int(got > units)
        mismatched += int(after.loc[(node, sku), "on_hand"] != units - got)
    return {
        "expired": expired,
        "oversold": oversold,
        "mismatched": mismatched,
        "reserved": int(after["reserved"].sum()),
        "problems": problems,
    }


# --------------------------------------------------------------------- run
def run(
    out: Path,
    *,
    requests: int,
    processes: int,
    repeat: int = 3,
    seed: int = 7,
    network_dir: Path | None = None,
) -> dict[str, Any]:
    """Run both parts; write ``results.json``, ``summary.md``, ``latency.csv``
    and ``contention.csv`` into ``out`` whole or not at all.

    They are written into a staging folder beside ``out`` and moved in at the
    end (:class:`~tierflow.data.output_folder.StagedOutput`, as ``bench gap``
    and ``bench allocation``): a run stopped or failing midway leaves ``out``
    as it was (before 2026-12-07 it could leave a new ``results.json`` beside
    the last run's ``summary.md``).
    """
    if requests < 20:
        raise InputError("must be >= 20", field="--requests", value=requests)
    if processes < 1:
        raise InputError("must be >= 1", field="--processes", value=processes)
    if repeat < 1:
        raise InputError("must be >= 1", field="--repeat", value=repeat)
    # claimed first: a second run on the same OUT is refused before it works
    with StagedOutput(out, ONLINE_BENCH_NAMES).open() as work:
        return _measure(
            requests=requests,
            processes=processes,
            repeat=repeat,
            seed=seed,
            network_dir=network_dir,
            write_to=work.path,
        )


def _measure(
    *,
    requests: int,
    processes: int,
    repeat: int,
    seed: int,
    network_dir: Path | None,
    write_to: Path,
) -> dict[str, Any]:
    """Both parts measured, their files written into ``write_to``."""
    network = load_network(network_dir or sample_network_dir())
    scores = stand_in_scores(network)
    reqs = checkouts(network, requests, seed)
    rows: list[dict[str, Any]] = []
    latency = bench_latency(network, reqs, scores, repeat, rows)
    tight = bench_latency(network, reqs, scores, repeat, rows, tight=True)
    contention_rows: list[dict[str, Any]] = []
    contention = bench_contention(
        network, scores, processes, requests, repeat, contention_rows
    )
    results = {
        "network": str(network.source),
        "nodes": network.n_nodes,
        "seed": seed,
        "latency": latency,
        "latency_tight_capacity": tight,
        "contention": contention,
        "targets": {
            "p50_le_1ms": latency["p50_us"] <= 1000.0,
            "p99_le_5ms": latency["p99_us"] <= 5000.0,
            "tight_p50_le_1ms": tight["p50_us"] <= 1000.0,
            "tight_p99_le_5ms": tight["p99_us"] <= 5000.0,
            "decision_p99_le_25us": max(
                latency["decision_p99_us"], tight["decision_p99_us"]
            )
            <= 25.0,
            "no_oversell": contention["oversold_positions"] == 0
            and contention["on_hand_mismatches"] == 0
            and not contention["consistency_problems"],
            "expired_released": contention["reserved_after_expiry"] == 0,
        },
    }
    (write_to / "results.json").write_text(json.dumps(results, indent=2))
    pd.DataFrame(rows).to_csv(write_to / "latency.csv", index=False)
    pd.DataFrame(contention_rows).to_csv(write_to / "contention.csv", index=False)
    (write_to / "summary.md").write_text(summary(results))
    return results


def summary(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lat, con = results["latency"], results["contention"]
    tight = results["latency_tight_capacity"]
    stages = ", ".join(
        f"{k[6:-7]} {v:.0f}" for k, v in lat.items() if k.startswith("stage_")
    )
    runs = "1 run" if lat["repeat"] == 1 else f"medians of {lat['repeat']} runs"
    # results.json of a run before 2026-12-07 had contention of one run
    con_runs = con.get("repeat", 1)
    worst = "" if con_runs == 1 else ", worst {:,.0f}"
    worst_ratio = "" if con_runs == 1 else ", worst {:.2f}"
    checks = (
        "one run"
        if con_runs == 1
        else f"lower medians of {con_runs} runs; the checks: the worst run"
    )
    return "\n".join(
        [
            f"# Online checkout benchmark ({counted(results['nodes'], 'node')}, "
            f"{runs})",
            "",
            "| figure | value | baseline (same run) | ratio |",
            "|---|---|---|---|",
            f"| generate_fulfillment_options p50 | {lat['p50_us']:.0f} µs | "
            f"nearest node {lat['baseline_p50_us']:.0f} µs | "
            f"{lat['ratio_p50_to_baseline']:.2f} |",
            f"| p90 / p99 / max | {lat['p90_us']:.0f} / {lat['p99_us']:.0f} / "
            f"{lat['max_us']:.0f} µs | p99 {lat['baseline_p99_us']:.0f} µs | |",
            f"| greedy decision step p50 / p99 | {lat['decision_p50_us']:.1f} / "
            f"{lat['decision_p99_us']:.1f} µs | | |",
            f"| tight capacity: p50 / p99 | {tight['p50_us']:.0f} / "
            f"{tight['p99_us']:.0f} µs | nearest node {tight['baseline_p50_us']:.0f} µs | "
            f"{tight['ratio_p50_to_baseline']:.2f} |",
            f"| tight capacity: decision p50 / p99 | {tight['decision_p50_us']:.1f} / "
            f"{tight['decision_p99_us']:.1f} µs | | |",
            f"| checkouts, {counted(con['processes'], 'process', 'processes')} × "
            f"{con['checkouts_per_process']} | {con['checkouts_per_s']:,.0f} /s"
            f"{worst.format(con.get('worst_checkouts_per_s'))} "
            f"(holds {con['holds_per_s']:,.0f} /s) | one process "
            f"{con['baseline_single_process_checkouts_per_s']:,.0f} /s | "
            f"{con['ratio_to_single_process']:.2f}"
            f"{worst_ratio.format(con.get('worst_ratio_to_single_process'))} |",
            "",
            f"Stage p50s (µs): {stages}. Offered: platinum "
            f"{lat['share_platinum']:.0%}, gold {lat['share_gold']:.0%}, silver "
            f"{lat['share_silver']:.0%}, overflow {lat['share_overflow']:.0%}, "
            f"split {lat['share_split']:.0%} of "
            f"{counted(lat['timed_requests'], 'timed checkout')} "
            f"(after {lat['warmup_requests']} warm-up). Tight capacity "
            f"(forecast 80–99 % of every node): overflow offered to "
            f"{tight['share_overflow']:.0%}, bid prices > 0 at "
            f"{counted(round(tight['bid_prices_nonzero_nodes']), 'node')}.",
            "",
            f"Contention on {counted(con['scarce_units'], 'scarce unit')} "
            f"({checks}): {con['confirmed']} "
            f"confirmed, {counted(con['rejected'], 'hold')} rejected "
            "(stock taken meanwhile), "
            f"{con['sold_out']} sold out, {con['cancelled']} cancelled, "
            f"{con['abandoned']} abandoned; oversold positions "
            f"{con['oversold_positions']}, on-hand mismatches "
            f"{con['on_hand_mismatches']}, units still reserved after the TTL "
            f"{con['reserved_after_expiry']} "
            f"({counted(con['expired_released_after_run'], 'hold')} "
            f"expired and released), consistency problems "
            f"{len(con['consistency_problems'])}.",
            "",
            "Targets: "
            + ", ".join(
                f"{k} {'yes' if v else 'NO'}" for k, v in results["targets"].items()
            ),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=whole, default=2000)
    parser.add_argument("--processes", type=whole, default=8)
    parser.add_argument("--repeat", type=whole, default=3)
    parser.add_argument("--seed", type=whole, default=7)
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("out/bench-online"))
    args = parser.parse_args(argv)
    run(
        args.out,
        requests=args.requests,
        processes=args.processes,
        repeat=args.repeat,
        seed=args.seed,
        network_dir=args.network,
    )
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
