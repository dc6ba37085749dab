"""Fuzzing the JSON endpoints from the app's own OpenAPI schema (schemathesis
with hypothesis), against a live server: valid requests (positive) and
invalid ones (negative). No request may get a 5xx; every response must match
the documented status codes and bodies; invalid input must be refused with a
4xx. Bounded here (a few seconds); ``make bench-service`` runs a longer pass.
``/v1/stream`` never ends, so it is tested on its own (``test_service_api``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.server import RunningServer
from tests.service_fixtures import API_KEY, live_server

#: Examples per operation and mode in ``make test`` (the benchmark runs more).
MAX_EXAMPLES = 25
#: Every operation but the stream, and whether it takes input (only those can
#: be sent invalid data).
OPERATIONS = [
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
]
CASES = [(m, p, GenerationMode.POSITIVE) for m, p, _ in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p, takes_input in OPERATIONS if takes_input
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with live_server(folder) as (server, _):
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json"), server


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    schema, _ = api_schema
    found = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    assert found - {("GET", "/v1/stream")} == {(m, p) for m, p, _ in OPERATIONS}


def fuzz(
    schema: Any, server: RunningServer, method: str, path: str, mode: GenerationMode
) -> None:
    """Run ``MAX_EXAMPLES`` generated requests of one operation with every check."""
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=server.url,
            headers={"X-API-Key": API_KEY},
            # a schema-valid SKU or ZIP may still be unknown to the network (422)
            excluded_checks=[positive_data_acceptance],
        )

    run()


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors_and_documented_responses(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    schema, server = api_schema
    fuzz(schema, server, method, path, mode)
