"""One checkout's calls racing on three replicas of one store, on both
backends: what a load balancer's retry or a double click sends.

Each round makes an option set on one replica and fires calls on the same
checkout from the others at once (three confirms; a confirm and a cancel;
two selects; a requote and a select; a select and a confirm; a cancel
while another selects and confirms). Every race
must end as one caller alone would have: the confirms all answer
``confirmed`` and only one of them made the order; a confirm and a cancel
never both win. After every round the store is consistent, each node's
stock is its first stock (plus restocks) less exactly what the stored
orders took, and every replica's capacity map, once it has read the log,
carries each order's work once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.orchestration.checkout.helpers import (
    assert_stock_conserved,
    first_stock,
    orders_work,
)
from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.errors import InputError
from tierflow.data.network import Network
from tierflow.data.store import StateStore
from tierflow.data.vocabulary import HoldStatus
from tierflow.orchestration.checkout.router import OnlineRouter

ROUNDS = 60
_CARTS = ([("SOFA", 1)], [("TEE", 3)], [("TEE", 1)], [("TEE", 2), ("MUG", 1)])
_CUSTOMERS = ("C10", "C9", "C1")
_RACES = (
    "confirms",
    "confirm_cancel",
    "selects",
    "requote_select",
    "select_confirm",
    "cancel_unselected",
)


@pytest.fixture
def replicas(
    tmp_path: Path, state_location: Path | str
) -> Iterator[list[OnlineRouter]]:
    """Three routers on one fresh store."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                tiny_router(tmp_path, state=state_location, scores=k == 0)
            )
            for k in range(3)
        ]


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Every call at once; each answer, or the ``InputError`` it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except InputError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_checkout_raced_on_three_replicas_ends_as_one_caller_would(
    replicas: list[OnlineRouter],
) -> None:
    store = replicas[0].store
    assert store is not None
    network = replicas[0].network
    first = first_stock(store)
    rng = random.Random(7)
    seen: Counter[str] = Counter()
    for k in range(ROUNDS):
        if k % 10 == 9:  # restock: scarce, never gone for long
            frame = store.inventory_frame()
            frame["on_hand"] += 3
            store.upsert_inventory(frame[["node_id", "sku", "on_hand"]])
            first = {key: q + 3 for key, q in first.items()}
        a, b, c = rng.sample(replicas, 3)
        answer = a.generate_fulfillment_options(
            rng.choice(_CUSTOMERS), rng.choice(_CARTS), "606", now=MONDAY_10
        )
        rid, offered = answer.request_id, [o.option_id for o in answer.options]
        if not offered:
            continue
        race = _RACES[k % len(_RACES)]
        seen[race] += 1
        _run(race, (a, b, c), rid, rng.choice(offered), rng.choice(offered))
        _check(replicas, store, network, first)
    assert len(seen) == len(_RACES), seen  # every kind of race ran


def _run(
    race: str,
    routers: tuple[OnlineRouter, OnlineRouter, OnlineRouter],
    rid: str,
    one: str,
    two: str,
) -> None:
    """One race on checkout ``rid`` (option set made on the first router),
    checked as it ends."""
    a, b, c = routers
    if race not in ("selects", "requote_select", "cancel_unselected"):
        a.select(rid, one)
    if race == "confirms":
        got = _race([lambda: a.confirm(rid), lambda: b.confirm(rid),
                     lambda: c.confirm(rid)])  # fmt: skip
        if all(isinstance(g, InputError) for g in got):  # the hold was refused
            assert all("select an option" in str(g) for g in got), got
        else:
            statuses = [getattr(g, "status", g) for g in got]
            assert statuses == [HoldStatus.CONFIRMED] * 3, statuses
            assert sum(not g.replayed for g in got) == 1
    elif race == "confirm_cancel":
        got = _race([lambda: b.confirm(rid), lambda: c.cancel(rid)])
        won = [g for g in got if not isinstance(g, InputError)]
        assert len(won) == 1, got  # never confirmed and cancelled both
    elif race == "selects":
        got = _race([lambda: b.select(rid, one), lambda: c.select(rid, two)])
        if any(getattr(g, "status", None) == HoldStatus.HELD for g in got):
            # the last hold stands
            assert a.confirm(rid).status == HoldStatus.CONFIRMED
    elif race == "requote_select":
        _race([lambda: b.requote(rid, now=MONDAY_10), lambda: c.select(rid, one)])
    elif race == "cancel_unselected":  # a cancel while another selects, confirms
        got = _race([lambda: c.cancel(rid), lambda: _select_confirm(b, rid, one)])
        cancelled = getattr(got[0], "status", None) == HoldStatus.CANCELLED
        confirmed = getattr(got[1], "status", None) == HoldStatus.CONFIRMED
        assert not (cancelled and confirmed), got  # never answered both
        ordered = rid in set(a.store.online_orders()["order_id"]) if a.store else False
        assert ordered == confirmed, got
    else:
        _race([lambda: b.select(rid, two), lambda: c.confirm(rid)])


def _select_confirm(router: OnlineRouter, rid: str, option: str) -> Any:
    """Select ``option``, then confirm it when held: the confirm's answer,
    else the select's."""
    held = router.select(rid, option)
    return router.confirm(rid) if held.status == HoldStatus.HELD else held


def _check(
    replicas: list[OnlineRouter],
    store: StateStore,
    network: Network,
    first: dict[tuple[str, str], int],
) -> None:
    assert store.check_consistency() == []
    orders = store.online_orders()
    assert_stock_conserved(store, first, orders)
    work = orders_work(network, orders)
    for router in replicas:
        router.refresh()
        np.testing.assert_allclose(router.monitor.backlog, work, atol=1e-9)
