"""Rolling upgrade: a server whose store another process (a newer tierflow)
migrates past this code's schema while it runs stops writing to it and says
why. It kept writing rows of the old shape (QA: reservations without their
checkout, a hold tally never moved)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_NETWORK
from tests.postgres import set_schema_version
from tests.service.helpers import OUTAGE
from tests.service_fixtures import API_KEY, MONDAY_10, TEE_TO_CHICAGO
from tierflow.data.network import load_network
from tierflow.data.store import SCHEMA_VERSION, SchemaMovedOn, open_store
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.service.app import create_app
from tierflow.service.server import serve_in_thread

_NEWER = (
    f"store schema {SCHEMA_VERSION + 1} is newer than this tierflow's "
    f"{SCHEMA_VERSION}: upgrade tierflow"
)


def _until(check: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_server_stops_writing_once_its_store_is_migrated_past_its_schema(
    state_location: Path | str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="tierflow.service")
    router = OnlineRouter.open(
        load_network(TINY_NETWORK), state_location, capacity_refresh_s=0.0
    )
    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10, poll_s=0.1)
    body = {"customer_id": "C1", **TEE_TO_CHICAGO}
    try:
        with (
            serve_in_thread(app) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            before = client.post("/v1/options", json=body).json()
            rid, option = before["request_id"], before["options"][0]["option_id"]
            held = client.post(
                f"/v1/checkouts/{rid}/select", json={"option_id": option}
            )
            assert held.json()["status"] == "held", held.text
            assert client.get("/healthz").json()["status"] == "ok"

            set_schema_version(state_location, SCHEMA_VERSION + 1)  # a newer one
            rid2 = _refused_within_seconds(client, rid, body)
    finally:
        router.close()
    # nothing of the old shape went in after the bump: the hold still held
    set_schema_version(state_location, SCHEMA_VERSION)
    with open_store(state_location) as store:
        assert store.follow_schema() == ""  # (this process writes again)
        state = store.checkout_state(rid)
        assert state is not None and state.status == "held"
        assert store.checkout_state(rid2) is None
        assert store.last_event_seq() == 0
    said = [r.getMessage() for r in caplog.records if r.name == "tierflow.service"]
    assert f"{router.location}: {_NEWER}; writes refused" in said, said


def _refused_within_seconds(
    client: httpx.Client, rid: str, body: dict[str, str]
) -> str:
    """Within 3 s of the bump: ``/healthz`` degraded, a confirm, a cancel, a
    select and a capacity event refused by name, options and ``/v1/capacity``
    (what ``/ops`` shows) degraded with the reason. The request id answered."""
    t0 = time.monotonic()
    _until(
        lambda: client.get("/healthz").json()["status"] == "degraded",
        "/healthz never said degraded",
        seconds=3.0,
    )
    assert time.monotonic() - t0 < 3.0
    done = client.post(f"/v1/checkouts/{rid}/confirm", json={})
    assert (done.status_code, done.json()["status"]) == (503, "unavailable")
    assert done.json()["message"] == _NEWER, done.text
    gone = client.post(f"/v1/checkouts/{rid}/cancel", json={})
    assert (gone.status_code, gone.json()["message"]) == (503, _NEWER)
    answer = client.post("/v1/options", json=body).json()
    assert answer["degraded"] is True and _NEWER in answer["notes"], answer
    rid2, option2 = answer["request_id"], answer["options"][0]["option_id"]
    select = client.post(f"/v1/checkouts/{rid2}/select", json={"option_id": option2})
    assert (select.status_code, select.json()["message"]) == (503, _NEWER)
    assert "Retry-After" not in select.headers  # a retry never fits: upgrade
    event = {**OUTAGE, "event_id": "moved-on-1"}
    events = client.post(
        "/v1/capacity/events", json={"events": [event]}, headers={"X-API-Key": API_KEY}
    )
    assert events.status_code == 503, events.text
    assert events.json()["message"] == f"state store unavailable ({_NEWER})"
    assert "Retry-After" not in events.headers
    capacity = client.get("/v1/capacity").json()  # what /ops shows
    assert capacity["degraded"] is True and _NEWER in capacity["notes"], capacity
    return str(rid2)


def test_a_store_refuses_the_writes_of_a_process_whose_schema_it_passed(
    state_location: Path | str,
) -> None:
    """Every store object of the process, once one of them saw the newer
    schema: the router's, the pages', the follower's."""
    with open_store(state_location) as one, open_store(state_location) as two:
        assert one.follow_schema() == ""
        set_schema_version(state_location, SCHEMA_VERSION + 1)
        assert two.schema_moved_on() == ""  # not read yet
        assert one.follow_schema() == _NEWER
        assert two.schema_moved_on() == _NEWER
        with pytest.raises(SchemaMovedOn) as refused:
            two.reserve("r1", [("TEE", 1)], "ST-CHI", 60)
        assert str(refused.value) == f"{two.location}: {_NEWER}"
        assert refused.value.reason == _NEWER
        set_schema_version(state_location, SCHEMA_VERSION)
        assert one.follow_schema() == ""
        assert two.schema_moved_on() == ""
