"""A fixed checkout flow over HTTP whose answers are the same bytes at every
run: the tiny network on the pinned clock, request ids from a counter. The
answers' text is kept as it came (``tests/service/golden/`` holds the
default mode's, written by the code before ``--operator-reads key`` withheld
anything: ``python -m tests.service.fixed_flow OUT.json``, run on that code).

Only the wall clock's values are masked: a hold's and an option set's
``expires_at`` (the option sets' added since) and the capacity log's
``capacity_as_of``.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.service.helpers import Listener
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server
from tierflow.orchestration.checkout import router as router_module

#: The operator's outage that moves Gold to Chicago off ST-CHI.
OUTAGE = {
    "event_id": "fixed-1",
    "ts": "2026-01-05T15:00:00Z",
    "node_id": "ST-CHI",
    "type": "outage",
    "value": True,
}
_WALL_CLOCK = re.compile(r'"(expires_at|capacity_as_of)":"[^"]*"')

#: One call: what it was, its status and the answer's text.
Call = tuple[str, int, str]


@contextmanager
def fixed_ids() -> Iterator[None]:
    """Request ids ``Fixed000000000000000001``, ``…2``, … (the router's
    own are 128 random bits)."""
    count = itertools.count(1)
    before = router_module.new_request_id
    router_module.new_request_id = lambda: f"Fixed{next(count):018d}"
    try:
        yield
    finally:
        router_module.new_request_id = before


def masked(text: str) -> str:
    """``text`` with the wall clock's instants replaced."""
    return _WALL_CLOCK.sub(r'"\1":"<wall clock>"', text)


def _revision(n: int) -> Callable[[dict[str, Any]], bool]:
    """Matches the ``options`` event of revision ``n``."""
    return lambda e: e.get("event") == "options" and e["data"]["revision"] == n


def run_flow(client: httpx.Client, headers: dict[str, str]) -> list[Call]:
    """Options, the checkout's stream, a requote, an outage moving Gold, select
    and confirm; another checkout cancelled; two carts of the last sofas, the
    second's select rejected. Each call sends ``headers``."""
    seen: list[Call] = []

    def call(what: str, path: str, body: Any = None) -> dict[str, Any]:
        r = client.post(path, json=body, headers=headers)
        seen.append((what, r.status_code, masked(r.text)))
        answer: dict[str, Any] = r.json()
        return answer

    rid = call("options", "/v1/options", {"customer_id": "C9", **TEE_TO_CHICAGO})[
        "request_id"
    ]
    url = (
        f"{str(client.base_url).rstrip('/')}/v1/stream?request_id={rid}&capacity=false"
    )
    stream = Listener(url, headers)
    stream.wait_open()
    call("requote", f"/v1/checkouts/{rid}/requote")
    stream.wait_events(1, "options")
    posted = client.post(
        "/v1/capacity/events", json={"events": [OUTAGE]}, headers={"X-API-Key": API_KEY}
    )
    assert posted.status_code == 200, posted.text
    # the outage's re-answer (revision 3; the requote's was 2) waited for by
    # its revision, up to 30 s: with the whole suite on two cores it once
    # came past the 10 s of a wait for any second event (0.41 s at most in
    # 125 runs beside four busy loops: no lost event was found)
    stream.wait_for(_revision(3), timeout=30)
    for event in stream.wait_events(2, "options"):
        seen.append(("stream options", 200, masked(event["raw"])))
    call("select", f"/v1/checkouts/{rid}/select", {"option_id": "gold"})
    call("confirm", f"/v1/checkouts/{rid}/confirm")
    other = call("options", "/v1/options", {"customer_id": "C4", **TEE_TO_CHICAGO})
    call("cancel", f"/v1/checkouts/{other['request_id']}/cancel")
    sofas = {"items": [{"sku": "SOFA", "quantity": 2}], "dest": "10001"}
    first = call("options", "/v1/options", {"customer_id": "C2", **sofas})
    second = call("options", "/v1/options", {"customer_id": "C3", **sofas})
    for answer in (first, second):
        option = {"option_id": answer["recommended"]}
        call("select", f"/v1/checkouts/{answer['request_id']}/select", option)
    return seen


def flow_on(folder: Path, headers: dict[str, str], **app_kw: Any) -> list[Call]:
    """:func:`run_flow` on a fresh server (``create_app(**app_kw)``)."""
    with (
        fixed_ids(),
        live_server(folder, **app_kw) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        return run_flow(client, headers)


if __name__ == "__main__":
    calls = flow_on(Path(tempfile.mkdtemp()), {})
    Path(sys.argv[1]).write_text(json.dumps(calls, indent=1, ensure_ascii=False) + "\n")
