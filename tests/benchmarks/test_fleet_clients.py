"""The one-client latency run of ``make bench-fleet``: requests and in-process
calls take turns on the same carts, warm-up left out of both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service_fixtures import live_server
from tierflow.benchmarks.fleet_clients import Cart, one_client_latency, run_fast

CARTS: list[Cart] = [
    (f"C{k}", [("TEE", 1), ("MUG", 1)][: 1 + k % 2], "60601") for k in range(7)
]


@pytest.mark.parametrize(
    ("block", "turns", "local"),
    [
        (3, [CARTS[0:3], CARTS[3:6], CARTS[6:7]], [2.0, 0.0, 1.0, 2.0, 0.0]),
        (1, [[c] for c in CARTS], [0.0] * 5),
    ],
)
def test_turns_of_carts(
    tmp_path: Path, block: int, turns: list[list[Cart]], local: list[float]
) -> None:
    seen: list[list[Cart]] = []

    def in_process(turn: list[Cart]) -> list[float]:
        seen.append(list(turn))
        return [float(k) for k in range(len(turn))]  # each call's place in its turn

    with live_server(tmp_path) as (server, _):
        port = int(server.url.rsplit(":", 1)[1])
        http, timed = run_fast(
            one_client_latency(port, CARTS, 2, in_process, block=block)
        )
    assert seen == turns  # every cart once, in order, after its turn's requests
    assert timed == local  # the first two carts' calls are warm-up
    assert len(http) == 5 and all(ms > 0 for ms in http)
