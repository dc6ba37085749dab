"""The server-CPU benchmark end to end, small: a real ``tierflow serve``,
/healthz and the checkout steps, CPU charged per kind of request."""

from __future__ import annotations

import pytest

from tierflow.benchmarks.service_cpu import run


@pytest.mark.slow
@pytest.mark.parametrize("operator_reads", ["public", "key"])
def test_a_small_run(operator_reads: str) -> None:
    """Either mode of the server (``key``: the shopper's view of every
    answer, the clients sending no key) answers every call."""
    r = run(
        n_checkouts=120, clients=4, healthz=400, rounds=2, seed=1, state=None,
        profile=None, operator_reads=operator_reads,
    )  # fmt: skip
    table = r["per_request"]
    assert table["healthz"]["requests"] == 400
    assert table["options"]["requests"] == 120
    assert {"select", "confirm"} <= set(table)
    # every request answered, and only as the checkout contract allows
    assert {k.rsplit(" ", 1)[1] for k in r["statuses"]} <= {"200", "409"}
    assert sum(n for k, n in r["statuses"].items() if k.startswith("options")) == 120
    assert r["checkout_mix_cpu_ms"] > 0 and r["healthz_cpu_ms"] > 0
    assert r["ratio"] == pytest.approx(r["healthz_cpu_ms"] / r["checkout_mix_cpu_ms"])
