"""The live hub's memory: answers kept to diff requotes against go when
their quote expires, not only when newer answers push them out."""

from __future__ import annotations

from pathlib import Path

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.service.capacity_view import map_version
from tierflow.service.live import MAX_REMEMBERED, LiveHub


def test_an_answer_whose_quote_expired_is_dropped_before_the_count_limit(
    tmp_path: Path, state_location: Path | str
) -> None:
    """A minute's quote TTL, three answers at 0 s: after 61 s a new answer
    drops the two not requoted since (far below the 20,000 kept), while the
    one requoted at 30 s (open until 90 s) and the one of 60 s stay."""
    clock = [0.0]
    router = tiny_router(tmp_path, state=state_location, quote_ttl_s=60)
    hub = LiveHub(router, lambda: MONDAY_10, timer=lambda: clock[0])
    version = map_version(router)

    def answer(customer: str) -> str:
        made = router.generate_fulfillment_options(
            customer, [("TEE", 1)], "606", now=MONDAY_10
        )
        hub.remember(made, version)
        return made.request_id

    try:
        old, requoted, lapsing = answer("C5"), answer("C6"), answer("C7")
        clock[0] = 30.0
        hub.remember(router.requote(requoted, now=MONDAY_10), version)
        clock[0] = 60.0
        at_60 = answer("C8")  # at its expiry exactly a quote is still open
        assert hub.n_remembered == 4
        clock[0] = 61.0
        newest = answer("C9")
        assert hub.n_remembered == 3 < MAX_REMEMBERED
        assert old not in hub and lapsing not in hub
        assert requoted in hub and at_60 in hub and newest in hub
    finally:
        router.close()
