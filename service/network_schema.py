"""The OpenAPI document, narrowed to what the served network accepts.

The pydantic models (:mod:`tierflow.service.schemas`) say what a request looks
like; the router then refuses, with 422, a SKU, ZIP prefix or node the network
does not know, an event time outside :data:`~tierflow.data.limits.EVENT_WINDOW`,
an event value outside its type's range, and preferences that are all 0. So
that a request valid by the document is a request the server accepts (and
schemathesis can check it: ``benchmarks/service_fuzz.py``), :func:`narrow`
writes each of those rules into the document:

- SKU and node ids as ``enum`` of the network's ids (a ``pattern`` of their
  characters above :data:`MAX_ENUM` ids: then an unknown id is schema-valid and
  a 422, the trade-off ``tests/service/test_network_schema.py`` shows);
- ``dest`` as a pattern of the network's ZIP3 prefixes;
- an event ``ts`` in the parser's form (``EVENT_TS``) whose date is inside the
  event window, with 2 days' margin at its start (a pattern cannot compare
  instants; the margin keeps every UTC offset inside), and no later than the
  local date of the server's clock at the widest offset: every instant up to
  the clock matches, at any offset, so a live feed's events are valid by the
  document. The pattern sees dates, not instants: an instant later that day
  is schema-valid and refused, 422 on ``ts``, more than
  :data:`~tierflow.data.limits.LIVE_EVENT_LEAD` ahead of the server's clock
  (a rule of the clock, like the event id's below of the server's state);
- one ``oneOf`` branch per event type (``value``'s type and range, a ``not``
  of the staffing fractions the parser refuses, ``service`` required for
  ``congestion``), and a ``not`` for all-zero preferences.

Two rules are left out: the live lead above, and the event id's: an id
already used with other content is refused with 409 (``conflict``, a clash
with the server's state, documented on the operation), not 422.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tierflow.capacity.events import (
    EVENT_BOUNDS,
    EVENT_TIME_OF_DAY,
    EVENT_TYPES,
    STAFFING_FRACTION,
)
from tierflow.data.limits import EVENT_WINDOW, LIVE_EVENT_LEAD, now
from tierflow.data.network import Network
from tierflow.data.rates import SERVICES

#: Above this many ids, a pattern of their characters instead of an ``enum``.
MAX_ENUM = 5_000
#: Days left out at each end of the event window, so any offset stays inside.
TS_MARGIN_DAYS = 2
#: The longest ``GET /v1/stock`` filter taken (``routes/stock.py``'s query).
MAX_FILTER_LENGTH = 200


def narrow(
    document: dict[str, Any],
    network: Network,
    *,
    at: dt.datetime | None = None,
    received: dt.datetime | None = None,
    max_enum: int = MAX_ENUM,
    list_nodes: bool = True,
) -> dict[str, Any]:
    """A copy of ``document`` (FastAPI's) with the network's rules written in.

    ``at`` is the instant the event window is measured from (default
    :func:`~tierflow.data.limits.now`, as the router's check); ``received``
    the server's clock, which a posted event may pass by
    :data:`~tierflow.data.limits.LIVE_EVENT_LEAD` at most (default ``at``).
    Without ``list_nodes`` (``serve --operator-reads key``: the network's
    nodes are operator data) an event's ``node_id`` names none of them.
    """
    out = copy.deepcopy(document)
    schemas = out["components"]["schemas"]
    skus = id_schema(list(network.sku_index), "SKU", max_enum)
    schemas["Item"]["properties"]["sku"] = skus
    request = schemas["OptionsRequest"]
    request["properties"]["dest"] = dest_schema(network.dest_index)
    request["examples"] = [_options_example(network)]
    schemas["Preferences"]["not"] = _all_zero_preferences()
    nodes = (
        id_schema(list(network.node_ids), "node", max_enum)
        if list_nodes
        else UNLISTED_NODE
    )
    ts = ts_schema(at, received)
    schemas["CapacityEventIn"] = event_schema(nodes, ts, schemas["CapacityEventIn"])
    example = _event_example(network, received or at)
    if not list_nodes:
        example["node_id"] = UNLISTED_EXAMPLE
    schemas["CapacityEventsRequest"]["examples"] = [{"events": [example]}]
    _narrow_stock(out, nodes, skus, network, list_nodes=list_nodes)
    return out


def _narrow_stock(
    document: dict[str, Any],
    nodes: dict[str, Any],
    skus: dict[str, Any],
    network: Network,
    *,
    list_nodes: bool,
) -> None:
    """The stock routes' node and SKU ids (``document`` changed in place): a
    stock change's are the network's; ``GET /v1/stock``'s filters take the
    store's too (:func:`stock_filter_schema`)."""
    schemas = document["components"]["schemas"]
    change = schemas.get("StockChangeIn")
    if change is None:
        return
    change["properties"]["node_id"] = nodes
    change["properties"]["sku"] = skus
    node = network.node_ids[0] if list_nodes else UNLISTED_EXAMPLE
    schemas["StockRequest"]["examples"] = [
        {
            "mode": "add",
            "changes": [{"node_id": node, "sku": network.sku_ids[0], "on_hand": 24}],
        }
    ]
    read = document["paths"].get("/v1/stock", {}).get("get", {})
    for parameter in read.get("parameters", []):
        what = {"node_id": "node", "sku": "SKU"}.get(parameter["name"])
        if what is not None:
            parameter["schema"] = stock_filter_schema(what)


def stock_filter_schema(what: str) -> dict[str, Any]:
    """A ``GET /v1/stock`` filter: any id, not the network's ``enum``. The
    read answers a position the store holds whatever network wrote it (a
    SKU since dropped from ``skus.csv``, a server of the store on another
    network), so an enum made the document refuse reads the server answers
    and lists unfiltered; an id neither knows is a 422 the document cannot
    rule out (it depends on the store)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_FILTER_LENGTH,
        "description": f"Only this {what}'s positions: a {what} id of the "
        "network or of a position the store holds (one a server of the "
        "store on another network wrote, or one the network no longer "
        "has); an id neither knows is a 422.",
    }


#: An event's ``node_id`` in a document that lists no node (``narrow``).
UNLISTED_NODE: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "A node id of the network (not listed: this server shows "
    "its network only with the API key, `--operator-reads key`; an id the "
    "network does not know is a 422).",
}
#: The node of the event example in such a document.
UNLISTED_EXAMPLE = "NODE-1"


def id_schema(ids: list[str], what: str, max_enum: int = MAX_ENUM) -> dict[str, Any]:
    """The network's ids as an ``enum``; past ``max_enum`` a pattern of their
    characters and lengths (then an unknown id is schema-valid, and a 422)."""
    if len(ids) <= max_enum:
        return {
            "type": "string",
            "enum": sorted(ids),
            "description": f"One of the network's {len(ids):,} {what} ids.",
        }
    chars = "".join(sorted({c for i in ids for c in i}))
    shortest, longest = min(map(len, ids)), max(map(len, ids))
    return {
        "type": "string",
        "pattern": f"^[{re.escape(chars)}]{{{shortest},{longest}}}$",
        "description": f"A {what} id of the network ({len(ids):,} ids, too many "
        f"to list: an id of this form the network does not know is a 422).",
    }


def dest_schema(prefixes: Iterable[str]) -> dict[str, Any]:
    """A ZIP code or 3-digit prefix whose prefix the network routes to."""
    by_head: dict[str, list[str]] = defaultdict(list)
    for p in sorted(prefixes):
        by_head[p[:2]].append(p[2])
    heads = "|".join(f"{h}[{''.join(tails)}]" for h, tails in by_head.items())
    return {
        "type": "string",
        "pattern": f"^({heads})([0-9]{{2}}(-[0-9]{{4}})?)?$",
        "description": "ZIP code (12345, 12345-6789) or 3-digit prefix; the "
        "prefix is one the network routes to.",
    }


def ts_window(
    at: dt.datetime | None = None, received: dt.datetime | None = None
) -> tuple[dt.date, dt.date]:
    """First and last date an event ``ts`` may carry by the document.

    Every instant of the first date, at any offset, is inside the event window
    around ``at``; the last is the local date of ``received`` (plus
    :data:`~tierflow.data.limits.LIVE_EVENT_LEAD`) at the widest offset, so
    every instant the server takes, written at any offset, matches (a client
    that validates its requests against the document can send what has just
    happened). Both default :func:`~tierflow.data.limits.now`.
    """
    at = now() if at is None else at
    received = at if received is None else received
    lo, hi = EVENT_WINDOW.bounds(at)
    margin = dt.timedelta(days=TS_MARGIN_DAYS)
    # a UTC offset moves an instant's local date by at most one day
    live = (received.astimezone(dt.UTC) + LIVE_EVENT_LEAD).date()
    return lo.date() + margin, min(hi.date() - margin, live + dt.timedelta(days=1))


def ts_schema(
    at: dt.datetime | None = None, received: dt.datetime | None = None
) -> dict[str, Any]:
    """An event instant (:data:`~tierflow.capacity.events.EVENT_TS`'s form)
    dated inside the event window and not after the server's clock."""
    first, last = ts_window(at, received)
    window = EVENT_WINDOW.describe(at).removeprefix("outside the allowed window ")
    lead = LIVE_EVENT_LEAD.total_seconds() / 60
    return {
        "type": "string",
        "pattern": f"^({date_pattern(first, last)}){EVENT_TIME_OF_DAY}$",
        "description": "ISO 8601 date-time with offset (2026-01-05T14:00:00Z; "
        "seconds and their fraction optional, `T` or a space, `Z`, `+hh:mm`, "
        "`+hhmm` or `+hh`). The server takes any instant in the event window "
        f"({window}) up to {lead:g} minutes past its clock (`server_time` of "
        "`GET /v1/capacity`): a live event says what has happened, and a later "
        "one is refused (422). This pattern, which sees dates, not instants, "
        f"says {first} .. {last}: {TS_MARGIN_DAYS} days less at the start, so "
        "that every offset is inside, and to the clock's local date at the "
        "widest offset, so that every instant up to the clock matches.",
    }


def date_pattern(first: dt.date, last: dt.date) -> str:
    """A regular expression (no anchors) of the dates ``first`` .. ``last``."""
    by_days: dict[str, list[str]] = defaultdict(list)
    for year in range(first.year, last.year + 1):
        months: dict[str, list[str]] = defaultdict(list)
        for month in range(1, 13):
            lo = max(first, dt.date(year, month, 1))
            hi = min(last, _month_end(year, month))
            if lo <= hi:
                months[_number_range(lo.day, hi.day)].append(f"{month:02d}")
        days = "|".join(f"({'|'.join(m)})-({d})" for d, m in months.items())
        by_days[days].append(str(year))
    return "|".join(f"({'|'.join(y)})-({d})" for d, y in by_days.items())


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _number_range(lo: int, hi: int) -> str:
    """Two-digit numbers ``lo`` .. ``hi`` (1..31) as a regular expression."""
    parts = []
    for tens in range(lo // 10, hi // 10 + 1):
        a = max(lo, tens * 10) % 10
        b = min(hi, tens * 10 + 9) % 10
        parts.append(f"{tens}{a}" if a == b else f"{tens}[{a}-{b}]")
    return "|".join(parts)


def event_schema(
    node: dict[str, Any], ts: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """One event: a ``oneOf`` branch per type (``value``'s type and range;
    ``service`` required and named for ``congestion``, otherwise ignored)."""
    props = base["properties"]
    branches = []
    for kind in EVENT_TYPES:
        value: dict[str, Any]
        if kind == "outage":
            value = {"type": "boolean"}
        else:
            lo, hi = EVENT_BOUNDS[kind]
            value = {"type": "number", "minimum": lo, "maximum": hi}
        if kind == "staffing":
            value |= _staffing_value()
        service = props["service"]
        required = ["event_id", "ts", "node_id", "type", "value"]
        if kind == "congestion":
            service = {"type": "string", "enum": list(SERVICES)}
            required.append("service")
        branches.append(
            {
                "type": "object",
                "title": kind,
                "properties": {
                    "event_id": props["event_id"],
                    "ts": ts,
                    "node_id": node,
                    "type": {"const": kind},
                    "value": value,
                    "service": service,
                },
                "required": required,
                "additionalProperties": False,
            }
        )
    return {
        "title": base["title"],
        "description": base["description"],
        "oneOf": branches,
    }


def _staffing_value() -> dict[str, Any]:
    """A staffing is a percent: the fractions the parser refuses (0.5 read
    as 0.5 %, not half the staff) are left out, so a value valid by the
    document is one the server takes."""
    lo, hi = STAFFING_FRACTION
    return {
        "not": {"exclusiveMinimum": lo, "exclusiveMaximum": hi},
        "description": (
            "percent of planned staff: 0 (none) or 1-300; 50 is half the staff "
            "(a value between 0 and 1 is refused: 0.5 would be 0.5 %)"
        ),
    }


def _all_zero_preferences() -> dict[str, Any]:
    """All three weights given and 0: refused (no term left to score)."""
    keys = ("speed", "cost", "eco")
    return {
        "description": "Not all three weights 0.",
        "required": list(keys),
        "properties": {k: {"const": 0} for k in keys},
    }


def _options_example(network: Network) -> dict[str, Any]:
    return {
        "customer_id": "C000123",
        "items": [{"sku": network.sku_ids[0], "quantity": 1}],
        "dest": f"{min(network.dest_index)}01",
        "preferences": {"speed": 1.0, "cost": 0.5},
    }


def _event_example(network: Network, at: dt.datetime | None) -> dict[str, Any]:
    when = (now() if at is None else at).astimezone(dt.UTC).replace(microsecond=0)
    return {
        "event_id": "ops-1",
        "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "node_id": network.node_ids[0],
        "type": "staffing",
        "value": 70,
    }
