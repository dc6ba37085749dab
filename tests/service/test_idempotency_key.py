"""``POST /v1/options`` with an ``Idempotency-Key`` (IETF
draft-ietf-httpapi-idempotency-key-header): a retry of an ask whose answer
was lost answers the option set first made for it, on any replica; the key
under another request is refused; two asks at once make one set. On both
store backends."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import run_sql
from tests.service.replicas import replicas
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


def test_asks_at_once_with_one_key_make_one_option_set(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Eight asks under one key, at once, on two replicas: every one is
    answered the same set, and the store holds one."""
    answers: list[httpx.Response] = []
    with replicas(tmp_path, state_location) as [(sa, _), (sb, _)]:
        start = threading.Barrier(8)

        def ask(url: str) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                start.wait()
                answers.append(_ask(client))

        threads = [
            threading.Thread(target=ask, args=(url,)) for url in [sa.url, sb.url] * 4
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in answers] == [200] * 8
    assert len({r.json()["request_id"] for r in answers}) == 1
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
