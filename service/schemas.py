"""Request and response bodies of the HTTP API (pydantic models).

Requests are validated here (types, sizes, ranges) before the router sees
them; the router then checks what needs the network (known SKU, ZIP prefix).
The checkout's response models are generated from the result types of
:mod:`tierflow.orchestration.checkout.results` (their fields are the wire
format, :mod:`tierflow.orchestration.checkout.wire`) and document the OpenAPI
schema; handlers return ``to_dict()`` as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from tierflow.capacity.events import (
    EVENT_ID_TEXT,
    EVENT_TS,
    MAX_INT_EVENT_ID,
    EventType,
)
from tierflow.data.limits import (
    MAX_ID_LENGTH,
    MAX_LINE_QUANTITY,
    MAX_UNITS,
)
from tierflow.data.store import ORDER_WORK
from tierflow.formulations.satisfaction import MAX_PREFERENCE
from tierflow.orchestration.checkout.request import (
    CUSTOMER_ID_CHARS,
    CUSTOMER_ID_PATTERN,
    MAX_CUSTOMER_ID_LENGTH,
)
from tierflow.orchestration.checkout.results import (
    CartLine,
    CheckoutResult,
    CustomerValue,
    FulfillmentOption,
    OptionSet,
    Shipment,
    Shortfall,
)
from tierflow.orchestration.checkout.wire import wire_annotation, wire_fields

#: Caps that keep one request small (the body limit backs them up).
MAX_ITEMS = 50
MAX_QUANTITY = MAX_LINE_QUANTITY
MAX_EVENTS = 500
#: Stock positions in one ``POST /v1/stock`` (about 60 bytes each: the 64 KiB
#: body limit holds about as many).
MAX_STOCK_CHANGES = 1_000

#: An event's fields as the OpenAPI document shows them (the feed's parser
#: checks them: :class:`CapacityEventIn`).
_EVENT_ID_SCHEMA: dict[str, Any] = {
    "anyOf": [
        # not blank: the spaces around an id are removed before it is read;
        # no NUL, which no store holds
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "pattern": EVENT_ID_TEXT,
        },
        {
            "type": "integer",
            "minimum": 1 - MAX_INT_EVENT_ID,
            "maximum": MAX_INT_EVENT_ID - 1,
        },
    ],
    "description": "the caller's unique id (idempotency key); not one "
    f"beginning {ORDER_WORK!r}, a confirmed checkout's own work, which the "
    "server logs itself",
}
_VALUE_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "boolean"}, {"type": "number"}]}
_NODE_ID_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
_TYPE_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(get_args(EventType))}
#: Any value: only a congestion event reads it (the served document names
#: the services there), the others ignore it, as ``capacity ingest`` does.
_SERVICE_SCHEMA: dict[str, Any] = {
    "description": "the lane of a congestion event (ignored on the others)"
}

#: Customer ids (and the checkout's path ids): letters, digits and ``_.:-``,
#: the rule ``tierflow options`` applies too (``checkout.request``).
ID_PATTERN = CUSTOMER_ID_PATTERN
#: The characters of :data:`ID_PATTERN`, spelled out (for a store's filter).
ID_CHARS = CUSTOMER_ID_CHARS
#: The longest customer id a request takes.
MAX_REQUEST_ID_LENGTH = MAX_CUSTOMER_ID_LENGTH
#: An event time as the parser takes it (``capacity.events.EVENT_TS``); the
#: served document also bounds its date.
TS_PATTERN = f"^{EVENT_TS.pattern}$"
_TS_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": TS_PATTERN,
    "description": "ISO 8601 date-time with offset",
}
_Id = Annotated[
    str, Field(min_length=1, max_length=MAX_REQUEST_ID_LENGTH, pattern=ID_PATTERN)
]
_Weight = Annotated[float, Field(ge=0.0, le=MAX_PREFERENCE, allow_inf_nan=False)]
_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(_Id)


def takes_customer_id(text: str) -> bool:
    """Whether a request's ``customer_id`` takes ``text`` as it is (the
    checkout page's samples offer no other)."""
    try:
        _ID_ADAPTER.validate_python(text)
    except ValidationError:
        return False
    return True


def _integral(value: Any) -> Any:
    """``2.0`` as ``2``: JSON Schema counts a number with a zero fraction as an
    integer, so the API does too (``2.5``, ``"2"`` and ``true`` stay refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Item(_Strict):
    """One cart line."""

    sku: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(_integral)]


class Preferences(_Strict):
    """Stated preferences: weights >= 0 of the satisfaction score's terms."""

    speed: _Weight | None = None
    cost: _Weight | None = None
    eco: _Weight | None = None


class OptionsRequest(_Strict):
    """``POST /v1/options``: a checkout to answer."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C000123",
                    "items": [{"sku": "ELE-0042", "quantity": 1}],
                    "dest": "10001",
                    "preferences": {"speed": 1.0, "cost": 0.5},
                }
            ]
        },
    )

    customer_id: _Id
    items: Annotated[
        list[Item],
        Field(
            min_length=1,
            max_length=MAX_ITEMS,
            description=(
                "The cart's lines. Lines of one SKU are added up into one "
                f"order line, which holds at most {MAX_QUANTITY:,} units (as "
                "`orders.csv` does): a cart whose lines of one SKU add up to "
                "more is refused (422, at the line that passed it)"
            ),
        ),
    ]
    dest: Annotated[
        str,
        Field(
            pattern=r"^[0-9]{3}([0-9]{2}(-[0-9]{4})?)?$",
            description="ZIP code (12345, 12345-6789) or 3-digit prefix",
        ),
    ]
    preferences: Preferences | None = None


class SelectRequest(_Strict):
    """``POST /v1/checkouts/{request_id}/select``."""

    option_id: Annotated[str, Field(min_length=1, max_length=32)]
    customer_id: Annotated[
        _Id | None,
        Field(description="When given, it must be the checkout's customer (403)"),
    ] = None


class CapacityEventIn(BaseModel):
    """One capacity event (the JSON-lines contract of :mod:`tierflow.capacity.events`).

    Values are checked by :func:`tierflow.capacity.events.parse_event` (types and
    ranges per event type, the time window); ``outage`` takes ``true``/``false``.
    The served document spells those rules out per event type
    (:mod:`tierflow.service.network_schema`). The fields' values are left
    to that parser here (this model refuses a missing field and a key
    that is not one of the six), so that a feed that ``tierflow capacity
    ingest`` takes is taken over HTTP too (an integer id, an instant without
    seconds, any ``service`` on an event that ignores it), and refused with
    the same words at the field itself (``events[0].value``, where a type
    union named its members, and ``missing (null)`` for a null).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: Annotated[Any, WithJsonSchema(_EVENT_ID_SCHEMA)]
    ts: Annotated[Any, WithJsonSchema(_TS_SCHEMA)]
    node_id: Annotated[Any, WithJsonSchema(_NODE_ID_SCHEMA)]
    type: Annotated[Any, WithJsonSchema(_TYPE_SCHEMA)]
    value: Annotated[Any, WithJsonSchema(_VALUE_SCHEMA)]
    service: Annotated[Any, WithJsonSchema(_SERVICE_SCHEMA)] = None


class CapacityEventsRequest(BaseModel):
    """``POST /v1/capacity/events``: events applied in order, all or none."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "ops-1",
                            "ts": "2026-01-05T14:00:00Z",
                            "node_id": "WH-MEM",
                            "type": "staffing",
                            "value": 70,
                        }
                    ]
                }
            ]
        },
    )

    events: Annotated[list[CapacityEventIn], Field(min_length=1, max_length=MAX_EVENTS)]


class StockChangeIn(_Strict):
    """One stock position and its quantity (``inventory.csv``'s columns, as
    ``tierflow stock load`` reads them)."""

    node_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
    sku: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
    on_hand: Annotated[
        int,
        Field(
            # no bound here: the store refuses on_hand past MAX_UNITS, and
            # load_stock a quantity past what a file carries, in the words of
            # `stock load` (this said "less than or equal to 1000000000000")
            description="`set`: the units on hand now (0 or more); `add`: the "
            "units to add (negative: an adjustment down). The result must be "
            f"0 to {int(MAX_UNITS):,} and at least the units open checkouts hold",
        ),
        BeforeValidator(_integral),
    ]


class StockRequest(_Strict):
    """``POST /v1/stock``: stock positions written all or none, as
    ``tierflow stock load`` writes a file's."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "mode": "add",
                    "changes": [
                        {"node_id": "WH-MEM", "sku": "ELE-0042", "on_hand": 24}
                    ],
                }
            ]
        },
    )

    mode: Literal["set", "add"] = Field(
        description="What each `on_hand` is: `set`, the position's new on_hand "
        "(a cycle count, a WMS snapshot); `add`, units added to it (a receipt; "
        "negative: an adjustment down). No default: a receipt sent without "
        "it would be written as a count"
    )
    changes: Annotated[
        list[StockChangeIn], Field(min_length=1, max_length=MAX_STOCK_CHANGES)
    ]
    change_id: Annotated[
        str | None,
        # null is taken as no id (a client serializing an unset field), so
        # the document says it: it said a string only, refusing what is taken
        WithJsonSchema(
            {
                "anyOf": [
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_ID_LENGTH,
                        "pattern": EVENT_ID_TEXT,
                    },
                    {"type": "null"},
                ],
                "description": "The caller's id of the change (a receipt's "
                "number), an idempotency key with a capacity event id's rules: "
                "sent again with the same body, the first's summary is answered "
                "(`duplicate`: true) and nothing is written; with another body, "
                "409. Without it (or null) a retry is a new change",
            }
        ),
    ] = None
    cut_holds: bool = Field(
        default=False,
        description="A position counted (or, with `add`, adjusted down by "
        "negative units) below the units open checkouts hold is written, and "
        "the newest holds there are released (whole checkouts: every line, "
        "every node) until the rest fit; the answer lists them (`holds_cut`), "
        "and a cut checkout's confirm is refused (409) naming the position "
        "recounted. Without it such a change is refused (422), nothing written",
    )


# ------------------------------------------------------------------ responses
class ErrorItem(BaseModel):
    """One problem of a request."""

    field: str | None
    message: str
    type: str | None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body (:mod:`tierflow.service.errors`)."""

    error: str
    message: str
    field: str | None
    errors: list[ErrorItem]


#: The OpenAPI entry of a read that needs the state store: ``service/errors.py``
#: answers it 503 (the error shape) while the store is away.
STORE_AWAY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "The state store cannot be read now; retry shortly.",
    }
}


# The checkout's response models are generated from its result types, whose
# fields define the wire format once (to_dict() and these schemas alike).
class CartLineOut(BaseModel):
    """One line of the answered cart: a request's lines with one SKU merged,
    which may add up to ``MAX_QUANTITY`` units (more is refused: the order's
    line and ``orders.csv`` hold no more)."""

    sku: str
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


#: The response model of each result type.
_WIRE_MODELS: dict[type[Any], Any] = {CartLine: CartLineOut}


def _response_model(
    record: type[Any], name: str, doc: str, described: Mapping[str, str] | None = None
) -> type[BaseModel]:
    """A response model with ``record``'s fields, in its wire types (those
    in ``described`` with that description)."""
    words = described or {}
    fields: dict[str, Any] = {
        field: (
            wire_annotation(hint, _WIRE_MODELS),
            Field(description=words[field]) if field in words else ...,
        )
        for field, hint in wire_fields(record)
    }
    model: type[BaseModel] = create_model(
        name, __doc__=doc, __module__=__name__, **fields
    )
    _WIRE_MODELS[record] = model
    return model


ShortfallOut = _response_model(
    Shortfall, "ShortfallOut", "A line a rejected hold could not take."
)
ShipmentOut = _response_model(Shipment, "ShipmentOut", "One parcel of an option.")
OptionOut = _response_model(
    FulfillmentOption,
    "OptionOut",
    "One tier's offer (``FulfillmentOption.to_dict()``).",
)
CustomerOut = _response_model(
    CustomerValue, "CustomerOut", "The CLTV facts an answer used."
)
OptionSetOut = _response_model(
    OptionSet,
    "OptionSetOut",
    "The answer to one checkout (``OptionSet.to_dict()``), best option first.",
    {
        "expires_at": "When the option ids stop working (ISO 8601, UTC, the "
        "server's clock): the first answer's instant plus the quote TTL "
        "(`quote_ttl_s`, 30 min by default), which a requote keeps; a select "
        'after it is refused 409 "options expired" (generate options again)',
    },
)
CheckoutOut = _response_model(
    CheckoutResult,
    "CheckoutOut",
    "Outcome of select, confirm or cancel (``CheckoutResult.to_dict()``).",
)
#: The response model of each checkout result type (the OpenAPI document's
#: schema of its wire form).
RESPONSE_MODELS: Mapping[type[Any], type[BaseModel]] = MappingProxyType(_WIRE_MODELS)


class LaneCapacityOut(BaseModel):
    """One shipping lane of a node (a service it ships by): what an order
    shipped by it finds, as the checkout prices it."""

    congestion: float = Field(
        description="The lane's carrier delay factor (1: on time): an order "
        "shipped by it takes this many times its work of the node"
    )
    free_capacity: float = Field(
        description="Units of an order's work the node can still take today "
        "by this lane: (nominal x staffing - backlog - the forecast's load) / "
        "`congestion` (negative: overbooked; 0 for a closed node)"
    )
    score: float = Field(
        description="`free_capacity` / nominal capacity in [0, 1]: the score "
        "an order of no work shipped by this lane gets (the node's `score` "
        "when the lane is on time)"
    )


class NodeCapacityOut(BaseModel):
    """One node on the capacity map, with the inputs behind its score."""

    node_id: str
    name: str
    kind: str
    region: str
    lat: float
    lon: float
    score: float
    utilization: float = Field(
        description="(backlog + forecast) / (nominal x staffing): share of "
        "the capacity staffed today that is committed (1: full, score 0; "
        "above 1: overbooked); 1 for a closed or unstaffed node"
    )
    nominal_capacity: float
    staffing_pct: float
    backlog: float
    forecast_rest_of_day: float
    free_capacity: float = Field(
        description="Capacity units left today (negative: overbooked); 0 for a "
        "closed node"
    )
    outage: bool
    max_congestion: float = Field(
        description="The largest carrier delay factor of the lanes the node "
        "ships (1: on time)"
    )
    congestion: dict[str, float] = Field(
        description="Carrier delay factor of each service the node ships "
        "(1: on time), as the `congestion` events set it: which lane "
        "`max_congestion` is"
    )
    lanes: dict[str, LaneCapacityOut] = Field(
        description="Each service the node ships, its lane's delay factor, "
        "room and score: what an order shipped by that lane is priced and "
        "refused by (the node's `score` and `free_capacity` are an on-time "
        "lane's)"
    )
    changed_at: dict[str, str | None] = Field(
        description="When the node's `nominal_capacity`, `staffing` and "
        "`outage` were last set: the `ts` of the event that set each (ISO "
        "8601, UTC), null where no event did (the network's value stands). "
        "For an outage: since when the node is closed (or open again)"
    )
    changed_by: dict[str, str | None] = Field(
        description="Which event last set the node's `nominal_capacity`, "
        "`staffing` and `outage`: the `event_id` of the event whose `ts` "
        "`changed_at` gives (its `type` is the key), null where no event did, "
        "or where the map was restored from a snapshot written before these "
        "ids were kept (2026-12-06) and no event of the kind came since. "
        "For an outage: which event closed the node (or opened it again)"
    )


class DemandForecastOut(BaseModel):
    """The rest-of-day forecast the scores' ``forecast_rest_of_day`` carries."""

    source: str = Field(
        description="`history` (`serve --history`) or `intraday` (today's "
        "confirmed orders only)"
    )
    as_of: str = Field(description="When it was made (the server's clock)")
    day: str = Field(description="The business day it is for")
    observed_orders: int = Field(
        description="Orders of the day confirmed so far (created no later "
        "than `as_of`), as the state store records them"
    )
    expected_orders: float = Field(description="Orders still expected today")
    multiplier: float | None = Field(
        description="Observed against the history's intraday profile (1: as "
        "expected); null without history"
    )
    work: float = Field(
        description="Predicted rest-of-day workload over every node (the sum "
        "of the nodes' `forecast_rest_of_day`)"
    )


class CapacityOut(BaseModel):
    """``GET /v1/capacity``."""

    as_of: str | None
    version: list[int]
    overflow_threshold: float
    nodes: list[NodeCapacityOut]
    degraded: bool = Field(
        description="The map is stale: its newest event is older than the "
        "server's `--capacity-max-age` (the reason is in `notes`)"
    )
    notes: list[str]
    server_time: str | None = Field(
        default=None,
        description="The server's clock when it answered (ISO 8601, UTC): "
        "the clock a posted event's `ts` may pass by 5 minutes at most (the "
        "ops page stamps its events with it); absent from the stream's updates",
    )
    worker_restarts: int | None = Field(
        default=None,
        description="Workers this server's `--workers N` supervisor started "
        "again after they died (`tierflow_worker_restarts_total`; 0 for one "
        "worker): the answering `tierflow serve`'s alone, not its replicas' "
        "(sum each replica's `/metrics` for a fleet). null: not counted "
        "(`--no-metrics`); absent from the stream's updates",
    )
    network_warnings: list[str] | None = Field(
        default=None,
        description="What is suspicious about the network served (the "
        "warnings `tierflow network validate` prints, and `tierflow serve` "
        "logs at start-up: a node whose lat and lon look swapped, nodes "
        "without stock or capacity, ...); empty when none; absent from the "
        "stream's updates",
    )
    demand_forecast: DemandForecastOut | None = Field(
        default=None,
        description="The service's rest-of-day forecast, refreshed from the "
        "orders flowing in; the day's `forecast` events stand over it at their "
        "nodes until the orders after them use them up (null: none; `forecast` "
        "events alone set the nodes' term)",
    )


class IngestOut(BaseModel):
    """``POST /v1/capacity/events``."""

    applied: int
    duplicates: int
    last_seq: int
    stale: int = Field(
        default=0,
        description="Of the applied, those older than what was known of their "
        "kind at their node: logged, but they changed nothing",
    )


class StockChangeOut(BaseModel):
    """A position a ``POST /v1/stock`` changed."""

    node_id: str
    sku: str
    before: int = Field(description="on_hand before the change")
    after: int = Field(description="on_hand after it")
    reserved: int = Field(
        description="Units open checkouts hold there (after any hold cut)"
    )


class HoldCutOut(BaseModel):
    """A line of a hold a ``POST /v1/stock`` with ``cut_holds`` released."""

    request_id: str = Field(
        description="The checkout's request id (a plain reservation's own id)"
    )
    node_id: str
    sku: str
    units: int = Field(description="Units the line held, released")


class StockLoadOut(BaseModel):
    """``POST /v1/stock``: what ``tierflow stock load --json`` prints (without
    its ``file``)."""

    mode: Literal["set", "add"]
    positions: int = Field(description="Positions given")
    changed: int = Field(description="Of those, the positions whose on_hand moved")
    units_up: int
    units_down: int
    changes: list[StockChangeOut] = Field(
        description="The positions changed, in the order given"
    )
    change_id: str | None = Field(
        default=None,
        description="The request's `change_id` (the spaces around it "
        "removed); absent without one",
    )
    duplicate: bool | None = Field(
        default=None,
        description="With a `change_id`: true when the id had done this "
        "change already (these are the first's figures; nothing was "
        "written); absent without one",
    )
    applied_at: str | None = Field(
        default=None,
        description="With a `change_id`: when the change was applied (ISO "
        "8601, UTC, the store's clock; a duplicate's: the first's); absent "
        "without one",
    )
    holds_cut: list[HoldCutOut] | None = Field(
        default=None,
        description="With `cut_holds`: the hold lines released, newest hold "
        "first (a duplicate's: the first's); absent without it",
    )


class StockLevelOut(BaseModel):
    """One stock position of ``GET /v1/stock``."""

    node_id: str
    sku: str
    on_hand: int
    reserved: int = Field(description="Units open checkouts hold")
    available: int = Field(
        description="on_hand less the live holds (holds past their TTL count as free)"
    )


class SampleCustomerOut(BaseModel):
    """A customer for the checkout page's picker."""

    customer_id: str
    segment: str
    predicted_spend: float
    source: str


class SampleCartOut(BaseModel):
    """A ready-made cart."""

    label: str
    items: list[Item]


class SampleDestOut(BaseModel):
    """A destination (ZIP prefix) for the picker."""

    zip: str
    label: str


class SamplesOut(BaseModel):
    """``GET /v1/samples``: what the checkout page offers to pick from."""

    customers: list[SampleCustomerOut]
    carts: list[SampleCartOut]
    destinations: list[SampleDestOut]
    note: str


class HealthOut(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok", "degraded"]
    store: bool
    subscribers: int


class AllocationOut(BaseModel):
    """``GET /v1/allocation``: the latest allocation run, summarized."""

    source: str | None
    run_id: str | None
    summary: dict[str, Any]
    by_node: list[dict[str, Any]]
    by_status: dict[str, int]
    by_service: dict[str, int]
    note: str
