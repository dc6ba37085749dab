"""Fuzzing the HTTP API from its own OpenAPI schema (schemathesis + hypothesis).

Valid and invalid requests for every JSON operation but the stream; no 5xx,
documented responses only, valid requests accepted (but where
:data:`POSITIVE_UNCHECKED` says why not; ``docs/benchmarks.md``). Used by
``tests/service/test_fuzz.py`` (bounded) and ``make bench-service``
(longer). Needs the ``dev`` extra (schemathesis).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Every operation but the stream, and whether it takes input.
OPERATIONS: tuple[tuple[str, str, bool], ...] = (
    ("POST", "/v1/options", True),
    ("POST", "/v1/checkouts/{request_id}/select", True),
    ("POST", "/v1/checkouts/{request_id}/confirm", True),
    ("POST", "/v1/checkouts/{request_id}/cancel", True),
    ("GET", "/v1/capacity", False),
    ("POST", "/v1/capacity/events", True),
    ("GET", "/v1/samples", False),
    ("GET", "/v1/allocation", False),
    ("GET", "/v1/map", False),
    ("GET", "/healthz", False),
    ("GET", "/metrics", False),
)
#: Operations whose valid requests (by the schema) may rightly be refused, so
#: schemathesis' ``positive_data_acceptance`` check is off for them: the schema
#: says what a SKU, ZIP prefix, node id or event time looks like only as a
#: string, so a generated ``sku: "0"`` or ``ts: "0"`` is schema-valid and a
#: 422. Every other operation must accept every schema-valid request (2xx, or
#: 404/409 for an unknown or closed checkout). Turning it on for these needs a
#: schema that enumerates the network's SKUs, prefixes and nodes and gives
#: ``ts`` its date-time format (``service/schemas.py``).
POSITIVE_UNCHECKED: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/v1/options"), ("POST", "/v1/capacity/events")}
)
#: (method, path, mode): positive for all, negative for those taking input.
CASES: tuple[tuple[str, str, str], ...] = tuple(
    [(m, p, "positive") for m, p, _ in OPERATIONS]
    + [(m, p, "negative") for m, p, takes_input in OPERATIONS if takes_input]
)


@dataclass
class FuzzStats:
    """What one operation's fuzzing sent and got back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status."""
        return sum(n for s, n in self.statuses.items() if s >= 500)


def warm_up(base_url: str) -> None:
    """Fill the app's cached US outline before fuzzing: the first ``/v1/map``
    reads every US ZIP centroid, which can pass the fuzz client's 10 s read
    timeout on a busy machine."""
    httpx.get(f"{base_url}/v1/map", timeout=300).raise_for_status()


def load_schema(base_url: str) -> Any:
    """The app's OpenAPI schema, as schemathesis reads it.

    A 413 (body over the size limit) counts as refusing invalid input: a
    list generated past ``maxItems`` is also past the body limit.
    """
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    refused = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": refused}}}
    )
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


def fuzz_operation(
    schema: Any,
    base_url: str,
    method: str,
    path: str,
    mode: str,
    *,
    max_examples: int,
    api_key: str,
    seed: int | None = None,
) -> FuzzStats:
    """Send ``max_examples`` generated requests to one operation and check each.

    Raises the first failing check (hypothesis shrinks it to a minimal
    request, which schemathesis prints with a ``curl`` line).
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    operation = schema[path][method]
    generation = GenerationMode(mode)
    stats = FuzzStats()
    excluded = (
        [positive_data_acceptance] if (method, path) in POSITIVE_UNCHECKED else []
    )

    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=seed is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers={"X-API-Key": api_key})
        stats.requests += 1
        stats.statuses[int(response.status_code)] += 1
        headers = {"X-API-Key": api_key}
        case.validate_response(
            response,
            excluded_checks=excluded,
            headers=headers,
            transport_kwargs={"base_url": base_url, "headers": headers},
        )

    if seed is not None:
        run = fixed_seed(seed)(run)
    run()
    return stats
