"""A long capacity log for timing ``tierflow capacity show --now`` (docs/cli.md).

Writes ``--events`` capacity events of the sample network (or
``--network``'s) into a new SQLite store, as a day's feed and checkouts log
them, then the snapshot a server would leave: events dated over 30 days
from 2026-11-01 in log order, a tenth of them up to ten minutes out of it;
35 % ``backlog_delta`` of the feed and 35 % a checkout's own work, 10 %
absolute ``backlog``, and ``staffing``, ``nominal_capacity``, lane
``congestion``, ``outage`` and ``forecast``, on random nodes (seeded).

Run: ``python -m tierflow.benchmarks.capacity_log --events 1000000
--state out/log1m.db``, then ``TIERFLOW_NOW=2026-12-07T12:00:00Z tierflow
capacity show --state out/log1m.db --now 2026-12-05T00:00:00Z``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.benchmarks.arguments import whole
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES
from tierflow.data.store import ORDER_WORK, open_store

#: The kinds written and their shares (``work``: a checkout's own work).
KINDS = {
    "backlog_delta": 0.35,
    "work": 0.35,
    "backlog": 0.10,
    "staffing": 0.05,
    "nominal_capacity": 0.03,
    "congestion": 0.06,
    "outage": 0.02,
    "forecast": 0.04,
}
#: The first instant of the log, and how long it runs.
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SPAN_S = 30 * 86400.0
_BATCH = 20_000


def events(network: Network, n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` capacity events as a writer logs them, in log order."""
    rng = np.random.default_rng(seed)
    t0 = START.timestamp()
    late = rng.normal(0.0, 600.0, n) * (rng.random(n) < 0.1)
    ts = t0 + np.sort(rng.uniform(0.0, SPAN_S, n)) + late
    kinds = rng.choice(list(KINDS), size=n, p=list(KINDS.values()))
    nodes = rng.integers(0, network.n_nodes, n)
    for k in range(n):
        kind, node = str(kinds[k]), network.node_ids[int(nodes[k])]
        stamp = dt.datetime.fromtimestamp(float(ts[k]), dt.UTC).isoformat()
        event: dict[str, Any] = {"event_id": f"e{k}", "ts": stamp, "node_id": node}
        event |= {"type": kind, "value": _value(rng, kind)}
        if kind == "work":
            event |= {"event_id": f"{ORDER_WORK}r{k}:{node}", "type": "backlog_delta"}
        if kind == "congestion":
            event["service"] = SERVICES[int(rng.integers(0, len(SERVICES)))]
        yield event


def _value(rng: np.random.Generator, kind: str) -> float | bool:
    """A value of ``kind`` in the range a feed sends."""
    if kind == "outage":
        return bool(rng.random() < 0.3)
    low, high, digits = {
        "work": (0.5, 20.0, 2),
        "backlog_delta": (-30.0, 40.0, 2),
        "backlog": (0.0, 3000.0, 1),
        "staffing": (0.0, 150.0, 0),
        "nominal_capacity": (500.0, 20000.0, 0),
        "congestion": (1.0, 3.0, 2),
        "forecast": (0.0, 5000.0, 1),
    }[kind]
    return round(float(rng.uniform(low, high)), digits)


def write_log(network: Network, state: Path, n: int, seed: int = 1) -> int:
    """Log ``n`` events into a new store at ``state`` and snapshot the map;
    returns the log's last ``seq``."""
    from tierflow.capacity.monitor import CapacityMonitor

    if state.exists():
        raise SystemExit(f"{state}: exists (the log is written into a new store)")
    with open_store(state) as store:
        batch: list[dict[str, Any]] = []
        for event in events(network, n, seed):
            batch.append(event)
            if len(batch) == _BATCH:
                store.append_events(batch)
                batch = []
        if batch:
            store.append_events(batch)
        mon = CapacityMonitor.open(network, store)
        mon.snapshot()
        return mon.last_seq


def main(argv: Sequence[str] | None = None) -> None:
    from tierflow.cli.network_cmd import open_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=whole, default=100_000)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--seed", type=whole, default=1)
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error(f"--events: {args.events} is not a count of events")
    last = write_log(open_network(args.network), args.state, args.events, args.seed)
    print(f"{args.events} events logged into {args.state} (seq up to {last})")


if __name__ == "__main__":
    main()
