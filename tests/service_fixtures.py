"""Helpers of the service tests: a router on the tiny network with known CLTV
scores, an app on a pinned clock, and a live server on a free loopback port.

Tiny network (``tests/data/tiny_network``, see ``test_online_router``): TEE to
Chicago (606) on Monday 2026-01-05 10:00 ET ships Gold from ST-CHI (ground,
arrives Tue 01-06, $10.00); with ST-CHI closed Gold ships from WH-EAST
(arrives Thu 01-08, $13.00). CLTV scores C0..C10 = $0..$100: the Platinum
threshold (90th percentile) is $90, so C9 and C10 get Platinum and C0..C8
do not; segments: C0..C8 ``silver``, C9 and C10 ``platinum``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tests.conftest import TINY_NETWORK
from tests.service.helpers import OUTAGE
from tierflow.data.network import Network, load_network
from tierflow.data.store import ScoreStore, open_store
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import RunningServer, serve_in_thread

ET = dt.timezone(dt.timedelta(hours=-5))
MONDAY_10 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=ET)
API_KEY = "test-key-0123456789abcdef"
#: A cart and destination whose Gold option an ST-CHI outage moves.
TEE_TO_CHICAGO: dict[str, Any] = {
    "items": [{"sku": "TEE", "quantity": 1}],
    "dest": "60601",
}


def put_scores(store: ScoreStore, new_customer_spend: float | None = None) -> None:
    """C0..C10 with predicted spend $0..$100 (segments silver ×9, platinum ×2),
    and the model's new-customer prior beside them when given."""
    store.put_cltv_scores(
        pd.DataFrame(
            {
                "customer_id": [f"C{i}" for i in range(11)],
                "predicted_spend": [i * 10.0 for i in range(11)],
                "p_active": 0.5,
                "segment": ["silver"] * 9 + ["platinum"] * 2,
            }
        ),
        as_of=dt.date(2026, 1, 4),
        model_version="test",
        new_customer_spend=new_customer_spend,
    )


@functools.cache
def tiny_network() -> Network:
    """The tiny network, read once per process: a ``Network`` is immutable
    (frozen, read-only arrays), and reading its tables again for every
    router took 0.1 s of each (a third of a state machine test's time)."""
    return load_network(TINY_NETWORK)


def tiny_router(
    folder: Path,
    *,
    scores: bool = True,
    state: Path | str | None = None,
    store_timeout_s: float | None = None,
    **kw: Any,
) -> OnlineRouter:
    """A router on the tiny network and a fresh store: ``state`` (a SQLite
    file or a PostgreSQL URL), else ``folder / "state.db"``, opened with
    ``store_timeout_s`` (None: the store's default wait for a lock or a
    pooled connection)."""
    waits = {} if store_timeout_s is None else {"timeout_s": store_timeout_s}
    store = open_store(folder / "state.db" if state is None else state, **waits)
    if scores:
        put_scores(store)
    kw.setdefault("capacity_refresh_s", 0.0)
    kw.setdefault("cltv_refresh_s", 0.0)
    return OnlineRouter.open(tiny_network(), store, **kw)


@contextmanager
def replicas_one_behind(
    folder: Path, state: Path | str
) -> Iterator[tuple[OnlineRouter, OnlineRouter, str]]:
    """Two replicas on one store, ``here`` and ``there``, and C1's checkout
    (a TEE to 606, Monday 10:00) answered on ``here``, which has applied
    ST-CHI's outage (:data:`~tests.service.helpers.OUTAGE`) that ``there``
    reads only in an hour: the two answer a requote of it differently
    (``here`` Gold from WH-EAST, ``there`` from the closed ST-CHI)."""
    with (
        tiny_router(folder, state=state) as here,
        tiny_router(
            folder, state=state, scores=False, capacity_refresh_s=3600
        ) as there,
    ):
        request_id = here.generate_fulfillment_options(
            "C1", [("TEE", 1)], "606", now=MONDAY_10
        ).request_id
        there.generate_fulfillment_options("C2", [("TEE", 1)], "606", now=MONDAY_10)
        here.apply_capacity_events([OUTAGE])
        yield here, there, request_id


@contextmanager
def after_quote_read(
    router: OnlineRouter, elsewhere: Callable[[], Any]
) -> Iterator[list[Any]]:
    """While in the block, ``router``'s first read of a stored option set is
    followed at once by ``elsewhere`` (another replica requoting it, say),
    run whole: a race interleaved without sleeping. Yields the list that
    holds what ``elsewhere`` returned, once it has run."""
    done: list[Any] = []
    book = router._quotes
    read = book.get

    def read_then_elsewhere(*args: Any, **kw: Any) -> Any:
        quote = read(*args, **kw)
        if not done:
            done.append(elsewhere())
        return quote

    book.get = read_then_elsewhere  # type: ignore[method-assign]
    try:
        yield done
    finally:
        del book.get  # the class's again


@contextmanager
def live_server(
    folder: Path,
    *,
    scores: bool = True,
    router_kw: dict[str, Any] | None = None,
    **app_kw: Any,
) -> Iterator[tuple[RunningServer, OnlineRouter]]:
    """The app on the tiny network, served on a free loopback port."""
    router = tiny_router(folder, scores=scores, **(router_kw or {}))
    app_kw.setdefault("api_key", API_KEY)
    app_kw.setdefault("clock", lambda: MONDAY_10)
    app_kw.setdefault("poll_s", 0.1)
    app = create_app(router, **app_kw)
    try:
        with serve_in_thread(app) as server:
            yield server, router
    finally:
        router.close()
