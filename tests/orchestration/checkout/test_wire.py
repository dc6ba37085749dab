"""The wire format: the result dataclasses' fields drive both ``to_dict()``
and the OpenAPI response models, so what is sent validates against what is
documented, field for field and in order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import pytest
from pydantic import BaseModel

from tests.service_fixtures import MONDAY_10, tiny_router
from tierflow.data.vocabulary import HoldStatus, Tier
from tierflow.orchestration.checkout.results import (
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    Shortfall,
)
from tierflow.orchestration.checkout.router import OnlineRouter
from tierflow.orchestration.checkout.wire import LOCAL, Digits, WireRecord, to_wire
from tierflow.service.schemas import (
    CheckoutOut,
    CustomerOut,
    OptionOut,
    OptionSetOut,
    ShipmentOut,
    ShortfallOut,
)

MODELS: list[tuple[type[Any], type[BaseModel]]] = [
    (Shipment, ShipmentOut),
    (FulfillmentOption, OptionOut),
    (CustomerValue, CustomerOut),
    (OptionSet, OptionSetOut),
    (Shortfall, ShortfallOut),
    (CheckoutResult, CheckoutOut),
]


@pytest.mark.parametrize(("record", "model"), MODELS)
def test_response_models_have_the_record_fields(
    record: type[Any], model: type[BaseModel]
) -> None:
    names = (
        [f.name for f in dataclasses.fields(record) if f.metadata != LOCAL]
        if dataclasses.is_dataclass(record)
        else list(record._fields)
    )
    assert list(model.model_fields) == names


def test_local_fields_stay_off_the_wire() -> None:
    """``CheckoutResult.replayed`` (for the service's counts) is not sent."""
    first = CheckoutResult("r1", "gold", HoldStatus.CONFIRMED)
    again = dataclasses.replace(first, replayed=True)
    assert again.to_dict() == first.to_dict()
    assert "replayed" not in first.to_dict()
    assert "replayed" not in CheckoutOut.model_fields


def _round_trip(value: WireRecord, model: type[BaseModel]) -> dict[str, Any]:
    """JSON out, validated by the model, dumped back: the same document."""
    sent: dict[str, Any] = json.loads(json.dumps(value.to_dict()))
    parsed = model.model_validate_json(json.dumps(sent))
    assert parsed.model_dump(mode="json") == sent
    assert list(parsed.model_dump()) == list(sent)
    return sent


def test_option_set_round_trip(router: OnlineRouter) -> None:
    """Platinum, a split order and the missing tiers, through OptionSetOut."""
    for items in ([("MUG", 1)], [("MUG", 1), ("SPRAY", 1)], [("SOFA", 9)]):
        answer = router.generate_fulfillment_options(
            "C10", items, "60601", now=MONDAY_10
        )
        sent = _round_trip(answer, OptionSetOut)
        keys = list(sent)
        assert keys[keys.index("created_at") + 1] == "recommended"
        assert sent["recommended"] == answer.recommended


def test_checkout_results_round_trip(
    tmp_path: Path, state_location: Path | str
) -> None:
    with tiny_router(tmp_path, state=state_location) as r:
        a = r.generate_fulfillment_options("C5", [("SOFA", 2)], "100", now=MONDAY_10)
        b = r.generate_fulfillment_options("C6", [("SOFA", 2)], "100", now=MONDAY_10)
        held = _round_trip(r.select(a.request_id, "gold"), CheckoutOut)
        lost = _round_trip(r.select(b.request_id, "gold"), CheckoutOut)
    assert held["status"] == "held" and held["expires_at"].endswith("+00:00")
    assert lost["shortfall"] == [
        {"node_id": "WH-EAST", "sku": "SOFA", "requested": 2, "available": 0}
    ]


class _Line(NamedTuple):
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class _Sample(WireRecord):
    at: dt.datetime
    day: dt.date
    price: Annotated[float, Digits(2)]
    maybe: Annotated[float, Digits(1)] | None
    tier: Tier
    lines: tuple[_Line, ...]
    why: Mapping[str, str]


def test_encoding_rules() -> None:
    """Rounding from Digits, UTC instants, ISO dates, enums as strings,
    NamedTuples as objects, tuples as lists."""
    est = dt.timezone(dt.timedelta(hours=-5))
    value = _Sample(
        dt.datetime(2026, 1, 5, 10, 0, 0, 250_000, tzinfo=est),
        dt.date(2026, 1, 6),
        12.345,
        None,
        Tier.GOLD,
        (_Line("TEE", 2),),
        {Tier.SILVER: "same as Gold"},
    )
    assert to_wire(value) == value.to_dict()
    assert json.dumps(value.to_dict()) == (
        '{"at": "2026-01-05T15:00:00.250000+00:00", "day": "2026-01-06", '
        '"price": 12.35, "maybe": null, "tier": "gold", '
        '"lines": [{"sku": "TEE", "quantity": 2}], "why": {"silver": "same as Gold"}}'
    )


@dataclass(frozen=True, slots=True)
class _Unrounded(WireRecord):
    price: float


def test_floats_need_their_rounding() -> None:
    with pytest.raises(TypeError, match=r"floats need Digits"):
        _Unrounded(1.0).to_dict()
