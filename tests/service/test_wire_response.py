"""``WireResponse`` writes the bytes Starlette's ``JSONResponse`` writes for
every checkout answer, and refuses what is not JSON as it does."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.responses import JSONResponse

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.orchestration.checkout.results import CheckoutResult, OptionSet
from tierflow.orchestration.checkout.wire import WireRecord
from tierflow.service.wire_response import WireResponse


def test_the_same_bytes_as_json_response(tmp_path: Path) -> None:
    """Options (Platinum, a split order, nothing to offer), a hold, a
    rejection with its shortfall, a confirm and a cancel."""
    options: list[OptionSet] = []
    results: list[CheckoutResult] = []
    with tiny_router(tmp_path) as r:
        for customer, items in (
            ("C10", [("MUG", 1)]),
            ("C3", [("MUG", 1), ("SPRAY", 1)]),
            ("C1", [("SOFA", 9)]),
            ("C5", [("SOFA", 2)]),
            ("C6", [("SOFA", 2)]),
            ("nobody", [("TEE", 3)]),
        ):
            options.append(
                r.generate_fulfillment_options(customer, items, "60601", now=MONDAY_10)
            )
        sofa_a, sofa_b, tee = options[3], options[4], options[5]
        results.append(r.select(sofa_a.request_id, "gold"))
        results.append(r.select(sofa_b.request_id, "gold"))  # rejected
        results.append(r.confirm(sofa_a.request_id))
        results.append(r.select(tee.request_id, tee.options[0].option_id))
        results.append(r.cancel(tee.request_id))
    statuses = [a.status for a in results]
    assert statuses == ["held", "rejected", "confirmed", "held", "cancelled"]
    answers: list[WireRecord] = [*options, *results]
    for answer in answers:
        content = answer.to_dict()
        assert WireResponse(content).body == JSONResponse(content).body


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_not_json_is_refused_as_before(bad: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        JSONResponse({"price": bad})
    with pytest.raises(ValueError, match="JSON compliant"):
        WireResponse({"price": bad})


def test_unicode_and_control_characters_alike() -> None:
    text = "".join(map(chr, range(128))) + "é\u2028\U0001f600"
    content = {text: [text, 1, True, None, 2.5, -0.0, 10**18]}
    assert WireResponse(content).body == JSONResponse(content).body
