"""Fuzzing every JSON endpoint from the app's own OpenAPI schema against a live
server (:mod:`tierflow.benchmarks.service_fuzz`): valid and invalid requests; no 5xx,
documented responses only, invalid input refused with a 4xx, valid input
accepted — every check on for every operation. Bounded here (a few seconds);
``make bench-service`` and ``python -m tierflow.benchmarks.service_fuzz`` run
longer passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_fixtures import API_KEY, live_server
from tierflow.benchmarks.service_fuzz import (
    CASES,
    OPERATIONS,
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
