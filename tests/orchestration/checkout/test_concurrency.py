"""No oversell: 8 processes × 250 checkouts on scarce SKUs, and holds expire
(× 1,000, the stress test's size, with ``-m slow``).

Every worker runs its own :class:`OnlineRouter` on one shared store (a
SQLite file, or a PostgreSQL database) and buys the tiny network's scarce
SKUs (SOFA 2, SPRAY 10, MUG 20 units in all) with a random option; it confirms most holds, cancels some and abandons some
(those expire after the TTL: 2 s, or 0.5 s for 250 checkouts, which take
about as long, so that lapsed holds' stock is raced for there too).
Afterwards: no node sold more of a SKU than it had (no oversell), what was
sold left ``on_hand`` exactly and is in ``online_orders``, every abandoned
unit came back (no stock lost to dead holds), and the store's own
consistency check passes.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import TINY_NETWORK
from tierflow.data.errors import InputError
from tierflow.data.network import load_network
from tierflow.data.store import open_store
from tierflow.orchestration.checkout.router import OnlineRouter

SCARCE = ("SOFA", "SPRAY", "MUG")


def _worker(
    state: str, worker: int, n: int, ttl_s: float, barrier: Any, queue: Any
) -> None:
    router = OnlineRouter.open(
        load_network(TINY_NETWORK), open_store(state), reservation_ttl_s=ttl_s
    )
    rng = np.random.default_rng(worker)
    stats: Counter[str] = Counter()
    sold: Counter[tuple[str, str]] = Counter()
    barrier.wait()
    for i in range(n):
        sku = SCARCE[int(rng.integers(len(SCARCE)))]
        cart = [(sku, int(rng.integers(1, 3)))]
        dest = ("100", "606", "900", "981", "331")[int(rng.integers(5))]
        answer = router.generate_fulfillment_options(f"W{worker}-{i}", cart, dest)
        if not answer.options:
            stats["sold_out"] += 1
            continue
        option = answer.options[int(rng.integers(len(answer.options)))]
        held = router.select(answer.request_id, option.option_id)
        if held.status != "held":
            stats[held.status] += 1
            continue
        fate = rng.random()
        if fate < 0.05 or stats["abandoned"] == 0:
            # neither confirmed nor cancelled: expires (each worker abandons its
            # first hold, so the expiry path is always exercised)
            stats["abandoned"] += 1
        elif fate < 0.15:
            router.cancel(answer.request_id)
            stats["cancelled"] += 1
        else:
            try:
                done = router.confirm(answer.request_id)
            except InputError:  # held past the TTL on a very busy machine
                stats["expired"] += 1
                continue
            if done.status != "confirmed":
                # "unavailable": the store's connection wait ran out (a loaded
                # machine); nothing was sold (it was counted sold, and the
                # test read an oversell of one unit that never happened)
                stats[done.status] += 1
                continue
            stats["confirmed"] += 1
            for ship in option.shipments:
                for s, q in ship.lines:
                    sold[(ship.node_id, s)] += q
    router.close()
    queue.put((dict(stats), dict(sold)))


@pytest.mark.parametrize(
    ("checkouts", "ttl_s"),
    [
        # 32 units among 2,000 checkouts: sold out at once, then raced for
        # again as abandoned holds lapse
        (250, 0.5),
        pytest.param(1000, 2.0, marks=pytest.mark.slow),
    ],
)
def test_no_oversell_8_processes_x_checkouts(
    state_location: Path | str, checkouts: int, ttl_s: float
) -> None:
    network = load_network(TINY_NETWORK)
    state = state_location
    with open_store(state) as store:
        store.seed_network_inventory(network)
        before = store.inventory_frame().set_index(["node_id", "sku"])["on_hand"]
    # a fork server that imported this module (numpy, pandas, tierflow)
    # once: 8 interpreters spawned each importing them anew took 6 s on 2
    # cores, longer than the checkouts; each process still opens its own
    # router and connections (``_worker``)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    barrier, queue = ctx.Barrier(8), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(str(state), w, checkouts, ttl_s, barrier, queue)
        )
        for w in range(8)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    stats: Counter[str] = Counter()
    sold: Counter[tuple[str, str]] = Counter()
    for s, d in results:
        stats.update(s)
        sold.update(d)
    assert sum(stats.values()) == 8 * checkouts
    # real contention: holds lost races, demand outran the stock, some lapsed
    assert stats["rejected"] > 0 and stats["sold_out"] > 0 and stats["abandoned"] > 0
    with open_store(state) as store:
        # polled until the last abandoned hold's TTL is over
        deadline = time.monotonic() + ttl_s + 30.0
        while True:
            store.expire_stale()
            after = store.inventory_frame().set_index(["node_id", "sku"])
            if (after["reserved"] == 0).all() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert store.check_consistency() == []
        orders = store.online_orders()
    assert (after["reserved"] == 0).all()  # abandoned holds all came back
    for (node, sku), units in before.items():
        got = sold.get((node, sku), 0)
        assert after.loc[(node, sku), "on_hand"] == units - got >= 0
        assert got <= units, (node, sku, got, units)  # never oversold
    assert orders.groupby(["node_id", "sku"])["quantity"].sum().to_dict() == dict(sold)
