"""Fuzzing every JSON endpoint from the app's own OpenAPI schema against a live
server (:mod:`tierflow.benchmarks.service_fuzz`): valid and invalid requests; no 5xx,
documented responses only, invalid input refused with a 4xx, valid input
accepted — every check on for every operation. Bounded here (a few seconds);
``make bench-service`` and ``python -m tierflow.benchmarks.service_fuzz`` run
longer passes."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import API_KEY, live_server
from tierflow.benchmarks.service_fuzz import (
    CASES,
    OPERATIONS,
    check_refusal,
    fuzz_operation,
    load_schema,
    warm_up,
)

#: Examples per operation and mode in ``make test`` (the benchmark runs more).
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with live_server(folder) as (server, _):
        warm_up(server.url)
        yield load_schema(server.url), server.url


def test_every_operation_is_fuzzed(api: tuple[Any, str]) -> None:
    schema, _ = api
    found = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    assert found - {("GET", "/v1/stream")} == {(m, p) for m, p, _ in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors_and_documented_responses(
    api: tuple[Any, str], method: str, path: str, mode: str
) -> None:
    schema, url = api
    stats = fuzz_operation(
        schema, url, method, path, mode, max_examples=MAX_EXAMPLES, api_key=API_KEY
    )
    assert stats.requests >= 1 and stats.server_errors == 0


AHEAD = {
    "field": "events[0].ts",
    "message": "field 'events[0].ts': value '2026-06-01T23:00:00Z': more than 5 "
    "minutes ahead of the receiving clock (2026-06-01T12:00:00Z): ...",
}
EVENTS = ("POST", "/v1/capacity/events")
OPTIONS = ("POST", "/v1/options")
KEY_REUSED = {
    "field": "Idempotency-Key",
    "message": "field 'Idempotency-Key': was used with another request (customer, "
    "items, destination or preferences): a new ask takes a new key",
}
MERGED = {
    "field": "items[2].quantity",
    "message": "field 'items[2].quantity': value 5000: lines of SKU 'TEE' add "
    "up to 11,000 units, more than 10,000 on one order line",
}


def test_a_valid_request_may_be_refused_only_by_the_rules_the_document_cannot_say() -> (
    None
):
    """The document's event dates run to the clock's date at the widest offset
    (so today's events are valid by it): a schema-valid event later that day
    is a 422 on its ``ts``, allowed; so is a cart whose lines of one SKU add
    up past one order line (a sum JSON Schema cannot state), and an ask
    under an ``Idempotency-Key`` another cart used; any other 422
    of valid data fails, as a 409 other than a reused event id does;
    invalid data may get either."""
    check_refusal(*EVENTS, "positive", 422, lambda: AHEAD)
    check_refusal(*OPTIONS, "positive", 422, lambda: MERGED)
    check_refusal(*OPTIONS, "positive", 422, lambda: KEY_REUSED)
    check_refusal(*EVENTS, "negative", 422, lambda: {"field": "events[0].value"})
    check_refusal(*EVENTS, "positive", 409, lambda: {"field": "events[0].event_id"})
    refused = [
        (EVENTS, 422, {**AHEAD, "field": "events[0].value"}),
        (EVENTS, 422, {**AHEAD, "message": "field 'events[0].ts': value 'x': bad"}),
        (OPTIONS, 422, AHEAD),
        (EVENTS, 422, MERGED),
        (OPTIONS, 422, {**MERGED, "field": "items[2].sku"}),
        (OPTIONS, 422, {**MERGED, "message": "field 'items[2].quantity': bad"}),
        (EVENTS, 409, {"field": "events[0].ts"}),
        (EVENTS, 422, KEY_REUSED),
    ]
    for (method, path), status, body in refused:
        with pytest.raises(AssertionError):
            check_refusal(method, path, "positive", status, partial(dict, body))
