"""A stale capacity map on real replicas (``tierflow serve`` processes on one
store, both backends): an open checkout page on replica B is told when its
map goes stale with the clock alone (no event anywhere) and when it is fresh
again at an event posted to the other replica, which B learns from the log
(PostgreSQL's ``NOTIFY``, SQLite's poll). The hub's own test
(``test_an_open_checkout_is_told_when_its_map_goes_stale_and_fresh_again``)
posts the event in process; this one follows it through the log to another
process, as QA ran it (2026-12-07)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx

from tests.postgres import NewState
from tests.service.helpers import Listener, post_options
from tests.service.replicas import post_events, serve_processes, stock_up
from tests.service_fixtures import TEE_TO_CHICAGO

#: ``--capacity-max-age`` of both replicas: short, so the map goes stale
#: within the test, and long enough that an event's delivery (about 0.1 s,
#: seconds on a loaded machine) lands while the map it made is fresh.
MAX_AGE_S = 4
#: What a page may wait for its news: the issue's second, with room for a
#: busy 2-core machine.
TOLD_WITHIN_S = 3.0


def _staffing(event_id: str, value: float, age_s: float = 0.0) -> dict[str, Any]:
    """A staffing event at ST-CHI stamped ``age_s`` before now."""
    ts = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
    now = ts.isoformat(timespec="milliseconds")
    return {"event_id": event_id, "ts": now.replace("+00:00", "Z"),
            "node_id": "ST-CHI", "type": "staffing", "value": value}  # fmt: skip


def _stale(url: str) -> bool:
    """Whether the replica at ``url`` says its map is stale."""
    cap = httpx.get(f"{url}/v1/capacity", timeout=10).json()
    return bool(cap["degraded"])


def _told(
    page: Listener, degraded: bool, after: int, within: float
) -> tuple[int, dict[str, Any]]:
    """The first ``options`` event ``page`` has past its first ``after``
    events whose answer is ``degraded`` so (failing after ``within``
    seconds): how many events it had then, and that option set."""
    earlier = {id(e) for e in page.events[:after]}
    hit = page.wait_for(
        lambda e: (
            id(e) not in earlier
            and e["event"] == "options"
            and e["data"]["option_set"]["degraded"] is degraded
        ),
        timeout=within,
    )
    where = next(k for k, e in enumerate(page.events) if e is hit)
    return where + 1, hit["data"]["option_set"]


def test_a_page_on_a_replica_is_told_its_map_went_stale_and_fresh_again(
    tmp_path: Path, new_state: NewState
) -> None:
    state = new_state()
    stock_up(state, 10)
    age = ("--capacity-max-age", str(MAX_AGE_S), "--no-pin-cpus")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with serve_processes(state, logs, *age) as [(a, _), (b, _)]:
        # stale at once: an event already older than the age (waiting one
        # out here, as below, was a third of the test)
        post_events(a, _staffing("s-1", 90, age_s=MAX_AGE_S + 1))
        deadline = time.monotonic() + 3 * MAX_AGE_S
        while not _stale(b):
            assert time.monotonic() < deadline, "B's map never went stale"
            time.sleep(0.1)
        with httpx.Client(base_url=b, timeout=10) as client:
            made = post_options(client, "C5", **TEE_TO_CHICAGO)
        assert made["degraded"] and made["notes"][0].startswith("capacity map is stale")
        # the checkout page's stream: its options, no map
        rid = made["request_id"]
        page = Listener(f"{b}/v1/stream?request_id={rid}&capacity=false")
        page.wait_open()
        seen = len(page.events)
        # fresh again at an event posted to A, which B reads from the log
        post_events(a, _staffing("s-2", 80))
        seen, fresh = _told(page, False, seen, TOLD_WITHIN_S)
        assert (fresh["request_id"], fresh["notes"]) == (rid, [])
        # stale again with the clock alone: no event anywhere
        _, stale = _told(page, True, seen, MAX_AGE_S + TOLD_WITHIN_S)
        assert stale["notes"][0].startswith("capacity map is stale: its newest event")
        assert stale["revision"] > fresh["revision"]
