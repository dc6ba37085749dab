"""``POST /v1/options`` with an ``Idempotency-Key`` (IETF
draft-ietf-httpapi-idempotency-key-header): a retry of an ask whose answer
was lost answers the option set first made for it, on any replica; the key
under another request is refused; two asks at once make one set. On both
store backends."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import run_sql
from tests.service.replicas import replicas, stock_up
from tests.service_fixtures import TEE_TO_CHICAGO

BODY: dict[str, Any] = {"customer_id": "C5", **TEE_TO_CHICAGO}
KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def _quotes(state: Path | str) -> int:
    """Option sets stored."""
    [(n,)] = run_sql(state, "SELECT count(*) FROM quotes")
    assert isinstance(n, int)
    return n


def _ask(client: httpx.Client, key: str | None = KEY, **body: Any) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/options", json={**BODY, **body}, headers=headers)


def test_a_retry_answers_the_first_option_set_on_any_replica(
    tmp_path: Path, state_location: Path | str
) -> None:
    """The first ask makes a set; its retry, on the other replica, answers
    it byte for byte (same request id, options, prices, expiry) and makes
    nothing; the draft's quoted form of the key is the same key. The key
    under another destination is refused at the header, nothing made; an
    ask without a key makes a new set, as always."""
    with (
        replicas(tmp_path, state_location) as [(sa, _), (sb, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        first = _ask(a)
        assert first.status_code == 200, first.text
        assert _quotes(state_location) == 1
        again = _ask(b)
        assert (again.status_code, again.content) == (200, first.content)
        quoted = _ask(a, f'"{KEY}"')
        assert (quoted.status_code, quoted.content) == (200, first.content)
        assert _quotes(state_location) == 1
        other = _ask(b, dest="10001")
        assert other.status_code == 422, other.text
        assert other.json()["field"] == "Idempotency-Key"
        assert "another request" in other.json()["message"]
        assert _quotes(state_location) == 1
        unkeyed = [_ask(a, None).json()["request_id"] for _ in range(2)]
        assert len({*unkeyed, first.json()["request_id"]}) == 3
        assert _quotes(state_location) == 3
        # a requote moves the set on: its retry answers it as it stands
        rid = first.json()["request_id"]
        requoted = b.post(f"/v1/checkouts/{rid}/requote")
        assert requoted.json()["revision"] == 2
        later = _ask(a)
        assert later.json() == requoted.json()


def _ask_at_once(urls: list[str]) -> list[httpx.Response]:
    """One ask under the key to each of ``urls``, all released at once."""
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(urls))

    def ask(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            start.wait()
            answers.append(_ask(client))

    threads = [threading.Thread(target=ask, args=(url,)) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_asks_at_once_with_one_key_make_one_option_set(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Eight asks under one key, at once, on two replicas: every one is
    answered the same set, and the store holds one."""
    with replicas(tmp_path, state_location) as [(sa, _), (sb, _)]:
        answers = _ask_at_once([sa.url, sb.url] * 4)
    assert [r.status_code for r in answers] == [200] * 8
    assert len({r.json()["request_id"] for r in answers}) == 1
    assert _quotes(state_location) == 1


#: The option sets' lifetime in the expiry tests (seconds).
SHORT_TTL_S = 1.0


def _past_expiry(answer: httpx.Response) -> None:
    """Sleep until just past the answer's ``expires_at``."""
    expires = dt.datetime.fromisoformat(answer.json()["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.05)


def test_a_retry_past_the_expiry_answers_a_fresh_set_bound_to_the_key(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A retry that comes after the first set expired (not yet pruned) is
    answered a new set, with a new request id and expiry, whose options
    can be selected; the key is bound to it, so a retry after that replays
    it byte for byte on either replica. The expired set stays as it was
    (select 409 "options expired"), the key's request stays bound (another
    body is still a 422). It answered the expired set, which no select
    takes."""
    with (
        replicas(tmp_path, state_location, quote_ttl_s=SHORT_TTL_S) as [
            (sa, _),
            (sb, _),
        ],
        httpx.Client(base_url=sa.url, timeout=10) as a,
        httpx.Client(base_url=sb.url, timeout=10) as b,
    ):
        first = _ask(a)
        assert first.status_code == 200, first.text
        _past_expiry(first)
        fresh = _ask(b)
        assert fresh.status_code == 200, fresh.text
        old_id, new_id = first.json()["request_id"], fresh.json()["request_id"]
        assert new_id != old_id
        assert fresh.json()["expires_at"] > first.json()["expires_at"]
        assert _quotes(state_location) == 2
        for client in (a, b):
            again = _ask(client)
            assert (again.status_code, again.content) == (200, fresh.content)
        other = _ask(a, dest="10001")
        assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")
        late = a.post(f"/v1/checkouts/{old_id}/select", json={"option_id": "gold"})
        assert late.status_code == 409, late.text
        assert "options expired" in late.json()["message"]
        held = b.post(f"/v1/checkouts/{new_id}/select", json={"option_id": "gold"})
        assert (held.status_code, held.json()["status"]) == (200, "held"), held.text
        assert _quotes(state_location) == 2


def test_retries_at_once_past_the_expiry_answer_one_fresh_set(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Eight retries under one key at once, on two replicas, after its set
    expired: every one is answered the same new set (one rebinding of the
    key wins, the others answer it), and the store holds the old set and
    that one."""
    with replicas(tmp_path, state_location, quote_ttl_s=SHORT_TTL_S) as [
        (sa, _),
        (sb, _),
    ]:
        with httpx.Client(base_url=sa.url, timeout=10) as a:
            first = _ask(a)
        assert first.status_code == 200, first.text
        _past_expiry(first)
        answers = _ask_at_once([sa.url, sb.url] * 4)
    assert [r.status_code for r in answers] == [200] * 8
    ids = {r.json()["request_id"] for r in answers}
    assert len(ids) == 1 and first.json()["request_id"] not in ids
    assert _quotes(state_location) == 2


def test_a_confirmed_set_is_replayed_past_its_expiry(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A set that ended (confirmed) is the key's outcome for good: a retry
    past its expiry answers it as before and makes nothing (a fresh set
    invited a second order under one key)."""
    with (
        replicas(tmp_path, state_location, n=1, quote_ttl_s=SHORT_TTL_S) as [(sa, _)],
        httpx.Client(base_url=sa.url, timeout=10) as a,
    ):
        stock_up(state_location, 5)
        first = _ask(a)
        rid = first.json()["request_id"]
        held = a.post(f"/v1/checkouts/{rid}/select", json={"option_id": "gold"})
        assert held.status_code == 200, held.text
        done = a.post(f"/v1/checkouts/{rid}/confirm")
        assert (done.status_code, done.json()["status"]) == (200, "confirmed")
        _past_expiry(first)
        again = _ask(a)
        assert (again.status_code, again.json()["request_id"]) == (200, rid)
        assert _quotes(state_location) == 1


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "must not be blank"),
        ('"  "', "must not be blank"),
        ("k" * 256, "256 characters: at most 255"),
        ("a\tb", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
    ],
)
def test_a_malformed_key_is_refused_at_the_header(
    shared_live: Any, key: str, reason: str
) -> None:
    client, router, _ = shared_live
    before = len(router.open_requests())
    refused = client.post(
        "/v1/options",
        json=BODY,
        headers=[("Idempotency-Key", key.encode("latin-1"))],
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "Idempotency-Key"
    assert reason in refused.json()["message"]
    assert len(router.open_requests()) == before


def test_a_key_given_twice_is_refused(shared_live: Any) -> None:
    client, _, _ = shared_live
    refused = client.post(
        "/v1/options",
        json=BODY,
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "Idempotency-Key"


def test_a_key_of_255_characters_is_taken(shared_live: Any) -> None:
    client, _, _ = shared_live
    key = "k" * 254 + "1"
    first, again = _ask(client, key), _ask(client, key)
    assert (first.status_code, again.content) == (200, first.content)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (b"a\tb", "character 2 is a control character (0x09)"),
        ("caf\u00e9".encode(), "character 4 is not ASCII (byte 0xc3)"),
    ],
)
def test_a_key_refused_for_a_character_names_it_and_its_place(
    shared_live: Any, key: bytes, reason: str
) -> None:
    """A key with a character no key takes is refused naming that character's
    place and byte: a UTF-8 ``café`` was refused "a control character was
    sent", which it has not, and the client had to guess which one."""
    client, _, _ = shared_live
    refused = client.post("/v1/options", json=BODY, headers=[("Idempotency-Key", key)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == (
        f"field 'Idempotency-Key': value {key.decode('latin-1')!r}: "
        f"must be printable ASCII: {reason}"
    )
